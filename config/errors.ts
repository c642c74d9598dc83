/**
 * The one error model. Every error a user or an operator can act on is an AlignloopError whose
 * name is a key of ERROR_KINDS; that table says whether Temporal may retry it and which exit code
 * the CLI gives it. The workflows' non-retryable list, the activities' failure classifier and the
 * CLI's exit codes are all derived from it. No Node imports: workflows import this module.
 */

export const EXIT = {
  ok: 0,
  /** A failure that is not the input's fault (a failed campaign, a server that went away, a bug). */
  failure: 1,
  /** Bad input or configuration: the message says what, where and how to fix it. */
  usage: 2,
  /** The result would be empty (e.g. no feedback example survived the filters). */
  emptyResult: 3,
} as const;

interface ErrorKind {
  /** May a Temporal retry help? */
  retryable: boolean;
  exitCode: number;
}

export const ERROR_KINDS = {
  /** A data file (prompts, samples, feedback) is malformed: file, line, fix. */
  InputError: { retryable: false, exitCode: EXIT.usage },
  /** The campaign file is invalid (every problem listed). */
  ConfigError: { retryable: false, exitCode: EXIT.usage },
  /** A reward-model folder is unusable. */
  ModelFolderError: { retryable: false, exitCode: EXIT.usage },
  /** Feedback options cannot work together. */
  FeedbackOptionsError: { retryable: false, exitCode: EXIT.usage },
  /** The judge endpoint refused the configuration (bad key, unknown model, malformed request). */
  JudgeConfigError: { retryable: false, exitCode: EXIT.usage },
  /** Too many items failed: something systemic is wrong with the judge. */
  JudgeSystemicError: { retryable: false, exitCode: EXIT.failure },
  /** The judge budget ran out: the campaign pauses until it is raised. */
  JudgeBudgetExhausted: { retryable: false, exitCode: EXIT.failure },
  /** A judge batch is not finished yet: its retry interval is the poll interval. */
  JudgeBatchPending: { retryable: true, exitCode: EXIT.failure },
  /** A recorded artifact is missing or no longer hashes to what was recorded (moved, edited, tampered with). */
  ArtifactError: { retryable: false, exitCode: EXIT.failure },
  /** The artifact store refused the configuration: no such bucket, unknown endpoint host, no credentials, no permission. */
  StoreConfigError: { retryable: false, exitCode: EXIT.usage },
  /** The sampling endpoint refused the configuration (bad key, unknown model, malformed request). */
  SamplerConfigError: { retryable: false, exitCode: EXIT.usage },
  /** Too many samples failed, or the account is out of quota: something systemic is wrong with the sampler. */
  SamplerSystemicError: { retryable: false, exitCode: EXIT.failure },
  /** The reward server refused the configuration (bad key, unknown model, malformed request, activation not off). */
  RewardServerConfigError: { retryable: false, exitCode: EXIT.usage },
  /** Too many samples unlabelled by the reward server: something systemic is wrong with it. */
  RewardServerSystemicError: { retryable: false, exitCode: EXIT.failure },
  /** A process alignloop supervises (a managed inference server, a sampler command, a trainer) exited with an error or never became ready: the message carries its log tail. */
  ProcessFailed: { retryable: false, exitCode: EXIT.failure },
  /** A supervised process crashed or stalled on an attempt that may be retried (resuming from its own checkpoint where it can). */
  ProcessCrashed: { retryable: true, exitCode: EXIT.failure },
  /** Recorded counts do not add up: a bug or tampering, never retried blindly. */
  InvariantViolation: { retryable: false, exitCode: EXIT.failure },
  /** The embedded Temporal server could not be found or started. */
  DevServerError: { retryable: false, exitCode: EXIT.failure },
  /** A CLI-level problem (bad flag, unknown campaign id, no server): the exit code is chosen where it is raised. */
  UserError: { retryable: false, exitCode: EXIT.failure },
} as const satisfies Record<string, ErrorKind>;

export type ErrorName = keyof typeof ERROR_KINDS;

