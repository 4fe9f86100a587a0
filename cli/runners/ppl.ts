// `pcomp ppl`: config × length × document through the engine into a resumable run directory.
//   setup   lengths and their cut, configs (and their chunk budgets at every length), model, data
//           (documents tokenized once; a length no document reaches is refused), run directory,
//           one plan per length over the same document list
//   loop    for each config, length and pending document: too short → a `skipped` line; else run
//           the sample through the config and append its mean NLL
//   finish  ppl.csv / ppl.arrow / ppl.md / ppl.svg / ppl.png, the table and a terminal chart
// Ctrl-C aborts the engine call in flight; the same command continues from there (exit 130).
import path from 'node:path';
import type { PplOptions } from '../commands/ppl.js';
import { UserError, Interrupted } from '../../util/errors.js';
import { hubEnv, resolveModel } from '../../datasets/hub.js';
import { defaultPplSource, loadPplSource, type PplDocument, type PplSource } from '../../datasets/ppl-data.js';
import { loadTokenizer, type Tok } from '../../datasets/tokenizer.js';
import { resolveConfig, type PolicyConfig } from '../../engine/policy-config.js';
import { PplStore, readPplPoints } from '../../results/ppl-store.js';
import { formatLength, writePplOutputs } from '../../results/plots.js';
import { parseShard, WHOLE, checkPathName, type NllLine } from '../../results/run-dir.js';
import { gitState, hostInfo, PCOMP_ROOT } from '../../results/provenance.js';
import type { Reporter, TaskPlan } from '../ui/events.js';
import { createReporter, chooseMode } from '../ui/reporter.js';
import { RateMeter } from '../ui/rate-meter.js';
import { withInterrupt } from './interrupt.js';
import { defaultOutDir, modelIdentity, modelName } from './eval-identity.js';
import { lengthProblem } from './ppl-lengths.js';
import { pplChunkBudget, scoreSample, type Protocol } from './ppl-sample.js';
import { loadForConfigs, requireCuda } from './device.js';
import { DEFAULT_MODEL, defaultModelNote, isBuiltinModel, pplTokenDefaults, trainedWindow } from './defaults.js';
import { knobWarnings } from './eval-precheck.js';

interface NamedConfig {
  name: string;
  config: PolicyConfig;
}

/** What the manifest says about the protocol; a resumed run must match it. */
export function protocolSettings(opts: Pick<PplOptions, 'protocol'> & { evalTokens: number; queryTokens: number }, source: PplSource): Record<string, unknown> {
  const common = { protocol: opts.protocol, data: { kind: source.kind, ...source.identity } };
  if (opts.protocol === 'paper')
    return {
      ...common,
      scored: 'question template tokens after the first, in the re-encoding step',
      context: 'NarrativeQA story cut to its first L tokens, in the narrativeqa prompt template',
    };
  return {
    ...common,
    evalTokens: opts.evalTokens,
    evalTokensAtLength: 'min(evalTokens, floor(L / 2))',
    queryTokens: opts.queryTokens,
    query: 'the last queryTokens context tokens: they score the chunks and are re-encoded',
    unchunked: 'whole context (full.maxTokens = L - E unless set)',
    shortDocuments: 'skipped and counted, never padded',
  };
}

