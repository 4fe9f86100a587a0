// Ctrl-C handling: the first SIGINT aborts the engine call in flight (the native side stops
// between layers/tokens) so finished work stays on disk; a second one exits at once.
export async function withInterrupt<T>(f: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let count = 0;
  const onSig = () => {
    count++;
    if (count === 1) {
      process.stderr.write('\npcomp: interrupting after the current step (Ctrl-C again to quit now)\n');
      ac.abort();
    } else process.exit(130);
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
