// Orchestration for `pcomp attn sweep`: the paper's layer-range ablation (Tables 6/8). For each
// region (recent, sink, middle) and each quarter of the model's depth, the base config with one
// calibration rule `<region>:<from>-<to>` is run on the first --samples records of the task and
// scored with the task's official metric; plus the base config without calibration. The table in
// the layout of Tables 6/8 goes to sweep.md / sweep.csv and the terminal.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { EngineModel, buildInfo, type Device } from '../../engine/index.js';
import { resolveConfig, type PolicyConfig } from '../../engine/policy-config.js';
import { loadTokenizer } from '../../datasets/tokenizer.js';
import { hubEnv, resolveModel } from '../../datasets/hub.js';
import { registry } from '../../datasets/registry.js';
import { streamRecords } from '../../datasets/records.js';
import { scoreTask } from '../../datasets/score.js';
import { layerRanges, sweepCsv, sweepMarkdown, SWEEP_REGIONS, type SweepCell, type SweepRegion } from '../../results/sweep.js';
import type { PredictionLine } from '../../results/run-dir.js';
import { UserError } from '../../util/errors.js';
import { loadForConfigs, requireCuda } from './device.js';
import { locateTaskFiles } from './eval-tasks.js';
import { predict } from './eval-predict.js';

export interface AttnSweepOptions {
  model: string;
  task: string;
  samples: number;
  base: string;
  set: string[];
  out?: string;
  dataDir?: string;
  maxNewTokens?: number;
  threads: number;
  device: 'auto' | 'cpu' | 'cuda';
  offline: boolean;
  quiet: boolean;
}

export async function runAttnSweep(opts: AttnSweepOptions): Promise<void> {
  if (opts.offline) process.env.HF_HUB_OFFLINE = '1';
  if (opts.device === 'cuda') requireCuda(buildInfo());
  const task = registry().get(opts.task);
  const probe = resolveConfig(opts.base, opts.set);
  if (!probe['chunk.enabled']) throw new UserError(`--base ${opts.base}: calibration is a stage of the chunked pipeline; pick a chunked preset (parallelcomp-calib)`);
  const dir = await resolveModel(opts.model);
  const tok = await loadTokenizer(dir);
  const files = await locateTaskFiles(task.benchmark, [task], { dataDir: opts.dataDir, env: hubEnv({ offline: opts.offline }), onLog: (m) => process.stderr.write(`${m}\n`) });
  const file = files.get(task.name)!;
  const records = [];
  for await (const r of streamRecords(file, task.recordFormat, { limit: opts.samples })) records.push(r);
  if (records.length === 0) throw new UserError(`${file}: no records`);
  const load = (device: Device) => EngineModel.load(dir, { threads: opts.threads, device });
  const baseline = { name: `${opts.base} (no calibration)`, config: resolveConfig(opts.base, [...opts.set, 'calib.enabled=false']) };
  const model = await loadForConfigs(load, opts.device, [baseline]);
  const cells: SweepCell[] = [];
  try {
    const layers = model.info.num_hidden_layers;
    const runs: Array<{ region: SweepRegion | 'none'; from: number; to: number; config: PolicyConfig }> = [{ region: 'none', from: 0, to: 0, config: baseline.config }];
    for (const region of SWEEP_REGIONS)
      for (const [a, b] of layerRanges(layers))
        runs.push({ region, from: a, to: b, config: resolveConfig(opts.base, [...opts.set, 'calib.enabled=true', `calib.rules=${region}:${a}-${b}`]) });
    for (const r of runs) {
      const lines: PredictionLine[] = [];
      for (const rec of records) {
        const p = await predict({ model, tok, task, config: r.config, sample: { index: rec.index, id: `#${rec.index}`, line: rec.line, record: rec.record }, maxNew: opts.maxNewTokens, file });
        lines.push(p.line);
      }
      const score = scoreTask(task.name, lines).score;
      cells.push({ region: r.region, from: r.from, to: r.to, score, samples: lines.length });
      if (!opts.quiet) process.stderr.write(`${r.region === 'none' ? 'no calibration' : `${r.region} ${r.from}-${r.to}`}: ${score.toFixed(2)}\n`);
    }
  } finally {
    model.free();
  }
  const out = resolve(opts.out ?? join('runs', 'attn-sweep', `${basename(dir.replace(/\/+$/, ''))}-${task.name}`));
  mkdirSync(out, { recursive: true });
  const md = sweepMarkdown(cells, { task: task.name, model: opts.model });
  writeFileSync(join(out, 'sweep.md'), md);
  writeFileSync(join(out, 'sweep.csv'), sweepCsv(cells));
  writeFileSync(join(out, 'sweep.json'), JSON.stringify({ model: opts.model, task: task.name, samples: opts.samples, base: opts.base, set: opts.set, cells }, null, 2) + '\n');
  if (!opts.quiet) process.stdout.write(md);
}
