// `pcomp data pull|ls|show|synth`: get the benchmarks into the HF cache, list the tasks, print the exact prompt
// a model would receive, and write synthetic InfiniteBench retrieval records of any length.
import type { Command } from 'commander';
import { Option } from 'commander';

const PULL_EXAMPLES = `
Examples:
  pcomp data pull longbench                         all 21 tasks (unzipped from data.zip at the pinned revision)
  pcomp data pull longbench-e --tasks qasper_e,trec_e
  pcomp data pull infinitebench --tasks passkey,kv_retrieval
  HF_ENDPOINT=https://hf-mirror.com pcomp data pull infinitebench
  pcomp data pull longbench --offline               verify the cache; list what is missing

Files go to the standard Hugging Face cache (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub) with a
manifest of sizes and sha256. An interrupted download resumes when the command is run again. HF_TOKEN is sent when set.`;

const LS_EXAMPLES = `
Examples:
  pcomp data ls
  pcomp data ls --benchmark infinitebench
  pcomp data ls --data-dir ./LongBench/data         availability in a local folder instead of the cache`;

const SHOW_EXAMPLES = `
Examples:
  pcomp data show hotpotqa                          the filled template of record 0 (no tokenizer)
  pcomp data show hotpotqa --index 3 --model meta-llama/Llama-2-7b-chat-hf --max-length 3500
  pcomp data show passkey --model ./models/llama --data-dir ./InfiniteBench
  pcomp data show narrativeqa --model ./models/llama --chunked --chunk-budget 3600
  pcomp data show qasper --model ./m --json > prompt.json

The prompt goes to stdout exactly as it would be sent; the token count and how it was built go to stderr.`;

const SYNTH_EXAMPLES = `
Examples:
  pcomp data synth passkey --len 32k --n 50 --out passkey-32k.jsonl
  pcomp data synth kv_retrieval --len 128k --n 20 --seed 7 --tokenizer ./models/llama --out kv.jsonl
  pcomp data synth number_string --len 8k --n 5 | head -c 300

Records follow InfiniteBench's jsonl schema {id, context, input, answer, options} and its construction (noise lines
with one needle at evenly spread depths; a JSON object of UUID pairs). With --tokenizer the length is the token count
of the full open-model prompt (BOS included), measured on a probe record; without it the length is approximate:
InfiniteBench's own sizing (5220 noise lines or 1855 KV pairs per 128K LLaMA tokens), scaled linearly.`;

interface CommonOptions { dataDir?: string; offline?: boolean; revision?: string }
interface PullOptions extends CommonOptions { tasks?: string }
interface LsOptions extends CommonOptions { benchmark?: string; json?: boolean }
interface ShowOptions extends CommonOptions {
  index: string; model?: string; modelName?: string; maxLength?: string; chunked?: boolean; chunkBudget?: string;
  split: 'tokens' | 'chars'; family?: string; chat: 'auto' | 'never'; json?: boolean;
}
interface SynthOptions { len: string; n: string; seed: string; out?: string; tokenizer?: string }

