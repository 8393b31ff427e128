import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DeleteParametersCommand,
  GetParameterCommand,
  type Parameter,
  PutParameterCommand,
  paginateDescribeParameters,
  paginateGetParametersByPath,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { InfraError } from '../errors/index.ts';
import { checkPathSegment } from './bindings.ts';
import { CONFIG_COMPONENT, configTuningDefaults, configTuningSchema } from './ConfigSource.ts';
import type { Config } from './defineConfig.ts';
import { deepEqual, deepMerge, isPlainObject } from './layering.ts';

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

/** The environments a config folder holds: its folders, sorted; none when it does not exist. */
export async function configEnvironments(dir: string): Promise<string[]> {
  return (await subdirectories(dir)).sort();
}

/** The services' components to check the files against, and where they came from (for the messages). */
export interface CatalogOption {
  readonly components: ConfigCatalog;
  readonly name: string;
}

/**
 * Reads every component file in scope. Any file that is not a JSON object fails the whole read, and so, given
 * the catalog, does any value its component's schema refuses (`checkConfigEntries`).
 */
export async function readConfigFolder(
  dir: string,
  scope: Scope,
  catalog?: CatalogOption,
): Promise<ConfigEntry[]> {
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
  if (catalog) checkConfigEntries(entries, catalog.components, catalog.name);
  return entries;
}

/** What a component's file is checked against: its schema, and the defaults the file is laid over. */
export type ComponentDefinition = Pick<Config<unknown>, 'component' | 'schema' | 'defaults'>;

/**
 * Each service's config components, by service (every service exports its own, `defineConfig` objects); the
 * `config` component that tunes config itself is every service's and need not be listed.
 */
export type ConfigCatalog = Readonly<Record<string, readonly ComponentDefinition[]>>;

const tuning: ComponentDefinition = {
  component: CONFIG_COMPONENT,
  schema: configTuningSchema,
  defaults: configTuningDefaults,
};

/**
 * Checks every entry as its function would read it (the file laid over the component's defaults) against its
 * component's schema, and refuses them all at once, each problem naming the file, the field and the rule; a
 * service or component the catalog does not define is refused too. Secure values are never shown.
 */
export function checkConfigEntries(
  entries: ConfigEntry[],
  catalog: ConfigCatalog,
  catalogName: string,
): void {
  const problems: string[] = [];
  for (const entry of entries) {
    const where = entry.file ?? entry.name;
    const components = catalog[entry.service];
    if (!components) {
      problems.push(`${where}: service "${entry.service}" has no config components in ${catalogName}`);
      continue;
    }
    const definition = [tuning, ...components].find((c) => c.component === entry.component);
    if (!definition) {
      const known = [tuning, ...components].map((c) => c.component).join(', ');
      problems.push(
        `${where}: "${entry.component}" is not a config component of ${entry.service} (it has ${known})`,
      );
      continue;
    }
    const parsed = definition.schema.safeParse(deepMerge(definition.defaults ?? {}, entry.value));
    if (parsed.success) continue;
    for (const issue of parsed.error.issues) {
      problems.push(`${where}: ${issue.path.join('.') || '(root)'}: ${issue.message} [rule: ${issue.code}]`);
    }
  }
  if (problems.length > 0) {
    throw new InfraError(
      `the config folder has ${problems.length} invalid value(s):\n  ${problems.join('\n  ')}`,
      {
        type: 'validation',
        component: 'config',
      },
    );
  }
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
  /** SecureStrings `prune` left: no import wrote them, and `pruneSecure` was not given. */
  kept: string[];
}

/** The description an import gives every parameter it writes: how `prune` knows a SecureString is its own. */
export const IMPORTED_DESCRIPTION = 'written by lambda-infra config import';

/**
 * Writes the folder's components to SSM. Every file is checked before anything is written; a parameter whose
 * value and type already match is left alone, so versions move only on real changes. With `prune`, component
 * parameters in scope that the folder no longer has are deleted, but a SecureString only if an import wrote it
 * (its description says so) or `pruneSecure` is given: a secret put there by hand is not lost to a stale folder.
 */
export async function importConfig(
  client: SSMClient,
  dir: string,
  scope: Scope,
  options: { prune?: boolean; pruneSecure?: boolean; dryRun?: boolean; catalog?: CatalogOption } = {},
): Promise<ImportResult> {
  const local = await readConfigFolder(dir, scope, options.catalog);
  const remote = new Map((await readConfigParameters(client, scope)).map((e) => [e.name, e]));
  const result: ImportResult = { written: [], unchanged: [], deleted: [], kept: [] };
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
          Description: IMPORTED_DESCRIPTION,
          // Standard while the value fits its 4 KB, Advanced only when it must.
          Tier: 'Intelligent-Tiering',
        }),
      );
    }
    result.written.push(entry.name);
  }
  if (options.prune) {
    const keep = new Set(local.map((e) => e.name));
    let stale = [...remote.keys()].filter((name) => !keep.has(name));
    const secrets = stale.filter((name) => remote.get(name)?.secure);
    if (secrets.length > 0 && !options.pruneSecure) {
      const ours = await importedParameters(client, secrets);
      result.kept = secrets.filter((name) => !ours.has(name));
      stale = stale.filter((name) => !result.kept.includes(name));
    }
    for (let i = 0; i < stale.length; i += 10) {
      const batch = stale.slice(i, i + 10);
      if (!options.dryRun) await client.send(new DeleteParametersCommand({ Names: batch }));
      result.deleted.push(...batch);
    }
  }
  return result;
}

/** Which of `names` an import wrote, from their descriptions (DescribeParameters, 10 names a call). */
async function importedParameters(client: SSMClient, names: string[]): Promise<Set<string>> {
  const ours = new Set<string>();
  for (let i = 0; i < names.length; i += 10) {
    const filter = { Key: 'Name', Option: 'Equals', Values: names.slice(i, i + 10) };
    for await (const page of paginateDescribeParameters({ client }, { ParameterFilters: [filter] })) {
      for (const p of page.Parameters ?? []) if (p.Description === IMPORTED_DESCRIPTION) ours.add(p.Name!);
    }
  }
  return ours;
}

/** Writes the components in SSM to the folder, one pretty-printed file each. */
export async function exportConfig(client: SSMClient, dir: string, scope: Scope): Promise<string[]> {
  const entries = await readConfigParameters(client, scope);
  if (entries.length === 0) {
    throw new InfraError(
      `SSM has no config under ${scopePath(scope)}: nothing to export (is the env right?)`,
      {
        type: 'validation',
        component: 'config',
      },
    );
  }
  const written: string[] = [];
  for (const entry of entries) {
    const folder = join(dir, entry.env, entry.service);
    await mkdir(folder, { recursive: true });
    const file = join(folder, `${entry.component}${entry.secure ? SECURE_SUFFIX : '.json'}`);
    const text = `${JSON.stringify(entry.value, null, 2)}\n`;
    if (entry.secure) {
      // Readable by the owner alone, an existing file too (closed before the secret is written into it):
      // writeFile's mode applies only to a file it creates.
      await chmod(file, 0o600).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
      await writeFile(file, text, { mode: 0o600 });
    } else {
      await writeFile(file, text);
    }
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
export async function diffConfig(
  client: SSMClient,
  dir: string,
  scope: Scope,
  catalog?: CatalogOption,
): Promise<ConfigDifference[]> {
  const local = new Map((await readConfigFolder(dir, scope, catalog)).map((e) => [e.name, e]));
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
