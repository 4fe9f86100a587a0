// T-PPL (Table 3's layout): perplexity against context length for each T-PPL config, on story
// documents in the built-in model's register (datasets/synth/stories.ts), with `pcomp ppl`'s default protocol:
//   data   <out>/t-ppl/stories-n<N>.jsonl (one document per line, seeded), kept so a rerun reads the same
//   run    <out>/t-ppl/n<N>/, an ordinary ppl run directory (manifest, plans, nll, ppl.csv/md/svg/png):
//          `pcomp ppl --data <data> --eval-tokens E --query-tokens Q --out <run>` continues or extends it
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { loadPplSource } from '../../datasets/ppl-data.js';
import { hubEnv } from '../../datasets/hub.js';
import { writeFileAtomic } from '../../results/atomic-file.js';
import { PplStore, readPplPoints, type PplPoint } from '../../results/ppl-store.js';
import { formatLength, writePplOutputs } from '../../results/plots.js';
import { WHOLE, type NllLine } from '../../results/run-dir.js';
import { Interrupted, UserError } from '../../util/errors.js';
import { protocolSettings, tokenizeDocuments } from './ppl.js';
import { lengthProblem } from './ppl-lengths.js';
import { pplChunkBudget, scoreSample } from './ppl-sample.js';
import { pplConfigs, type NamedConfig } from './reproduce-configs.js';
import type { ReproduceContext, TableJob } from './reproduce-scale.js';
import { storyDocument } from '../../datasets/synth/stories.js';

export interface PplResult {
  lengths: number[];
  configs: string[];
  points: PplPoint[];
  documents: number;
  evalTokens: number;
  queryTokens: number;
  runDir: string;
}

const cellTask = (length: number) => `L=${formatLength(length)}`;

/** The story documents, written once: generous in characters, `pcomp ppl` cuts each to the longest length. */
function writeStories(file: string, documents: number, maxLength: number): void {
  if (existsSync(file)) return;
  mkdirSync(path.dirname(file), { recursive: true });
  const lines = Array.from({ length: documents }, (_, i) => JSON.stringify({ id: `stories-${i}`, text: storyDocument(1000 + i, maxLength * 8) }));
  writeFileAtomic(file, lines.join('\n') + '\n');
}

export async function preparePpl(ctx: ReproduceContext): Promise<TableJob<PplResult>> {
  const { scale } = ctx;
  const configs = pplConfigs(scale.configs.ppl);
  const lengths = scale.pplLengths;
  const opts = { protocol: 'default' as const, evalTokens: scale.evalTokens, queryTokens: scale.queryTokens };
  for (const length of lengths) {
    const problem = lengthProblem(length, opts.evalTokens, opts.queryTokens);
    if (problem) throw new UserError(`--len ${formatLength(length)}: ${problem}`);
    for (const { config } of configs.filter((c) => c.config['chunk.enabled'])) pplChunkBudget(config, ctx.window, length, opts.evalTokens, opts.queryTokens);
  }
  const dataFile = path.join(ctx.out, 't-ppl', `stories-n${scale.pplDocuments}.jsonl`);
  writeStories(dataFile, scale.pplDocuments, lengths.at(-1)!);
  const source = await loadPplSource(dataFile, { samples: scale.pplDocuments, env: hubEnv() });
  const tokens = tokenizeDocuments(source.documents, ctx.tok, lengths.at(-1)!);
  const short = tokens.findIndex((t) => t.length < lengths.at(-1)!);
  if (short >= 0) throw new Error(`${dataFile}: document ${short} has ${tokens[short]!.length} tokens, fewer than ${lengths.at(-1)}`);

  const store = PplStore.open(path.join(ctx.out, 't-ppl', `n${scale.pplDocuments}`), {
    model: { ...ctx.identity, trainedLength: ctx.window },
    configs: Object.fromEntries(configs.map((c) => [c.name, c.config])),
    settings: protocolSettings(opts, source),
    shard: WHOLE,
  }, ctx.provenance);
  try {
    for (const w of store.run.warnings) ctx.progress.log(w, 'warn');
    const ids = source.documents.map((d) => d.id);
    for (const length of lengths) store.plan(length, ids);
    for (const c of configs)
      for (const length of lengths) ctx.progress.add(c.name, cellTask(length), ids.length, ids.length - store.pending(c.name, length).length);
  } catch (e) {
    store.run.close();
    throw e;
  }
  const documents = new Map(source.documents.map((d, i) => [d.id, { index: i, tokens: tokens[i]! }]));
  return {
    run: (signal) => measurePpl(ctx, configs, store, documents, signal),
    close: () => store.run.close(),
  };
}

async function measurePpl(
  ctx: ReproduceContext, configs: NamedConfig[], store: PplStore,
  documents: Map<string, { index: number; tokens: Int32Array }>, signal: AbortSignal,
): Promise<PplResult> {
  const { scale } = ctx;
  for (const { name, config } of configs) {
    for (const length of scale.pplLengths) {
      const started = performance.now();
      for (const id of store.pending(name, length)) {
        if (signal.aborted) throw new Interrupted('reproduce interrupted');
        const { index, tokens } = documents.get(id)!;
        const scored = await scoreSample({
          model: ctx.model, protocol: 'default', config, configName: name, id, index, tokens, length,
          evalTokens: scale.evalTokens, queryTokens: scale.queryTokens, tok: ctx.tok, signal,
        });
        store.append(name, length, scored.line satisfies NllLine);
        ctx.progress.sample(name, cellTask(length), scored.processed);
      }
      const point = readPplPoints(store.run.dir).find((p) => p.config === name && p.length === length);
      ctx.progress.cellDone(name, cellTask(length), point?.ppl, (performance.now() - started) / 1000);
    }
  }
  const points = readPplPoints(store.run.dir).filter((p) => scale.pplLengths.includes(p.length));
  await writePplOutputs(store.run.dir, points, { trainedLength: ctx.window, title: 'Perplexity vs context length · pcomp reproduce' });
  store.finish({});
  return {
    lengths: scale.pplLengths,
    configs: configs.map((c) => c.name),
    points,
    documents: scale.pplDocuments,
    evalTokens: scale.evalTokens,
    queryTokens: scale.queryTokens,
    runDir: store.run.dir,
  };
}
