// What a runner tells the outside world while it works. The runners only emit these; the views in
// this folder only render them, so a run looks the same whether it is drawn by ink, printed as
// plain lines, written as JSON lines, or silenced.

export interface TaskPlan {
  config: string;
  task: string;
  /** Samples this process will run for the task (its shard), resumed ones included. */
  total: number;
  /** Already finished before this invocation (resume). */
  done: number;
}

export interface StartEvent {
  type: 'start';
  /** e.g. "eval longbench · model stories260K" */
  title: string;
  plan: TaskPlan[];
  outDir?: string;
}

export interface SampleEvent {
  type: 'sample';
  config: string;
  task: string;
  done: number;
  total: number;
  samplesPerSec?: number;
  tokensPerSec?: number;
  etaSec?: number;
  /** Score of the task's finished samples so far (0–100), when the metric allows a running value. */
  runningScore?: number;
  sampleId?: string;
}

export interface TaskDoneEvent {
  type: 'task-done';
  config: string;
  task: string;
  done: number;
  total: number;
  /** Final task score (0–100); for ppl runs the perplexity. */
  score?: number;
  elapsedSec?: number;
}

export interface LogEvent {
  type: 'log';
  level: 'info' | 'warn' | 'error';
  message: string;
  config?: string;
  task?: string;
}

export interface EndEvent {
  type: 'end';
  ok: boolean;
  elapsedSec: number;
  /** Samples run by this invocation. */
  samples: number;
  tokensPerSec?: number;
  /** Where the tables went, or why the run stopped. */
  message?: string;
}

export type RunEvent = StartEvent | SampleEvent | TaskDoneEvent | LogEvent | EndEvent;

export interface Reporter {
  emit(event: RunEvent): void;
  /** Flushes and releases the terminal; safe to call twice. */
  close(): Promise<void>;
}