export function register(program: Command): void {
  const data = program.command('data').description('download benchmarks, list tasks, show exact prompts, synthesize records');

  data.command('pull')
    .description('download LongBench / LongBench-E / InfiniteBench into the Hugging Face cache')
    .argument('<benchmark>', 'longbench | longbench-e | infinitebench')
    .option('--tasks <a,b>', 'only these tasks (default: all of the benchmark)')
    .option('--revision <rev>', 'hub revision (default: the pinned commit)')
    .option('--offline', 'use only the cache (also HF_HUB_OFFLINE=1)')
    .addHelpText('after', PULL_EXAMPLES)
    .action(async (benchmark: string, opts: PullOptions) => pull(benchmark, opts));

  data.command('ls')
    .description('list tasks with their metric, record count and whether they are downloaded')
    .option('--benchmark <b>', 'longbench | longbench-e | infinitebench')
    .option('--data-dir <dir>', 'a local folder of <task>.jsonl files instead of the cache')
    .option('--json', 'print JSON')
    .addHelpText('after', LS_EXAMPLES)
    .action(async (opts: LsOptions) => ls(opts));

  data.command('show')
    .description('print the exact prompt for one record of a task and its token count')
    .argument('<task>', 'task name (see `pcomp data ls`)')
    .option('--index <i>', 'record index (0-based, counting valid records)', '0')
    .option('--model <m>', 'model folder or Hub id[@rev] whose tokenizer and chat template are used')
    .option('--model-name <name>', 'name used to look up lengths (LongBench model2maxlen, ParallelComp tables); default: the model folder name')
    .option('--max-length <n>', 'prompt budget in tokens (LongBench: model2maxlen; InfiniteBench: truncation length)')
    .option('--chunked', 'show the ParallelComp form: context template per chunk, then the question')
    .option('--chunk-budget <n>', 'tokens per chunk (default: the ParallelComp table for --model-name)')
    .addOption(new Option('--split <how>', 'chunking rule').choices(['tokens', 'chars']).default('tokens'))
    .option('--family <f>', 'InfiniteBench template family (yarn_mistral, gpt4, claude2, kimi)')
    .addOption(new Option('--chat <mode>', 'chat template: auto = official rule, never = raw completion').choices(['auto', 'never']).default('auto'))
    .option('--data-dir <dir>', 'a local folder of <task>.jsonl files instead of the cache')
    .option('--revision <rev>', 'dataset revision in the cache (default: the pinned commit)')
    .option('--offline', 'do not contact the hub for --model (also HF_HUB_OFFLINE=1)')
    .option('--json', 'print one JSON object instead of text')
    .addHelpText('after', SHOW_EXAMPLES)
    .action(async (task: string, opts: ShowOptions) => show(task, opts));

  data.command('synth')
    .description('write synthetic passkey / number_string / kv_retrieval records of any length (InfiniteBench format)')
    .argument('<task>', 'passkey | number_string | kv_retrieval')
    .requiredOption('--len <tokens>', 'target length: 4096, 32k, 128k, 1m (k = 1024)')
    .option('--n <count>', 'number of records', '50')
    .option('--seed <s>', 'random seed', '0')
    .option('--tokenizer <dir>', 'measure the length in tokens of this tokenizer (model folder)')
    .option('--out <file>', 'write jsonl here (default: stdout)')
    .addHelpText('after', SYNTH_EXAMPLES)
    .action(async (task: string, opts: SynthOptions) => synth(task, opts));
}

function positiveInt(v: string | undefined, flag: string, UserError: typeof import('../../util/errors.js').UserError): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UserError(`${flag}: "${v}" is not a non-negative integer`);
  return n;
}

async function env(opts: { offline?: boolean }) {
  const { hubEnv } = await import('../../datasets/hub.js');
  const e = hubEnv();
  return opts.offline ? { ...e, offline: true } : e;
}

async function pull(benchmark: string, opts: PullOptions): Promise<void> {
  const { registry, BENCHMARKS } = await import('../../datasets/registry.js');
  const { pullTasks } = await import('../../datasets/store.js');
  const { UserError } = await import('../../util/errors.js');
  if (!BENCHMARKS.includes(benchmark as never)) throw new UserError(`unknown benchmark "${benchmark}" (one of ${BENCHMARKS.join(', ')})`);
  const reg = registry();
  const all = reg.byBenchmark(benchmark as never);
  const names = opts.tasks ? opts.tasks.split(',').map((s) => s.trim()).filter(Boolean) : all.map((t) => t.name);
  const tasks = names.map((n) => {
    const t = reg.get(n);
    if (t.benchmark !== benchmark) throw new UserError(`--tasks: "${n}" belongs to ${t.benchmark}, not ${benchmark}`);
    return t;
  });
  const e = await env(opts);
  const tty = process.stderr.isTTY;
  let lastPrint = 0;
  const pulled = await pullTasks(benchmark as never, tasks, {
    env: e,
    revision: opts.revision,
    onLog: (m) => process.stderr.write(`${m}\n`),
    onProgress: (p) => {
      const now = Date.now();
      if (p.bytes !== p.total && now - lastPrint < (tty ? 200 : 5000)) return;
      lastPrint = now;
      const pct = p.total ? ((100 * p.bytes) / p.total).toFixed(1) : '?';
      const line = `${p.path}: ${(p.bytes / 1e6).toFixed(1)} / ${(p.total / 1e6).toFixed(1)} MB (${pct}%)${p.resumedFrom ? `, resumed at ${(p.resumedFrom / 1e6).toFixed(1)} MB` : ''}`;
      process.stderr.write(tty ? `\r${line}${p.bytes === p.total ? '\n' : ''}` : `${line}\n`);
    },
  });
  for (const p of pulled) process.stdout.write(`${p.task}\t${(p.size / 1e6).toFixed(1)} MB\tsha256:${p.sha256.slice(0, 12)}\t${p.path}\n`);
  process.stderr.write(`${pulled.length} task file(s) ready in ${e.cacheDir}\n`);
}

