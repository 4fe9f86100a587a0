// `pcomp reproduce [TABLE]`: the paper's tables at CI scale.
//   setup   model (builtin:tiny by default, offline), the scale (lengths as multiples of its trained
//           window), each table's runs opened and planned, so one progress view covers all of them
//   loop    T-PPL, T-IB, T-speed in turn, each appending to its own run directory under --out
//   finish  T-SCORE (no model), every table in the paper's layout with the paper's numbers beside:
//           <out>/<table>.md and .csv, <out>/reproduction.md, and the tables on stdout
// Ctrl-C aborts the engine call in flight; the same command continues from there (exit 130).
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ReproduceOptions, ReproduceTable } from '../commands/reproduce.js';
import { REPRODUCE_TABLES } from '../commands/reproduce.js';
import { hubEnv, resolveModel } from '../../datasets/hub.js';
import { loadTokenizer } from '../../datasets/tokenizer.js';
import { writeFileAtomic } from '../../results/atomic-file.js';
import { gitState, hostInfo, PCOMP_ROOT } from '../../results/provenance.js';
import { Interrupted } from '../../util/errors.js';
import { createReporter, chooseMode } from '../ui/reporter.js';
import { modelIdentity, modelName } from './eval-identity.js';
import { withInterrupt } from './interrupt.js';
import { ReproduceProgress } from './reproduce-progress.js';
import { scaleFor, type ReproduceContext, type TableJob } from './reproduce-scale.js';
import type { RenderedTable } from './reproduce-tables.js';

const TITLES: Record<ReproduceTable, string> = {
  't-ppl': "T-PPL · perplexity vs context length (Table 3's layout)",
  't-ib': "T-IB · synthetic retrieval accuracy vs length (Table 2's layout)",
  't-speed': "T-SPEED · prefill time and memory vs chunks in parallel (Table 7's layout)",
  't-score': 'T-SCORE · official scores of real published predictions (Tables 1 and 2)',
};

export async function runReproduce(which: ReproduceTable | 'all', opts: ReproduceOptions): Promise<void> {
  const tables = which === 'all' ? [...REPRODUCE_TABLES] : [which];
  scaleFor(1, opts); // a misspelt --config or --tasks is refused before the model loads
  const out = opts.out;
  mkdirSync(out, { recursive: true });
  const reporter = createReporter({ mode: chooseMode({ json: opts.json, quiet: opts.quiet }) });
  const progress = new ReproduceProgress(reporter);
  const rendered = new Map<ReproduceTable, RenderedTable>();
  const started = new Date();
  let machine = `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'CPU'}, ${hostInfo().platform}, Node ${process.version}`;
  let modelLine = '';
  try {
    const modelTables = tables.filter((t) => t !== 't-score');
    if (modelTables.length > 0) {
      const env = hubEnv();
      const modelDir = await resolveModel(opts.model, { env });
      const { EngineModel, buildInfo } = await import('../../engine/index.js');
      const tok = await loadTokenizer(modelDir);
      const model = await EngineModel.load(modelDir, { threads: opts.threads });
      try {
        const engine = buildInfo();
        const device = (model.info as { device?: string }).device ?? 'cpu';
        const window = model.info.max_position_embeddings;
        machine += `; engine ${engine.version} on ${device}, ${engine.threads} threads (${engine.simd})`;
        modelLine = `${opts.model} (${modelName(opts.model, modelDir)}, trained window ${window} tokens)`;
        const ctx: ReproduceContext = {
          model, tok, modelSpec: opts.model, identity: await modelIdentity(opts.model, modelDir, env), window, out,
          scale: scaleFor(window, opts), progress,
          provenance: {
            engine: { ...engine }, git: gitState(PCOMP_ROOT), device, threads: engine.threads, ...hostInfo(),
            modelDir: path.resolve(modelDir), modelName: modelName(opts.model, modelDir),
            command: ['pcomp', ...process.argv.slice(2)].join(' '),
          },
        };
        await runModelTables(ctx, modelTables, rendered, opts.model);
      } finally {
        model.free();
      }
    }
    if (tables.includes('t-score')) {
      const { reproduceScores } = await import('./reproduce-score.js');
      const { scoreTables } = await import('./reproduce-tables.js');
      rendered.set('t-score', scoreTables(reproduceScores(opts.benchSamples)));
    }
  } finally {
    await reporter.close();
  }

  const sections = tables.filter((t) => rendered.has(t)).map((t) => {
    const r = rendered.get(t)!;
    writeFileAtomic(path.join(out, `${t}.md`), `## ${TITLES[t]}\n\n${r.markdown}`);
    writeFileAtomic(path.join(out, `${t}.csv`), r.csv);
    return `## ${TITLES[t]}\n\n${r.markdown}`;
  });
  const header = [
    `# pcomp reproduce`,
    '',
    `Command: \`pcomp ${process.argv.slice(2).join(' ')}\``,
    modelLine ? `Model: ${modelLine}` : '',
    `Machine: ${machine}`,
    `Date: ${started.toISOString()}`,
  ].filter((l, i) => l !== '' || i === 1);
  const report = `${header.join('\n')}\n\n${sections.join('\n')}`;
  writeFileAtomic(path.join(out, 'reproduction.md'), report);
  if (!opts.json) process.stdout.write(`\n${report}`);
}

/** Prepares every model table (so the plan is whole), then runs them in order. */
async function runModelTables(ctx: ReproduceContext, tables: ReproduceTable[], rendered: Map<ReproduceTable, RenderedTable>, spec: string): Promise<void> {
  const { preparePpl } = await import('./reproduce-ppl.js');
  const { prepareIb } = await import('./reproduce-ib.js');
  const { prepareSpeed } = await import('./reproduce-speed.js');
  const { ibTable, pplTable, speedTable } = await import('./reproduce-tables.js');
  const jobs: Array<{ table: ReproduceTable; job: TableJob<unknown>; render: (r: never) => RenderedTable }> = [];
  try {
    for (const table of tables) {
      if (table === 't-ppl') jobs.push({ table, job: await preparePpl(ctx), render: (r) => pplTable(r, ctx.window) });
      if (table === 't-ib') jobs.push({ table, job: await prepareIb(ctx), render: (r) => ibTable(r, ctx.window) });
      if (table === 't-speed') jobs.push({ table, job: await prepareSpeed(ctx), render: (r) => speedTable(r, ctx.window) });
    }
    ctx.progress.start(`reproduce ${tables.join(', ')} · ${spec}`, ctx.out);
    await withInterrupt(async (signal) => {
      try {
        for (const { table, job, render } of jobs) rendered.set(table, render((await job.run(signal)) as never));
        ctx.progress.end(true, `tables in ${ctx.out}`);
      } catch (e) {
        const interrupted = e instanceof Interrupted;
        ctx.progress.end(false, interrupted ? `interrupted; run the same command again to continue (${ctx.out})` : (e as Error).message);
        throw e;
      }
    });
  } finally {
    for (const { job } of jobs) job.close();
  }
}
