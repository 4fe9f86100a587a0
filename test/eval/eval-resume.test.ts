// Runs that lose nothing: a real `pcomp eval` child killed with SIGKILL part-way (plus a torn last
// line, as a kill inside write() would leave), then stopped with Ctrl-C (exit 130), then run to the
// end, holds every sample exactly once, with the predictions of a run that was never interrupted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { cliEnv, pcomp, predictionsWithoutTime, readJson, readPredictions, spawnPcomp, tempRoot, writeDataDir, writeModel, removeTempRoots } from './helpers.js';

const SAMPLES = 10;

/** Resolves once the prediction file holds at least `n` complete lines (or the child has exited). */
async function linesAtLeast(child: ChildProcess, file: string, n: number): Promise<void> {
  let exited = false;
  child.once('exit', () => { exited = true; });
  while (!exited) {
    if (existsSync(file) && readFileSync(file, 'utf8').split('\n').length - 1 >= n) return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

const exitOf = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

afterAll(removeTempRoots);

describe('pcomp eval killed and restarted', () => {
  const root = tempRoot();
  const dataDir = path.join(root, 'data');
  const model = path.join(root, 'model');
  const env = cliEnv(path.join(root, 'cache'));
  // A model big enough (and contexts long enough) that one sample takes a noticeable moment on one thread.
  const args = (out: string) => ['eval', 'longbench', '--model', model, '--config', 'parallelcomp', '--tasks', 'trec',
    '--data-dir', dataDir, '--out', out, '--set', 'chunk.budget=300', '--max-new-tokens', '24', '--threads', '1'];
  const clean = path.join(root, 'clean');

  beforeAll(async () => {
    writeDataDir(dataDir, { trec: SAMPLES }, { contextWords: 250 });
    writeModel(model, { hiddenSize: 256, intermediateSize: 512, numLayers: 3, numHeads: 8, numKvHeads: 4, maxPositionEmbeddings: 2048 });
    const r = await pcomp(args(clean), env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('keeps what was done through SIGKILL, a torn line and Ctrl-C, and ends with every sample exactly once', async () => {
    const out = path.join(root, 'killed');
    const file = path.join(out, 'predictions', 'parallelcomp', 'trec.jsonl');

    const killed = spawnPcomp(args(out), env);
    const killedExit = exitOf(killed);
    await linesAtLeast(killed, file, 2);
    killed.kill('SIGKILL');
    expect((await killedExit).signal).toBe('SIGKILL');
    const afterKill = readPredictions(out, 'parallelcomp', 'trec').length;
    expect(afterKill, 'the child finished before it could be killed; make samples slower').toBeLessThan(SAMPLES);
    expect(afterKill).toBeGreaterThanOrEqual(2);
    appendFileSync(file, '{"_id":"trec-00'); // the tail a kill inside write() leaves

    const interrupted = spawnPcomp(args(out), env);
    let stderr = '';
    interrupted.stderr!.on('data', (d) => { stderr += String(d); });
    const interruptedExit = exitOf(interrupted);
    await linesAtLeast(interrupted, file, afterKill + 1);
    interrupted.kill('SIGINT');
    const stop = await interruptedExit;
    const afterInterrupt = readPredictions(out, 'parallelcomp', 'trec').length;
    expect(afterInterrupt, 'the child finished before Ctrl-C reached it; make samples slower').toBeLessThan(SAMPLES);
    expect(stop.code).toBe(130);
    expect(stderr).toContain('finished work was kept');
    const sessions = (readJson(path.join(out, 'manifest.json')) as { sessions: Array<Record<string, unknown>> }).sessions;
    expect(sessions.at(-1)).toMatchObject({ stopped: 'interrupted' });
    expect(readFileSync(file, 'utf8').endsWith('\n')).toBe(true); // the torn tail was cut, not extended

    const finished = await pcomp(args(out), env);
    expect(finished.stderr).toBe('');
    expect(finished.code).toBe(0);
    expect(finished.stdout).toMatch(new RegExp(`\\(${afterInterrupt} already done, resuming\\)`));
    const ids = readPredictions(out, 'parallelcomp', 'trec').map((l) => l._id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(readJson<{ ids: string[] }>(path.join(out, 'plans', 'trec.json')).ids.slice().sort());
    expect(ids).toHaveLength(SAMPLES);
    expect(predictionsWithoutTime(out)).toEqual(predictionsWithoutTime(clean));
    expect(readFileSync(path.join(out, 'scores.csv'), 'utf8')).toBe(readFileSync(path.join(clean, 'scores.csv'), 'utf8'));
  });
});
