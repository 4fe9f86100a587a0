// Folds runner events into what a progress view shows. Pure, so views are functions of state and
// tests can build any state from a list of events.
import type { RunEvent } from './events.js';

export interface TaskProgress {
  config: string;
  task: string;
  done: number;
  total: number;
  finished: boolean;
  score?: number;
}

export interface ProgressState {
  title: string;
  outDir?: string;
  tasks: TaskProgress[];
  current?: { config: string; task: string; samplesPerSec?: number; tokensPerSec?: number; etaSec?: number; runningScore?: number };
  logs: Array<{ level: 'info' | 'warn' | 'error'; message: string }>;
  end?: { ok: boolean; elapsedSec: number; samples: number; tokensPerSec?: number; message?: string };
}

export const INITIAL_STATE: ProgressState = { title: '', tasks: [], logs: [] };
const KEPT_LOGS = 5;

function withTask(state: ProgressState, config: string, task: string, change: (t: TaskProgress) => TaskProgress, total: number): TaskProgress[] {
  const i = state.tasks.findIndex((t) => t.config === config && t.task === task);
  if (i < 0) return [...state.tasks, change({ config, task, done: 0, total, finished: false })];
  return state.tasks.map((t, j) => (j === i ? change(t) : t));
}

export function reduceProgress(state: ProgressState, event: RunEvent): ProgressState {
  switch (event.type) {
    case 'start':
      return {
        ...state,
        title: event.title,
        outDir: event.outDir,
        tasks: event.plan.map((p) => ({ ...p, finished: p.total > 0 && p.done >= p.total })),
      };
    case 'sample': {
      const { config, task, done, total, samplesPerSec, tokensPerSec, etaSec, runningScore } = event;
      return {
        ...state,
        tasks: withTask(state, config, task, (t) => ({ ...t, done, total }), total),
        current: { config, task, samplesPerSec, tokensPerSec, etaSec, runningScore },
      };
    }
    case 'task-done':
      return {
        ...state,
        tasks: withTask(state, event.config, event.task, (t) => ({ ...t, done: event.done, total: event.total, finished: true, score: event.score }), event.total),
      };
    case 'log':
      return { ...state, logs: [...state.logs, { level: event.level, message: event.message }].slice(-KEPT_LOGS) };
    case 'end':
      return { ...state, current: undefined, end: { ok: event.ok, elapsedSec: event.elapsedSec, samples: event.samples, tokensPerSec: event.tokensPerSec, message: event.message } };
  }
}

/** "45s", "2m05s", "1h02m"; "?" when unknown. */
export function formatDuration(sec: number | undefined): string {
  if (sec === undefined || !Number.isFinite(sec) || sec < 0) return '?';
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Rates keep three significant digits: 0.123, 1.23, 12.3, 123. */
export function formatRate(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '?';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3);
}

export function formatScore(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(2);
}

/** A text bar: filled blocks for done, light shade for the rest. */
export function progressBar(done: number, total: number, width: number): string {
  const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.round(fraction * width);
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

export function percent(done: number, total: number): string {
  return `${total > 0 ? Math.floor((100 * done) / total) : 0}%`;
}
