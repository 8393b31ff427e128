import { Aspects, CfnResource, type IAspect, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { CfnLogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnApplication } from 'aws-cdk-lib/aws-sam';
import type { IConstruct } from 'constructs';

export interface HelperLogRetentionProps {
  readonly retention: RetentionDays;
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Gives the environment's log retention to the functions CDK adds by itself (the default-security-group
 * custom resource, the Trigger provider, the secret-rotation application), whose log groups Lambda would
 * otherwise create on first use with no retention: kept forever. A function with a log group of its own
 * is left alone.
 */
export class HelperLogRetention implements IAspect {
  readonly #props: HelperLogRetentionProps;
  readonly #done = new WeakSet<IConstruct>();

  constructor(props: HelperLogRetentionProps) {
    this.#props = props;
  }

  static applyTo(scope: IConstruct, props: HelperLogRetentionProps): void {
    Aspects.of(scope).add(new HelperLogRetention(props));
  }

  visit(node: IConstruct): void {
    if (!(node instanceof CfnResource) || this.#done.has(node)) return;
    if (node.cfnResourceType === 'AWS::Lambda::Function') this.#function(node);
    else if (node.cfnResourceType === 'AWS::Serverless::Application') this.#application(node);
  }

  #logGroup(node: CfnResource, name?: string): CfnLogGroup {
    this.#done.add(node);
    const group = new CfnLogGroup(node.node.scope as IConstruct, `${node.node.id}Logs`, {
      retentionInDays: this.#props.retention,
      ...(name ? { logGroupName: name } : {}),
    });
    group.applyRemovalPolicy(this.#props.removalPolicy ?? RemovalPolicy.RETAIN);
    return group;
  }

  /**
   * A function without a log group of its own gets one: a CfnFunction that names none, or the CfnResource a
   * custom-resource provider makes, which never names one.
   */
  #function(node: CfnResource): void {
    if (node instanceof CfnFunction) {
      const logging = Stack.of(node).resolve(node.loggingConfig) as { logGroup?: unknown } | undefined;
      if (logging?.logGroup) return;
    }
    const group = this.#logGroup(node);
    node.addPropertyOverride('LoggingConfig.LogGroup', group.ref);
  }

  /**
   * The rotation function comes from a Serverless Application Repository application, in a nested stack of
   * its own: its log group is made here beforehand, under the name Lambda will use.
   */
  #application(node: CfnResource): void {
    if (!(node instanceof CfnApplication)) return;
    const params = Stack.of(node).resolve(node.parameters) as Record<string, unknown> | undefined;
    const functionName = params?.functionName;
    if (typeof functionName !== 'string') return;
    const group = this.#logGroup(node, `/aws/lambda/${functionName}`);
    node.node.addDependency(group);
  }
}
