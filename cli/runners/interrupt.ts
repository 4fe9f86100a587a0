// Ctrl-C handling: the first SIGINT aborts the engine call in flight (the native side stops
// between layers/tokens) so finished work stays on disk; a second one exits at once, even while
// an engine op is still running (a layer of full attention at 128K takes minutes).
import { writeSync } from 'node:fs';
import { exitNow } from '../../engine/index.js';

export async function withInterrupt<T>(f: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let count = 0;
  const onSig = () => {
    count++;
    if (count === 1) {
      process.stderr.write('\npcomp: interrupting after the current step (Ctrl-C again to quit now)\n');
      ac.abort();
    } else {
      try {
        writeSync(2, 'pcomp: stopped\n');
      } catch {
        // stderr closed: exit all the same
      }
      exitNow(130);
    }
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  try {
    return await f(ac.signal);
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
}
