import { CfnOutput, Stack } from 'aws-cdk-lib';
import { Architecture, Code, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import { ParameterTier, StringParameter } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import type { Bundle } from './bundling.ts';

/** Where the layer's version ARN is published for an environment: any app or stack in the account reads it. */
export function layerArnParameterName(env: string): string {
  return `/lambda-infra/${env}/layer/arn`;
}

export interface SharedLayerProps {
  /** What `bundleLayer()` built. */
  readonly bundle: Bundle;
  /** The `{env}` of the parameter that publishes the layer's version ARN. */
  readonly environmentName: string;
  /**
   * The SSM parameter that holds the layer's version ARN.
   * @default `/lambda-infra/{env}/layer/arn` (`layerArnParameterName(env)`)
   */
  readonly parameterName?: string;
  /**
   * The name of the stack output's export, for `Fn.importValue` in another stack of the same account and region.
   * @default `lambda-infra-{env}-layer-arn`
   */
  readonly exportName?: string;
}

/**
 * `@lambda-infra/shared` as a Lambda layer: the bundle `bundleLayer()` built, under nodejs/node_modules, with zod
 * and kysely beside it. Its version ARN is published in SSM and as a stack output, so a Lambda of any other app or
 * stack takes the layer without knowing this one (`StringParameter.valueForStringParameter`); a new version
 * updates the parameter, and a team's next deploy picks it up.
 */
export class SharedLayer extends Construct {
  readonly layer: LayerVersion;
  readonly parameter: StringParameter;

  constructor(scope: Construct, id: string, props: SharedLayerProps) {
    super(scope, id);
    const env = props.environmentName;
    this.layer = new LayerVersion(this, 'Layer', {
      code: Code.fromAsset(props.bundle.dir),
      compatibleRuntimes: [Runtime.NODEJS_24_X],
      compatibleArchitectures: [Architecture.ARM_64],
      description:
        '@lambda-infra/shared with zod and kysely: config, cache, db, mq, breaker, health, observability',
    });
    this.parameter = new StringParameter(this, 'ArnParameter', {
      parameterName: props.parameterName ?? layerArnParameterName(env),
      stringValue: this.layer.layerVersionArn,
      tier: ParameterTier.STANDARD,
      description: `version ARN of the lambda-infra shared layer of ${env}`,
    });
    new CfnOutput(Stack.of(this), `${id}Arn`, {
      value: this.layer.layerVersionArn,
      description: `the shared layer's version ARN; also in SSM at ${this.parameter.parameterName}`,
      exportName: props.exportName ?? `lambda-infra-${env}-layer-arn`,
    });
  }
}
