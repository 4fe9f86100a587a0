// `pcomp eval` with a model whose chat_template is slow or hostile (LongBench's passage_retrieval_en
// wraps every prompt in the chat template). Before the bound, a hostile template killed Node with a
// V8 fatal error or hung with Ctrl-C and SIGTERM ignored, leaving writer.lock behind. Now a hostile
// template stops the run with a clear error (exit 2), and a signal during template-heavy work ends the
// run with exit 130; either way the writer lock is released.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { cliEnv, hasEngine, pcomp, readPredictions, spawnPcomp, tempRoot, writeDataDir, writeModel, removeTempRoots } from './helpers.js';

const SAMPLES = 40;
const CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
// Legitimate but slow: a few thousand loop iterations per render, far inside the render budget.
const SLOW = `{% for i in range(8000) %}{% set x = i * 2 %}{% endfor %}${CHATML}`;
const HOSTILE = '{% for i in range(100000) %}{% for j in range(100000) %}{{ i + j }}{% endfor %}{% endfor %}';

afterAll(removeTempRoots);

function setTemplate(model: string, template: string): string {
  const file = path.join(model, 'tokenizer_config.json');
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), chat_template: template }));
  return file;
}

async function linesAtLeast(child: ChildProcess, file: string, n: number): Promise<void> {
  let exited = false;
  child.once('exit', () => { exited = true; });
  while (!exited) {
    if (existsSync(file) && readFileSync(file, 'utf8').split('\n').length - 1 >= n) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const exitOf = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

describe.skipIf(!hasEngine)('pcomp eval and the chat template budget', () => {
  const root = tempRoot('pcomp-eval-template-');
  const dataDir = path.join(root, 'data');
  const env = cliEnv(path.join(root, 'cache'));
  const args = (model: string, out: string) => ['eval', 'longbench', '--model', model, '--config', 'full', '--tasks', 'passage_retrieval_en',
    '--data-dir', dataDir, '--out', out, '--max-new-tokens', '8', '--threads', '1'];

  beforeAll(() => {
    writeDataDir(dataDir, { passage_retrieval_en: SAMPLES }, { contextWords: 40 });
  });

  it('a hostile template stops the run with an error naming tokenizer_config.json, and no writer.lock stays', async () => {
    const model = writeModel(path.join(root, 'hostile'));
    const cfgFile = setTemplate(model, HOSTILE);
    const out = path.join(root, 'out-hostile');
    const r = await pcomp(args(model, out), env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(cfgFile);
    expect(r.stderr).toMatch(/chat_template failed to render \(stopped: the template/);
    expect(r.stderr).not.toMatch(/FATAL|heap out of memory|\n\s+at /);
    expect(existsSync(path.join(out, 'writer.lock'))).toBe(false);
  }, 120_000);

  it('range(1000000000) is refused before it allocates (no V8 fatal error)', async () => {
    const model = writeModel(path.join(root, 'range'));
    setTemplate(model, '{% for i in range(1000000000) %}x{% endfor %}');
    const out = path.join(root, 'out-range');
    const r = await pcomp(args(model, out), env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/tokenizer_config\.json: chat_template failed to render \(stopped: the template asked for range\(\) of 1000000000 items/);
    expect(existsSync(path.join(out, 'writer.lock'))).toBe(false);
  }, 120_000);

  it('Ctrl-C during a hostile render: the process ends (within the render budget) and releases writer.lock', async () => {
    // Unbounded, this render never returned and the SIGINT handler never ran. Bounded, the render
    // stops after at most its time budget; the run then ends with the template error (exit 2) or, if
    // the signal is handled first, as interrupted (130).
    const model = writeModel(path.join(root, 'hostile-sigint'));
    setTemplate(model, HOSTILE);
    const out = path.join(root, 'out-hostile-sigint');
    const child = spawnPcomp(args(model, out), env);
    let stderr = '';
    let stdout = '';
    child.stderr!.on('data', (d) => { stderr += String(d); });
    child.stdout!.on('data', (d) => { stdout += String(d); });
    const exit = exitOf(child);
    let exited = false;
    child.once('exit', () => { exited = true; });
    // The start line is printed once the run's signal handlers are installed; the first render follows.
    while (!exited && !stdout.includes('samples →')) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGINT');
    const stop = await exit;
    expect([2, 130], stderr).toContain(stop.code);
    expect(stderr).not.toMatch(/FATAL|heap out of memory/);
    expect(existsSync(path.join(out, 'writer.lock'))).toBe(false);
  }, 120_000);

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} while slow templates render ends the run with exit 130 and releases writer.lock`, async () => {
      const model = writeModel(path.join(root, `slow-${signal}`));
      setTemplate(model, SLOW);
      const out = path.join(root, `out-${signal}`);
      const file = path.join(out, 'predictions', 'full', 'passage_retrieval_en.jsonl');
      const child = spawnPcomp(args(model, out), env);
      let stderr = '';
      child.stderr!.on('data', (d) => { stderr += String(d); });
      const exit = exitOf(child);
      await linesAtLeast(child, file, 1);
      child.kill(signal);
      const stop = await exit;
      const done = readPredictions(out, 'full', 'passage_retrieval_en').length;
      expect(done, 'the child finished before the signal reached it; make renders slower').toBeLessThan(SAMPLES);
      expect(stop.code, stderr).toBe(130);
      expect(existsSync(path.join(out, 'writer.lock'))).toBe(false);
    }, 120_000);
  }
});
