import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** An error as SSM returns it: its `__type` code and its message. */
export class SsmServiceError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export type ParameterType = 'String' | 'StringList' | 'SecureString';
export type ParameterTier = 'Standard' | 'Advanced' | 'Intelligent-Tiering';
type StoredTier = 'Standard' | 'Advanced';

interface Version {
  version: number;
  type: ParameterType;
  /** Plain text for String and StringList; ciphertext (base64) for SecureString. */
  value: string;
  description?: string;
  allowedPattern?: string;
  keyId?: string;
  tier: StoredTier;
  dataType: string;
  labels: string[];
  lastModifiedDate: Date;
}

interface Entry {
  name: string;
  versions: Version[];
  tags: { Key: string; Value: string }[];
}

export interface Filter {
  Key?: string;
  Option?: string;
  Values?: string[];
}

// Limits of the real service (Parameter Store quotas and the API reference).
const MAX_NAME_LENGTH = 2048;
const MAX_QUALIFIED_NAME_LENGTH = 1011;
const MAX_HIERARCHY_LEVELS = 15;
const MAX_VERSIONS = 100;
const MAX_LABELS_PER_VERSION = 10;
const MAX_LABEL_LENGTH = 100;
const TIER_VALUE_LIMIT: Record<StoredTier, number> = { Standard: 4096, Advanced: 8192 };
const DATA_TYPES = new Set(['text', 'aws:ec2:image', 'aws:ssm:integration']);
const NAME_CHARS = /^[a-zA-Z0-9_.\-/]+$/;
const LABEL_CHARS = /^[a-zA-Z0-9_.-]+$/;
const DEFAULT_KEY_ID = 'alias/aws/ssm';

const NAME_RULES =
  'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive). If formed as a path, it can consist of ' +
  'sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 ' +
  'symbols .-_';
const PATH_RULES =
  'The parameter doesn\'t meet the parameter name requirements. The parameter name must begin with a forward slash "/". ' +
  'It can\'t be prefixed with "aws" or "ssm" (case-insensitive). It must use only letters, numbers, or the following ' +
  'symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, ' +
  'must use the forward slash symbol "/". Valid example: /get/parameters2-/by1./path0_.';
const HIERARCHY_LIMIT =
  'A hierarchy can have a maximum of 15 levels. For more information, see Requirements and constraints for parameter ' +
  'names in the AWS Systems Manager User Guide.';
const STANDARD_TOO_LARGE =
  'Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, ' +
  'upgrade the parameter to use the advanced-parameter tier. For more information, see ' +
  'https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html';
const NO_DOWNGRADE =
  "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier " +
  'to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard ' +
  'parameter.';

function validation(message: string): SsmServiceError {
  return new SsmServiceError('ValidationException', message);
}

/** The "N validation error(s) detected" form the service uses for request-shape violations. */
function constraint(field: string, value: unknown, rule: string): SsmServiceError {
  // The service never echoes a parameter's value back, not even in an error.
  const shown =
    field === 'value'
      ? ''
      : value === null || value === undefined
        ? ' null'
        : ` '${Array.isArray(value) ? `[${value.join(', ')}]` : value}'`;
  return validation(
    `1 validation error detected: Value${shown} at '${field}' failed to satisfy constraint: ${rule}`,
  );
}

function required<T>(value: T | undefined | null, field: string): T {
  if (value === undefined || value === null) throw constraint(field, null, 'Member must not be null');
  return value;
}

function checkMaxResults(value: unknown, max: number): number {
  if (value === undefined || value === null) return max;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new SsmServiceError(
      'SerializationException',
      `Expected a number for MaxResults, got ${typeof value}`,
    );
  }
  if (value < 1) throw constraint('maxResults', value, 'Member must have value greater than or equal to 1');
  if (value > max)
    throw constraint('maxResults', value, `Member must have value less than or equal to ${max}`);
  return value;
}

function checkListSize(list: unknown[] | undefined, field: string, max: number): string[] {
  const items = required(list, field) as string[];
  if (items.length < 1) throw constraint(field, items, 'Member must have length greater than or equal to 1');
  if (items.length > max)
    throw constraint(field, items, `Member must have length less than or equal to ${max}`);
  return items;
}

/** Page tokens are opaque to callers: the offset, signed so that a made-up token is rejected. */
function encodeToken(offset: number, scope: string): string {
  return Buffer.from(JSON.stringify({ o: offset, s: scope })).toString('base64url');
}

