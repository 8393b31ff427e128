import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { configEnvironments, readConfigFolder } from '@lambda-infra/shared/config';
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import configComponents from '../config/components.ts';
import { type Bundle, bundleLayer, describeFunctionBundle } from './bundling.ts';
import { LambdaInfraStack } from './LambdaInfraStack.ts';
import { environments } from './settings.ts';

const CONFIG_DIR = fileURLToPath(new URL('../config', import.meta.url));
const CDK_JSON = fileURLToPath(new URL('../../cdk.json', import.meta.url));

export interface InfraApp {
  env: string;
  app: App;
  stack: LambdaInfraStack;
  bundles: { layer: Bundle; functions: Record<string, Bundle> };
}

/**
 * The CDK app of one environment, with the bundles built and both cdk-nag packs on it: `app.synth()` fails on
 * any finding not acknowledged. `npm run synth` and the tests build it the same way.
 */
export async function createApp(options: { env?: string } & AppProps = {}): Promise<InfraApp> {
  const { env: chosen, ...props } = options;
  // The CDK CLI hands cdk.json's context (the feature flags) to the app; a test building the app itself reads it
  // here, so that it checks the template the CLI would deploy.
  const fromCli = process.env.CDK_CONTEXT_JSON !== undefined || process.env.CDK_OUTDIR !== undefined;
  const cdkJson = JSON.parse(await readFile(CDK_JSON, 'utf8')) as { context?: Record<string, unknown> };
  const app = new App({ ...props, context: { ...(fromCli ? {} : cdkJson.context), ...props.context } });
  // `-c env=dev|prod` from the CDK CLI, unless the caller names one.
  const env = chosen ?? (app.node.tryGetContext('env') as string | undefined) ?? 'dev';
  const envs = await configEnvironments(CONFIG_DIR);
  const settings = environments[env];
  if (!envs.includes(env) || !settings) {
    throw new Error(`-c env=${env}: no such environment; infra/config has ${envs.join(', ')}`);
  }
  const layer = await bundleLayer();
  const stack = new LambdaInfraStack(app, `lambda-infra-${env}`, {
    description: `lambda-infra ${env}: network, config, queue, cache, database, shared layer, functions, alarms`,
    environmentName: env,
    settings,
    // Every file checked against its service's components: a value a function would refuse fails the synth.
    config: await readConfigFolder(
      CONFIG_DIR,
      { env },
      { components: configComponents, name: 'infra/config/components.ts' },
    ),
    layerBundle: layer,
    // `-c transactionSearch=true`: the account-wide setting OTLP spans need, in the one stack that owns it.
    transactionSearch: String(app.node.tryGetContext('transactionSearch')) === 'true',
  });
  // NodejsFunction bundled each function as the stack was built; its metafile says what went in.
  const functions = Object.fromEntries(
    Object.entries(stack.functions).map(([name, f]) => [name, describeFunctionBundle(f.bundleDir)]),
  );
  const bundles = { layer, functions };
  // Every rule of both packs on the whole app.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  return { env, app, stack, bundles };
}
