// `pcomp eval`: config × task × sample through the engine into a resumable run directory.
//   setup   benchmark, tasks and their files, configs, model identity, run directory (refuses a
//           directory started with another model, config or setting), the plan of every task
//   loop    for each task and pending record: tokenize it once (InfiniteBench: middle-truncated to 128K on ids),
//           then for each config that still needs it: predict, append the line, report progress
//   finish  official task scores, scores.csv / scores.arrow / scores.md, manifest end statistics
// Ctrl-C aborts the engine call in flight; everything appended so far stays, and the same command
// continues from there (exit 130).
import { resolve } from 'node:path';
import type { EvalOptions } from '../commands/eval.js';
import { UserError, Interrupted, isUserError } from '../../util/errors.js';
import { hubEnv, resolveModel } from '../../datasets/hub.js';
import { loadTokenizer, type Tok } from '../../datasets/tokenizer.js';
import type { EngineModel } from '../../engine/index.js'; // types only: the addon loads when the run starts
import type { Benchmark, TaskDef } from '../../datasets/registry.js';
import { scoreTask } from '../../datasets/score.js';
import { resolveConfig, type PolicyConfig } from '../../engine/policy-config.js';
import { RunDir, parseShard, WHOLE, checkPathName, readRunLines, type PredictionLine } from '../../results/run-dir.js';
import { gitState, hostInfo, PCOMP_ROOT } from '../../results/provenance.js';
import type { Reporter, TaskPlan } from '../ui/events.js';
import { createReporter, chooseMode } from '../ui/reporter.js';
import { RateMeter } from '../ui/rate-meter.js';
import { withInterrupt } from './interrupt.js';
import { checkBenchmark, locateTaskFiles, pendingRecords, readTaskIds, selectTasks } from './eval-tasks.js';
import { defaultOutDir, modelIdentity, modelName } from './eval-identity.js';
import { predict, RunningScore } from './eval-predict.js';
import { prepareRecord } from './sample.js';
import { infinitebenchTruncate } from '../../datasets/lengths.js';
import { chooseLengths, describeLengths, lengthsSettings, type EvalLengths } from './eval-lengths.js';
import { registry } from '../../datasets/registry.js';
import { loadForConfigs, requireCuda } from './device.js';
import { DEFAULT_MODEL, builtinScoresNote, defaultModelNote, isBuiltinModel, trainedWindow } from './defaults.js';
import { BUILTIN_LENGTHS, type LengthsScale } from './eval-lengths.js';
import { precheckEval, requireTaskData, withDataHint, type SkippedRecords } from './eval-precheck.js';

interface TaskInput {
  task: TaskDef;
  file: string;
  /** This shard's ids, in plan order. */
  ids: string[];
  /** The whole plan (every shard), for mapping ids to record positions. */
  planIds: string[];
}

