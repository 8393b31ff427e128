import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConfigEntry, checkConfigEntries, readConfigFolder } from '@lambda-infra/shared/config';
import { InfraError } from '@lambda-infra/shared/errors';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import catalog from '../../infra/config/components.ts';
import { deepMerge } from '../../shared/src/config/layering.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lambda-infra-catalog-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const entry = (service: string, component: string, value: unknown, secure = false): ConfigEntry => ({
  name: `/config/dev/${service}/${component}`,
  env: 'dev',
  service,
  component,
  secure,
  value,
});

describe('the config folder checked against the services’ components', () => {
  it('takes every file of the repository’s own folder, in every environment', async () => {
    for (const env of ['dev', 'prod']) {
      const entries = await readConfigFolder(
        'infra/config',
        { env },
        { components: catalog, name: 'catalog' },
      );
      expect(entries.length).toBeGreaterThan(0);
    }
  });

  it('refuses, as the CDK app does at synth, a value the component refuses: all problems at once', async () => {
    await mkdir(join(dir, 'dev/events-api'), { recursive: true });
    await writeFile(join(dir, 'dev/events-api/api.json'), '{"maxPayloadBytes": "big", "statsTtlSeconds": 0}');
    await writeFile(join(dir, 'dev/events-api/config.json'), '{"ttlSeconds": -1}');

    const error = await readConfigFolder(dir, { env: 'dev' }, { components: catalog, name: 'catalog' }).catch(
      (e: unknown) => e as InfraError,
    );

    expect(error).toBeInstanceOf(InfraError);
    expect((error as InfraError).message).toContain('3 invalid value(s)');
    expect((error as InfraError).message).toContain(
      'api.json: maxPayloadBytes: Invalid input: expected number',
    );
    expect((error as InfraError).message).toContain('api.json: statsTtlSeconds: Too small');
    expect((error as InfraError).message).toContain('config.json: ttlSeconds: Too small');
  });

  it('lays a file over its component’s defaults, as a function reads it: a partial file is whole', () => {
    expect(() =>
      checkConfigEntries([entry('events-api', 'api', { maxPayloadBytes: 1024 })], catalog, 'c'),
    ).not.toThrow();
  });

  it('never shows a secure value in what it says', () => {
    const secret = entry('events-api', 'api', { maxPayloadBytes: 'hunter2-is-my-password' }, true);

    expect(() => checkConfigEntries([secret], catalog, 'c')).toThrow(/maxPayloadBytes: Invalid input/);
    expect(() => checkConfigEntries([secret], catalog, 'c')).not.toThrow(/hunter2/);
  });

  it('keeps a key named __proto__ as data when it lays values over defaults', () => {
    const merged = deepMerge({ ttlSeconds: 60 }, JSON.parse('{"__proto__": {"polluted": true}}')) as Record<
      string,
      unknown
    >;

    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(merged.polluted).toBeUndefined();
    expect(Object.keys(merged)).toEqual(['ttlSeconds', '__proto__']);
  });
});
