import { describe, expect, it } from 'vitest';
import React from 'react';
import { EventEmitter } from 'node:events';
import { render } from 'ink-testing-library';
import { ProgressView } from '../../cli/ui/ProgressView.js';
import { INITIAL_STATE, formatDuration, progressBar, reduceProgress, type ProgressState } from '../../cli/ui/progress-state.js';
import { PlainLines } from '../../cli/ui/plain-lines.js';
import { chooseMode, createReporter } from '../../cli/ui/reporter.js';
import type { RunEvent } from '../../cli/ui/events.js';

const stripAnsi = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');

const EVENTS: RunEvent[] = [
  { type: 'start', title: 'eval longbench · stories260K', outDir: 'runs/a', plan: [
    { config: 'full', task: 'qasper', total: 4, done: 4 },
    { config: 'full', task: 'trec', total: 4, done: 4 },
    { config: 'parallelcomp', task: 'qasper', total: 4, done: 0 },
    { config: 'parallelcomp', task: 'trec', total: 4, done: 0 },
  ] },
  { type: 'sample', config: 'parallelcomp', task: 'qasper', done: 4, total: 4, samplesPerSec: 2.5, tokensPerSec: 812.3, etaSec: 3.2, runningScore: 41.5 },
  { type: 'task-done', config: 'parallelcomp', task: 'qasper', done: 4, total: 4, score: 41.5, elapsedSec: 1.6 },
  { type: 'sample', config: 'parallelcomp', task: 'trec', done: 1, total: 4, samplesPerSec: 2.5, tokensPerSec: 800, etaSec: 125, runningScore: 100 },
  { type: 'log', level: 'warn', message: 'trec: 1 prompt truncated to 512 tokens' },
];
const stateAfter = (events: RunEvent[]): ProgressState => events.reduce(reduceProgress, INITIAL_STATE);

describe('ink progress view', () => {
  it('renders configs, the current config\'s task bars, rates, ETA and running score', () => {
    const { lastFrame } = render(<ProgressView state={stateAfter(EVENTS)} />);
    const lines = stripAnsi(lastFrame()!).split('\n');
    expect(lines).toEqual([
      'eval longbench · stories260K  → runs/a',
      `full        ${'█'.repeat(24)} 2/2 tasks, 8/8 samples`,
      `parallelcomp${'█'.repeat(15)}${'░'.repeat(9)} 1/2 tasks, 5/8 samples`,
      `  ✓ qasper   ${'█'.repeat(24)}        4/4 100%  score 41.50`,
      `  ▸ trec     ${'█'.repeat(6)}${'░'.repeat(18)}        1/4  25%`,
      'parallelcomp/trec · 2.50 samples/s · 800 tok/s · ETA 2m05s · running score 100.00',
      'warn: trec: 1 prompt truncated to 512 tokens',
    ]);
  });

  it('shows the end of a run instead of task bars', () => {
    const { lastFrame } = render(<ProgressView state={stateAfter([...EVENTS, { type: 'end', ok: true, elapsedSec: 3725, samples: 8, tokensPerSec: 805, message: 'tables in runs/a' }])} />);
    const text = stripAnsi(lastFrame()!);
    expect(text).not.toContain('▸ trec');
    expect(text.split('\n').at(-1)).toBe('done in 1h02m: 8 samples, 805 tok/s · tables in runs/a');
  });

  it('updates on rerender as events arrive', () => {
    const { lastFrame, rerender } = render(<ProgressView state={stateAfter(EVENTS.slice(0, 1))} />);
    expect(stripAnsi(lastFrame()!)).toContain(`  ${' '} qasper   ${'░'.repeat(24)}        0/4   0%`);
    rerender(<ProgressView state={stateAfter(EVENTS.slice(0, 2))} />);
    expect(stripAnsi(lastFrame()!)).toContain(`  ▸ qasper   ${'█'.repeat(24)}        4/4 100%`);
  });
});

describe('formatting helpers', () => {
  it('draws bars and durations', () => {
    expect(progressBar(1, 3, 6)).toBe('██░░░░');
    expect(progressBar(5, 0, 4)).toBe('░░░░');
    expect([0, 59.6, 61, 3599, 3600, 90061].map(formatDuration)).toEqual(['0s', '1m00s', '1m01s', '59m59s', '1h00m', '25h01m']);
    expect(formatDuration(Infinity)).toBe('?');
  });
});