function decodeToken(token: string | undefined, scope: string): number {
  if (token === undefined || token === null) return 0;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o: unknown; s: unknown };
    if (typeof parsed.o === 'number' && parsed.o >= 0 && parsed.s === scope) return parsed.o;
  } catch {
    // fall through to the service's error
  }
  throw new SsmServiceError('InvalidNextToken', "The specified token isn't valid.");
}

function page<T>(items: T[], maxResults: number, token: string | undefined, scope: string) {
  const offset = decodeToken(token, scope);
  const slice = items.slice(offset, offset + maxResults);
  const next = offset + maxResults < items.length ? encodeToken(offset + maxResults, scope) : undefined;
  return { items: slice, nextToken: next };
}

export interface ParameterStoreOptions {
  region?: string;
  accountId?: string;
  now?: () => Date;
}

/**
 * Parameter Store in memory, with the real service's naming rules, limits, versions, labels and errors.
 * SecureString values are encrypted with a key made per store, so undecrypted reads return ciphertext.
 */
/**
 * Parameters by name, where a single-level name and the same name with a leading slash (`p`, `/p`) are one
 * parameter, as in SSM; deeper names always start with a slash.
 */
class ParameterNames<V> extends Map<string, V> {
  static key(name: string): string {
    return name.startsWith('/') && name.indexOf('/', 1) === -1 ? name.slice(1) : name;
  }
  override get(name: string): V | undefined {
    return super.get(ParameterNames.key(name));
  }
  override has(name: string): boolean {
    return super.has(ParameterNames.key(name));
  }
  override set(name: string, value: V): this {
    return super.set(ParameterNames.key(name), value);
  }
  override delete(name: string): boolean {
    return super.delete(ParameterNames.key(name));
  }
}

export class ParameterStore {
  readonly #entries = new ParameterNames<Entry>();
  readonly #key = randomBytes(32);
  readonly #now: () => Date;
  readonly accountId: string;
  readonly region: string;

  constructor(options: ParameterStoreOptions = {}) {
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '000000000000';
    this.#now = options.now ?? (() => new Date());
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }

  arn(name: string, region = this.region): string {
    return `arn:aws:ssm:${region}:${this.accountId}:parameter${name.startsWith('/') ? '' : '/'}${name}`;
  }

  #encrypt(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  #decrypt(blob: string): string {
    const raw = Buffer.from(blob, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }

