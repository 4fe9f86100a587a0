// Plain log lines for logs and CI (stdout not a TTY, or CI=true): one line per event that matters,
// sample progress at most every `intervalSec` per task so a long run does not flood the log.
import type { RunEvent } from './events.js';
import { formatDuration, formatRate, formatScore, percent } from './progress-state.js';

export class PlainLines {
  private readonly lastPrinted = new Map<string, number>();

  constructor(private readonly intervalSec = 10, private readonly now: () => number = () => Date.now() / 1000) {}

  /** The line for an event, or undefined when it is throttled or says nothing new. */
  format(event: RunEvent): string | undefined {
    switch (event.type) {
      case 'start': {
        const configs = new Set(event.plan.map((p) => p.config)).size;
        // Configs may run different task sets (reproduce): count distinct tasks, not plan rows per config.
        const tasks = new Set(event.plan.map((p) => p.task)).size;
        const total = event.plan.reduce((s, p) => s + p.total, 0);
        const done = event.plan.reduce((s, p) => s + p.done, 0);
        return `${event.title}: ${configs} config${configs === 1 ? '' : 's'} × ${tasks} tasks, ` +
          `${total} samples${done > 0 ? ` (${done} already done, resuming)` : ''}${event.outDir ? ` → ${event.outDir}` : ''}`;
      }
      case 'sample': {
        const key = `${event.config}/${event.task}`;
        const t = this.now();
        const last = this.lastPrinted.get(key);
        if (event.done < event.total && last !== undefined && t - last < this.intervalSec) return undefined;
        this.lastPrinted.set(key, t);
        return `[${key}] ${event.done}/${event.total} (${percent(event.done, event.total)}) ` +
          `${formatRate(event.samplesPerSec)} samples/s ${formatRate(event.tokensPerSec)} tok/s ETA ${formatDuration(event.etaSec)}` +
          (event.runningScore !== undefined ? ` score ${formatScore(event.runningScore)}` : '');
      }
      case 'task-done':
        return `[${event.config}/${event.task}] done: ${event.done}/${event.total} samples` +
          (event.score !== undefined ? `, score ${formatScore(event.score)}` : '') +
          (event.elapsedSec !== undefined ? ` in ${formatDuration(event.elapsedSec)}` : '');
      case 'log':
        return `${event.level === 'info' ? '' : `${event.level}: `}${event.config ? `[${event.config}${event.task ? `/${event.task}` : ''}] ` : ''}${event.message}`;
      case 'end':
        return `${event.ok ? 'done' : 'stopped'} in ${formatDuration(event.elapsedSec)}: ${event.samples} samples` +
          (event.tokensPerSec !== undefined ? `, ${formatRate(event.tokensPerSec)} tok/s` : '') +
          (event.message ? `; ${event.message}` : '');
    }
  }
}