describe('plain lines', () => {
  it('prints progress at most every interval per task, but always the last sample', () => {
    let t = 0;
    const plain = new PlainLines(10, () => t);
    const sample = (done: number): RunEvent => ({ type: 'sample', config: 'full', task: 'trec', done, total: 4, samplesPerSec: 0.5, tokensPerSec: 12, etaSec: 8 });
    expect(plain.format(EVENTS[0])).toBe('eval longbench · stories260K: 2 configs × 2 tasks, 16 samples (8 already done, resuming) → runs/a');
    expect(plain.format(sample(1))).toBe('[full/trec] 1/4 (25%) 0.500 samples/s 12.0 tok/s ETA 8s');
    t = 5;
    expect(plain.format(sample(2))).toBeUndefined();
    t = 11;
    expect(plain.format(sample(3))).toBe('[full/trec] 3/4 (75%) 0.500 samples/s 12.0 tok/s ETA 8s');
    t = 12;
    expect(plain.format(sample(4))).toBe('[full/trec] 4/4 (100%) 0.500 samples/s 12.0 tok/s ETA 8s');
    expect(plain.format(EVENTS[2])).toBe('[parallelcomp/qasper] done: 4/4 samples, score 41.50 in 2s');
    expect(plain.format({ type: 'log', level: 'error', message: 'boom', config: 'full', task: 'trec' })).toBe('error: [full/trec] boom');
  });
});

function sink(isTTY = false) {
  const out = Object.assign(new EventEmitter(), { text: '', isTTY, columns: 100, rows: 40, write(s: string) { out.text += s; return true; } });
  return out;
}

describe('createReporter', () => {
  it('picks ink only on a terminal outside CI; --json and --quiet win', () => {
    expect(chooseMode({}, { write: () => true, isTTY: true }, {})).toBe('ink');
    expect(chooseMode({}, { write: () => true, isTTY: true }, { CI: 'true' })).toBe('plain');
    expect(chooseMode({}, { write: () => true, isTTY: true }, { CI: 'false' })).toBe('ink');
    expect(chooseMode({}, { write: () => true, isTTY: false }, {})).toBe('plain');
    expect(chooseMode({ quiet: true }, { write: () => true, isTTY: true }, {})).toBe('quiet');
    expect(chooseMode({ json: true, quiet: true }, { write: () => true, isTTY: true }, {})).toBe('json');
  });

  it('--json writes one parseable event per line', async () => {
    const out = sink();
    const r = createReporter({ mode: 'json', stdout: out });
    for (const e of EVENTS) r.emit(e);
    await r.close();
    expect(out.text.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual(EVENTS);
  });

  it('--quiet prints only warnings and errors, to stderr', async () => {
    const out = sink();
    const err = sink();
    const r = createReporter({ mode: 'quiet', stdout: out, stderr: err });
    for (const e of EVENTS) r.emit(e);
    await r.close();
    expect(out.text).toBe('');
    expect(err.text).toBe('warn: trec: 1 prompt truncated to 512 tokens\n');
  });

  it('auto mode writes plain lines when stdout is not a terminal', async () => {
    const out = sink(false);
    const err = sink(false);
    const r = createReporter({ stdout: out, stderr: err, env: {} });
    for (const e of EVENTS) r.emit(e);
    await r.close();
    expect(out.text.split('\n')[0]).toBe('eval longbench · stories260K: 2 configs × 2 tasks, 16 samples (8 already done, resuming) → runs/a');
    expect(out.text).toContain('[parallelcomp/qasper] done: 4/4 samples, score 41.50');
    expect(err.text).toBe('warn: trec: 1 prompt truncated to 512 tokens\n');
  });

  it('ink mode draws the view into the given stream and releases it on close', async () => {
    const out = sink(true);
    const r = createReporter({ mode: 'ink', stdout: out });
    for (const e of EVENTS) r.emit(e);
    await r.close();
    await r.close(); // twice is fine
    const text = stripAnsi(out.text);
    expect(text).toContain('eval longbench · stories260K');
    expect(text).toContain('running score 100.00');
  });
});

describe('rate meter', () => {
  it('reports the first sample exactly, then smooths, and turns the pace into an ETA', async () => {
    const { RateMeter } = await import('../../cli/ui/rate-meter.js');
    let t = 100;
    const meter = new RateMeter(() => t, 0.5);
    expect(meter.rates(10)).toEqual({});
    t = 102; // 2 s, 1000 tokens
    expect(meter.sample(1000, 9)).toEqual({ samplesPerSec: 0.5, tokensPerSec: 500, etaSec: 18 });
    t = 106; // 4 s, 1000 tokens: pace 0.5·4 + 0.5·2 = 3 s/sample, tokens 0.5·250 + 0.5·500 = 375/s
    expect(meter.sample(1000, 8)).toEqual({ samplesPerSec: 1 / 3, tokensPerSec: 375, etaSec: 24 });
  });
});