/** What the workflows hand Temporal as `nonRetryableErrorTypes`. */
export const NON_RETRYABLE_ERROR_TYPES: string[] = (Object.keys(ERROR_KINDS) as ErrorName[]).filter((k) => !ERROR_KINDS[k].retryable);

export class AlignloopError extends Error {
  override readonly name: ErrorName;
  readonly exitCode: number;
  constructor(name: ErrorName, message: string, exitCode?: number) {
    super(message);
    this.name = name;
    this.exitCode = exitCode ?? ERROR_KINDS[name].exitCode;
  }
  get retryable(): boolean {
    return ERROR_KINDS[this.name].retryable;
  }
  /** Carried to the workflow with the failure (ApplicationFailure details). */
  details(): unknown[] {
    return [];
  }
}

/** Bad input: what is wrong, where, and how to fix it. */
export class InputError extends AlignloopError {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly problem: string,
    readonly fix?: string,
  ) {
    super('InputError', `${file}${line !== undefined ? `:${line}` : ''}: ${problem}${fix ? ` (${fix})` : ''}`);
  }
}

export class ConfigError extends AlignloopError {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super('ConfigError', `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export class ModelFolderError extends AlignloopError {
  constructor(message: string) {
    super('ModelFolderError', message);
  }
}

export class FeedbackOptionsError extends AlignloopError {
  constructor(message: string) {
    super('FeedbackOptionsError', message);
  }
}

export class JudgeConfigError extends AlignloopError {
  constructor(message: string) {
    super('JudgeConfigError', message);
  }
}

/** Too many items unlabelled (the output was still written for audit). */
export class JudgeSystemicError extends AlignloopError {
  constructor(message: string) {
    super('JudgeSystemicError', message);
  }
}

export class RewardServerConfigError extends AlignloopError {
  constructor(message: string) {
    super('RewardServerConfigError', message);
  }
}

export class RewardServerSystemicError extends AlignloopError {
  constructor(message: string) {
    super('RewardServerSystemicError', message);
  }
}

/** The budget ran out before every item was judged: pause, raise the budget, resume (nothing is bought twice). */
export class JudgeBudgetExhausted extends AlignloopError {
  constructor(
    message: string,
    readonly spentUsd: number,
  ) {
    super('JudgeBudgetExhausted', message);
  }
  override details(): unknown[] {
    return [{ spentUsd: this.spentUsd }];
  }
}

export class JudgeBatchPending extends AlignloopError {
  constructor(message: string) {
    super('JudgeBatchPending', message);
  }
}

export class ArtifactError extends AlignloopError {
  constructor(message: string) {
    super('ArtifactError', message);
  }
}

export class StoreConfigError extends AlignloopError {
  constructor(message: string) {
    super('StoreConfigError', message);
  }
}

export class SamplerConfigError extends AlignloopError {
  constructor(message: string) {
    super('SamplerConfigError', message);
  }
}

export class SamplerSystemicError extends AlignloopError {
  constructor(message: string) {
    super('SamplerSystemicError', message);
  }
}

export class ProcessFailed extends AlignloopError {
  constructor(message: string) {
    super('ProcessFailed', message);
  }
}

export class ProcessCrashed extends AlignloopError {
  constructor(message: string) {
    super('ProcessCrashed', message);
  }
}

export class InvariantViolation extends AlignloopError {
  constructor(message: string) {
    super('InvariantViolation', message);
  }
}

export class DevServerError extends AlignloopError {
  constructor(message: string) {
    super('DevServerError', message);
  }
}

/** A problem a CLI user fixes: printed as one line, never as a stack trace. */
export class UserError extends AlignloopError {
  constructor(message: string, exitCode: number = EXIT.failure) {
    super('UserError', message, exitCode);
  }
}

/** The error names as values, for comparisons in workflow code (`failure.type === ERROR_TYPE.X`). */
export const ERROR_TYPE = Object.fromEntries(Object.keys(ERROR_KINDS).map((k) => [k, k])) as { readonly [K in ErrorName]: K };
