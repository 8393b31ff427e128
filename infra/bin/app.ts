import { describeBundle } from '../lib/bundling.ts';
import { createApp } from '../lib/createApp.ts';

const { env, app, bundles } = await createApp();

// The sizes go to stderr beside the CDK's own output, so every synth shows what each bundle weighs.
console.error(`bundles (${env}):`);
console.error(`  ${describeBundle('layer', bundles.layer)}`);
for (const [name, bundle] of Object.entries(bundles.functions))
  console.error(`  ${describeBundle(name, bundle)}`);

app.synth();
