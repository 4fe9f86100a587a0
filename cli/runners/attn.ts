// Orchestration for `pcomp attn`: one sample (a context file and a question, or a task record) run
// under each config with the engine's attention trace on (trace.* knobs), then the tables, plots and
// summary of results/attention.ts into the run directory. docs/attention.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { AttnOptions } from '../commands/attn.js';
import { EngineModel, buildInfo, type Device } from '../../engine/index.js';
import { resolveConfig, type PolicyConfig } from '../../engine/policy-config.js';
import { loadTokenizer, type Tok } from '../../datasets/tokenizer.js';
import { hubEnv, resolveModel } from '../../datasets/hub.js';
import { registry } from '../../datasets/registry.js';
import { streamRecords, type AnyRecord } from '../../datasets/records.js';
import { writeAttentionOutputs, type AttentionTrace, type ConfigAttention } from '../../results/attention.js';
import { checkPathName } from '../../results/run-dir.js';
import { UserError } from '../../util/errors.js';
import { withInterrupt } from './interrupt.js';
import { loadForConfigs, requireCuda } from './device.js';
import { locateTaskFiles, isRetrievalTask } from './eval-tasks.js';
import { PLAIN_TASK, buildSample } from './sample.js';

function parseConfigs(list: string, sets: readonly string[], opts: AttnOptions): Array<{ name: string; config: PolicyConfig }> {
  const names = [...new Set(list.split(',').map((s) => s.trim()).filter(Boolean))];
  if (names.length === 0) throw new UserError('--config: give at least one preset name (see `pcomp configs`)');
  const trace = ['trace.attention=true', `trace.window=${opts.window}`, `trace.bins=${opts.bins}`, `trace.after=${opts.after}`];
  return names.map((name) => {
    checkPathName('config', name);
    return { name, config: resolveConfig(name, [...trace, ...sets]) };
  });
}

interface SampleSource {
  label: string;
  task: typeof PLAIN_TASK;
  record: AnyRecord;
  retrieval: boolean;
}

async function sampleSource(opts: AttnOptions, tok: Tok): Promise<SampleSource> {
  const plain = opts.contextFile !== undefined || opts.question !== undefined;
  const fromTask = opts.task !== undefined || opts.index !== undefined;
  if (plain === fromTask) throw new UserError('pcomp attn: give either --context-file FILE --question TEXT, or --task T --index i');
  if (plain) {
    if (!opts.contextFile || opts.question === undefined) throw new UserError('--context-file and --question go together');
    let context: string;
    try {
      context = await readFile(opts.contextFile, 'utf8');
    } catch (e) {
      throw new UserError(`--context-file ${opts.contextFile}: ${(e as Error).message}`);
    }
    if (opts.len !== undefined) {
      const ids = tok.encode(context, { addSpecialTokens: false });
      if (ids.length < opts.len) throw new UserError(`--len ${opts.len}: ${opts.contextFile} holds only ${ids.length} tokens`);
      context = tok.decode(ids.subarray(0, opts.len), { skipSpecialTokens: true });
    }
    const record = { context, input: opts.question, answers: [], options: [], all_classes: null, length: 0, _id: 'cli' } as unknown as AnyRecord;
    return { label: basename(opts.contextFile).replace(/\.[^.]*$/, '') + (opts.len ? `-${opts.len}` : ''), task: PLAIN_TASK, record, retrieval: false };
  }
  if (!opts.task || opts.index === undefined) throw new UserError('--task and --index go together');
  if (opts.len !== undefined) throw new UserError('--len applies to --context-file only (a task record is used as eval uses it)');
  const task = registry().get(opts.task);
  const files = await locateTaskFiles(task.benchmark, [task], { dataDir: opts.dataDir, env: hubEnv({ offline: opts.offline }), onLog: (m) => process.stderr.write(`${m}\n`) });
  const file = files.get(task.name)!;
  for await (const { record } of streamRecords(file, task.recordFormat, { indices: new Set([opts.index]) })) {
    return { label: `${task.name}-${opts.index}`, task, record, retrieval: isRetrievalTask(task) };
  }
  throw new UserError(`--index ${opts.index}: ${file} has no record at that index`);
}

export async function runAttn(opts: AttnOptions): Promise<void> {
  if (opts.offline) process.env.HF_HUB_OFFLINE = '1';
  if (!opts.model) throw new UserError('pcomp attn: --model is required');
  if (!opts.config) throw new UserError('pcomp attn: --config is required (e.g. full,parallelcomp)');
  if (opts.device === 'cuda') requireCuda(buildInfo());
  const configs = parseConfigs(opts.config, opts.set, opts);
  const dir = await resolveModel(opts.model);
  const tok = await loadTokenizer(dir);
  const source = await sampleSource(opts, tok);
  const load = (device: Device) => EngineModel.load(dir, { threads: opts.threads, device });
  const model = await loadForConfigs(load, opts.device, configs);
  const out = resolve(opts.out ?? join('runs', 'attn', `${basename(dir.replace(/\/+$/, ''))}-${source.label}`));
  const results: ConfigAttention[] = [];
  try {
    const info = model.info;
    for (const { name, config } of configs) {
      const sample = buildSample({ task: source.task, record: source.record, tok, config, window: model.info.max_position_embeddings, maxNew: opts.maxNewTokens });
      const r = await withInterrupt((signal) => model.run(sample, { ...config, retrieval: source.retrieval }, { signal }));
      const trace = r.trace.attention as AttentionTrace | undefined;
      if (!trace) throw new Error(`config ${name}: the engine returned no attention trace`);
      const heads = trace.layers[0]?.regions.length ?? 0;
      const cacheSets = Number(r.trace.cacheSets);
      results.push({ config: name, trace, heads, kvHeads: info.num_key_value_heads, cacheSets });
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, `trace-${name}.json`), JSON.stringify({ config: name, sample: source.label, keptChunks: r.trace.keptChunks, attention: trace }) + '\n');
    }
  } finally {
    model.free();
  }
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'attn.json'), JSON.stringify({
    model: opts.model, sample: source.label, task: source.task.name, configs: configs.map((c) => c.name),
    window: opts.window, bins: opts.bins, after: opts.after, set: opts.set, device: model.info.device,
  }, null, 2) + '\n');
  const { files, summary } = await writeAttentionOutputs(out, results);
  if (!opts.quiet) {
    process.stdout.write(summary);
    process.stdout.write(`\n${files.length + configs.length + 1} files in ${out}\n`);
  }
}
