import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readConfigFolder } from '@lambda-infra/shared/config';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigParameters } from '../../infra/lib/ConfigParameters.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lambda-infra-cdk-'));
  await mkdir(join(dir, 'dev/orders'), { recursive: true });
  await writeFile(join(dir, 'dev/orders/cache.json'), JSON.stringify({ host: 'cache.dev', port: 6379 }));
  await writeFile(join(dir, 'dev/orders/big.json'), JSON.stringify({ blob: 'x'.repeat(5000) }));
  await writeFile(join(dir, 'dev/orders/db.secure.json'), JSON.stringify({ password: 'hunter2' }));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function synth(configDir: string, env: string) {
  const stack = new Stack(new App(), 'Config');
  new ConfigParameters(stack, 'Config', { entries: await readConfigFolder(configDir, { env }) });
  return stack;
}

describe('ConfigParameters', () => {
  it('creates one String parameter per component at /config/{env}/{service}/{component} holding its JSON', async () => {
    const template = Template.fromStack(await synth(dir, 'dev'));

    template.hasResourceProperties('AWS::SSM::Parameter', {
      Name: '/config/dev/orders/cache',
      Type: 'String',
      Value: '{"host":"cache.dev","port":6379}',
      Tier: 'Standard',
    });
    template.hasResourceProperties('AWS::SSM::Parameter', {
      Name: '/config/dev/orders/big',
      Tier: 'Advanced',
    });
  });

  it('leaves SecureString components out of the template and says so at synth', async () => {
    const stack = await synth(dir, 'dev');
    const template = Template.fromStack(stack);

    template.resourceCountIs('AWS::SSM::Parameter', 2);
    expect(JSON.stringify(template.toJSON())).not.toContain('hunter2');
    Annotations.fromStack(stack).hasWarning(
      '*',
      Match.stringLikeRegexp('config import`: /config/dev/orders/db'),
    );
  });

  it('deploys every component of the repository config for dev and prod', async () => {
    for (const env of ['dev', 'prod']) {
      const entries = await readConfigFolder('infra/config', { env });
      const template = Template.fromStack(await synth('infra/config', env));

      expect(entries.length).toBeGreaterThan(0);
      template.resourceCountIs('AWS::SSM::Parameter', entries.filter((e) => !e.secure).length);
      for (const entry of entries.filter((e) => !e.secure)) {
        template.hasResourceProperties('AWS::SSM::Parameter', {
          Name: entry.name,
          Value: JSON.stringify(entry.value),
        });
      }
    }
  });
});
