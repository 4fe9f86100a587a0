// T-IB (Table 2's layout): synthetic InfiniteBench retrieval — passkey, number_string, kv_retrieval —
// at each length, for every T-IB config. Per length:
//   data   <out>/t-ib/data-<L>-n<N>/<task>.jsonl, generated as `pcomp data synth` does (token counts
//          measured with the model's tokenizer, seed SYNTH_SEED), kept so a rerun plans the same records
//   run    <out>/t-ib/<L>-n<N>/, an ordinary eval run directory (manifest, plans, predictions, scores.*):
//          `pcomp eval infinitebench --data-dir <data> --out <run>` continues or reports it
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { registry, type TaskDef } from '../../datasets/registry.js';
import { buildPrompt } from '../../datasets/prompts.js';
import { synthesize, type SynthTask } from '../../datasets/synth/generate.js';
import { scoreTask } from '../../datasets/score.js';
import { writeFileAtomic } from '../../results/atomic-file.js';
import { formatLength } from '../../results/plots.js';
import { RunDir, WHOLE, type PredictionLine } from '../../results/run-dir.js';
import { Interrupted, UserError } from '../../util/errors.js';
import { ibConfigs, type NamedConfig } from './reproduce-configs.js';
import type { ReproduceContext, TableJob } from './reproduce-scale.js';
import { pendingRecords, readTaskIds } from './eval-tasks.js';
import { predict, RunningScore } from './eval-predict.js';
import { writeTables } from './eval-tables.js';

export const SYNTH_SEED = 1;

/** Accuracy (0–100) of each config on each task at each length. */
export interface IbResult {
  lengths: number[];
  configs: string[];
  tasks: string[];
  samples: number;
  /** `${config}/${task}/${length}` → official score (InfiniteBench: mean ×100). */
  scores: Map<string, number>;
  runDirs: string[];
}

export const ibKey = (config: string, task: string, length: number) => `${config}/${task}/${length}`;
const cellTask = (task: string, length: number) => `${task}@${formatLength(length)}`;

/** Writes the task's records unless an earlier run did; returns the file. */
function synthFile(ctx: ReproduceContext, dataDir: string, task: TaskDef, length: number): string {
  const file = path.join(dataDir, `${task.name}.jsonl`);
  if (existsSync(file)) return file;
  const countTokens = (r: Parameters<typeof buildPrompt>[1]) => buildPrompt(task, r, ctx.tok, { maxLength: Number.MAX_SAFE_INTEGER }).ids.length;
  const { records } = synthesize({ task: task.name as SynthTask, length, n: ctx.scale.ibSamples, seed: SYNTH_SEED, countTokens });
  mkdirSync(dataDir, { recursive: true });
  writeFileAtomic(file, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
}

interface LengthRun {
  length: number;
  run: RunDir<PredictionLine>;
  inputs: Array<{ task: TaskDef; file: string; ids: string[] }>;
}

export async function prepareIb(ctx: ReproduceContext): Promise<TableJob<IbResult>> {
  const configs = ibConfigs(ctx.scale.configs.ib, ctx.model.info.num_hidden_layers);
  const tasks = ctx.scale.ibTasks.map((name) => registry().get(name));
  const n = ctx.scale.ibSamples;
  const runs: LengthRun[] = [];
  try {
    for (const length of ctx.scale.ibLengths) {
      const label = `${formatLength(length)}-n${n}`;
      const dataDir = path.join(ctx.out, 't-ib', `data-${label}`);
      const files = tasks.map((task) => synthFile(ctx, dataDir, task, length));
      const run = RunDir.open<PredictionLine>(path.join(ctx.out, 't-ib', label), {
        kind: 'eval',
        model: ctx.identity,
        configs: Object.fromEntries(configs.map((c) => [c.name, c.config])),
        // as `pcomp eval infinitebench` writes it, so that command continues this directory
        settings: { benchmark: 'infinitebench', maxNewTokens: 'official' },
        shard: WHOLE,
      }, { ...ctx.provenance, dataDir: path.resolve(dataDir), synthSeed: SYNTH_SEED });
      runs.push({ length, run, inputs: [] });
      for (const w of run.warnings) ctx.progress.log(w, 'warn');
      for (const [i, task] of tasks.entries()) {
        const { ids } = await readTaskIds(task, files[i]!);
        runs.at(-1)!.inputs.push({ task, file: files[i]!, ids: run.plan(task.name, ids) });
      }
    }
  } catch (e) {
    for (const r of runs) r.run.close();
    throw e;
  }
  for (const { length, run, inputs } of runs)
    for (const c of configs)
      for (const { task, ids } of inputs) ctx.progress.add(c.name, cellTask(task.name, length), ids.length, ids.length - run.pending(c.name, task.name).length);

  return {
    run: (signal) => measureIb(ctx, configs, runs, signal),
    close: () => runs.forEach((r) => r.run.close()),
  };
}

async function measureIb(ctx: ReproduceContext, configs: NamedConfig[], runs: LengthRun[], signal: AbortSignal): Promise<IbResult> {
  const scores = new Map<string, number>();
  for (const { length, run, inputs } of runs) {
    for (const { name, config } of configs) {
      for (const { task, file, ids } of inputs) {
        const started = performance.now();
        const running = new RunningScore(task.name);
        running.add(run.store(name, task.name).read());
        for await (const sample of pendingRecords(task, file, ids, run.pending(name, task.name))) {
          if (signal.aborted) throw new Interrupted('reproduce interrupted');
          const p = await predict({ model: ctx.model, tok: ctx.tok, task, config, sample, signal, file });
          run.append(name, task.name, p.line);
          ctx.progress.sample(name, cellTask(task.name, length), p.tokens, running.add([p.line]));
        }
        const lines = run.store(name, task.name).read().sort((a, b) => a.index - b.index);
        if (lines.length < ids.length)
          throw new UserError(`${file}: ${ids.length - lines.length} planned records of ${task.name} are missing`, { hint: `delete ${run.dir} to start this length over` });
        const score = scoreTask(task.name, lines).score;
        scores.set(ibKey(name, task.name, length), score);
        ctx.progress.cellDone(name, cellTask(task.name, length), score, (performance.now() - started) / 1000);
      }
    }
    writeTables(run.dir, 'infinitebench');
    run.finish({});
  }
  return {
    lengths: runs.map((r) => r.length),
    configs: configs.map((c) => c.name),
    tasks: ctx.scale.ibTasks,
    samples: ctx.scale.ibSamples,
    scores,
    runDirs: runs.map((r) => r.run.dir),
  };
}
