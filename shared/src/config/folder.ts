import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DeleteParametersCommand,
  GetParameterCommand,
  type Parameter,
  PutParameterCommand,
  paginateGetParametersByPath,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { InfraError } from '../errors/index.ts';
import { checkPathSegment } from './bindings.ts';
import { deepEqual, isPlainObject } from './layering.ts';

/**
 * A folder of config as JSON files, `{env}/{service}/{component}.json`, the same layout the CDK app deploys
 * from. A component whose file ends `.secure.json` is a SecureString.
 */
export interface ConfigEntry {
  name: string;
  env: string;
  service: string;
  component: string;
  secure: boolean;
  value: unknown;
  /** The file it came from, for local entries. */
  file?: string;
}

export interface Scope {
  env: string;
  service?: string;
}

const SECURE_SUFFIX = '.secure.json';

function scopePath(scope: Scope): string {
  checkPathSegment('env', scope.env);
  if (scope.service) checkPathSegment('service', scope.service);
  return scope.service ? `/config/${scope.env}/${scope.service}` : `/config/${scope.env}`;
}

async function subdirectories(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Reads every component file in scope. Any file that is not a JSON object fails the whole read. */
export async function readConfigFolder(dir: string, scope: Scope): Promise<ConfigEntry[]> {
  scopePath(scope);
  const entries: ConfigEntry[] = [];
  const problems: string[] = [];
  const services = scope.service ? [scope.service] : await subdirectories(join(dir, scope.env));
  for (const service of services) {
    const folder = join(dir, scope.env, service);
    let files: string[];
    try {
      files = (await readdir(folder)).filter((f) => f.endsWith('.json')).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    for (const file of files) {
      const secure = file.endsWith(SECURE_SUFFIX);
      const component = file.slice(0, -(secure ? SECURE_SUFFIX.length : '.json'.length));
      const path = join(folder, file);
      try {
        checkPathSegment('component', component);
      } catch (error) {
        problems.push(`${path}: ${(error as Error).message}`);
        continue;
      }
      let value: unknown;
      try {
        value = JSON.parse(await readFile(path, 'utf8'));
      } catch (error) {
        problems.push(`${path}: not valid JSON: ${(error as Error).message}`);
        continue;
      }
      if (!isPlainObject(value)) {
        problems.push(`${path}: must hold a JSON object, one component's config`);
        continue;
      }
      const twin = entries.find((e) => e.service === service && e.component === component);
      if (twin) {
        problems.push(`${path}: component "${component}" is also defined by ${twin.file}`);
        continue;
      }
      entries.push({
        name: `/config/${scope.env}/${service}/${component}`,
        env: scope.env,
        service,
        component,
        secure,
        value,
        file: path,
      });
    }
  }
  if (problems.length > 0) {
    throw new InfraError(
      `the config folder has ${problems.length} invalid file(s):\n  ${problems.join('\n  ')}`,
      {
        type: 'validation',
        component: 'config',
      },
    );
  }
  return entries;
}

/** Reads every component parameter in scope from SSM, decrypted. */
export async function readConfigParameters(client: SSMClient, scope: Scope): Promise<ConfigEntry[]> {
  const path = scopePath(scope);
  const parameters: Parameter[] = [];
  for await (const page of paginateGetParametersByPath(
    { client, pageSize: 10 },
    { Path: path, Recursive: true, WithDecryption: true },
  )) {
    parameters.push(...(page.Parameters ?? []));
  }
  const entries: ConfigEntry[] = [];
  for (const parameter of parameters) {
    const parts = parameter.Name!.split('/');
    // Only /config/{env}/{service}/{component}; deeper names are not components.
    if (parts.length !== 5) continue;
    const [, , env, service, component] = parts as [string, string, string, string, string];
    let value: unknown;
    try {
      value = JSON.parse(parameter.Value ?? '');
    } catch {
      value = parameter.Value;
    }
    entries.push({
      name: parameter.Name!,
      env,
      service,
      component,
      secure: parameter.Type === 'SecureString',
      value,
    });
  }
  return entries.sort((a, b) => a.name.localeCompare(b.name));
}

export interface ImportResult {
  written: string[];
  unchanged: string[];
  deleted: string[];
}

/**
 * Writes the folder's components to SSM. Every file is checked before anything is written; a parameter whose
 * value and type already match is left alone, so versions move only on real changes. With `prune`, component
 * parameters in scope that the folder no longer has are deleted.
 */
export async function importConfig(
  client: SSMClient,
  dir: string,
  scope: Scope,
  options: { prune?: boolean; dryRun?: boolean } = {},
): Promise<ImportResult> {
  const local = await readConfigFolder(dir, scope);
  const remote = new Map((await readConfigParameters(client, scope)).map((e) => [e.name, e]));
  const result: ImportResult = { written: [], unchanged: [], deleted: [] };
  for (const entry of local) {
    const current = remote.get(entry.name);
    if (current && current.secure === entry.secure && deepEqual(current.value, entry.value)) {
      result.unchanged.push(entry.name);
      continue;
    }
    if (!options.dryRun) {
      await client.send(
        new PutParameterCommand({
          Name: entry.name,
          Value: JSON.stringify(entry.value),
          Type: entry.secure ? 'SecureString' : 'String',
          Overwrite: true,
          // Standard while the value fits its 4 KB, Advanced only when it must.
          Tier: 'Intelligent-Tiering',
        }),
      );
    }
    result.written.push(entry.name);
  }
  if (options.prune) {
    const keep = new Set(local.map((e) => e.name));
    const stale = [...remote.keys()].filter((name) => !keep.has(name));
    for (let i = 0; i < stale.length; i += 10) {
      const batch = stale.slice(i, i + 10);
      if (!options.dryRun) await client.send(new DeleteParametersCommand({ Names: batch }));
      result.deleted.push(...batch);
    }
  }
  return result;
}

/** Writes the components in SSM to the folder, one pretty-printed file each. */
export async function exportConfig(client: SSMClient, dir: string, scope: Scope): Promise<string[]> {
  const written: string[] = [];
  for (const entry of await readConfigParameters(client, scope)) {
    const folder = join(dir, entry.env, entry.service);
    await mkdir(folder, { recursive: true });
    const file = join(folder, `${entry.component}${entry.secure ? SECURE_SUFFIX : '.json'}`);
    await writeFile(file, `${JSON.stringify(entry.value, null, 2)}\n`);
    written.push(file);
  }
  return written;
}

export interface ConfigDifference {
  name: string;
  kind: 'added' | 'removed' | 'changed';
  /** For changed components: one line per field that differs, secure values masked. */
  fields: string[];
}

function fieldChanges(before: unknown, after: unknown, secure: boolean, path = ''): string[] {
  if (deepEqual(before, after)) return [];
  if (isPlainObject(before) && isPlainObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => fieldChanges(before[k], after[k], secure, path ? `${path}.${k}` : k));
  }
  const show = (v: unknown) => (v === undefined ? '(absent)' : secure ? '***' : JSON.stringify(v));
  return [`${path || '(root)'}: ${show(before)} -> ${show(after)}`];
}

/** What importing the folder would change in SSM: components added, removed, or changed field by field. */
export async function diffConfig(client: SSMClient, dir: string, scope: Scope): Promise<ConfigDifference[]> {
  const local = new Map((await readConfigFolder(dir, scope)).map((e) => [e.name, e]));
  const remote = new Map((await readConfigParameters(client, scope)).map((e) => [e.name, e]));
  const names = [...new Set([...local.keys(), ...remote.keys()])].sort();
  const differences: ConfigDifference[] = [];
  for (const name of names) {
    const mine = local.get(name);
    const theirs = remote.get(name);
    if (mine && !theirs) differences.push({ name, kind: 'added', fields: [] });
    else if (!mine && theirs) differences.push({ name, kind: 'removed', fields: [] });
    else if (mine && theirs) {
      const secure = mine.secure || theirs.secure;
      const fields = fieldChanges(theirs.value, mine.value, secure);
      if (mine.secure !== theirs.secure) {
        fields.unshift(
          `type: ${theirs.secure ? 'SecureString' : 'String'} -> ${mine.secure ? 'SecureString' : 'String'}`,
        );
      }
      if (fields.length > 0) differences.push({ name, kind: 'changed', fields });
    }
  }
  return differences;
}

/** One component's value from SSM, decrypted. */
export async function getConfigValue(
  client: SSMClient,
  env: string,
  service: string,
  component: string,
): Promise<unknown> {
  checkPathSegment('component', component);
  const name = `${scopePath({ env, service })}/${component}`;
  const { Parameter } = await client.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
  try {
    return JSON.parse(Parameter?.Value ?? '');
  } catch {
    return Parameter?.Value;
  }
}
