import type { ConfigEntry } from '@lambda-infra/shared/config';
import { Annotations } from 'aws-cdk-lib';
import { ParameterTier, StringParameter } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';

export interface ConfigParametersProps {
  /** Components read from infra/config/{env} (the folder `lambda-infra config import` writes from). */
  readonly entries: ConfigEntry[];
}

const STANDARD_TIER_LIMIT = 4096;

/**
 * One SSM String parameter per config component, at /config/{env}/{service}/{component}, holding its JSON.
 * CloudFormation cannot create SecureString parameters: those components are left to
 * `lambda-infra config import`, and synth says which.
 */
export class ConfigParameters extends Construct {
  readonly parameters: StringParameter[] = [];

  constructor(scope: Construct, id: string, props: ConfigParametersProps) {
    super(scope, id);
    const secure = props.entries.filter((e) => e.secure).map((e) => e.name);
    if (secure.length > 0) {
      Annotations.of(this).addWarningV2(
        'lambda-infra:secure-config',
        `SecureString components are not deployed by CloudFormation; write them with \`lambda-infra config import\`: ${secure.join(', ')}`,
      );
    }
    for (const entry of props.entries.filter((e) => !e.secure)) {
      const value = JSON.stringify(entry.value);
      this.parameters.push(
        new StringParameter(this, `${entry.service}-${entry.component}`, {
          parameterName: entry.name,
          stringValue: value,
          description: `config of ${entry.service}: ${entry.component}`,
          tier: value.length > STANDARD_TIER_LIMIT ? ParameterTier.ADVANCED : ParameterTier.STANDARD,
        }),
      );
    }
  }
}