  #valueOf(version: Version, withDecryption: boolean): string {
    return version.type === 'SecureString' && withDecryption ? this.#decrypt(version.value) : version.value;
  }

  static validateName(name: string): void {
    if (name.length > MAX_NAME_LENGTH) {
      throw constraint('name', name, `Member must have length less than or equal to ${MAX_NAME_LENGTH}`);
    }
    const bare = name.replace(/^\//, '').toLowerCase();
    if (!NAME_CHARS.test(name) || bare.startsWith('ssm') || (bare.startsWith('aws') && !name.includes('/'))) {
      throw validation(NAME_RULES);
    }
    if (name.includes('/') && !name.startsWith('/')) {
      throw validation('Parameter name must be a fully qualified name.');
    }
    if (name.includes('//') || name.endsWith('/')) throw validation(NAME_RULES);
    if (name.length > MAX_QUALIFIED_NAME_LENGTH) {
      throw validation(
        `Parameter name must be at most ${MAX_QUALIFIED_NAME_LENGTH} characters when fully qualified.`,
      );
    }
    if (name.split('/').filter(Boolean).length > MAX_HIERARCHY_LEVELS) {
      throw new SsmServiceError('HierarchyLevelLimitExceededException', HIERARCHY_LIMIT);
    }
  }

  static validatePath(path: string): void {
    const bare = path.replace(/^\//, '').toLowerCase();
    if (!path.startsWith('/') || path.includes('//') || !NAME_CHARS.test(path) || bare.startsWith('ssm')) {
      throw validation(PATH_RULES);
    }
    if (path.split('/').filter(Boolean).length > MAX_HIERARCHY_LEVELS) {
      throw new SsmServiceError('HierarchyLevelLimitExceededException', HIERARCHY_LIMIT);
    }
  }

  /** Resolves an ARN to the name it stands for; plain names pass through. */
  #nameFromArn(name: string): string {
    const match = /^arn:aws[a-z-]*:ssm:[a-z0-9-]*:\d{12}:parameter(\/.*)$/.exec(name);
    if (!match) return name;
    const path = match[1]!;
    return this.#entries.has(path) ? path : path.slice(1);
  }

  /** `name`, `name:version` or `name:label`, each also by ARN. */
  #resolve(selector: string): { entry: Entry; version: Version; selector?: string } {
    const arnMatch = /^(arn:aws[a-z-]*:ssm:[a-z0-9-]*:\d{12}:parameter\/[^:]*)(?::([^:]+))?$/.exec(selector);
    let name: string;
    let qualifier: string | undefined;
    if (arnMatch) {
      name = this.#nameFromArn(arnMatch[1]!);
      qualifier = arnMatch[2];
    } else {
      const parts = selector.split(':');
      if (parts.length > 2) throw new SsmServiceError('ParameterNotFound', '');
      name = parts[0]!;
      qualifier = parts[1];
    }
    const entry = this.#entries.get(name);
    if (!entry) throw new SsmServiceError('ParameterNotFound', '');
    if (qualifier === undefined) return { entry, version: entry.versions.at(-1)! };
    if (/^\d+$/.test(qualifier)) {
      const version = entry.versions.find((v) => v.version === Number(qualifier));
      if (!version) {
        throw new SsmServiceError(
          'ParameterVersionNotFound',
          `Systems Manager could not find version ${qualifier} of ${name}. Verify the version and try again.`,
        );
      }
      return { entry, version, selector: `:${qualifier}` };
    }
    const version = entry.versions.find((v) => v.labels.includes(qualifier));
    if (!version) throw new SsmServiceError('ParameterNotFound', '');
    return { entry, version, selector: `:${qualifier}` };
  }

  #parameter(entry: Entry, version: Version, withDecryption: boolean, region: string, selector?: string) {
    return {
      Name: entry.name,
      Type: version.type,
      Value: this.#valueOf(version, withDecryption),
      Version: version.version,
      ...(selector ? { Selector: selector } : {}),
      LastModifiedDate: version.lastModifiedDate,
      ARN: this.arn(entry.name, region),
      DataType: version.dataType,
    };
  }

  put(input: {
    Name?: string;
    Value?: string;
    Type?: string;
    Overwrite?: boolean;
    Description?: string;
    Tier?: string;
    KeyId?: string;
    AllowedPattern?: string;
    DataType?: string;
    Tags?: { Key: string; Value: string }[];
  }): { Version: number; Tier: StoredTier } {
    const name = required(input.Name, 'name').trim();
    const value = required(input.Value, 'value');
    if (value.length < 1)
      throw constraint('value', undefined, 'Member must have length greater than or equal to 1');
    ParameterStore.validateName(name);
    if (/^\/aws\//i.test(name) || /^aws/i.test(name)) {
      throw new SsmServiceError('AccessDeniedException', `No access to reserved parameter name: ${name}.`);
    }
    if (input.Overwrite && input.Tags && input.Tags.length > 0) {
      throw validation(
        "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove " +
          'overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or ' +
          'RemoveTagsFromResource.',
      );
    }
    if (input.Type !== undefined && !['String', 'StringList', 'SecureString'].includes(input.Type)) {
      throw constraint(
        'type',
        input.Type,
        'Member must satisfy enum value set: [SecureString, StringList, String]',
      );
    }
    if (input.Tier !== undefined && !['Standard', 'Advanced', 'Intelligent-Tiering'].includes(input.Tier)) {
      throw constraint(
        'tier',
        input.Tier,
        'Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]',
      );
    }
    const dataType = input.DataType ?? 'text';
    if (!DATA_TYPES.has(dataType)) {
      throw validation(
        `The following data type is not supported: ${dataType} (Data type names are all lowercase.)`,
      );
    }
    if (input.AllowedPattern !== undefined) {
      let pattern: RegExp;
      try {
        pattern = new RegExp(input.AllowedPattern);
      } catch {
        throw new SsmServiceError(
          'InvalidAllowedPatternException',
          'The request does not meet the regular expression requirement.',
        );
      }
      if (!pattern.test(value)) {
        throw new SsmServiceError(
          'ParameterPatternMismatchException',
          `Parameter value, cannot be validated against allowedPattern: ${input.AllowedPattern}`,
        );
      }
    }

    const existing = this.#entries.get(name);
    const latest = existing?.versions.at(-1);
    if (latest && !input.Overwrite) {
      throw new SsmServiceError(
        'ParameterAlreadyExists',
        'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
      );
    }
    const type = (input.Type ?? latest?.type) as ParameterType | undefined;
    if (!type) throw validation('A parameter type is required when you create a parameter.');

    const requested = (input.Tier ?? latest?.tier ?? 'Standard') as ParameterTier;
    const tier: StoredTier =
      requested === 'Intelligent-Tiering'
        ? value.length > TIER_VALUE_LIMIT.Standard || latest?.tier === 'Advanced'
          ? 'Advanced'
          : 'Standard'
        : requested;
    if (latest?.tier === 'Advanced' && tier === 'Standard') throw validation(NO_DOWNGRADE);
    if (value.length > TIER_VALUE_LIMIT[tier]) {
      if (tier === 'Standard') throw validation(STANDARD_TOO_LARGE);
      throw constraint(
        'value',
        undefined,
        `Member must have length less than or equal to ${TIER_VALUE_LIMIT.Advanced}`,
      );
    }

    const entry: Entry = existing ?? { name, versions: [], tags: input.Tags ?? [] };
    if (entry.versions.length >= MAX_VERSIONS) {
      const oldest = entry.versions[0]!;
      if (oldest.labels.length > 0) {
        throw new SsmServiceError(
          'ParameterMaxVersionLimitExceeded',
          `You attempted to create a new version of ${name} by calling the PutParameter API with the overwrite flag. ` +
            `Version ${oldest.version}, the oldest version, can't be deleted because it has a label associated with ` +
            'it. Move the label to another version of the parameter, and try again.',
        );
      }
      entry.versions.shift();
    }
    const version: Version = {
      version: (latest?.version ?? 0) + 1,
      type,
      value: type === 'SecureString' ? this.#encrypt(value) : value,
      tier,
      dataType,
      labels: [],
      lastModifiedDate: this.#now(),
      ...(input.Description !== undefined ? { description: input.Description } : {}),
      ...(input.AllowedPattern !== undefined ? { allowedPattern: input.AllowedPattern } : {}),
      ...(type === 'SecureString' ? { keyId: input.KeyId ?? latest?.keyId ?? DEFAULT_KEY_ID } : {}),
    };
    entry.versions.push(version);
    this.#entries.set(name, entry);
    return { Version: version.version, Tier: tier };
  }

  get(input: { Name?: string; WithDecryption?: boolean }, region = this.region) {
    const selector = required(input.Name, 'name');
    const { entry, version, selector: sel } = this.#resolve(selector);
    return { Parameter: this.#parameter(entry, version, Boolean(input.WithDecryption), region, sel) };
  }

  getMany(input: { Names?: string[]; WithDecryption?: boolean }, region = this.region) {
    const names = checkListSize(input.Names, 'names', 10);
    const Parameters = [];
    const InvalidParameters: string[] = [];
    for (const selector of new Set(names)) {
      try {
        const { entry, version, selector: sel } = this.#resolve(selector);
        Parameters.push(this.#parameter(entry, version, Boolean(input.WithDecryption), region, sel));
      } catch (error) {
        if (!(error instanceof SsmServiceError)) throw error;
        InvalidParameters.push(selector);
      }
    }
    return { Parameters, InvalidParameters };
  }

  getByPath(
    input: {
      Path?: string;
      Recursive?: boolean;
      WithDecryption?: boolean;
      MaxResults?: number;
      NextToken?: string;
      ParameterFilters?: Filter[];
    },
    region = this.region,
  ) {
    const path = required(input.Path, 'path');
    ParameterStore.validatePath(path);
    const maxResults = checkMaxResults(input.MaxResults, 10);
    const filters = input.ParameterFilters ?? [];
    this.#checkFilters(
      filters,
      ['Type', 'KeyId', 'Label', 'DataType'],
      'Valid filter keys include: [Type, KeyId].',
    );
    const prefix = path.endsWith('/') ? path : `${path}/`;
    const matches = [...this.#entries.values()]
      .filter((entry) => {
        if (!entry.name.startsWith(prefix)) return false;
        return input.Recursive || !entry.name.slice(prefix.length).includes('/');
      })
      .filter((entry) => this.#matchesFilters(entry, filters))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    const scope = `path:${prefix}:${Boolean(input.Recursive)}`;
    const { items, nextToken } = page(matches, maxResults, input.NextToken, scope);
    return {
      Parameters: items.map((entry) =>
        this.#parameter(entry, entry.versions.at(-1)!, Boolean(input.WithDecryption), region),
      ),
      ...(nextToken ? { NextToken: nextToken } : {}),
    };
  }

  delete(input: { Name?: string }): Record<string, never> {
    const name = required(input.Name, 'name');
    if (!this.#entries.delete(this.#nameFromArn(name))) throw new SsmServiceError('ParameterNotFound', '');
    return {};
  }

  deleteMany(input: { Names?: string[] }) {
    const names = checkListSize(input.Names, 'names', 10);
    const DeletedParameters: string[] = [];
    const InvalidParameters: string[] = [];
    for (const name of new Set(names)) {
      (this.#entries.delete(name) ? DeletedParameters : InvalidParameters).push(name);
    }
    return { DeletedParameters, InvalidParameters };
  }

  history(input: { Name?: string; WithDecryption?: boolean; MaxResults?: number; NextToken?: string }) {
    const name = this.#nameFromArn(required(input.Name, 'name'));
    const maxResults = checkMaxResults(input.MaxResults, 50);
    const entry = this.#entries.get(name);
    if (!entry) throw new SsmServiceError('ParameterNotFound', '');
    const { items, nextToken } = page(entry.versions, maxResults, input.NextToken, `history:${name}`);
    return {
      Parameters: items.map((v) => ({
        Name: entry.name,
        Type: v.type,
        ...(v.keyId ? { KeyId: v.keyId } : {}),
        LastModifiedDate: v.lastModifiedDate,
        LastModifiedUser: `arn:aws:iam::${this.accountId}:root`,
        ...(v.description !== undefined ? { Description: v.description } : {}),
        Value: this.#valueOf(v, Boolean(input.WithDecryption)),
        ...(v.allowedPattern !== undefined ? { AllowedPattern: v.allowedPattern } : {}),
        Version: v.version,
        Labels: [...v.labels],
        Tier: v.tier,
        Policies: [],
        DataType: v.dataType,
      })),
      ...(nextToken ? { NextToken: nextToken } : {}),
    };
  }

  label(input: { Name?: string; ParameterVersion?: number; Labels?: string[] }) {
    const name = this.#nameFromArn(required(input.Name, 'name'));
    const labels = checkListSize(input.Labels, 'labels', 10);
    const entry = this.#entries.get(name);
    if (!entry) throw new SsmServiceError('ParameterNotFound', '');
    const number = input.ParameterVersion ?? entry.versions.at(-1)!.version;
    const target = entry.versions.find((v) => v.version === number);
    if (!target) {
      throw new SsmServiceError(
        'ParameterVersionNotFound',
        `Systems Manager could not find version ${number} of ${name}. Verify the version and try again.`,
      );
    }
    for (const label of labels) {
      if (label.length > MAX_LABEL_LENGTH) {
        throw constraint(
          'labels',
          labels,
          `Member must satisfy constraint: [Member must have length less than or equal to ${MAX_LABEL_LENGTH}, ` +
            'Member must have length greater than or equal to 1]',
        );
      }
    }
    const invalid = labels.filter((l) => !LABEL_CHARS.test(l) || /^\d/.test(l) || /^(aws|ssm)/i.test(l));
    const valid = [...new Set(labels.filter((l) => !invalid.includes(l)))];
    const added = valid.filter((l) => !target.labels.includes(l));
    if (target.labels.length + added.length > MAX_LABELS_PER_VERSION) {
      throw new SsmServiceError(
        'ParameterVersionLabelLimitExceeded',
        'A parameter version can have maximum 10 labels.Move one or more labels to another version and try again.',
      );
    }
    // A label names one version at a time: attaching it here moves it off any other version.
    for (const other of entry.versions) {
      if (other !== target) other.labels = other.labels.filter((l) => !valid.includes(l));
    }
    target.labels.push(...added);
    return { InvalidLabels: invalid, ParameterVersion: number };
  }

  describe(
    input: {
      Filters?: { Key?: string; Values?: string[] }[];
      ParameterFilters?: Filter[];
      MaxResults?: number;
      NextToken?: string;
    },
    region = this.region,
  ) {
    const maxResults = checkMaxResults(input.MaxResults, 50);
    if (input.Filters?.length && input.ParameterFilters?.length) {
      throw validation('You can use either Filters or ParameterFilters in a single request.');
    }
    const filters: Filter[] = [
      ...(input.Filters ?? [])
        .map((f) => ({ Key: f.Key, Option: 'BeginsWith', Values: f.Values ?? [] }))
        .map((f) => (f.Key === 'Name' ? f : { ...f, Option: 'Equals' })),
      ...(input.ParameterFilters ?? []),
    ];
    this.#checkFilters(
      filters,
      ['Name', 'Type', 'KeyId', 'Path', 'Tier', 'DataType'],
      'Valid filter keys include: [Path, Name, Type, KeyId, Tier].',
    );
    const matches = [...this.#entries.values()]
      .filter((entry) => this.#matchesFilters(entry, filters))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    const { items, nextToken } = page(
      matches,
      maxResults,
      input.NextToken,
      `describe:${JSON.stringify(filters)}`,
    );
    return {
      Parameters: items.map((entry) => {
        const v = entry.versions.at(-1)!;
        return {
          Name: entry.name,
          ARN: this.arn(entry.name, region),
          Type: v.type,
          ...(v.keyId ? { KeyId: v.keyId } : {}),
          LastModifiedDate: v.lastModifiedDate,
          LastModifiedUser: `arn:aws:iam::${this.accountId}:root`,
          ...(v.description !== undefined ? { Description: v.description } : {}),
          ...(v.allowedPattern !== undefined ? { AllowedPattern: v.allowedPattern } : {}),
          Version: v.version,
          Tier: v.tier,
          Policies: [],
          DataType: v.dataType,
        };
      }),
      ...(nextToken ? { NextToken: nextToken } : {}),
    };
  }

  #checkFilters(filters: Filter[], allowed: string[], allowedText: string): void {
    const seen = new Set<string>();
    for (const filter of filters) {
      const key = filter.Key ?? '';
      if (!key.startsWith('tag:') && !allowed.includes(key)) {
        throw new SsmServiceError(
          'InvalidFilterKey',
          `The following filter key is not valid: ${key}. ${allowedText}`,
        );
      }
      if (!filter.Values || filter.Values.length === 0) {
        if (!key.startsWith('tag:')) {
          throw new SsmServiceError(
            'InvalidFilterValue',
            `The following filter values are missing : null for filter key ${key}.`,
          );
        }
      }
      if (seen.has(key)) {
        throw new SsmServiceError(
          'InvalidFilterKey',
          `The following filter is duplicated in the request: ${key}. A request can contain only one occurrence of a specific filter.`,
        );
      }
      seen.add(key);
      const option = filter.Option ?? (key === 'Path' ? 'OneLevel' : 'Equals');
      const options =
        key === 'Path'
          ? ['Recursive', 'OneLevel']
          : key === 'Name'
            ? ['Equals', 'BeginsWith', 'Contains']
            : ['Equals', 'BeginsWith'];
      if (!options.includes(option)) {
        throw new SsmServiceError(
          'InvalidFilterOption',
          `The following filter option is not valid: ${option}. Valid options include: [${options.join(', ')}].`,
        );
      }
      if (key === 'Path') for (const value of filter.Values ?? []) ParameterStore.validatePath(value);
    }
  }

  #matchesFilters(entry: Entry, filters: Filter[]): boolean {
    const latest = entry.versions.at(-1)!;
    return filters.every((filter) => {
      const key = filter.Key ?? '';
      const values = filter.Values ?? [];
      const option = filter.Option ?? (key === 'Path' ? 'OneLevel' : 'Equals');
      const test = (actual: string | undefined) =>
        actual !== undefined &&
        values.some((v) =>
          option === 'BeginsWith'
            ? actual.startsWith(v)
            : option === 'Contains'
              ? actual.includes(v)
              : actual === v,
        );
      switch (key) {
        case 'Name':
          return test(entry.name) || (option !== 'Contains' && test(entry.name.replace(/^\//, '')));
        case 'Type':
          return test(latest.type);
        case 'KeyId':
          return test(latest.keyId);
        case 'Tier':
          return test(latest.tier);
        case 'DataType':
          return test(latest.dataType);
        case 'Label':
          return entry.versions.some((v) => v.labels.some((l) => values.includes(l)));
        case 'Path':
          return values.some((v) => {
            const prefix = v.endsWith('/') ? v : `${v}/`;
            if (!entry.name.startsWith(prefix)) return false;
            return option === 'Recursive' || !entry.name.slice(prefix.length).includes('/');
          });
        default: {
          const tagKey = key.slice('tag:'.length);
          return entry.tags.some(
            (t) => t.Key === tagKey && (values.length === 0 || values.includes(t.Value)),
          );
        }
      }
    });
  }
}
