import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../infra/lib/createApp.ts';

let outdir: string;
beforeAll(async () => {
  outdir = await mkdtemp(join(tmpdir(), 'lambda-infra-nag-'));
});
afterAll(() => rm(outdir, { recursive: true, force: true }));

/** Synthesizes quietly: the CDK prints each finding to the console. */
function synthQuietly(synth: () => unknown): unknown {
  const spies = [
    vi.spyOn(console, 'error').mockImplementation(() => {}),
    vi.spyOn(console, 'log').mockImplementation(() => {}),
  ];
  try {
    return synth();
  } catch (error) {
    return error;
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

describe('cdk-nag, AwsSolutions and Serverless packs, on the whole app', () => {
  it.each(['dev', 'prod'])(
    '%s synthesizes with no unacknowledged finding',
    async (env) => {
      const { app } = await createApp({ env, outdir: join(outdir, env) });
      const outcome = synthQuietly(() => app.synth());
      expect(outcome).not.toBeInstanceOf(Error);
    },
    60_000,
  );

  it('fails the synth on a finding nobody acknowledged, naming the rule and the resource', async () => {
    const { app, stack } = await createApp({ env: 'dev', outdir: join(outdir, 'control') });
    new Queue(stack, 'Unchecked');
    const outcome = synthQuietly(() => app.synth());
    expect(outcome).toBeInstanceOf(Error);
    const message = (outcome as Error).message;
    expect(message).toContain("Acknowledge with 'AwsSolutions::AwsSolutions-SQS4'");
    expect(message).toContain("Acknowledge with 'AwsSolutions::AwsSolutions-SQS3'");
    // Only the unchecked queue is reported: everything else of the stack passes or is acknowledged.
    const paths = [...message.matchAll(/^\s+(lambda-infra-dev\/\S+)/gm)].map((m) => m[1]);
    expect(paths.length).toBeGreaterThan(0);
    expect(new Set(paths)).toEqual(new Set(['lambda-infra-dev/Unchecked/Resource']));
  }, 60_000);

  it('every acknowledgement names its rule and gives its reason', async () => {
    const { stack } = await createApp({ env: 'prod', outdir: join(outdir, 'reasons') });
    const acknowledgements = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      .flatMap((m) => Object.entries(m.data as Record<string, string>))
      .map(([id, reason]) => ({ id, reason }))
      // The CDK acknowledges some CloudFormation checks of its own constructs; these are the stack's.
      .filter((a) => /(AwsSolutions|Serverless)-/.test(a.id));
    expect(acknowledgements.length).toBeGreaterThan(10);
    for (const a of acknowledgements) {
      expect(a.reason.length, a.id).toBeGreaterThan(30);
    }
    // Deletion protection is acknowledged only where it is off: prod has it.
    expect(acknowledgements.map((a) => a.id).join(' ')).not.toContain('AwsSolutions-RDS10');
  }, 60_000);
});
