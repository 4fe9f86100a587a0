// What `pcomp eval` refuses or warns about before any sample runs: malformed or incomplete records (as
// `pcomp score` refuses them; --skip-bad-records skips and counts them in the manifest and scores.md),
// answers the official metric cannot score, knobs no chosen config uses, budgets beyond the window; and
// every command a message tells the user to run exists.
import { afterAll, describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { resolveConfig } from '../../engine/policy-config.js';
import { ignoredBy, knobWarnings } from '../../cli/runners/eval-precheck.js';
import { buildProgram } from '../../cli/program.js';
import { cliEnv, hasEngine, pcomp, readJson, readPredictions, removeTempRoots, repoRoot, tempRoot, writeDataDir, writeModel } from './helpers.js';

afterAll(removeTempRoots);

const named = (...names: string[]) => names.map((name) => ({ name, config: resolveConfig(name, []) }));

describe('knobs a config ignores, budgets beyond the window', () => {
  it('warns when no chosen config uses a --set knob, naming why for each', () => {
    expect(knobWarnings(named('full'), ['kvEvict.capacity=64'], 4096)).toEqual([
      '--set kvEvict.capacity=64: has no effect on full (unchunked: kvEvict.* needs chunk.enabled=true)',
    ]);
    expect(knobWarnings(named('full', 'parallelcomp'), ['kvEvict.capacity=64'], 4096)).toEqual([
      '--set kvEvict.capacity=64: has no effect on full (unchunked: kvEvict.* needs chunk.enabled=true), parallelcomp (kvEvict.enabled is false)',
    ]);
    // --set applies to every config: one config using the knob is enough.
    expect(knobWarnings(named('full', 'parallelcomp-kv'), ['kvEvict.capacity=64'], 4096)).toEqual([]);
    expect(knobWarnings(named('full', 'parallelcomp'), ['chunk.budget=200'], 4096)).toEqual([]);
    expect(knobWarnings(named('parallelcomp'), ['full.maxTokens=3000'], 4096)).toEqual([
      '--set full.maxTokens=3000: has no effect on parallelcomp (chunked: full.* applies to unchunked configs only)',
    ]);
    expect(knobWarnings(named('full'), ['rope.factor=4'], 4096)).toEqual(['--set rope.factor=4: has no effect on full (rope.scaling is none)']);
    expect(knobWarnings(named('snapkv'), ['snapkv.capacity=128', 'snapkv.enabled=true'], 4096)).toEqual([]);
  });

  it('tells which knobs each pipeline reads', () => {
    const [full, pc, ntk] = named('full', 'parallelcomp', 'ntk').map((c) => c.config);
    expect(ignoredBy('calib.threshold', pc!)).toBe('calib.enabled is false');
    expect(ignoredBy('chunkEvict.k', pc!)).toBeUndefined();
    expect(ignoredBy('global.bos', full!)).toMatch(/^unchunked/);
    expect(ignoredBy('streaming.window', full!)).toBe('streaming.enabled is false');
    expect(ignoredBy('rope.factor', ntk!)).toBeUndefined();
    expect(ignoredBy('full.maxTokens', full!)).toBeUndefined();
  });

  it('warns about a chunk budget or a truncation length beyond the trained window', () => {
    const pc = { name: 'parallelcomp', config: resolveConfig('parallelcomp', ['chunk.budget=600']) };
    const full = { name: 'full', config: resolveConfig('full', ['full.maxTokens=1000']) };
    expect(knobWarnings([pc, full], [], 512)).toEqual([
      "parallelcomp: chunk.budget 600 exceeds the model's trained window (512 tokens): every chunk runs at positions it never saw",
      "full: full.maxTokens 1000 exceeds the model's trained window (512 tokens): the prompt runs at positions it never saw",
    ]);
    expect(knobWarnings([pc, full], [], 4096)).toEqual([]);
  });
});

/** Every `pcomp <command> [<subcommand>]` that a message or hint in the sources tells the user to run. */
function namedCommands(): Array<{ file: string; command: string }> {
  const found: Array<{ file: string; command: string }> = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const file = path.join(dir, entry);
      if (statSync(file).isDirectory()) walk(file);
      else if (/\.tsx?$/.test(entry))
        for (const m of readFileSync(file, 'utf8').matchAll(/[`'"(]pcomp ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?/g))
          found.push({ file: path.relative(repoRoot, file), command: m[2] ? `${m[1]} ${m[2]}` : m[1]! });
    }
  };
  for (const dir of ['cli', 'datasets', 'results', 'engine', 'util']) walk(path.join(repoRoot, dir));
  return found;
}

describe('hints', () => {
  it('name only commands that exist', () => {
    const program = buildProgram();
    const top = new Map(program.commands.map((c) => [c.name(), new Set(c.commands.map((s) => s.name()))]));
    const mentioned = namedCommands();
    expect(mentioned.length).toBeGreaterThan(20);
    const missing = mentioned.filter(({ command }) => {
      const [cmd, sub] = command.split(' ');
      const subs = top.get(cmd!);
      if (!subs) return true;
      // `pcomp data pull` must name a data subcommand; `pcomp eval longbench` names an argument, not a subcommand.
      return subs.size > 0 && sub !== undefined && !subs.has(sub);
    });
    expect(missing).toEqual([]);
  });
});

describe.skipIf(!hasEngine)('pcomp eval refuses bad records before any work', () => {
  const root = tempRoot();
  const model = writeModel(path.join(root, 'model'));
  const env = cliEnv(path.join(root, 'cache'));

  it('names file and line and creates nothing; --skip-bad-records runs the rest and counts them', async () => {
    const dataDir = writeDataDir(path.join(root, 'data'), { trec: 3 });
    appendFileSync(path.join(dataDir, 'trec.jsonl'), '{"input": "a question", "context": 7}\n');
    appendFileSync(path.join(dataDir, 'trec.jsonl'), readFileSync(path.join(writeDataDir(path.join(root, 'more'), { trec: 1 }, { seed: 9 }), 'trec.jsonl'), 'utf8').replace('trec-0000', 'trec-extra'));
    const out = path.join(root, 'run');
    const args = ['eval', 'longbench', '--model', model, '--config', 'full', '--tasks', 'trec', '--data-dir', dataDir, '--out', out, '--max-new-tokens', '4'];
    const refused = await pcomp(args, env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`pcomp: error: 1 malformed or incomplete record, nothing was run:\n  ${path.join(dataDir, 'trec.jsonl')}:4: field "context" must be a string`);
    expect(refused.stderr).toMatch(/hint: .*`pcomp score` refuses the same.*--skip-bad-records/);
    expect(existsSync(out)).toBe(false);

    const skipped = await pcomp([...args, '--skip-bad-records'], env);
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(skipped.stderr).toContain('trec.jsonl:4: field "context" must be a string (skipped)');
    expect(readPredictions(out, 'full', 'trec').map((l) => l._id)).toEqual(['trec-0000', 'trec-0001', 'trec-0002', 'trec-extra']);
    const m = readJson(path.join(out, 'manifest.json')) as { skippedRecords: Record<string, { count: number; lines: string[] }> };
    expect(m.skippedRecords.trec!.count).toBe(1);
    expect(m.skippedRecords.trec!.lines[0]).toMatch(/trec\.jsonl:4: field "context" must be a string$/);
    expect(readFileSync(path.join(out, 'scores.md'), 'utf8')).toMatch(/- trec: 1 malformed or incomplete record skipped \(--skip-bad-records; not scored\), first: .*trec\.jsonl:4/);
  });

  it('refuses an answer the official metric cannot score before the first sample, not after it', async () => {
    const dataDir = writeDataDir(path.join(root, 'pre'), { passage_retrieval_en: 3 });
    const file = path.join(dataDir, 'passage_retrieval_en.jsonl');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    const third = JSON.parse(lines[2]!) as Record<string, unknown>;
    lines[2] = JSON.stringify({ ...third, answers: ['the second one'] });
    writeFileSync(file, lines.join('\n') + '\n');
    const out = path.join(root, 'pre-run');
    const r = await pcomp(['eval', 'longbench', '--model', model, '--config', 'full', '--tasks', 'passage_retrieval_en', '--data-dir', dataDir, '--out', out, '--max-new-tokens', '4'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/1 malformed or incomplete record, nothing was run:\n {2}.*passage_retrieval_en\.jsonl:3: .*Paragraph/);
    expect(existsSync(out)).toBe(false);
  });
});
