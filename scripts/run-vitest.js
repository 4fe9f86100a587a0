#!/usr/bin/env node
// Runs vitest once; when PCOMP_VITEST_JSON is set (by .ci/run) it also writes the JSON report there.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = ['vitest', 'run', ...process.argv.slice(2)];
if (process.env.PCOMP_VITEST_JSON) args.push('--reporter=default', '--reporter=json', `--outputFile.json=${process.env.PCOMP_VITEST_JSON}`);
const r = spawnSync('npx', args, { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
