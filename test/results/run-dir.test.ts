import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunDir, readManifest, readRunLines } from '../../results/run-dir.js';
import { readLines } from '../../results/line-store.js';
import { identity, predictionFor, sampleIds } from './fixtures/synthetic-run.js';
import { UserError } from '../../util/errors.js';

const here = dirname(fileURLToPath(import.meta.url));
const tmp = () => mkdtempSync(join(tmpdir(), 'pcomp-rundir-'));

function runAll(dir: string, n: number, stopAfter = Infinity): number {
  const run = RunDir.open(dir, identity(), { device: 'cpu', threads: 2, engine: { version: '0.1.0' } });
  const ids = sampleIds('qasper', n);
  run.plan('qasper', ids);
  let written = 0;
  for (const id of run.pending('full', 'qasper')) {
    if (written >= stopAfter) break;
    run.append('full', 'qasper', predictionFor('full', 'qasper', id, ids.indexOf(id)));
    written++;
  }
  run.finish({ tokensPerSec: 12.5, peakMemoryBytes: 1 << 20 });
  return written;
}

describe('run directory', () => {
  it('writes a manifest with identity and provenance, and one line per sample', () => {
    const dir = tmp();
    expect(runAll(dir, 5)).toBe(5);
    const m = readManifest(dir);
    expect(m.model.revision).toBe('abc123');
    expect(m.device).toBe('cpu');
    expect(m.threads).toBe(2);
    expect(m.tokensPerSec).toBe(12.5);
    expect(typeof m.startedAt).toBe('string');
    expect(typeof m.endedAt).toBe('string');
    expect(m.sessions).toHaveLength(1);
    const lines = readLines(join(dir, 'predictions/full/qasper.jsonl')).lines;
    expect(lines.map((l) => l._id)).toEqual(sampleIds('qasper', 5));
    expect(lines[2]).toEqual(predictionFor('full', 'qasper', sampleIds('qasper', 5)[2], 2));
  });

  it('resumes where it stopped and ignores then repairs a truncated last line', () => {
    const dir = tmp();
    expect(runAll(dir, 8, 3)).toBe(3);
    const file = join(dir, 'predictions/full/qasper.jsonl');
    // what a kill -9 in the middle of write() leaves: the start of the 4th line, no newline
    const fourth = JSON.stringify(predictionFor('full', 'qasper', sampleIds('qasper', 8)[3], 3));
    appendFileSync(file, fourth.slice(0, 40));
    expect(readLines(file).hadPartialTail).toBe(true);
    expect(readLines(file).lines).toHaveLength(3);

    expect(runAll(dir, 8)).toBe(5); // samples 3..7, the cut one included
    const text = readFileSync(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const ids = readLines(file).lines.map((l) => l._id);
    expect(ids).toEqual(sampleIds('qasper', 8)); // each exactly once, in plan order
    expect(readManifest(dir).sessions).toHaveLength(2);
    expect(runAll(dir, 8)).toBe(0); // a third run has nothing left to do
  });

  it('refuses a second line for the same sample', () => {
    const dir = tmp();
    runAll(dir, 2);
    const run = RunDir.open(dir, identity());
    run.plan('qasper', sampleIds('qasper', 2));
    expect(() => run.append('full', 'qasper', predictionFor('full', 'qasper', sampleIds('qasper', 2)[0], 0))).toThrow(/already recorded/);
    run.close();
  });

  it('names the file and line of a damaged line in the middle', () => {
    const dir = tmp();
    runAll(dir, 3);
    const file = join(dir, 'predictions/full/qasper.jsonl');
    const rows = readFileSync(file, 'utf8').split('\n');
    rows[1] = '{"_id": broken';
    writeFileSync(file, rows.join('\n'));
    expect(() => readLines(file)).toThrow(new UserError(`${file}:2: not a valid JSON line (${jsonError('{"_id": broken')})`));
  });

  it('refuses to continue with a different config, model or settings, naming the field', () => {
    const dir = tmp();
    runAll(dir, 2);
    const changedConfig = identity({ configs: { parallelcomp: { policy: 'parallelcomp', chunkBudget: 8 } } });
    expect(() => RunDir.open(dir, changedConfig)).toThrow(/configs\.parallelcomp\.chunkBudget differs: the directory has 4, this command has 8/);
    const changedModel = identity({ model: { id: 'synthetic/model', revision: 'def456', weights: { 'model.safetensors': 'f00d' } } });
    expect(() => RunDir.open(dir, changedModel)).toThrow(/model\.revision differs: the directory has "abc123", this command has "def456"/);
    const changedWeights = identity({ model: { id: 'synthetic/model', revision: 'abc123', weights: { 'model.safetensors': 'beef' } } });
    expect(() => RunDir.open(dir, changedWeights)).toThrow(/model\.weights\["model\.safetensors"\] differs/);
    expect(() => RunDir.open(dir, identity({ settings: { benchmark: 'longbench-e' } }))).toThrow(/settings\.benchmark differs/);
    expect(() => RunDir.open(dir, identity({ shard: { index: 1, count: 2 } }))).toThrow(/shard\.count differs/);
    expect(existsSync(join(dir, 'writer.lock'))).toBe(false); // a refused open leaves no lock behind
    // a new config may join; known ones are unchanged
    const more = identity({ configs: { ntk: { policy: 'ntk' } } });
    const run = RunDir.open(dir, more);
    expect(Object.keys(run.manifest.configs).sort()).toEqual(['full', 'ntk', 'parallelcomp']);
    run.close();
  });

  it('refuses a changed sample list for a planned task', () => {
    const dir = tmp();
    runAll(dir, 4);
    const run = RunDir.open(dir, identity());
    expect(() => run.plan('qasper', sampleIds('qasper', 5))).toThrow(/samples of qasper differ.*position 4.*4 vs 5 samples/);
    run.close();
  });

  it('refuses a directory another live process is writing, and one that is not a run directory', () => {
    const dir = tmp();
    runAll(dir, 2);
    // the parent of this test worker is alive on this host: a stand-in for a concurrent writer
    writeFileSync(join(dir, 'writer.lock'), JSON.stringify({ host: hostname(), pid: process.ppid }));
    expect(() => RunDir.open(dir, identity())).toThrow(new RegExp(`another pcomp process \\(pid ${process.ppid}\\) is writing`));
    // a lock from another host cannot be checked: taken over, with a warning
    writeFileSync(join(dir, 'writer.lock'), JSON.stringify({ host: 'elsewhere', pid: 1 }));
    const run = RunDir.open(dir, identity());
    expect(run.warnings[0]).toMatch(/taking over from a writer on host elsewhere/);
    run.close();
    expect(existsSync(join(dir, 'writer.lock'))).toBe(false);

    const other = tmp();
    writeFileSync(join(other, 'notes.txt'), 'mine');
    expect(() => RunDir.open(other, identity())).toThrow(/is not empty and has no manifest\.json/);
  });

  it('rejects config names that would escape the run directory', () => {
    expect(() => RunDir.open(tmp(), identity({ configs: { '../x': {} } }))).toThrow(UserError);
  });

  it('loses at most the sample in flight when a real writer is killed with SIGKILL', async () => {
    const dir = tmp();
    const total = 400;
    const file = join(dir, 'predictions/parallelcomp/qasper.jsonl');
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'fixtures/append-until-killed.ts'), dir, String(total)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // kill once a few lines are on disk, while the child is still writing
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        let size = 0;
        try { size = statSync(file).size; } catch { /* not created yet */ }
        if (size > 1_000_000) {
          clearInterval(timer);
          child.kill('SIGKILL');
        }
      }, 5);
      child.on('exit', (code, signal) => {
        clearInterval(timer);
        if (signal === 'SIGKILL') resolve();
        else reject(new Error(`child exited by itself (code ${code}) before it was killed`));
      });
    });
    const before = readLines(file);
    expect(before.lines.length).toBeGreaterThan(0);
    expect(before.lines.length).toBeLessThan(total);

    const run = RunDir.open(dir, identity());
    const plan = sampleIds('qasper', total);
    run.plan('qasper', plan);
    const pending = run.pending('parallelcomp', 'qasper');
    expect(pending.length).toBe(total - before.lines.length);
    for (const id of pending) run.append('parallelcomp', 'qasper', predictionFor('parallelcomp', 'qasper', id, plan.indexOf(id), 10));
    run.finish();
    const after = readLines(file);
    expect(after.hadPartialTail).toBe(false);
    expect(after.lines.map((l) => l._id)).toEqual(plan);
  });

  it('reads every config and task back from disk', () => {
    const dir = tmp();
    runAll(dir, 3);
    const groups = readRunLines(dir);
    expect(groups.map((g) => `${g.config}/${g.unit}:${g.lines.length}`)).toEqual(['full/qasper:3']);
    expect(readdirSync(dir).sort()).toEqual(['manifest.json', 'plans', 'predictions']);
  });
});

function jsonError(text: string): string {
  try { JSON.parse(text); return ''; } catch (e) { return (e as Error).message; }
}
