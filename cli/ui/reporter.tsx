// createReporter: the one object runners talk to. Modes:
//   ink    live view (stdout is a terminal and CI is not set)
//   plain  log lines (not a terminal, or CI=true)
//   json   one JSON event per line on stdout, for other programs
//   quiet  only warnings and errors, on stderr
import React from 'react';
import { render, type Instance } from 'ink';
import type { Reporter, RunEvent } from './events.js';
import { INITIAL_STATE, reduceProgress, type ProgressState } from './progress-state.js';
import { PlainLines } from './plain-lines.js';
import { ProgressView } from './ProgressView.js';

export type ReporterMode = 'ink' | 'plain' | 'json' | 'quiet';

interface Writable {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ReporterOptions {
  mode?: ReporterMode | 'auto';
  stdout?: Writable;
  stderr?: Writable;
  env?: Record<string, string | undefined>;
  /** Seconds between plain progress lines per task. */
  plainIntervalSec?: number;
}

/** --json wins over --quiet; otherwise a terminal gets the live view unless CI is set. */
export function chooseMode(flags: { json?: boolean; quiet?: boolean }, stdout: Writable = process.stdout, env: Record<string, string | undefined> = process.env): ReporterMode {
  if (flags.json) return 'json';
  if (flags.quiet) return 'quiet';
  const ci = env.CI !== undefined && env.CI !== '' && env.CI !== '0' && env.CI.toLowerCase() !== 'false';
  return stdout.isTTY && !ci ? 'ink' : 'plain';
}

export function createReporter(opts: ReporterOptions = {}): Reporter {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const mode = !opts.mode || opts.mode === 'auto' ? chooseMode({}, stdout, opts.env) : opts.mode;
  switch (mode) {
    case 'json':
      return { emit: (e) => void stdout.write(JSON.stringify(e) + '\n'), close: async () => {} };
    case 'quiet':
      return {
        emit: (e) => {
          if (e.type === 'log' && e.level !== 'info') stderr.write(`${e.level}: ${e.message}\n`);
        },
        close: async () => {},
      };
    case 'plain': {
      const lines = new PlainLines(opts.plainIntervalSec);
      return {
        emit: (e) => {
          const line = lines.format(e);
          if (line !== undefined) (e.type === 'log' && e.level !== 'info' ? stderr : stdout).write(line + '\n');
        },
        close: async () => {},
      };
    }
    case 'ink':
      return inkReporter(stdout as NodeJS.WriteStream);
  }
}

function inkReporter(stdout: NodeJS.WriteStream): Reporter {
  let state: ProgressState = INITIAL_STATE;
  let instance: Instance | undefined;
  return {
    emit(event: RunEvent) {
      state = reduceProgress(state, event);
      const view = <ProgressView state={state} />;
      if (!instance) instance = render(view, { stdout, patchConsole: false, exitOnCtrlC: false });
      else instance.rerender(view);
    },
    async close() {
      if (!instance) return;
      const done = instance;
      instance = undefined;
      done.unmount();
      await done.waitUntilExit();
    },
  };
}