export async function runPpl(given: PplOptions): Promise<void> {
  if (given.offline) process.env.HF_HUB_OFFLINE = '1';
  const env = hubEnv();
  const reporter = createReporter({ mode: chooseMode({ json: given.json, quiet: given.quiet }) });
  const log = (message: string, level: 'info' | 'warn' = 'info') => reporter.emit({ type: 'log', level, message });
  // The first line says when the model was picked for the user (and how to pick a real one).
  if (given.model === undefined) log(defaultModelNote('ppl'));
  const spec = given.model ?? DEFAULT_MODEL;
  let summary: string | undefined;
  try {
    const modelDir = await resolveModel(spec, { env });
    const name = modelName(spec, modelDir);
    const trained = trainedWindow(modelDir);
    const sized = pplTokenDefaults(trained);
    const opts = { ...given, evalTokens: given.evalTokens ?? sized.evalTokens, queryTokens: given.queryTokens ?? sized.queryTokens };
    const protocol = opts.protocol as Protocol;
    const lengths = opts.len;
    const shard = opts.shard ? parseShard(opts.shard) : WHOLE;
    const configs = parseConfigs(opts.config, opts.set);
    for (const w of knobWarnings(configs, opts.set, trained)) log(w, 'warn');
    if (protocol === 'default')
      for (const length of lengths) {
        const problem = lengthProblem(length, opts.evalTokens, opts.queryTokens);
        if (problem) throw new UserError(`--len ${formatLength(length)}: ${problem}`, { hint: 'use longer lengths, or lower --eval-tokens / --query-tokens' });
      }
    let data = opts.data;
    let dataEnv = env;
    if (data === undefined) {
      const chosen = protocol === 'paper' ? { spec: 'narrativeqa' as const, note: 'data: NarrativeQA (LongBench), as --protocol paper needs its questions' } : await defaultPplSource(env);
      data = chosen.spec;
      if ('fromCache' in chosen && chosen.fromCache) dataEnv = { ...env, offline: true };
      log(chosen.note);
    }
    if (protocol === 'paper' && data !== 'narrativeqa' && !data.endsWith('.jsonl'))
      throw new UserError(`--protocol paper: needs NarrativeQA questions; use --data narrativeqa (or a LongBench-format .jsonl), not ${data}`);
    // The stories source is one long document unless --samples says more (full attention at 128K costs minutes each).
    const samples = opts.samples ?? (data === 'stories' ? 1 : 10);
    const source = await loadPplSource(data, { samples, env: dataEnv, onLog: log, maxLength: lengths[lengths.length - 1]! });
    const tok = await loadTokenizer(modelDir);
    const tokens = tokenizeDocuments(source.documents, tok, lengths[lengths.length - 1]!);
    checkReach(data, lengths, tokens);

    const { EngineModel, buildInfo } = await import('../../engine/index.js');
    const engine = buildInfo();
    if (opts.device === 'cuda') requireCuda(engine);
    const model = await loadForConfigs((device) => EngineModel.load(modelDir, { threads: opts.threads, device }), opts.device ?? 'cpu', configs);
    try {
      const window = model.info.max_position_embeddings;
      if (protocol === 'default')
        for (const { config } of configs.filter((c) => c.config['chunk.enabled']))
          for (const length of lengths) pplChunkBudget(config, window, length, opts.evalTokens, opts.queryTokens);
      const store = PplStore.open(opts.out ?? defaultOutDir(`ppl-${dataName(data)}`, name, shard), {
        // report and merge read the trained length from here to mark it on the chart
        model: { ...(await modelIdentity(spec, modelDir, env)), trainedLength: window },
        configs: Object.fromEntries(configs.map((c) => [c.name, c.config])),
        settings: protocolSettings(opts, source),
        shard,
      }, {
        engine: { ...engine },
        git: gitState(PCOMP_ROOT),
        device: model.info.device,  // --device, with auto resolved by the engine
        threads: buildInfo().threads,
        ...hostInfo(),
        modelDir: path.resolve(modelDir),
        modelName: name,
        command: ['pcomp', 'ppl', ...process.argv.slice(3)].join(' '),
        data: { source: data, chosen: opts.data === undefined ? 'default (no --data)' : '--data', documents: source.documents.length },
        tokenizer: tok.backend,
      });
      for (const w of store.run.warnings) log(w, 'warn');
      try {
        const ids = source.documents.map((d) => d.id);
        const owned = new Map(lengths.map((length) => [length, store.plan(length, ids).length]));
        summary = await withInterrupt((signal) => measure({
          store, model, tok, configs, lengths, owned, reporter, signal, protocol, window,
          documents: new Map(source.documents.map((d, i) => [d.id, { doc: d, index: i, tokens: tokens[i]! }])),
          evalTokens: opts.evalTokens, queryTokens: opts.queryTokens,
          title: `ppl ${data} · ${name}`,
        }));
      } finally {
        store.run.close();
      }
    } finally {
      model.free();
    }
  } finally {
    await reporter.close();
  }
  // after the live view has released the terminal; --json keeps stdout to events
  if (summary !== undefined && !given.json && !given.quiet) process.stdout.write(`\n${summary}`);
  if (summary !== undefined && !given.json && !given.quiet && isBuiltinModel(spec))
    process.stdout.write(`\nnote: ${spec} is a toy model trained on 512-token stories: these numbers show what each config does beyond its trained length, not a real model's perplexity\n`);
}

/** `--config a,b` with `--set` applied to each; names become folders, so they are checked as such. */
function parseConfigs(list: string, sets: readonly string[]): NamedConfig[] {
  const names = [...new Set(list.split(',').map((s) => s.trim()).filter(Boolean))];
  if (names.length === 0) throw new UserError('--config: give at least one preset name (see `pcomp configs`)');
  return names.map((name) => {
    checkPathName('config', name);
    return { name, config: resolveConfig(name, sets) };
  });
}

/** "pg19", "narrativeqa", "stories", or the file's name without extension (it names the default run directory). */
function dataName(spec: string): string {
  return spec === 'pg19' || spec === 'narrativeqa' || spec === 'stories' ? spec : path.basename(spec, path.extname(spec));
}

/**
 * Each document's first `maxLength` tokens, BOS as the tokenizer adds it. A book is cut at a space
 * well past what the longest length needs before tokenizing, so the kept tokens are those of the
 * whole text (word-level pre-tokenization never merges across the cut).
 */
export function tokenizeDocuments(documents: readonly PplDocument[], tok: Tok, maxLength: number): Int32Array[] {
  return documents.map((d) => {
    let chars = maxLength * 8 + 1024;
    while (chars < d.text.length) {
      const cut = d.text.lastIndexOf(' ', chars);
      const ids = tok.encode(d.text.slice(0, cut > 0 ? cut : chars));
      if (ids.length >= maxLength + 16) return ids.slice(0, maxLength);
      chars *= 2;
    }
    return tok.encode(d.text).slice(0, maxLength);
  });
}

