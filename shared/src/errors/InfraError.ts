/** What went wrong, in the terms a caller decides on: retry, fix the input, fix the deployment, or give up. */
export type InfraErrorType = 'config' | 'connection' | 'timeout' | 'validation' | 'throttled' | 'internal';

/** One field that failed validation: where it is, and the rule it broke. */
export interface FieldError {
  path: string;
  message: string;
  rule?: string;
}

export interface InfraErrorOptions {
  type: InfraErrorType;
  /** The module or dependency that failed: `config`, `cache`, `db`, `mq`, `ssm`, … */
  component: string;
  cause?: unknown;
  /** Defaults by type: connection, timeout and throttled errors are retryable, the others are not. */
  retryable?: boolean;
  /** The code the dependency gave: an AWS error name, a Node errno code, a SQLSTATE, a Redis reply prefix. */
  code?: string;
  fields?: FieldError[];
}

const retryableByDefault: Record<InfraErrorType, boolean> = {
  config: false,
  connection: true,
  timeout: true,
  validation: false,
  throttled: true,
  internal: false,
};

export class InfraError extends Error {
  override readonly name = 'InfraError';
  readonly type: InfraErrorType;
  readonly component: string;
  readonly retryable: boolean;
  readonly code: string | undefined;
  readonly fields: FieldError[];

  constructor(message: string, options: InfraErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.type = options.type;
    this.component = options.component;
    this.retryable = options.retryable ?? retryableByDefault[options.type];
    this.code = options.code;
    this.fields = options.fields ?? [];
  }

  /** A log-safe summary: no stack, no cause payloads. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      type: this.type,
      component: this.component,
      retryable: this.retryable,
      code: this.code,
      message: this.message,
      ...(this.fields.length > 0 ? { fields: this.fields } : {}),
    };
  }
}

export function isInfraError(error: unknown): error is InfraError {
  return error instanceof InfraError;
}
