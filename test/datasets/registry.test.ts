import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile, cp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadRegistry, registry, DEFAULT_TASKS_DIR, LONGBENCH_METRICS } from '../../datasets/registry.js';
import { parallelCompBudget, longbenchMaxLength, infinitebenchTruncate } from '../../datasets/lengths.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const samples = path.resolve(repoRoot, '../shared/bench-samples');
const haveShared = existsSync(path.join(samples, 'longbench/config/dataset2prompt.json'));
if (!haveShared) console.warn(`skipping official-config comparisons: ${samples} not found (needs ../shared)`);

describe('task registry', () => {
  const reg = registry();
  it('holds 21 LongBench, 13 LongBench-E and 12 InfiniteBench tasks', () => {
    expect(reg.byBenchmark('longbench')).toHaveLength(21);
    expect(reg.byBenchmark('longbench-e')).toHaveLength(13);
    expect(reg.byBenchmark('infinitebench')).toHaveLength(12);
    expect(new Set(reg.byBenchmark('longbench').map((t) => t.metric))).toEqual(new Set(LONGBENCH_METRICS));
  });
  it('gives LongBench-E variants the base task definition and their own file', () => {
    const e = reg.get('hotpotqa_e');
    const base = reg.get('hotpotqa');
    expect(e).toMatchObject({ template: base.template, metric: base.metric, maxNewTokens: 32, base: 'hotpotqa', benchmark: 'longbench-e' });
    expect(reg.get('qasper_e').records).toBe(224);
  });
  it('keeps the skip list, first-line post-processing and samsum newline stop', () => {
    const skipped = reg.byBenchmark('longbench').filter((t) => t.skipChatTemplate).map((t) => t.name).sort();
    expect(skipped).toEqual(['lcc', 'lsht', 'repobench-p', 'samsum', 'trec', 'triviaqa']);
    const firstLine = reg.tasks.filter((t) => t.postprocess === 'first_line' && t.benchmark === 'longbench').map((t) => t.name).sort();
    expect(firstLine).toEqual(['lsht', 'samsum', 'trec', 'triviaqa']);
    expect(reg.tasks.filter((t) => t.stopOnNewline).map((t) => t.name)).toEqual(['samsum', 'samsum_e']);
  });
  it('splits every template into a chunk template and a question template', () => {
    for (const t of reg.tasks) {
      expect(t.split.context.split('{context}')).toHaveLength(2);
      expect(t.split.question).not.toContain('{context}');
    }
    // The reference's own split differs from the plain cut for trec; it is kept verbatim.
    expect(reg.get('trec').split.question).toBe('\nNow, answer the following questions{input}');
    expect(reg.get('passage_retrieval_en').split.context.endsWith('{context}.')).toBe(true);
  });
  it('suggests names for an unknown task', () => {
    expect(() => reg.get('hotpot')).toThrow(/did you mean hotpotqa/);
  });

  it.skipIf(!haveShared)('matches the official LongBench config files verbatim', () => {
    const prompts = JSON.parse(readFileSync(path.join(samples, 'longbench/config/dataset2prompt.json'), 'utf8')) as Record<string, string>;
    const maxlen = JSON.parse(readFileSync(path.join(samples, 'longbench/config/dataset2maxlen.json'), 'utf8')) as Record<string, number>;
    const m2l = JSON.parse(readFileSync(path.join(samples, 'longbench/config/model2maxlen.json'), 'utf8')) as Record<string, number>;
    expect(Object.keys(prompts)).toHaveLength(21);
    for (const [name, template] of Object.entries(prompts)) {
      expect(reg.get(name).template).toBe(template);
      expect(reg.get(name).maxNewTokens).toBe(maxlen[name]);
    }
    expect(reg.lengths.longbench.model2maxlen).toEqual(m2l);
  });
  it.skipIf(!haveShared)('matches the official InfiniteBench templates and max_new_tokens verbatim', () => {
    const ib = JSON.parse(readFileSync(path.join(samples, 'infinitebench/prompts.json'), 'utf8')) as { templates: Record<string, Record<string, string>>; max_new_tokens: Record<string, number> };
    for (const t of reg.byBenchmark('infinitebench')) {
      expect(t.maxNewTokens).toBe(ib.max_new_tokens[t.name]);
      for (const fam of Object.keys(ib.templates)) expect(t.templates![fam]).toBe(ib.templates[fam]![t.name]);
      expect(t.template).toBe(ib.templates.yarn_mistral![t.name]);
    }
  });

  it('reports a malformed task file with the file and key', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pcomp-reg-'));
    await cp(DEFAULT_TASKS_DIR, dir, { recursive: true });
    const file = path.join(dir, 'longbench.json');
    const data = JSON.parse(await readFile(file, 'utf8'));
    data.tasks[3].metric = 'qa_f1';
    await writeFile(file, JSON.stringify(data));
    expect(() => loadRegistry(dir)).toThrow(/longbench\.json: tasks\[3\] \(multifieldqa_zh\)\.metric must be one of/);
    data.tasks[3].metric = 'qa_f1_zh_score';
    data.tasks[5].template = 'no context here {input}';
    await writeFile(file, JSON.stringify(data));
    expect(() => loadRegistry(dir)).toThrow(/tasks\[5\] \(2wikimqa\)\.template must contain \{context\} exactly once/);
    data.tasks[5].template = '{context} {inptu}';
    await writeFile(file, JSON.stringify(data));
    expect(() => loadRegistry(dir)).toThrow(/unknown placeholder \{inptu\}/);
    await writeFile(file, '{"benchmark": ');
    expect(() => loadRegistry(dir)).toThrow(/longbench\.json: invalid JSON/);
  });
});

