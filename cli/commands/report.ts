// `pcomp report RUN_DIR...`: runs side by side in one table, rows config@run. Eval runs are compared
// on their scores (scores.arrow when present, else rescored from the prediction lines with the
// official metrics); perplexity runs on their ppl per length.
import type { Command } from 'commander';

export interface ReportOptions {
  format: string;
  overall: string;
  rescore: boolean;
}

const EXAMPLES = `
Examples:
  pcomp report runs/llama3-full runs/llama3-pcomp          two runs, one table (rows config@run)
  pcomp report runs/*/ --overall categories                Avg as the LongBench leaderboard forms it
  pcomp report runs/a --rescore                            rescore from predictions/ instead of scores.arrow
  pcomp report runs/ppl-a runs/ppl-b --format csv > ppl.csv

Run labels are the directory names. LongBench Avg is the mean over tasks (the ParallelComp paper's
AVG) unless --overall categories.`;

export function register(program: Command): void {
  program
    .command('report')
    .description('compare run directories side by side (scores or perplexity)')
    .argument('<run-dirs...>', 'run directories written by pcomp eval, pcomp ppl or pcomp merge')
    .option('--format <format>', 'md, csv or json', 'md')
    .option('--overall <how>', 'LongBench Avg: tasks (paper) or categories (leaderboard)', 'tasks')
    .option('--rescore', 'score the prediction lines again instead of reading scores.arrow', false)
    .addHelpText('after', EXAMPLES)
    .action(async (dirs: string[], opts: ReportOptions) => {
      process.stdout.write(await reportText(dirs, opts));
    });
}

/** Labels for rows: directory names, made unique with their parent when two collide. */
export function runLabels(dirs: readonly string[], basename: (p: string) => string, dirname: (p: string) => string): string[] {
  const base = dirs.map((d) => basename(d.replace(/[\\/]+$/, '')));
  return base.map((b, i) => (base.indexOf(b) !== base.lastIndexOf(b) ? `${basename(dirname(dirs[i].replace(/[\\/]+$/, '')))}/${b}` : b));
}

/** What `pcomp report` prints. */
export async function reportText(dirs: string[], opts: ReportOptions): Promise<string> {
  const { UserError } = await import('../../util/errors.js');
  const path = await import('node:path');
  const { existsSync, readFileSync } = await import('node:fs');
  const { readManifest, readRunLines } = await import('../../results/run-dir.js');
  if (!['md', 'csv', 'json'].includes(opts.format)) throw new UserError(`--format must be md, csv or json, not "${opts.format}"`);
  if (opts.overall !== 'tasks' && opts.overall !== 'categories') throw new UserError(`--overall must be tasks or categories, not "${opts.overall}"`);
  const manifests = dirs.map((d) => readManifest(d));
  const kinds = [...new Set(manifests.map((m) => m.kind))];
  if (kinds.length > 1) throw new UserError(`cannot compare eval and ppl runs in one table (${dirs.map((d, i) => `${d}: ${manifests[i].kind}`).join(', ')})`);
  const labels = dirs.length > 1 ? runLabels(dirs, path.basename, path.dirname) : [undefined];
  const header = dirs.length > 1
    ? manifests.map((m, i) => `- ${labels[i]}: ${m.model.id}${m.model.revision ? `@${m.model.revision.slice(0, 12)}` : ''}` +
        `${m.device ? `, ${m.device}` : ''}, started ${m.startedAt}${m.endedAt ? '' : ' (unfinished)'}`).join('\n') + '\n\n'
    : '';

  if (kinds[0] === 'ppl') {
    const { readPplPoints } = await import('../../results/ppl-store.js');
    const { pplCsv, pplMarkdown } = await import('../../results/plots.js');
    const points = dirs.flatMap((d, i) => readPplPoints(d).map((p) => ({ ...p, config: labels[i] ? `${p.config}@${labels[i]}` : p.config })));
    if (opts.format === 'json') return JSON.stringify(points, null, 2) + '\n';
    if (opts.format === 'csv') return pplCsv(points);
    const trained = [...new Set(manifests.map((m) => trainedLength(m)))];
    return header + pplMarkdown(points, { trainedLength: trained.length === 1 ? trained[0] : undefined });
  }

  const benchmarks = [...new Set(manifests.map((m) => m.settings?.benchmark))];
  if (benchmarks.length > 1) throw new UserError(`the runs are on different benchmarks (${dirs.map((d, i) => `${d}: ${String(manifests[i].settings?.benchmark)}`).join(', ')})`);
  const benchmark = benchmarks[0];
  if (benchmark !== 'longbench' && benchmark !== 'longbench-e' && benchmark !== 'infinitebench')
    throw new UserError(`${path.join(dirs[0], 'manifest.json')}: field "settings.benchmark" must be longbench, longbench-e or infinitebench`);
  const { readScoresArrow, scoresCsv, scoresMarkdown } = await import('../../results/tables.js');
  const { scoreRunLines } = await import('../../results/score-run.js');
  const { officialScorer, longbenchCategories } = await import('../../results/official-scorer.js');
  const records = dirs.flatMap((dir, i) => {
    const arrow = path.join(dir, 'scores.arrow');
    const own = !opts.rescore && existsSync(arrow)
      ? readScoresArrow(readFileSync(arrow)).records
      : scoreRunLines(readRunLines(dir), officialScorer, benchmark === 'longbench-e');
    if (own.length === 0) throw new UserError(`${dir}: no finished samples to report`);
    return own.map((r) => ({ ...r, run: labels[i] }));
  });
  const categories = benchmark === 'infinitebench' ? undefined : longbenchCategories();
  if (opts.format === 'json') return JSON.stringify(records, null, 2) + '\n';
  if (opts.format === 'csv') return scoresCsv(records, categories);
  return header + scoresMarkdown(records, { benchmark, categories, overall: opts.overall });
}

/** The model's trained context length, where the ppl runner recorded it. */
export function trainedLength(m: { model: Record<string, unknown>; settings?: Record<string, unknown> }): number | undefined {
  const value = m.model.trainedLength ?? m.settings?.trainedLength;
  return typeof value === 'number' ? value : undefined;
}