async function ls(opts: LsOptions): Promise<void> {
  const { registry, BENCHMARKS } = await import('../../datasets/registry.js');
  const { cachedTaskFile, taskFile } = await import('../../datasets/store.js');
  const { UserError } = await import('../../util/errors.js');
  const { stat } = await import('node:fs/promises');
  if (opts.benchmark && !BENCHMARKS.includes(opts.benchmark as never)) throw new UserError(`--benchmark: unknown "${opts.benchmark}" (one of ${BENCHMARKS.join(', ')})`);
  const e = await env({ offline: true });
  const tasks = registry().tasks.filter((t) => !opts.benchmark || t.benchmark === opts.benchmark);
  const rows = [];
  for (const t of tasks) {
    const file = opts.dataDir ? await taskFile(t, { env: e, dataDir: opts.dataDir }).catch(() => null) : await cachedTaskFile(t, e);
    const size = file ? (await stat(file)).size : null;
    rows.push({ task: t.name, benchmark: t.benchmark, category: t.category, language: t.language, records: t.records, metric: t.metric, maxNewTokens: t.maxNewTokens, file, size });
  }
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 1)}\n`);
    return;
  }
  const table = [['task', 'benchmark', 'category', 'lang', 'records', 'metric', 'max new', 'downloaded']];
  for (const r of rows) table.push([r.task, r.benchmark, r.category, r.language, String(r.records), r.metric, String(r.maxNewTokens), r.size === null ? '-' : `${(r.size / 1e6).toFixed(1)} MB`]);
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  for (const row of table) process.stdout.write(`${row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()}\n`);
  const missing = rows.filter((r) => r.size === null).length;
  if (missing) process.stderr.write(`${missing} task(s) not ${opts.dataDir ? `in ${opts.dataDir}` : 'downloaded; `pcomp data pull <benchmark>` fetches them'}\n`);
}

async function show(taskName: string, opts: ShowOptions): Promise<void> {
  const path = await import('node:path');
  const { readFile } = await import('node:fs/promises');
  const { registry } = await import('../../datasets/registry.js');
  const { taskFile } = await import('../../datasets/store.js');
  const { streamRecords } = await import('../../datasets/records.js');
  const prompts = await import('../../datasets/prompts.js');
  const lengths = await import('../../datasets/lengths.js');
  const { UserError } = await import('../../util/errors.js');
  const reg = registry();
  const task = reg.get(taskName);
  const index = positiveInt(opts.index, '--index', UserError)!;
  const e = await env(opts);
  const file = await taskFile(task, { env: e, dataDir: opts.dataDir, revision: opts.revision });
  let found: { line: number; record: import('../../datasets/records.js').AnyRecord } | null = null;
  let count = 0;
  const problems: string[] = [];
  for await (const r of streamRecords(file, task.recordFormat, { indices: new Set([index]), onProblem: (m) => problems.push(m), displayName: path.relative(process.cwd(), file) })) {
    found = r;
    count++;
  }
  for (const p of problems.slice(0, 5)) process.stderr.write(`warning: ${p}\n`);
  if (!found || count === 0) throw new UserError(`${file}: no record with --index ${index}`);
  const where = `${task.name}[${index}] (${path.basename(file)}:${found.line})`;
  const family = opts.family ?? (task.templates ? reg.infinitebench.defaultTemplateFamily : undefined);

  if (!opts.model) {
    const text = prompts.fillTemplate(prompts.taskTemplate(task, family), prompts.templateFields(task, found.record), task.name);
    if (opts.json) process.stdout.write(`${JSON.stringify({ task: task.name, index, line: found.line, text, tokens: null })}\n`);
    else process.stdout.write(text);
    process.stderr.write(`\n# ${where}: filled template, not tokenized or truncated; pass --model to see the prompt as sent\n`);
    return;
  }

  const { resolveModel } = await import('../../datasets/hub.js');
  const { loadTokenizer } = await import('../../datasets/tokenizer.js');
  const modelDir = await resolveModel(opts.model, { env: e, weights: false });
  const tok = await loadTokenizer(modelDir);
  const modelName = opts.modelName ?? path.basename(opts.model.replace(/@.*$/, '').replace(/\/+$/, ''));
  let window: number | undefined;
  try {
    window = (JSON.parse(await readFile(path.join(modelDir, 'config.json'), 'utf8')) as { max_position_embeddings?: number }).max_position_embeddings;
  } catch { window = undefined; }
  const override = positiveInt(opts.maxLength, '--max-length', UserError);

  if (opts.chunked) {
    const budget = lengths.parallelCompBudget(reg.lengths, modelName, task.name, { raw: override ?? (opts.chunkBudget ? window : undefined), chunk: positiveInt(opts.chunkBudget, '--chunk-budget', UserError) });
    const parts = prompts.buildChunkedPrompt(task, found.record, tok, { chunkBudget: budget.chunk, rawMaxLength: budget.raw, split: opts.split, chat: opts.chat, family });
    const total = parts.chunks.reduce((s, c) => s + c.length, 0) + parts.question.length;
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ task: task.name, index, line: found.line, chunks: parts.chunkTexts.map((text, i) => ({ text, tokens: parts.chunks[i]!.length })), question: { text: parts.questionText, tokens: parts.question.length }, maxNew: parts.maxNew, stopIds: parts.stopIds, budget })}\n`);
    } else {
      parts.chunkTexts.forEach((text, i) => process.stdout.write(`----- chunk ${i + 1}/${parts.chunks.length}: ${parts.chunks[i]!.length} tokens -----\n${text}\n`));
      process.stdout.write(`----- question: ${parts.question.length} tokens -----\n${parts.questionText}\n`);
    }
    process.stderr.write(`# ${where}: ${parts.chunks.length} chunk(s) + question = ${total} tokens; chunk budget ${budget.chunk}, window ${budget.raw} (${budget.source}); split by ${opts.split}; chat template ${parts.chatTemplated ? 'on the question' : 'off'}; max new tokens ${parts.maxNew}\n`);
    return;
  }

  const max = task.recordFormat === 'longbench'
    ? lengths.longbenchMaxLength(reg.lengths, modelName, { override, contextWindow: window })
    : lengths.infinitebenchTruncate(reg.lengths, modelName, override);
  const p = prompts.buildPrompt(task, found.record, tok, { maxLength: max.value, chat: opts.chat, family });
  if (opts.json) process.stdout.write(`${JSON.stringify({ task: task.name, index, line: found.line, text: p.text, tokens: p.ids.length, fullTokens: p.fullTokens, truncated: p.truncated, chatTemplated: p.chatTemplated, maxLength: max, maxNew: p.maxNew, stopIds: p.stopIds })}\n`);
  else process.stdout.write(p.text);
  process.stderr.write(`\n# ${where}: ${p.ids.length} tokens${p.truncated ? ` (middle-truncated from ${p.fullTokens})` : ''}; max length ${max.value} (${max.source}); chat template ${p.chatTemplated ? 'applied' : 'not applied'}; max new tokens ${p.maxNew}\n`);
}

