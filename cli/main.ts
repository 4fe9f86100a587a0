// One error → exit-code policy for every command.
//   0 success · 1 internal error (a bug: stack printed) · 2 bad input (UserError: message only)
//   130 interrupted (Ctrl-C; finished work is already on disk)
import { buildProgram } from './program.js';
import { isUserError, Interrupted } from '../util/errors.js';

// `pcomp data ls | head` closes stdout early: that is a normal end, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof Interrupted) {
      process.stderr.write(`pcomp: ${e.message}; finished work was kept\n`);
      return 130;
    }
    if (isUserError(e)) {
      process.stderr.write(`pcomp: error: ${e.message}\n`);
      if (e.hint) process.stderr.write(`hint: ${e.hint}\n`);
      return e.exitCode;
    }
    const err = e as { code?: string; exitCode?: number; message?: string };
    if (typeof err?.code === 'string' && err.code.startsWith('commander.')) return err.exitCode ?? 2;
    process.stderr.write(`pcomp: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
