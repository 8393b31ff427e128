import {
  DeleteParameterCommand,
  DeleteParametersCommand,
  DescribeParametersCommand,
  GetParameterCommand,
  GetParameterHistoryCommand,
  GetParametersByPathCommand,
  GetParametersCommand,
  LabelParameterVersionCommand,
  PutParameterCommand,
  type PutParameterCommandInput,
} from '@aws-sdk/client-ssm';
import { beforeEach, describe, expect, it } from 'vitest';
import { failure, useSsmEndpoint } from '../support/aws.ts';

const local = useSsmEndpoint('eu-west-1');

const put = (input: Partial<PutParameterCommandInput> & { Name: string }) =>
  local.ssm.send(new PutParameterCommand({ Value: 'v', Type: 'String', ...input }));

describe('PutParameter', () => {
  it('creates version 1 in the standard tier, and Overwrite makes version 2', async () => {
    const first = await put({ Name: '/app/a', Value: 'one' });
    const second = await put({ Name: '/app/a', Value: 'two', Overwrite: true });

    expect(first).toMatchObject({ Version: 1, Tier: 'Standard' });
    expect(second.Version).toBe(2);
    const { Parameter } = await local.ssm.send(new GetParameterCommand({ Name: '/app/a' }));
    expect(Parameter).toMatchObject({ Value: 'two', Version: 2, Type: 'String', DataType: 'text' });
  });

  it('refuses to replace an existing parameter without Overwrite', async () => {
    await put({ Name: '/app/a' });

    const error = await failure(put({ Name: '/app/a', Value: 'other' }));

    expect(error.name).toBe('ParameterAlreadyExists');
    expect(error.message).toBe(
      'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
    );
  });

  it('stores StringList as given and SecureString encrypted', async () => {
    await put({ Name: '/app/list', Type: 'StringList', Value: 'a,b,c' });
    await put({ Name: '/app/secret', Type: 'SecureString', Value: 's3cr3t' });

    const list = await local.ssm.send(new GetParameterCommand({ Name: '/app/list' }));
    const hidden = await local.ssm.send(new GetParameterCommand({ Name: '/app/secret' }));
    const shown = await local.ssm.send(
      new GetParameterCommand({ Name: '/app/secret', WithDecryption: true }),
    );

    expect(list.Parameter).toMatchObject({ Type: 'StringList', Value: 'a,b,c' });
    expect(hidden.Parameter?.Type).toBe('SecureString');
    expect(hidden.Parameter?.Value).not.toContain('s3cr3t');
    expect(shown.Parameter?.Value).toBe('s3cr3t');
  });

  it('keeps the type when an overwrite does not name one, and needs one to create', async () => {
    await put({ Name: '/app/s', Type: 'SecureString', Value: 'x' });
    await local.ssm.send(new PutParameterCommand({ Name: '/app/s', Value: 'y', Overwrite: true }));

    const { Parameter } = await local.ssm.send(
      new GetParameterCommand({ Name: '/app/s', WithDecryption: true }),
    );
    const missingType = await failure(
      local.ssm.send(new PutParameterCommand({ Name: '/app/new', Value: 'v' })),
    );

    expect(Parameter).toMatchObject({ Type: 'SecureString', Value: 'y', Version: 2 });
    expect(missingType.name).toBe('ValidationException');
  });

  it('enforces the tier size limits: 4096 characters standard, 8192 advanced', async () => {
    const standardMax = await put({ Name: '/app/std', Value: 'x'.repeat(4096) });
    const standardOver = await failure(put({ Name: '/app/std2', Value: 'x'.repeat(4097) }));
    const advanced = await put({ Name: '/app/adv', Value: 'x'.repeat(8192), Tier: 'Advanced' });
    const advancedOver = await failure(put({ Name: '/app/adv2', Value: 'x'.repeat(8193), Tier: 'Advanced' }));
    const intelligent = await put({ Name: '/app/it', Value: 'x'.repeat(5000), Tier: 'Intelligent-Tiering' });

    expect(standardMax.Tier).toBe('Standard');
    expect(standardOver.name).toBe('ValidationException');
    expect(standardOver.message).toMatch(
      /^Standard tier parameters support a maximum parameter value of 4096/,
    );
    expect(advanced.Tier).toBe('Advanced');
    expect(advancedOver.name).toBe('ValidationException');
    expect(advancedOver.message).toContain("at 'value' failed to satisfy constraint");
    expect(advancedOver.message).not.toContain('xxxx');
    expect(intelligent.Tier).toBe('Advanced');
  });

  it('does not downgrade an advanced parameter to the standard tier', async () => {
    await put({ Name: '/app/adv', Tier: 'Advanced' });

    const error = await failure(put({ Name: '/app/adv', Overwrite: true, Tier: 'Standard' }));
    const kept = await put({ Name: '/app/adv', Overwrite: true, Value: 'kept' });

    expect(error.name).toBe('ValidationException');
    expect(error.message).toMatch(/can't downgrade a parameter from the advanced-parameter tier/);
    expect(kept.Tier).toBe('Advanced');
  });

  it.each([
    ['a name with a space', '/app/has space'],
    ['a name prefixed with ssm', '/ssm/thing'],
    ['a simple name prefixed with aws', 'awsThing'],
    ['a character outside a-zA-Z0-9_.-/', '/app/user@example.com'],
  ])('rejects %s with the naming rules', async (_case, name) => {
    const error = await failure(put({ Name: name }));

    expect(error.name).toBe('ValidationException');
    expect(error.message).toMatch(
      /^Parameter name: can't be prefixed with "aws" or "ssm" \(case-insensitive\)/,
    );
  });

  it('takes a single-level name with and without its leading slash as one parameter with one ARN', async () => {
    await put({ Name: 'single', Value: 'one' });

    const again = await failure(put({ Name: '/single', Value: 'two' }));
    await put({ Name: '/single', Value: 'two', Overwrite: true });
    const bare = await local.ssm.send(new GetParameterCommand({ Name: 'single' }));
    const slashed = await local.ssm.send(new GetParameterCommand({ Name: '/single' }));
    await local.ssm.send(new DeleteParameterCommand({ Name: '/single' }));
    const gone = await failure(local.ssm.send(new GetParameterCommand({ Name: 'single' })));

    expect(again.name).toBe('ParameterAlreadyExists');
    expect(bare.Parameter).toMatchObject({ Value: 'two', Version: 2 });
    expect(slashed.Parameter?.ARN).toBe(bare.Parameter?.ARN);
    expect(slashed.Parameter?.ARN).toBe('arn:aws:ssm:eu-west-1:000000000000:parameter/single');
    expect(gone.name).toBe('ParameterNotFound');
  });

  it('rejects a hierarchical name without the leading slash', async () => {
    const error = await failure(put({ Name: 'app/a' }));

    expect(error.name).toBe('ValidationException');
    expect(error.message).toBe('Parameter name must be a fully qualified name.');
  });

  it('denies names under the reserved /aws/ path', async () => {
    const error = await failure(put({ Name: '/aws/service/x' }));

    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toBe('No access to reserved parameter name: /aws/service/x.');
  });

  it('allows 15 levels of hierarchy and refuses 16', async () => {
    const fifteen = `/${Array.from({ length: 15 }, (_, i) => `l${i}`).join('/')}`;
    const sixteen = `${fifteen}/l15`;

    await put({ Name: fifteen });
    const error = await failure(put({ Name: sixteen }));

    expect(error.name).toBe('HierarchyLevelLimitExceededException');
  });

  it('rejects an empty value, an unknown type, tags with overwrite, and an unknown data type', async () => {
    const empty = await failure(put({ Name: '/app/e', Value: '' }));
    const badType = await failure(put({ Name: '/app/t', Type: 'Number' as never }));
    await put({ Name: '/app/tagged' });
    const tagsAndOverwrite = await failure(
      put({ Name: '/app/tagged', Overwrite: true, Tags: [{ Key: 'team', Value: 'core' }] }),
    );
    const badDataType = await failure(put({ Name: '/app/d', DataType: 'TEXT' }));

    expect(empty.message).toBe(
      "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    expect(badType.message).toBe(
      "1 validation error detected: Value 'Number' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]",
    );
    expect(tagsAndOverwrite.message).toMatch(/^Invalid request: tags and overwrite can't be used together/);
    expect(badDataType.message).toBe(
      'The following data type is not supported: TEXT (Data type names are all lowercase.)',
    );
  });

  it('checks the value against AllowedPattern', async () => {
    await put({ Name: '/app/port', Value: '8080', AllowedPattern: '^\\d+$' });

    const error = await failure(put({ Name: '/app/port2', Value: 'eighty', AllowedPattern: '^\\d+$' }));

    expect(error.name).toBe('ParameterPatternMismatchException');
  });

  it('keeps at most 100 versions, dropping the oldest unless it carries a label', async () => {
    for (let i = 1; i <= 100; i++) await put({ Name: '/app/v', Value: `v${i}`, Overwrite: true });
    const hundredAndFirst = await put({ Name: '/app/v', Value: 'v101', Overwrite: true });
    const oldestGone = await failure(local.ssm.send(new GetParameterCommand({ Name: '/app/v:1' })));
    await local.ssm.send(
      new LabelParameterVersionCommand({ Name: '/app/v', ParameterVersion: 2, Labels: ['pinned'] }),
    );
    const blocked = await failure(put({ Name: '/app/v', Value: 'v102', Overwrite: true }));

    expect(hundredAndFirst.Version).toBe(101);
    expect(oldestGone.name).toBe('ParameterVersionNotFound');
    expect(blocked.name).toBe('ParameterMaxVersionLimitExceeded');
    expect(blocked.message).toContain(
      "Version 2, the oldest version, can't be deleted because it has a label",
    );
  });
});

describe('GetParameter', () => {
  beforeEach(async () => {
    await put({ Name: '/app/p', Value: 'one' });
    await put({ Name: '/app/p', Value: 'two', Overwrite: true });
    await put({ Name: 'simple', Value: 'plain' });
  });

  it('selects a version with name:version and a label with name:label', async () => {
    await local.ssm.send(
      new LabelParameterVersionCommand({ Name: '/app/p', ParameterVersion: 1, Labels: ['stable'] }),
    );

    const byVersion = await local.ssm.send(new GetParameterCommand({ Name: '/app/p:1' }));
    const byLabel = await local.ssm.send(new GetParameterCommand({ Name: '/app/p:stable' }));

    expect(byVersion.Parameter).toMatchObject({ Value: 'one', Version: 1, Selector: ':1' });
    expect(byLabel.Parameter).toMatchObject({ Value: 'one', Version: 1, Selector: ':stable' });
  });

  it('finds a parameter by its ARN, with the region of the request', async () => {
    const arn = 'arn:aws:ssm:eu-west-1:000000000000:parameter/app/p';

    const byArn = await local.ssm.send(new GetParameterCommand({ Name: arn }));
    const versionByArn = await local.ssm.send(new GetParameterCommand({ Name: `${arn}:1` }));
    const simpleByArn = await local.ssm.send(
      new GetParameterCommand({ Name: 'arn:aws:ssm:eu-west-1:000000000000:parameter/simple' }),
    );

    expect(byArn.Parameter).toMatchObject({ Name: '/app/p', Value: 'two', ARN: arn });
    expect(versionByArn.Parameter?.Value).toBe('one');
    expect(simpleByArn.Parameter?.Name).toBe('simple');
    expect(byArn.Parameter?.LastModifiedDate).toBeInstanceOf(Date);
  });

  it('answers ParameterNotFound and ParameterVersionNotFound as the service does', async () => {
    const missing = await failure(local.ssm.send(new GetParameterCommand({ Name: '/app/none' })));
    const missingLabel = await failure(local.ssm.send(new GetParameterCommand({ Name: '/app/p:nolabel' })));
    const missingVersion = await failure(local.ssm.send(new GetParameterCommand({ Name: '/app/p:9' })));

    expect(missing.name).toBe('ParameterNotFound');
    expect(missingLabel.name).toBe('ParameterNotFound');
    expect(missingVersion.name).toBe('ParameterVersionNotFound');
    expect(missingVersion.message).toBe(
      'Systems Manager could not find version 9 of /app/p. Verify the version and try again.',
    );
  });
});

describe('GetParameters', () => {
  it('returns what it found and lists the rest as invalid', async () => {
    await put({ Name: '/app/a', Value: 'A' });
    await put({ Name: '/app/s', Type: 'SecureString', Value: 'S' });

    const result = await local.ssm.send(
      new GetParametersCommand({
        Names: ['/app/a', '/app/s', '/app/none', '/app/a:7'],
        WithDecryption: true,
      }),
    );

    expect(result.Parameters?.map((p) => [p.Name, p.Value])).toEqual([
      ['/app/a', 'A'],
      ['/app/s', 'S'],
    ]);
    expect(result.InvalidParameters).toEqual(['/app/none', '/app/a:7']);
  });

  it('takes at most 10 names', async () => {
    const names = Array.from({ length: 11 }, (_, i) => `/app/n${i}`);

    const error = await failure(local.ssm.send(new GetParametersCommand({ Names: names })));

    expect(error.name).toBe('ValidationException');
    expect(error.message).toBe(
      `1 validation error detected: Value '[${names.join(', ')}]' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10`,
    );
  });
});

describe('GetParametersByPath', () => {
  beforeEach(async () => {
    for (let i = 0; i < 25; i++)
      await put({ Name: `/cfg/dev/svc/c${String(i).padStart(2, '0')}`, Value: `${i}` });
    await put({ Name: '/cfg/dev/svc/deep/x', Value: 'deep' });
    await put({ Name: '/cfg/dev/svc/secret', Type: 'SecureString', Value: 'hush' });
    await put({ Name: '/cfg/dev/other', Value: 'other' });
  });

  it('pages through direct children 10 at a time with NextToken', async () => {
    const names: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await local.ssm.send(
        new GetParametersByPathCommand({ Path: '/cfg/dev/svc', MaxResults: 10, NextToken: token }),
      );
      names.push(...(page.Parameters ?? []).map((p) => p.Name!));
      token = page.NextToken;
      pages++;
    } while (token);

    expect(pages).toBe(3);
    expect(names).toHaveLength(26);
    expect(names).not.toContain('/cfg/dev/svc/deep/x');
    expect(local.endpoint.calls('GetParametersByPath')).toBe(3);
  });

  it('descends with Recursive and decrypts with WithDecryption', async () => {
    const all: { Name?: string; Value?: string }[] = [];
    let token: string | undefined;
    do {
      const page = await local.ssm.send(
        new GetParametersByPathCommand({
          Path: '/cfg/dev',
          Recursive: true,
          WithDecryption: true,
          NextToken: token,
        }),
      );
      all.push(...(page.Parameters ?? []));
      token = page.NextToken;
    } while (token);

    expect(all).toHaveLength(28);
    expect(all.find((p) => p.Name === '/cfg/dev/svc/deep/x')?.Value).toBe('deep');
    expect(all.find((p) => p.Name === '/cfg/dev/svc/secret')?.Value).toBe('hush');
  });

  it('filters by type', async () => {
    const page = await local.ssm.send(
      new GetParametersByPathCommand({
        Path: '/cfg/dev/svc',
        ParameterFilters: [{ Key: 'Type', Values: ['SecureString'] }],
      }),
    );

    expect(page.Parameters?.map((p) => p.Name)).toEqual(['/cfg/dev/svc/secret']);
  });

  it('rejects MaxResults over 10, a path without a leading slash, a forged token and a Name filter', async () => {
    const tooMany = await failure(
      local.ssm.send(new GetParametersByPathCommand({ Path: '/cfg', MaxResults: 11 })),
    );
    const badPath = await failure(local.ssm.send(new GetParametersByPathCommand({ Path: 'cfg/dev' })));
    const badToken = await failure(
      local.ssm.send(new GetParametersByPathCommand({ Path: '/cfg', NextToken: 'forged' })),
    );
    const badFilter = await failure(
      local.ssm.send(
        new GetParametersByPathCommand({
          Path: '/cfg',
          ParameterFilters: [{ Key: 'Name', Values: ['/cfg'] }],
        }),
      ),
    );

    expect(tooMany.message).toBe(
      "1 validation error detected: Value '11' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10",
    );
    expect(badPath.name).toBe('ValidationException');
    expect(badPath.message).toMatch(/^The parameter doesn't meet the parameter name requirements/);
    expect(badToken.name).toBe('InvalidNextToken');
    expect(badFilter.name).toBe('InvalidFilterKey');
    expect(badFilter.message).toBe(
      'The following filter key is not valid: Name. Valid filter keys include: [Type, KeyId].',
    );
  });
});

describe('DeleteParameter and DeleteParameters', () => {
  it('deletes one parameter and then no longer finds it', async () => {
    await put({ Name: '/app/gone' });

    await local.ssm.send(new DeleteParameterCommand({ Name: '/app/gone' }));
    const afterwards = await failure(local.ssm.send(new GetParameterCommand({ Name: '/app/gone' })));
    const again = await failure(local.ssm.send(new DeleteParameterCommand({ Name: '/app/gone' })));

    expect(afterwards.name).toBe('ParameterNotFound');
    expect(again.name).toBe('ParameterNotFound');
  });

  it('deletes several and names the ones it did not find', async () => {
    await put({ Name: '/app/a' });
    await put({ Name: '/app/b' });

    const result = await local.ssm.send(
      new DeleteParametersCommand({ Names: ['/app/a', '/app/b', '/app/none'] }),
    );

    expect(result.DeletedParameters).toEqual(['/app/a', '/app/b']);
    expect(result.InvalidParameters).toEqual(['/app/none']);
    expect(local.endpoint.store.size).toBe(0);
  });
});

describe('GetParameterHistory', () => {
  it('lists every version, oldest first, with labels and descriptions, in pages', async () => {
    for (let i = 1; i <= 5; i++) {
      await put({ Name: '/app/h', Value: `v${i}`, Description: `rev ${i}`, Overwrite: true });
    }
    await local.ssm.send(
      new LabelParameterVersionCommand({ Name: '/app/h', ParameterVersion: 3, Labels: ['prod'] }),
    );

    const first = await local.ssm.send(new GetParameterHistoryCommand({ Name: '/app/h', MaxResults: 3 }));
    const second = await local.ssm.send(
      new GetParameterHistoryCommand({ Name: '/app/h', MaxResults: 3, NextToken: first.NextToken }),
    );

    expect(first.Parameters?.map((p) => p.Version)).toEqual([1, 2, 3]);
    expect(first.Parameters?.[2]).toMatchObject({ Value: 'v3', Description: 'rev 3', Labels: ['prod'] });
    expect(second.Parameters?.map((p) => p.Version)).toEqual([4, 5]);
    expect(second.NextToken).toBeUndefined();
  });

  it('rejects MaxResults over 50 and an unknown name', async () => {
    await put({ Name: '/app/h' });

    const tooMany = await failure(
      local.ssm.send(new GetParameterHistoryCommand({ Name: '/app/h', MaxResults: 51 })),
    );
    const missing = await failure(local.ssm.send(new GetParameterHistoryCommand({ Name: '/app/none' })));

    expect(tooMany.name).toBe('ValidationException');
    expect(missing.name).toBe('ParameterNotFound');
  });
});

describe('LabelParameterVersion', () => {
  beforeEach(async () => {
    await put({ Name: '/app/l', Value: 'one' });
    await put({ Name: '/app/l', Value: 'two', Overwrite: true });
  });

  it('labels the latest version by default and moves a label between versions', async () => {
    const latest = await local.ssm.send(
      new LabelParameterVersionCommand({ Name: '/app/l', Labels: ['live'] }),
    );
    await local.ssm.send(
      new LabelParameterVersionCommand({ Name: '/app/l', ParameterVersion: 1, Labels: ['live'] }),
    );
    const { Parameters } = await local.ssm.send(new GetParameterHistoryCommand({ Name: '/app/l' }));

    expect(latest.ParameterVersion).toBe(2);
    expect(Parameters?.map((p) => p.Labels)).toEqual([['live'], []]);
  });

  it('returns invalid labels instead of failing, and caps a version at 10 labels', async () => {
    const result = await local.ssm.send(
      new LabelParameterVersionCommand({
        Name: '/app/l',
        Labels: ['ok', '1starts-with-digit', 'awsReserved', 'bad label'],
      }),
    );
    await local.ssm.send(
      new LabelParameterVersionCommand({
        Name: '/app/l',
        ParameterVersion: 1,
        Labels: Array.from({ length: 10 }, (_, i) => `l${i}`),
      }),
    );
    const overLimit = await failure(
      local.ssm.send(
        new LabelParameterVersionCommand({ Name: '/app/l', ParameterVersion: 1, Labels: ['eleventh'] }),
      ),
    );

    expect(result.InvalidLabels).toEqual(['1starts-with-digit', 'awsReserved', 'bad label']);
    expect(overLimit.name).toBe('ParameterVersionLabelLimitExceeded');
  });

  it('answers ParameterVersionNotFound for a version that does not exist', async () => {
    const error = await failure(
      local.ssm.send(
        new LabelParameterVersionCommand({ Name: '/app/l', ParameterVersion: 7, Labels: ['x'] }),
      ),
    );

    expect(error.name).toBe('ParameterVersionNotFound');
    expect(error.message).toBe(
      'Systems Manager could not find version 7 of /app/l. Verify the version and try again.',
    );
  });
});

describe('DescribeParameters', () => {
  beforeEach(async () => {
    await put({ Name: '/cfg/dev/svc/a', Value: 'a', Description: 'first' });
    await put({ Name: '/cfg/dev/svc/b', Type: 'SecureString', Value: 'b' });
    await put({ Name: '/cfg/dev/svc/deep/c', Value: 'c' });
    await put({ Name: '/cfg/prod/svc/a', Value: 'p' });
  });

  it('filters by path one level or recursively, by name prefix and by type, and never returns values', async () => {
    const oneLevel = await local.ssm.send(
      new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Path', Values: ['/cfg/dev/svc'] }] }),
    );
    const recursive = await local.ssm.send(
      new DescribeParametersCommand({
        ParameterFilters: [{ Key: 'Path', Option: 'Recursive', Values: ['/cfg/dev'] }],
      }),
    );
    const byName = await local.ssm.send(
      new DescribeParametersCommand({
        ParameterFilters: [{ Key: 'Name', Option: 'BeginsWith', Values: ['/cfg/prod'] }],
      }),
    );
    const secure = await local.ssm.send(
      new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Type', Values: ['SecureString'] }] }),
    );

    expect(oneLevel.Parameters?.map((p) => p.Name)).toEqual(['/cfg/dev/svc/a', '/cfg/dev/svc/b']);
    expect(recursive.Parameters).toHaveLength(3);
    expect(byName.Parameters?.map((p) => p.Name)).toEqual(['/cfg/prod/svc/a']);
    expect(secure.Parameters?.[0]).toMatchObject({ Name: '/cfg/dev/svc/b', KeyId: 'alias/aws/ssm' });
    expect(oneLevel.Parameters?.[0]).toMatchObject({ Description: 'first', Version: 1, Tier: 'Standard' });
    expect(oneLevel.Parameters?.[0]).not.toHaveProperty('Value');
  });

  it('pages with MaxResults and rejects a Label filter', async () => {
    const first = await local.ssm.send(new DescribeParametersCommand({ MaxResults: 3 }));
    const second = await local.ssm.send(
      new DescribeParametersCommand({ MaxResults: 3, NextToken: first.NextToken }),
    );
    const badKey = await failure(
      local.ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Label', Values: ['x'] }] })),
    );

    expect(first.Parameters).toHaveLength(3);
    expect(second.Parameters).toHaveLength(1);
    expect(badKey.name).toBe('InvalidFilterKey');
  });
});

describe('the wire protocol', () => {
  it('answers an unknown operation and a malformed body with the protocol errors', async () => {
    const call = (target: string, body: string) =>
      fetch(local.endpoint.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
        body,
      });

    const unknown = await call('AmazonSSM.SendCommand', '{}');
    const malformed = await call('AmazonSSM.GetParameter', '{not json');

    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toEqual({ __type: 'UnknownOperationException' });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { __type: string }).__type).toBe('SerializationException');
  });

  it('answers a missing required member with the validation error', async () => {
    const error = await failure(local.ssm.send(new GetParameterCommand({ Name: undefined as never })));

    expect(error.name).toBe('ValidationException');
    expect(error.message).toBe(
      "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null",
    );
  });

  it('returns an injected fault to the next matching call only, and counts every call', async () => {
    await put({ Name: '/app/a' });
    local.endpoint.failNext({
      operation: 'GetParameter',
      code: 'ThrottlingException',
      message: 'Rate exceeded',
    });

    const throttled = await failure(local.ssm.send(new GetParameterCommand({ Name: '/app/a' })));
    const fine = await local.ssm.send(new GetParameterCommand({ Name: '/app/a' }));

    expect(throttled.name).toBe('ThrottlingException');
    expect(fine.Parameter?.Value).toBe('v');
    expect(local.endpoint.calls('GetParameter')).toBe(2);
    expect(local.endpoint.calls()).toBe(3);
  });
});
