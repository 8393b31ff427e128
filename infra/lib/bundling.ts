import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build, type Plugin } from 'esbuild';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
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
}

// The runtime provides the AWS SDK v3's clients; the RDS token signer is a library the runtime is not documented
// to carry, so the layer carries it.
const awsSdkFromRuntime: Plugin = {
  name: 'aws-sdk-from-runtime',
  setup(build) {
    build.onResolve({ filter: /^@aws-sdk\// }, (args) =>
      args.path.startsWith('@aws-sdk/rds-signer') ? undefined : { path: args.path, external: true },
    );
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

/** Packages the layer carries for the functions as well as for itself. */
export const SHARED_PACKAGES = ['zod', 'kysely'] as const;

const built = new Map<string, Promise<Bundle>>();

/**
 * `shared/` as the layer: every public module an entry point of one esbuild build, minified, with the code they
 * share split into common chunks so that a function loads only what its imports need (the tracer stays
 * unloaded for a function that does not trace). Laid out as the package `@lambda-infra/shared` under
 * `nodejs/node_modules`, where the Node.js runtime finds it.
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
  const pkg = JSON.parse(readFileSync(join(ROOT, 'shared/package.json'), 'utf8')) as {
    name: string;
    version: string;
    exports: Record<string, string>;
  };
  // Local emulators and the CLI are for laptops and CI, not for functions.
  const subpaths = Object.keys(pkg.exports).filter((s) => !s.startsWith('./local/'));
  const dir = join(BUILD_DIR, 'layer');
  const packageDir = join(dir, 'nodejs/node_modules', pkg.name);
  rmSync(dir, { recursive: true, force: true });
  const entryPoints = subpaths.map((s) => ({
    in: join('shared', pkg.exports[s] as string),
    out: s.slice(2),
  }));
  // The packages a function and the library both use come from the layer too, one copy for both: a schema made
  // with the function's zod is then the library's zod.
  const vendorDir = join(BUILD_DIR, 'vendor');
  mkdirSync(vendorDir, { recursive: true });
  for (const name of SHARED_PACKAGES) {
    writeFileSync(join(vendorDir, `${name}.ts`), `export * from '${name}';\n`);
    entryPoints.push({ in: relative(ROOT, join(vendorDir, `${name}.ts`)), out: `vendor/${name}` });
  }
  const result = await build({
    ...common,
    entryPoints,
    outdir: join(packageDir, 'dist'),
    splitting: true,
    chunkNames: 'chunks/[hash]',
    plugins: [awsSdkFromRuntime],
  });
  const exports = Object.fromEntries([
    ...subpaths.map((s) => [s, `./dist/${s.slice(2)}.mjs`]),
    ...SHARED_PACKAGES.map((name) => [`./vendor/${name}`, `./dist/vendor/${name}.mjs`]),
  ]);
  writeFileSync(
    join(packageDir, 'package.json'),
    `${JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', exports }, null, 2)}\n`,
  );
  const metafile = result.metafile as NonNullable<typeof result.metafile>;
  return { dir, bytes: bytesOf(metafile.outputs), packages: packagesOf(metafile) };
}

/**
 * A function's handler bundled on its own, with `@lambda-infra/shared` (the layer) and the AWS SDK (the
 * runtime) left out: what it carries is its own code and its own dependencies.
 */
export function bundleFunction(name: string, entry: string): Promise<Bundle> {
  let bundle = built.get(name);
  if (!bundle) {
    bundle = buildFunction(name, entry);
    built.set(name, bundle);
  }
  return bundle;
}

async function buildFunction(name: string, entry: string): Promise<Bundle> {
  const dir = join(BUILD_DIR, 'functions', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const result = await build({
    ...common,
    entryPoints: { index: relative(ROOT, join(ROOT, entry)) },
    outdir: dir,
    external: [...(common.external ?? []), '@lambda-infra/shared'],
    alias: Object.fromEntries(SHARED_PACKAGES.map((name) => [name, `@lambda-infra/shared/vendor/${name}`])),
    plugins: [awsSdkFromRuntime],
  });
  const metafile = result.metafile as NonNullable<typeof result.metafile>;
  return { dir, bytes: bytesOf(metafile.outputs), packages: packagesOf(metafile) };
}

/** One line of the report synth prints: the bundle's name and its size. */
export function describeBundle(name: string, bundle: Bundle): string {
  return `${name.padEnd(16)} ${(bundle.bytes / 1024).toFixed(1).padStart(8)} KiB`;
}
