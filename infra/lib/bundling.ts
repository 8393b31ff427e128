import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BundlingOptions, LogLevel, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { type BuildOptions, build, type Metafile, type Plugin } from 'esbuild';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The repository: NodejsFunction's project root, where its lock file is. */
export const PROJECT_ROOT = ROOT.replace(/\/$/, '');
const requireFromRoot = createRequire(join(ROOT, 'package.json'));
/**
 * Where bundles are written, one folder per process (tests synthesize in parallel processes), removed when the
 * process ends: by then the CDK has copied what it deploys into its cloud assembly.
 */
export const BUILD_DIR = join(ROOT, '.build', String(process.pid));
process.once('exit', () => rmSync(BUILD_DIR, { recursive: true, force: true }));
// A process that was killed left its folder behind: those of processes gone are removed.
for (const entry of existsSync(join(ROOT, '.build')) ? readdirSync(join(ROOT, '.build')) : []) {
  if (/^\d+$/.test(entry) && !isAlive(Number(entry)))
    rmSync(join(ROOT, '.build', entry), { recursive: true, force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Bundle {
  /** The folder to deploy as the asset. */
  dir: string;
  /** Bytes of JavaScript written. */
  bytes: number;
  /** Packages found bundled in it: the tests check what must stay out. */
  packages: string[];
  /** What its code imports and leaves out of it, as esbuild saw it: an import statement, or one made on demand. */
  externals?: { path: string; kind: 'static' | 'dynamic' }[];
}

/**
 * Node's built-ins through the bundle's `require` rather than `import`: an ES module import of `node:http` costs
 * the module loader's resolution and linking (about 20 ms against 3 ms measured for issue 17).
 */
const builtinsThroughRequire: Plugin = {
  name: 'builtins-through-require',
  setup(build) {
    const builtins = new Set(builtinModules);
    build.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      // Dynamic imports too: the SDK's HTTP handler makes its agent with `await import('node:http')`, whose ES
      // module facade reads every export of node:http, and with them the getter that loads undici.
      if (!builtins.has(name) || (args.kind !== 'import-statement' && args.kind !== 'dynamic-import')) {
        return undefined;
      }
      return { path: `node:${name}`, namespace: 'builtin-require' };
    });
    build.onLoad({ filter: /.*/, namespace: 'builtin-require' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

// pg and other CommonJS packages `require` Node's built-ins; an ES module bundle needs a `require` for them.
const REQUIRE_SHIM =
  "import{createRequire as __lambdaInfraRequire}from'node:module';const require=__lambdaInfraRequire(import.meta.url);";

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  minify: true,
  // The error classifier knows node-redis errors by class name: minifying must keep names.
  keepNames: true,
  sourcemap: false,
  metafile: true,
  write: true,
  logLevel: 'error',
  banner: { js: REQUIRE_SHIM },
  outExtension: { '.js': '.mjs' },
  // pg's optional native binding, never installed here.
  external: ['pg-native'],
  absWorkingDir: ROOT,
};

function packagesOf(metafile: { inputs: Record<string, unknown> }): string[] {
  const names = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match?.[1]) names.add(match[1]);
    else if (input.startsWith('shared/')) names.add('@lambda-infra/shared');
  }
  return [...names].sort();
}

function bytesOf(outputs: Record<string, { bytes: number }>): number {
  return Object.values(outputs).reduce((sum, o) => sum + o.bytes, 0);
}

/**
 * The packages the layer carries beside the library: one copy that the library and every function import by their
 * own names (`import { z } from 'zod'`), so that a schema a function makes is the library's zod. A package's
 * `peerDependencies` say the same.
 */
export const LAYER_DEPENDENCIES = ['zod', 'kysely'] as const;

/** What a function's bundle leaves to the layer: a team's bundler marks these external (and `@aws-sdk/*`). */
export const LAYER_PACKAGES = ['@lambda-infra/shared', ...LAYER_DEPENDENCIES] as const;

const built = new Map<string, Promise<Bundle>>();

interface PackageJson {
  name: string;
  version: string;
  license?: string;
  description?: string;
  exports: Record<string, unknown>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, unknown>;
  engines?: Record<string, string>;
}

function readPackageJson(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
}

/** The library's subpaths that run in a function: the local emulators and the twin are for laptops and CI. */
export function runtimeSubpaths(): string[] {
  return Object.keys(readPackageJson(join(ROOT, 'shared')).exports).filter((s) => !s.startsWith('./local/'));
}

/**
 * `shared/` as the layer: every public module an entry point of one esbuild build, minified, with the code they
 * share split into common chunks so that a function loads only what its imports need (the tracer stays
 * unloaded for a function that does not trace). The AWS SDK clients the library calls go in as tree-shaken ESM
 * (`mainFields` module first) and Node's built-ins through `require`: both start faster than the runtime's
 * unbundled SDK and ESM imports of built-ins. Laid out as the package `@lambda-infra/shared` under
 * `nodejs/node_modules`, where the Node.js runtime finds it, beside `LAYER_DEPENDENCIES` as packages of their own.
 */
export function bundleLayer(): Promise<Bundle> {
  let bundle = built.get('layer');
  if (!bundle) {
    bundle = buildLayer();
    built.set('layer', bundle);
  }
  return bundle;
}

async function buildLayer(): Promise<Bundle> {
  const pkg = readPackageJson(join(ROOT, 'shared'));
  const subpaths = runtimeSubpaths();
  const dir = join(BUILD_DIR, 'layer');
  const modules = join(dir, 'nodejs/node_modules');
  const packageDir = join(modules, pkg.name);
  rmSync(dir, { recursive: true, force: true });
  const result = await build({
    ...common,
    entryPoints: subpaths.map((s) => ({ in: join('shared', pkg.exports[s] as string), out: s.slice(2) })),
    outdir: join(packageDir, 'dist'),
    splitting: true,
    chunkNames: 'chunks/[hash]',
    external: [...(common.external ?? []), ...LAYER_DEPENDENCIES],
    mainFields: ['module', 'main'],
    plugins: [builtinsThroughRequire],
  });
  const exports = Object.fromEntries(subpaths.map((s) => [s, `./dist/${s.slice(2)}.mjs`]));
  writeFileSync(
    join(packageDir, 'package.json'),
    `${JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', exports }, null, 2)}\n`,
  );
  const metafile = result.metafile as NonNullable<typeof result.metafile>;
  const vendored = await Promise.all(LAYER_DEPENDENCIES.map((name) => vendorPackage(name, modules)));
  return {
    dir,
    bytes: bytesOf(metafile.outputs) + vendored.reduce((sum, v) => sum + v.bytes, 0),
    packages: [...new Set([...packagesOf(metafile), ...vendored.flatMap((v) => v.packages)])].sort(),
    externals: externalsOf(metafile),
  };
}

/** The bare specifiers a build's outputs import and left out, Node's built-ins aside. */
function externalsOf(metafile: Metafile): NonNullable<Bundle['externals']> {
  const seen = new Map<string, 'static' | 'dynamic'>();
  for (const output of Object.values(metafile.outputs)) {
    for (const i of output.imports) {
      if (!i.external || i.path.startsWith('node:') || i.path.startsWith('.')) continue;
      // A require() (in a try, as optional dependencies are) is made on demand too.
      const kind = i.kind === 'import-statement' ? 'static' : 'dynamic';
      if (seen.get(i.path) !== 'static') seen.set(i.path, kind);
    }
  }
  return [...seen].map(([path, kind]) => ({ path, kind }));
}

/**
 * One of `LAYER_DEPENDENCIES` as a package of the layer: each subpath its `exports` names (but patterns) an entry
 * of one minified build, the code they share in chunks, under the package's own name and version and with its
 * licence, so that `zod` and `zod/v4` are one copy, as they are in the package.
 */
async function vendorPackage(name: string, modules: string): Promise<Bundle> {
  // Found the way Node looks for it, since a package need not export its package.json.
  const source = (requireFromRoot.resolve.paths(name) ?? [])
    .map((folder) => join(folder, name))
    .find((folder) => existsSync(join(folder, 'package.json')));
  if (!source) throw new Error(`the layer carries ${name}, but it is not installed: run npm ci`);
  const meta = readPackageJson(source);
  const subpaths = Object.keys(meta.exports).filter((s) => s !== './package.json' && !s.includes('*'));
  const stubs = join(BUILD_DIR, 'vendor', name);
  mkdirSync(stubs, { recursive: true });
  const entryPoints: { in: string; out: string }[] = [];
  for (const subpath of subpaths) {
    const specifier = `${name}${subpath.slice(1)}`;
    const out = subpath === '.' ? 'index' : subpath.slice(2);
    const hasDefault = 'default' in ((await import(specifier)) as object);
    const stub = join(stubs, `${out.replaceAll('/', '__')}.ts`);
    writeFileSync(
      stub,
      `export * from '${specifier}';\n${hasDefault ? `export { default } from '${specifier}';\n` : ''}`,
    );
    entryPoints.push({ in: relative(ROOT, stub), out });
  }
  const target = join(modules, name);
  const result = await build({
    ...common,
    banner: {},
    entryPoints,
    outdir: join(target, 'dist'),
    splitting: true,
    chunkNames: 'chunks/[hash]',
  });
  const exports = Object.fromEntries([
    ['./package.json', './package.json'],
    ...entryPoints.map((e, i) => [subpaths[i], `./dist/${e.out}.mjs`]),
  ]);
  const { version, license } = meta;
  writeFileSync(
    join(target, 'package.json'),
    `${JSON.stringify({ name, version, license, type: 'module', exports }, null, 2)}\n`,
  );
  for (const file of readdirSync(source).filter((f) => /^licen[cs]e/i.test(f))) {
    cpSync(join(source, file), join(target, file));
  }
  const metafile = result.metafile as NonNullable<typeof result.metafile>;
  return { dir: target, bytes: bytesOf(metafile.outputs), packages: packagesOf(metafile) };
}

/**
 * How `ServiceFunction` has NodejsFunction bundle a function (esbuild, no Docker): ESM, minified with names kept,
 * `LAYER_PACKAGES` and the AWS SDK left to the layer and the runtime, so what it carries is its own code and its own
 * dependencies. The metafile beside the bundle says which packages went in.
 */
export const functionBundling: BundlingOptions = {
  format: OutputFormat.ESM,
  target: 'node24',
  minify: true,
  keepNames: true,
  sourceMap: false,
  metafile: true,
  banner: REQUIRE_SHIM,
  externalModules: ['@aws-sdk/*', 'pg-native', ...LAYER_PACKAGES],
  logLevel: LogLevel.ERROR,
};

/**
 * `functionBundling` as esbuild's own options, for a build outside the CDK (the benchmarks) that must make the
 * bundle a function deploys. `onLayer: false` bundles the layer's packages in, as a function deployed without the
 * layer would (the SDK stays the runtime's either way).
 */
export function functionBuildOptions(options: { onLayer: boolean }): BuildOptions {
  const external = functionBundling.externalModules!.filter(
    (name) => options.onLayer || !(LAYER_PACKAGES as readonly string[]).includes(name),
  );
  return {
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: functionBundling.target!,
    minify: functionBundling.minify!,
    keepNames: functionBundling.keepNames!,
    sourcemap: false,
    banner: { js: functionBundling.banner! },
    external,
    logLevel: 'error',
  };
}

/** A function's bundle as esbuild wrote it into `dir`: its bytes and the packages in it, from the metafile. */
export function describeFunctionBundle(dir: string): Bundle {
  const metafile = JSON.parse(readFileSync(join(dir, 'index.meta.json'), 'utf8')) as {
    inputs: Record<string, unknown>;
    outputs: Record<string, { bytes: number }>;
  };
  return { dir, bytes: bytesOf(metafile.outputs), packages: packagesOf(metafile) };
}

/** One line of the report synth prints: the bundle's name and its size. */
export function describeBundle(name: string, bundle: Bundle): string {
  return `${name.padEnd(16)} ${(bundle.bytes / 1024).toFixed(1).padStart(8)} KiB`;
}