async function synth(taskName: string, opts: SynthOptions): Promise<void> {
  const { synthesize, parseLength, SYNTH_TASKS } = await import('../../datasets/synth/generate.js');
  const { UserError } = await import('../../util/errors.js');
  if (!SYNTH_TASKS.includes(taskName as never)) throw new UserError(`synth: unknown task "${taskName}" (one of ${SYNTH_TASKS.join(', ')})`);
  const length = parseLength(opts.len);
  const n = positiveInt(opts.n, '--n', UserError)!;
  const seed = positiveInt(opts.seed, '--seed', UserError)!;
  let countTokens: ((r: import('../../datasets/records.js').InfiniteBenchRecord) => number) | undefined;
  if (opts.tokenizer) {
    const { loadTokenizer } = await import('../../datasets/tokenizer.js');
    const { registry } = await import('../../datasets/registry.js');
    const { buildPrompt } = await import('../../datasets/prompts.js');
    const tok = await loadTokenizer(opts.tokenizer);
    const task = registry().get(taskName);
    countTokens = (r) => buildPrompt(task, r, tok, { maxLength: Number.MAX_SAFE_INTEGER }).ids.length;
  }
  const result = synthesize({ task: taskName as never, length, n, seed, countTokens });
  const text = result.records.map((r) => JSON.stringify(r)).join('\n') + '\n';
  if (opts.out) {
    const { mkdir, writeFile } = await import('node:fs/promises');
    const { dirname } = await import('node:path');
    await mkdir(dirname(opts.out), { recursive: true });  // --out runs/new/passkey.jsonl: the folder is made
    await writeFile(opts.out, text);
  } else {
    process.stdout.write(text);
  }
  const unit = taskName === 'kv_retrieval' ? 'KV pairs' : 'noise lines';
  const how = result.measured === null ? `≈${length} tokens (InfiniteBench's units per 128K, no tokenizer)` : `${result.measured} tokens measured with ${opts.tokenizer}`;
  process.stderr.write(`${n} ${taskName} record(s), ${result.units} ${unit} each, ${how}, seed ${seed}${opts.out ? ` → ${opts.out}` : ''}\n`);
}
