// `pcomp merge SHARD_DIR... --out DIR`: one run directory from the shard directories of a run started
// with --shard i/n, after checking every planned sample of every config is there exactly once; then
// the tables (eval) or the perplexity tables and plots (ppl) are rebuilt from the merged lines.
import type { Command } from 'commander';

export interface MergeOptions {
  out: string;
}

const EXAMPLES = `
Examples:
  pcomp merge runs/lb-shard0 runs/lb-shard1 runs/lb-shard2 runs/lb-shard3 --out runs/lb
  pcomp merge runs/lb-shard* --out runs/lb

Refuses (and writes nothing) when a shard is missing or given twice, when the shards were run with
different models, configs or data, or when a sample is missing or recorded twice; finish an
incomplete shard by re-running its command (same --shard, same --out) and merge again.
See docs/scaling.md for Slurm and Kubernetes examples.`;

export function register(program: Command): void {
  program
    .command('merge')
    .description('combine the shard directories of one run and check that nothing is missing or duplicated')
    .argument('<shard-dirs...>', 'the run directories written with --shard 0/n ... n-1/n')
    .requiredOption('--out <dir>', 'the merged run directory (new or empty)')
    .addHelpText('after', EXAMPLES)
    .action(async (dirs: string[], opts: MergeOptions) => {
      process.stdout.write(await mergeCommand(dirs, opts));
    });
}

/** Merges, rebuilds the tables, and returns the summary to print. */
export async function mergeCommand(dirs: string[], opts: MergeOptions): Promise<string> {
  const { join } = await import('node:path');
  const { mergeRunDirs, readManifest } = await import('../../results/run-dir.js');
  const report = mergeRunDirs(dirs, opts.out);
  const manifest = readManifest(opts.out);
  const lines = [
    `merged ${report.shards} shard${report.shards === 1 ? '' : 's'}: ${report.configs.length} config${report.configs.length === 1 ? '' : 's'} × ` +
      `${report.units.length} ${manifest.kind === 'ppl' ? 'length' : 'task'}${report.units.length === 1 ? '' : 's'}, ${report.lines} lines → ${opts.out}`,
  ];
  if (manifest.kind === 'ppl') {
    const { readPplPoints } = await import('../../results/ppl-store.js');
    const { writePplOutputs } = await import('../../results/plots.js');
    const { trainedLength } = await import('./report.js');
    const { terminalChart } = await writePplOutputs(opts.out, readPplPoints(opts.out), { trainedLength: trainedLength(manifest) });
    lines.push(`tables and plots: ${['ppl.md', 'ppl.csv', 'ppl.arrow', 'ppl.svg', 'ppl.png'].map((f) => join(opts.out, f)).join(', ')}`, '', terminalChart);
    return lines.join('\n');
  }
  const benchmark = manifest.settings?.benchmark;
  if (benchmark !== 'longbench' && benchmark !== 'longbench-e' && benchmark !== 'infinitebench') {
    lines.push('no tables: the manifest names no benchmark (settings.benchmark)');
    return lines.join('\n') + '\n';
  }
  const { rebuildScoreTables } = await import('../../results/score-run.js');
  const { officialScorer, longbenchCategories } = await import('../../results/official-scorer.js');
  const { scoresMarkdown } = await import('../../results/tables.js');
  const categories = benchmark === 'infinitebench' ? undefined : longbenchCategories();
  const records = rebuildScoreTables(opts.out, officialScorer, { categories });
  lines.push(`tables: ${['scores.md', 'scores.csv', 'scores.arrow'].map((f) => join(opts.out, f)).join(', ')}`, '', scoresMarkdown(records, { benchmark, categories }));
  return lines.join('\n');
}
