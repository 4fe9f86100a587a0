/**
 * `npm run bench -- cli128k`: ParallelComp against full attention at 128K tokens on stories260K,
 * end to end through the CLI as a user runs it: `pcomp ppl --len 128k --samples 1 --eval-tokens 64
 * --config <c>` spawned once per config run (bin/pcomp.js, a fresh process each, its own run
 * folder), wall time from spawn to exit and peak RSS from GNU time (`/usr/bin/time -f %M`, the
 * child's ru_maxrss). Nothing is fitted: full attention runs the whole 128K context.
 *
 * The document is text stories260K wrote itself (openings sampled at temperature 1 from BOS with a
 * fixed seed, continued greedily to EOS, as test/ppl/stories-ppl.test.ts makes its documents),
 * decoded and joined with newlines until it tokenizes to more than the length; it is kept in
 * os.tmpdir() and reused.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EngineModel, repoRoot } from '../engine/index.js';
import { loadTokenizer } from '../datasets/tokenizer.js';
import { mulberry32 } from '../test/oracle/prng.js';
import { fmt, K, loadNow, log, median, sharedDir, table } from './format.js';

const BOS = 1, EOS = 2, OPENING = 16, STORY = 256;

function sampleToken(logits: Float32Array, rand: () => number): number {
  let max = -Infinity;
  for (const x of logits) max = Math.max(max, x);
  let z = 0;
  for (const x of logits) z += Math.exp(x - max);
  let u = rand() * z;
  for (let v = 0; v < logits.length; v++) if ((u -= Math.exp(logits[v]! - max)) < 0) return v;
  return logits.length - 1;
}

/** A .txt of stories260K's own stories that tokenizes to at least `tokens` tokens; returns its path and token count. */
export async function ensureStoriesText(modelDir: string, tokens: number, seed = 42): Promise<{ file: string; tokens: number }> {
  const file = path.join(os.tmpdir(), `pcomp-bench-stories260k-${tokens}-s${seed}.txt`);
  const tok = await loadTokenizer(modelDir);
  if (existsSync(file)) {
    const n = tok.encode(readFileSync(file, 'utf8')).length;
    if (n >= tokens) return { file, tokens: n };
  }
  const t0 = performance.now();
  const model = await EngineModel.load(modelDir, { threads: 2 });
  const rand = mulberry32(seed);
  const parts: string[] = [];
  let written = 0;
  try {
    while (written < tokens * 1.03) {
      const openings = Array.from({ length: 16 }, () => [BOS]);
      const ended = new Set<number>();
      for (let t = 1; t < OPENING; t++) {
        const open = openings.map((o, i) => ({ o, i })).filter(({ i }) => !ended.has(i));
        if (!open.length) break;
        const rows = await model.logits(open.map(({ o }) => ({ tokens: Int32Array.from(o) })), 'last');
        rows.forEach((logits, k) => {
          const next = sampleToken(logits, rand);
          if (next === EOS) ended.add(open[k]!.i);
          else open[k]!.o.push(next);
        });
      }
      for (const [i, opening] of openings.entries()) {
        const rest = ended.has(i) ? new Int32Array(0) : (await model.generate(Int32Array.from(opening), { maxNewTokens: STORY - opening.length, stopIds: [EOS] })).tokens;
        const story = [...opening, ...rest];
        parts.push(tok.decode(story, { skipSpecialTokens: true }));
        written += story.length;
      }
    }
  } finally {
    model.free();
  }
  const text = parts.join('\n') + '\n';
  const n = tok.encode(text).length;
  if (n < tokens) throw new Error(`sampled stories tokenize to ${n} < ${tokens} tokens`);
  writeFileSync(file, text);
  log(`wrote ${parts.length} sampled stories (${n} tokens, ${(text.length / 1e6).toFixed(2)} MB) to ${file} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { file, tokens: n };
}

interface CliRun { ok: boolean; error?: string; seconds: number; peakRssMiB?: number; ppl?: number; args: string[] }

function runCli(args: string[], timeoutS: number): Promise<CliRun> {
  const timeFile = path.join(os.tmpdir(), `pcomp-bench-time-${process.pid}-${Date.now()}.txt`);
  const haveTime = existsSync('/usr/bin/time');
  const cmd = haveTime ? '/usr/bin/time' : process.execPath;
  const argv = haveTime ? ['-f', '%M', '-o', timeFile, process.execPath, path.join(repoRoot, 'bin/pcomp.js'), ...args] : [path.join(repoRoot, 'bin/pcomp.js'), ...args];
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, argv, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: 'true', HF_HUB_OFFLINE: '1' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
    child.stdout.on('data', () => {});
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      let peakRssMiB: number | undefined;
      if (haveTime && existsSync(timeFile)) {
        const kb = Number(readFileSync(timeFile, 'utf8').trim().split('\n').pop());
        if (Number.isFinite(kb)) peakRssMiB = kb / 1024;
        rmSync(timeFile, { force: true });
      }
      if (code !== 0) resolve({ ok: false, error: signal ? `killed (${signal}) after ${fmt(seconds, 0)} s` : `exit ${code}: ${stderr.trim().split('\n').slice(-3).join(' ')}`, seconds, peakRssMiB, args });
      else resolve({ ok: true, seconds, peakRssMiB, args });
    });
  });
}

function readPpl(runDir: string): number | undefined {
  const csv = path.join(runDir, 'ppl.csv');
  if (!existsSync(csv)) return undefined;
  const [header, ...rows] = readFileSync(csv, 'utf8').trim().split('\n');
  const col = header!.split(',').indexOf('ppl');
  return rows.length && col >= 0 ? Number(rows[0]!.split(',')[col]) : undefined;
}

export interface Cli128kOptions { threads: number; timeout: number; length: number; trials: number; fullTrials: number; evalTokens: number }

export async function cli128kSection(o: Cli128kOptions): Promise<string> {
  const head = `### ParallelComp vs full attention at ${K(o.length)} through the CLI (stories260K, \`pcomp ppl\`, measured end to end, nothing fitted)`;
  const modelDir = path.join(sharedDir(repoRoot), 'models/stories260K/hf');
  if (!existsSync(path.join(modelDir, 'model.safetensors'))) return `${head}\n\nskipped: ../shared/models/stories260K is absent\n`;
  const { file, tokens } = await ensureStoriesText(modelDir, o.length + 1024);
  const out: string[] = [head, ''];
  out.push(`Document: ${tokens} tokens of stories260K's own sampled stories (${path.basename(file)}; bench/cli128k.ts). Each row is one process: ` +
    `\`pcomp ppl --model <stories260K> --data <doc>.txt --len ${K(o.length).toLowerCase()} --config <config> --samples 1 --eval-tokens ${o.evalTokens} --threads ${o.threads} --out <fresh dir> -q\`, ` +
    `spawned as a user would run it (node bin/pcomp.js); seconds = spawn to exit (tokenization, model load, the run, the tables); peak RSS = GNU time's maximum resident set of the process. ` +
    `Configs alternate (parallelcomp, full, parallelcomp, ...). Load average at the start ${loadNow()}.`, '');
  const order: string[] = [];
  for (let i = 0; i < Math.max(o.trials, o.fullTrials); i++) {
    if (i < o.trials) order.push('parallelcomp');
    if (i < o.fullTrials) order.push('full');
  }
  const runs: Array<{ config: string; r: CliRun; loadAfter: string }> = [];
  for (const config of order) {
    const dir = mkdtempSync(path.join(os.tmpdir(), `pcomp-bench-cli128k-${config}-`));
    const args = ['ppl', '--model', modelDir, '--data', file, '--len', String(o.length), '--config', config, '--samples', '1', '--eval-tokens', String(o.evalTokens),
      '--threads', String(o.threads), '--out', dir, '--offline', '-q'];
    log(`pcomp ppl --len ${K(o.length)} --config ${config} (load ${loadNow()})...`);
    const r = await runCli(args, o.timeout);
    if (r.ok) r.ppl = readPpl(dir);
    log(r.ok ? `  ${fmt(r.seconds, 1)} s, peak RSS ${fmt(r.peakRssMiB, 0)} MiB, ppl ${fmt(r.ppl, 2)}` : `  failed: ${r.error}`);
    runs.push({ config, r, loadAfter: loadNow() });
    rmSync(dir, { recursive: true, force: true });
  }
  out.push(table(['config', 'seconds', 'peak RSS MiB', `perplexity (last ${o.evalTokens} tokens)`, 'load average after'],
    runs.map(({ config, r, loadAfter }) => [config, r.ok ? fmt(r.seconds, 1) : r.error!, fmt(r.peakRssMiB, 0), fmt(r.ppl, 2), loadAfter])), '');
  const ok = (c: string) => runs.filter((x) => x.config === c && x.r.ok).map((x) => x.r);
  const pc = ok('parallelcomp'), full = ok('full');
  if (pc.length && full.length) {
    const pcS = median(pc.map((r) => r.seconds)), fullS = median(full.map((r) => r.seconds));
    const rssPc = Math.max(...pc.map((r) => r.peakRssMiB ?? NaN)), rssFull = Math.max(...full.map((r) => r.peakRssMiB ?? NaN));
    out.push(`Speed-up at ${K(o.length)}, end to end: full ${fmt(fullS, 1)} s ÷ ParallelComp ${fmt(pcS, 1)} s = **${fmt(fullS / pcS, 1)}×**${pc.length > 1 ? ` (ParallelComp: median of ${pc.length})` : ''}${o.length === 131072 ? ` (target ≥ 20× at 128K: ${fullS / pcS >= 20 ? 'met' : 'missed'})` : ''}; ` +
      `peak RSS ParallelComp ${fmt(rssPc, 0)} MiB vs full ${fmt(rssFull, 0)} MiB. Perplexity ParallelComp ${fmt(pc[0]!.ppl, 2)} vs full ${fmt(full[0]!.ppl, 2)} (stories260K was trained on 512 tokens).`, '');
  }
  out.push(`Load average at the end ${loadNow()}.`, '');
  return out.join('\n');
}
