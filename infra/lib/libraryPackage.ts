import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BUILD_DIR, bundleLayer, LAYER_DEPENDENCIES, runtimeSubpaths } from './bundling.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface SharedPackageJson {
  name: string;
  version: string;
  description: string;
  license: string;
  engines: Record<string, string>;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  exports: Record<string, string>;
}

/** Every file below `dir` whose name ends with `suffix`, with its text. */
function filesOf(dir: string, suffix: string): [string, string][] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(suffix))
    .map((f) => [f, readFileSync(join(dir, f), 'utf8')]);
}

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** The packages declarations import or re-export, by bare name: their statements only, never their comments. */
function declaredPackages(texts: string[]): Set<string> {
  const names = new Set<string>();
  const statement = /^(?:import|export)\b[^;]*?from\s*["']([^"'.][^"']*)["']/gm;
  for (const text of texts) {
    for (const [, spec] of text.matchAll(statement))
      if (spec && !spec.startsWith('node:')) names.add(packageOf(spec));
  }
  return names;
}

/** The version range a package is known by here: the library's own ranges first, then the repository's. */
function rangeOf(
  name: string,
  shared: SharedPackageJson,
  root: { devDependencies: Record<string, string> },
): string {
  const range = shared.dependencies[name] ?? shared.peerDependencies[name] ?? root.devDependencies[name];
  if (range) return range;
  const installed = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8'));
  return `^${installed.version}`;
}

/**
 * `@lambda-infra/shared` as an npm package: the layer's own files (`dist/`, byte for byte what the layer deploys),
 * the declarations tsc writes for them (`types/`), and a package.json whose `exports` give each module its types
 * and code. A team's bundler marks it external (and zod, kysely and `@aws-sdk/*`, which are peers: the layer and
 * the Lambda runtime provide them); its editor and compiler get the types, and its tests run the same code.
 * The packages the declarations name (Powertools, middy, node-redis, the Lambda event types) are dependencies, so
 * that the types resolve.
 */
export async function buildLibraryPackage(): Promise<string> {
  const shared = JSON.parse(readFileSync(join(ROOT, 'shared/package.json'), 'utf8')) as SharedPackageJson;
  const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    devDependencies: Record<string, string>;
  };
  const dir = join(BUILD_DIR, 'package');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  const layer = await bundleLayer();
  cpSync(join(layer.dir, 'nodejs/node_modules', shared.name, 'dist'), join(dir, 'dist'), { recursive: true });

  const types = join(dir, 'types');
  await run(
    process.execPath,
    [
      join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(ROOT, 'shared/tsconfig.build.json'),
      '--outDir',
      types,
    ],
    { cwd: ROOT },
  );
  // The sources import each other as `.ts` (Node runs them as they are); declarations name the files they stand for.
  const declarations = filesOf(types, '.d.ts').map(([file, text]) => {
    const named = text.replace(/(from\s*["']\.{1,2}\/[^"']*)\.ts(["'])/g, '$1.js$2');
    writeFileSync(join(types, file), named);
    return named;
  });

  // What the code leaves to be installed, as esbuild saw it; a package it loads on demand, and tolerates missing,
  // is an optional peer when it is a real package here (not the SDK's CRT signer, say).
  const externals = layer.externals ?? [];
  const loaded = new Set(externals.filter((e) => e.kind === 'static').map((e) => packageOf(e.path)));
  const typed = declaredPackages(declarations);
  const onDemand = [
    ...new Set(externals.filter((e) => e.kind === 'dynamic').map((e) => packageOf(e.path))),
  ].filter(
    (p) => !loaded.has(p) && !typed.has(p) && existsSync(join(ROOT, 'node_modules', p, 'package.json')),
  );
  const peers = new Set<string>([
    ...LAYER_DEPENDENCIES,
    ...[...loaded, ...typed, ...onDemand].filter((p) => p.startsWith('@aws-sdk/')),
  ]);
  const dependencies = [...typed]
    .filter((p) => !peers.has(p) && !p.startsWith('@smithy/'))
    .map((p) => (p === 'aws-lambda' ? '@types/aws-lambda' : p))
    .sort();
  const subpaths = runtimeSubpaths();
  const manifest = {
    name: shared.name,
    version: shared.version,
    description: shared.description,
    license: shared.license,
    type: 'module',
    engines: shared.engines,
    exports: Object.fromEntries(
      subpaths.map((s) => {
        const declaration = shared.exports[s]!.replace(/^\.\/src\//, './types/').replace(/\.ts$/, '.d.ts');
        return [s, { types: declaration, default: `./dist/${s.slice(2)}.mjs` }];
      }),
    ),
    files: ['dist', 'types'],
    dependencies: Object.fromEntries(dependencies.map((p) => [p, rangeOf(p, shared, root)])),
    peerDependencies: Object.fromEntries([...peers].sort().map((p) => [p, rangeOf(p, shared, root)])),
    peerDependenciesMeta: Object.fromEntries(onDemand.sort().map((p) => [p, { optional: true }])),
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  cpSync(join(ROOT, 'shared/README.md'), join(dir, 'README.md'));
  return dir;
}

/** `npm pack` of `buildLibraryPackage()` into `destination`; the tarball's path. */
export async function packLibrary(destination: string): Promise<string> {
  const dir = await buildLibraryPackage();
  mkdirSync(destination, { recursive: true });
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', destination], { cwd: dir });
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  return join(destination, filename);
}
