import { Architecture, Code, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { Bundle } from './bundling.ts';

/** `@lambda-infra/shared` as a Lambda layer: the bundle `bundleLayer()` built, under nodejs/node_modules. */
export class SharedLayer extends Construct {
  readonly layer: LayerVersion;

  constructor(scope: Construct, id: string, props: { bundle: Bundle }) {
    super(scope, id);
    this.layer = new LayerVersion(this, 'Layer', {
      code: Code.fromAsset(props.bundle.dir),
      compatibleRuntimes: [Runtime.NODEJS_24_X],
      compatibleArchitectures: [Architecture.ARM_64],
      description: '@lambda-infra/shared: config, cache, db, mq, breaker, health, Powertools observability',
    });
  }
}