export async function runEval(benchmarkName: string, opts: EvalOptions): Promise<void> {
  const benchmark = checkBenchmark(benchmarkName);
  if (opts.offline) process.env.HF_HUB_OFFLINE = '1';
  const shard = opts.shard ? parseShard(opts.shard) : WHOLE;
  const configs = parseConfigs(opts.config, opts.set);
  const tasks = selectTasks(benchmark, opts.tasks);
  const env = hubEnv();
  const reporter = createReporter({ mode: chooseMode({ json: opts.json, quiet: opts.quiet }) });
  const log = (message: string, level: 'info' | 'warn' = 'info') => reporter.emit({ type: 'log', level, message });
  // The first line says when the model was picked for the user (and how to pick a real one).
  if (opts.model === undefined) log(defaultModelNote('eval'));
  const spec = opts.model ?? DEFAULT_MODEL;
  let table: string | undefined;
  try {
    await requireTaskData(benchmark, tasks, env, { dataDir: opts.dataDir, wholeBenchmark: opts.tasks === undefined });
    const files = await withDataHint(benchmark, () => locateTaskFiles(benchmark, tasks, { dataDir: opts.dataDir, env, onLog: log }));
    const modelDir = await resolveModel(spec, { env });
    const name = modelName(spec, modelDir);
    const lengthsMode = opts.lengths ?? 'paper';
    const window = trainedWindow(modelDir);
    // On LongBench a built-in model is sized as the tables size Llama-2-7B-chat-4K, scaled to its window (eval-lengths.ts
    // BUILTIN_LENGTHS). InfiniteBench keeps the trained-window sizes `pcomp reproduce` T-IB runs with, so its runs continue.
    const scale: LengthsScale | undefined = isBuiltinModel(spec) && opts.modelName === undefined && lengthsMode === 'paper' && benchmark !== 'infinitebench'
      ? { factor: window / BUILTIN_LENGTHS.window, model: spec } : undefined;
    const tableName = scale ? BUILTIN_LENGTHS.modelName : opts.modelName ?? name;
    if (!tableName.trim()) throw new UserError('--model-name: give the name the length tables are matched against');
    const outDir = opts.out ?? defaultOutDir(benchmark, name, shard);
    const lengths = new Map(configs.map(({ name: c, config }) => [c, new Map(tasks.map((task) =>
      [task.name, chooseLengths({ mode: lengthsMode, config, task, modelName: tableName, window, lengths: registry().lengths, scale })]))]));
    const tok = await loadTokenizer(modelDir);
    // Every planned record is read and sized before the engine loads or the run directory exists.
    const { skipped } = await precheckEval({
      tasks: tasks.map((task) => ({ task, file: files.get(task.name)! })), configs, sets: opts.set, lengths, tok, window,
      maxNew: opts.maxNewTokens, limit: opts.limit, skipBadRecords: Boolean(opts.skipBadRecords), warn: (m) => log(m, 'warn'),
    });

    const { EngineModel, buildInfo } = await import('../../engine/index.js');
    const engine = buildInfo();
    if (opts.device === 'cuda') requireCuda(engine);
    const model = await loadForConfigs((device) => EngineModel.load(modelDir, { threads: opts.threads, device }), opts.device, configs);
    try {
      // Where the samples run: --device, with auto resolved by the engine (every config runs on either device).
      const device = model.info.device;
      if (model.info.max_position_embeddings !== window) throw new Error(`engine window ${model.info.max_position_embeddings} differs from config.json's ${window}`);
      const run = RunDir.open(outDir, {
        kind: 'eval',
        model: await modelIdentity(spec, modelDir, env),
        configs: Object.fromEntries(configs.map((c) => [c.name, c.config])),
        settings: { benchmark, maxNewTokens: opts.maxNewTokens ?? 'official', ...lengthsSettings({ mode: lengthsMode, modelName: tableName, window, lengths: registry().lengths, benchmark, scale }) },
        shard,
      }, {
        engine: { ...engine },
        git: gitState(PCOMP_ROOT),
        device,
        threads: buildInfo().threads,
        ...hostInfo(),
        modelDir: resolve(modelDir),
        modelName: name,
        command: ['pcomp', 'eval', ...process.argv.slice(3)].join(' '),
        tokenizer: tok.backend,
      });
      try {
        for (const w of run.warnings) log(w, 'warn');
        recordSkipped(run, skipped);
        if (isBuiltinModel(spec)) log(builtinScoresNote(spec));
        const inputs: TaskInput[] = [];
        for (const task of tasks) {
          const file = files.get(task.name)!;
          const { ids, problems } = await readTaskIds(task, file, opts.limit);
          for (const p of problems) log(`${p} (skipped)`, 'warn');
          if (ids.length === 0) log(`${task.name}: no samples in ${file}`, 'warn');
          inputs.push({ task, file, planIds: ids, ids: run.plan(task.name, ids) });
        }
        // InfiniteBench's own rule: the whole prompt middle-truncated to 128K for its open models (per model name).
        const truncate = benchmark === 'infinitebench' ? infinitebenchTruncate(registry().lengths, tableName) : undefined;
        if (truncate) log(`prompts longer than ${truncate.value} tokens are middle-truncated to ${truncate.value} (${truncate.source}), then sized per config`);
        table = await withInterrupt((signal) => evaluate({ run, model, tok, configs, inputs, lengths, reporter, benchmark, maxNew: opts.maxNewTokens, truncate: truncate?.value, signal, title: `eval ${benchmark} · ${name}` }));
      } finally {
        run.close();
      }
    } finally {
      model.free();
    }
  } finally {
    await reporter.close();
  }
  // The table goes to stdout after the live view has released the terminal; --json keeps stdout to events.
  if (table !== undefined && !opts.json && !opts.quiet) process.stdout.write(`\n${table}`);
}