describe('per-model lengths', () => {
  const { lengths } = registry();
  it('uses LongBench model2maxlen, then window − 500, and flags win', () => {
    expect(longbenchMaxLength(lengths, 'llama2-7b-chat-4k').value).toBe(3500);
    expect(longbenchMaxLength(lengths, 'my-model', { contextWindow: 8192 }).value).toBe(7692);
    expect(longbenchMaxLength(lengths, 'llama2-7b-chat-4k', { override: 1000 })).toEqual({ value: 1000, source: '--max-length' });
    expect(() => longbenchMaxLength(lengths, 'my-model')).toThrow(/--max-length/);
    expect(infinitebenchTruncate(lengths, 'yi-6b-200k').value).toBe(200000);
    expect(infinitebenchTruncate(lengths, 'whatever').value).toBe(131072);
  });
  it('reproduces ParallelComp substring matching (last match wins) and dataset caps', () => {
    expect(parallelCompBudget(lengths, 'Llama-2-7b-chat-hf', 'narrativeqa')).toMatchObject({ raw: 3950, chunk: 3600 });
    expect(parallelCompBudget(lengths, 'Meta-Llama-3.1-8B-Instruct', 'narrativeqa')).toMatchObject({ raw: 7000, chunk: 6000 });
    expect(parallelCompBudget(lengths, 'Meta-Llama-3-8B-Instruct', 'narrativeqa')).toMatchObject({ raw: 7950, chunk: 7600 });
    // Meta-Llama-3-8B-Instruct does not contain "llama3", so it gets the Llama-2 caps on these datasets.
    expect(parallelCompBudget(lengths, 'Meta-Llama-3-8B-Instruct', 'triviaqa').chunk).toBe(2500);
    expect(parallelCompBudget(lengths, 'Qwen2.5-7B-Instruct', 'samsum')).toMatchObject({ raw: 8000, chunk: 6200 });
    expect(parallelCompBudget(lengths, 'x', 'qasper', { raw: 4096, chunk: 3000 })).toMatchObject({ raw: 4096, chunk: 3000 });
    expect(() => parallelCompBudget(lengths, 'unknown-model', 'qasper')).toThrow(/--chunk-budget/);
  });
});
