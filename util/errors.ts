/**
 * Errors a user can act on. Every module that reads user input (files, flags, configs) throws
 * UserError with a message that names the file and the field; cli/main.ts prints the message
 * without a stack trace and exits with `exitCode`. Anything else is a bug and prints its stack.
 */
export class UserError extends Error {
  readonly exitCode: number;
  readonly hint?: string;
  constructor(message: string, opts: { exitCode?: number; hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'UserError';
    this.exitCode = opts.exitCode ?? 2;
    this.hint = opts.hint;
  }
}

/** Raised when the user interrupts (Ctrl-C); work already written is kept. */
export class Interrupted extends Error {
  constructor(message = 'interrupted') {
    super(message);
    this.name = 'Interrupted';
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError || (e instanceof Error && e.name === 'UserError');
}