/**
 * Records skipped under --skip-bad-records, per task, in the manifest (scores.md lists them from there). A resumed
 * run reads the same files, so this session's count replaces the last one.
 */
function recordSkipped(run: RunDir<PredictionLine>, skipped: SkippedRecords): void {
  const previous = (run.manifest.skippedRecords ?? {}) as SkippedRecords;
  if (Object.keys(skipped).length === 0 && Object.keys(previous).length === 0) return;
  run.update({ skippedRecords: { ...previous, ...skipped } });
}

/** `--config a,b` with `--set` applied to each; names become folders, so they are checked as such. */
function parseConfigs(list: string, sets: readonly string[]): Array<{ name: string; config: PolicyConfig }> {
  const names = [...new Set(list.split(',').map((s) => s.trim()).filter(Boolean))];
  if (names.length === 0) throw new UserError('--config: give at least one preset name (see `pcomp configs`)');
  return names.map((name) => {
    checkPathName('config', name);
    return { name, config: resolveConfig(name, sets) };
  });
}

interface EvaluateInput {
  run: RunDir<PredictionLine>;
  model: EngineModel;
  tok: Tok;
  configs: Array<{ name: string; config: PolicyConfig }>;
  inputs: TaskInput[];
  /** config → task → the sizes chosen for it. */
  lengths: ReadonlyMap<string, ReadonlyMap<string, EvalLengths>>;
  reporter: Reporter;
  benchmark: Benchmark;
  maxNew?: number;
  /** InfiniteBench: middle-truncate every prompt to this many tokens (its truncate_by_tokens, on ids). */
  truncate?: number;
  signal: AbortSignal;
  title: string;
}