/** A length no document reaches would have no point on the curve: refuse it before any work. */
function checkReach(data: string, lengths: readonly number[], tokens: readonly Int32Array[]): void {
  let longest = 0;
  for (const t of tokens) longest = Math.max(longest, t.length);
  const unreached = lengths.filter((l) => l > longest);
  if (unreached.length > 0)
    throw new UserError(
      `--data ${data}: too short for --len ${unreached.map(formatLength).join(',')}: its longest document has ${longest} tokens`,
      { hint: 'drop those lengths, raise --samples, or use longer documents (never padded)' },
    );
}

interface MeasureInput {
  store: PplStore;
  model: import('../../engine/index.js').EngineModel;
  tok: Tok;
  configs: NamedConfig[];
  lengths: number[];
  /** Documents this shard owns at each length. */
  owned: Map<number, number>;
  documents: Map<string, { doc: PplDocument; index: number; tokens: Int32Array }>;
  protocol: Protocol;
  window: number;
  evalTokens: number;
  queryTokens: number;
  reporter: Reporter;
  signal: AbortSignal;
  title: string;
}

/** Runs what is pending, writes the outputs and returns the table and terminal chart. */
async function measure(x: MeasureInput): Promise<string> {
  const { store, reporter } = x;
  const started = performance.now();
  const unit = (length: number) => `L=${formatLength(length)}`;
  const plan: TaskPlan[] = x.configs.flatMap(({ name }) => x.lengths.map((length) => {
    const total = x.owned.get(length)!;
    return { config: name, task: unit(length), total, done: total - store.pending(name, length).length };
  }));
  reporter.emit({ type: 'start', title: x.title, plan, outDir: store.run.dir });
  let samples = 0;
  let tokens = 0;
  let engineSeconds = 0;
  const meter = new RateMeter();
  const remainingTotal = () => plan.reduce((n, p) => n + p.total - p.done, 0);
  const stats = () => ({ samples, tokensPerSec: engineSeconds > 0 ? Math.round(tokens / engineSeconds) : undefined, peakMemoryBytes: process.resourceUsage().maxRSS * 1024 });
  try {
    for (const { name, config } of x.configs) {
      for (const length of x.lengths) {
        const entry = plan.find((p) => p.config === name && p.task === unit(length))!;
        const cellStarted = performance.now();
        for (const id of store.pending(name, length)) {
          if (x.signal.aborted) throw new Interrupted('ppl interrupted');
          const { doc, index, tokens: ids } = x.documents.get(id)!;
          let line: NllLine;
          let processed = 0;
          if (ids.length < length) {
            line = { _id: id, index, skipped: `shorter than ${length} tokens (${ids.length})` };
          } else {
            const scored = await scoreSample({
              model: x.model, protocol: x.protocol, config, configName: name, id, index, tokens: ids, length,
              evalTokens: x.evalTokens, queryTokens: x.queryTokens, record: doc.record, tok: x.tok, signal: x.signal,
            });
            line = scored.line;
            processed = scored.processed;
            engineSeconds += line.time_s ?? 0;
          }
          store.append(name, length, line);
          samples++;
          tokens += processed;
          entry.done++;
          reporter.emit({ type: 'sample', config: name, task: unit(length), done: entry.done, total: entry.total, ...meter.sample(processed, remainingTotal()), sampleId: id });
        }
        const point = readPplPoints(store.run.dir).find((p) => p.config === name && p.length === length);
        if (!point) reporter.emit({ type: 'log', level: 'warn', message: `${name} at ${formatLength(length)}: every document is shorter; no point`, config: name });
        reporter.emit({ type: 'task-done', config: name, task: unit(length), done: entry.done, total: entry.total, score: point?.ppl, elapsedSec: (performance.now() - cellStarted) / 1000 });
      }
    }
    const trainedLength = x.window;
    const points = readPplPoints(store.run.dir);
    const out = await writePplOutputs(store.run.dir, points, { trainedLength, title: `Perplexity vs context length · ${x.title.replace(/^ppl /, '')}` });
    store.finish(stats());
    reporter.emit({ type: 'end', ok: true, elapsedSec: (performance.now() - started) / 1000, samples, tokensPerSec: stats().tokensPerSec, message: `outputs: ${out.files.join(', ')}` });
    const { pplMarkdown } = await import('../../results/plots.js');
    return `${pplMarkdown(points, { trainedLength })}\n${out.terminalChart}`;
  } catch (e) {
    const interrupted = e instanceof Interrupted;
    const sessions = [...store.run.manifest.sessions];
    sessions[sessions.length - 1] = { ...sessions[sessions.length - 1]!, ...stats(), stoppedAt: new Date().toISOString(), stopped: interrupted ? 'interrupted' : 'error' };
    store.run.update({ sessions });
    reporter.emit({
      type: 'end', ok: false, elapsedSec: (performance.now() - started) / 1000, samples, tokensPerSec: stats().tokensPerSec,
      message: interrupted ? `interrupted; run the same command again to continue (${store.run.dir})` : (e as Error).message,
    });
    throw e;
  }
}

