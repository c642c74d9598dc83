/** Errors a user can fix: printed as one line (what, where, how to fix), never as a stack trace. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'UserError';
  }
}

export const EXIT_USAGE = 2;
export const EXIT_EMPTY_RESULT = 3;