/** Runs what is pending and returns the markdown table. */
async function evaluate(x: EvaluateInput): Promise<string> {
  const { run, reporter } = x;
  const started = performance.now();
  const plan: TaskPlan[] = x.configs.flatMap(({ name }) =>
    x.inputs.map(({ task, ids }) => ({ config: name, task: task.name, total: ids.length, done: ids.length - run.pending(name, task.name).length })));
  reporter.emit({ type: 'start', title: x.title, plan, outDir: run.dir });
  for (const l of describeLengths(x.lengths)) reporter.emit({ type: 'log', level: l.warn ? 'warn' : 'info', message: l.message });
  let samples = 0;
  let tokens = 0;
  let engineSeconds = 0;
  let peakCacheBytes = 0;
  const remainingTotal = () => plan.reduce((n, p) => n + p.total - p.done, 0);
  const meter = new RateMeter();
  const stats = () => ({
    samples,
    tokensPerSec: engineSeconds > 0 ? Math.round(tokens / engineSeconds) : undefined,
    peakMemoryBytes: process.resourceUsage().maxRSS * 1024,
    peakCacheBytes: peakCacheBytes || undefined,
  });
  try {
    // Task by task, record by record: each record is read and tokenized once, then run under every config that
    // still needs it (a resumed run skips what each config already has).
    for (const input of x.inputs) {
      const { task } = input;
      const taskStarted = performance.now();
      const perConfig = x.configs.map(({ name, config }) => {
        const running = new RunningScore(task.name);
        running.add(run.store(name, task.name).read());
        return {
          name, config, running,
          entry: plan.find((p) => p.config === name && p.task === task.name)!,
          pending: new Set(run.pending(name, task.name)),
          lengths: x.lengths.get(name)?.get(task.name),
        };
      });
      const wanted = input.ids.filter((id) => perConfig.some((c) => c.pending.has(id)));
      for await (const sample of pendingRecords(task, input.file, input.planIds, wanted)) {
        if (x.signal.aborted) throw new Interrupted('eval interrupted');
        let prepared;
        try {
          prepared = prepareRecord({ task, record: sample.record, tok: x.tok, maxNew: x.maxNew, truncate: x.truncate });
        } catch (e) {
          if (!isUserError(e)) throw e;
          throw new UserError(`${input.file}:${sample.line} (${task.name} sample ${sample.id}): ${e.message}`, { hint: e.hint, cause: e });
        }
        for (const c of perConfig) {
          if (!c.pending.has(sample.id)) continue;
          if (x.signal.aborted) throw new Interrupted('eval interrupted');
          const p = await predict({ model: x.model, tok: x.tok, task, config: c.config, sample, maxNew: x.maxNew, signal: x.signal, file: input.file, lengths: c.lengths, prepared });
          run.append(c.name, task.name, p.line);
          samples++;
          tokens += p.tokens;
          engineSeconds += p.line.time_s ?? 0;
          peakCacheBytes = Math.max(peakCacheBytes, p.peakCacheBytes ?? 0);
          c.entry.done++;
          const rates = meter.sample(p.tokens, remainingTotal());
          reporter.emit({
            type: 'sample', config: c.name, task: task.name, done: c.entry.done, total: c.entry.total,
            ...rates, runningScore: c.running.add([p.line]), sampleId: sample.id,
          });
        }
      }
      for (const { name, entry } of perConfig) {
        if (entry.done < entry.total)
          throw new UserError(`${input.file}: ${entry.total - entry.done} planned samples of ${task.name} are no longer in the file`, {
            hint: 'the file changed since this run was planned; restore it or use another --out directory',
          });
        const lines = run.store(name, task.name).read().sort((a, b) => a.index - b.index);
        reporter.emit({
          type: 'task-done', config: name, task: task.name, done: entry.done, total: entry.total,
          score: lines.length > 0 ? scoreTask(task.name, lines, { e: x.benchmark === 'longbench-e' }).score : undefined,
          elapsedSec: (performance.now() - taskStarted) / 1000,
        });
      }
    }
    const { writeTables } = await import('./eval-tables.js');
    const tables = writeTables(run.dir, x.benchmark);
    const previousPeak = run.manifest.peakMemoryBytes ?? 0;
    run.finish(stats());
    run.update(runTotals(run.dir, previousPeak));
    reporter.emit({ type: 'end', ok: true, elapsedSec: (performance.now() - started) / 1000, samples, tokensPerSec: stats().tokensPerSec, message: `tables: ${tables.files.join(', ')}` });
    return tables.markdown;
  } catch (e) {
    const interrupted = e instanceof Interrupted;
    run.update({ sessions: withLastSession(run, { ...stats(), stoppedAt: new Date().toISOString(), stopped: interrupted ? 'interrupted' : 'error' }) });
    reporter.emit({
      type: 'end', ok: false, elapsedSec: (performance.now() - started) / 1000, samples, tokensPerSec: stats().tokensPerSec,
      message: interrupted ? `interrupted; run the same command again to continue (${run.dir})` : (e as Error).message,
    });
    throw e;
  }
}

/**
 * Whole-run figures for the manifest's top level (each session keeps its own): every line counts,
 * whichever invocation wrote it, so a resumed run reports the throughput of all its samples.
 */
function runTotals(dir: string, previousPeak: number): { samples: number; tokensPerSec?: number; peakMemoryBytes: number } {
  let samples = 0;
  let tokens = 0;
  let seconds = 0;
  for (const { lines } of readRunLines<PredictionLine>(dir))
    for (const l of lines) {
      samples++;
      tokens += (l.prompt_tokens ?? 0) + (typeof l.generated_tokens === 'number' ? l.generated_tokens : 0);
      seconds += l.time_s ?? 0;
    }
  return {
    samples,
    tokensPerSec: seconds > 0 ? Math.round(tokens / seconds) : undefined,
    peakMemoryBytes: Math.max(previousPeak, process.resourceUsage().maxRSS * 1024),
  };
}

function withLastSession(run: RunDir<PredictionLine>, fields: Record<string, unknown>) {
  const sessions = [...run.manifest.sessions];
  sessions[sessions.length - 1] = { ...sessions[sessions.length - 1]!, ...fields };
  return sessions;
}
