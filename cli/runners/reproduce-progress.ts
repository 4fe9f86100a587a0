// One progress view over every table of a `pcomp reproduce` run: the plan of all cells is announced
// once, each table reports its samples into it, so the ETA covers the whole reproduction.
import type { Reporter, TaskPlan } from '../ui/events.js';
import { RateMeter } from '../ui/rate-meter.js';

export class ReproduceProgress {
  private readonly plan: TaskPlan[] = [];
  private readonly meter = new RateMeter();
  private readonly started = performance.now();
  samples = 0;

  constructor(private readonly reporter: Reporter) {}

  /** Adds a cell to the plan (before `start`). `done` counts what an earlier run already finished. */
  add(config: string, task: string, total: number, done: number): void {
    this.plan.push({ config, task, total, done });
  }

  start(title: string, outDir: string): void {
    this.reporter.emit({ type: 'start', title, plan: this.plan, outDir });
  }

  log(message: string, level: 'info' | 'warn' = 'info'): void {
    this.reporter.emit({ type: 'log', level, message });
  }

  private cell(config: string, task: string): TaskPlan {
    const entry = this.plan.find((p) => p.config === config && p.task === task);
    if (!entry) throw new Error(`reproduce: cell ${config}/${task} was not planned`);
    return entry;
  }

  /** One finished sample; `tokens` is what the engine processed for it. */
  sample(config: string, task: string, tokens: number, runningScore?: number): void {
    const entry = this.cell(config, task);
    entry.done++;
    this.samples++;
    const remaining = this.plan.reduce((n, p) => n + p.total - p.done, 0);
    this.reporter.emit({ type: 'sample', config, task, done: entry.done, total: entry.total, ...this.meter.sample(tokens, remaining), runningScore });
  }

  cellDone(config: string, task: string, score: number | undefined, elapsedSec: number): void {
    const entry = this.cell(config, task);
    this.reporter.emit({ type: 'task-done', config, task, done: entry.done, total: entry.total, score, elapsedSec });
  }

  end(ok: boolean, message: string): void {
    this.reporter.emit({ type: 'end', ok, elapsedSec: (performance.now() - this.started) / 1000, samples: this.samples, message });
  }
}
