// Every command, its flags and examples. Each command lives in cli/commands/<name>.ts and exports
// `register(program)`, which declares flags and help and lazily imports its implementation, so
// `pcomp --help` stays fast.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

import { register as registerGenerate } from './commands/generate.js';
import { register as registerDoctor } from './commands/doctor.js';
import { register as registerConfigs } from './commands/configs.js';
import { register as registerScore } from './commands/score.js';
import { register as registerReport } from './commands/report.js';
import { register as registerMerge } from './commands/merge.js';
import { register as registerData } from './commands/data.js';
import { register as registerEval } from './commands/eval.js';
import { register as registerPpl } from './commands/ppl.js';
import { register as registerReproduce } from './commands/reproduce.js';
import { register as registerAttn } from './commands/attn.js';

export function buildProgram(): Command {
  const program = new Command('pcomp')
    .description('Long-context evaluation with ParallelComp (chunked parallel prefill, chunk and KV eviction, ' +
      'attention calibration), scored with the official LongBench and InfiniteBench metrics.')
    .version(pkg.version)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions(); // nested commands (attn sweep) own the options after their name
  for (const register of [registerGenerate, registerEval, registerPpl, registerReproduce, registerAttn, registerScore, registerReport, registerMerge, registerData, registerConfigs, registerDoctor]) register(program);
  return program;
}
