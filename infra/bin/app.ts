import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { readConfigFolder } from '@lambda-infra/shared/config';
import { App, Stack } from 'aws-cdk-lib';
import { ConfigParameters } from '../lib/ConfigParameters.ts';

const CONFIG_DIR = fileURLToPath(new URL('../config', import.meta.url));

const app = new App();
const envs = (await readdir(CONFIG_DIR, { withFileTypes: true }))
  .filter((e) => e.isDirectory())
  .map((e) => e.name);
const env = app.node.tryGetContext('env') ?? 'dev';
if (!envs.includes(env)) {
  throw new Error(`-c env=${env}: no such environment; infra/config has ${envs.join(', ')}`);
}

const stack = new Stack(app, `lambda-infra-config-${env}`, {
  description: `lambda-infra config parameters of ${env}, from infra/config/${env}`,
});
new ConfigParameters(stack, 'Config', { entries: await readConfigFolder(CONFIG_DIR, { env }) });

app.synth();
