#!/usr/bin/env node
// Runs the native C++ test binary built by cmake-js (build/pcomp_native_tests) and passes its
// exit code on. Fails clearly when the engine has not been built.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const candidates = ['build/pcomp_native_tests', 'build/Release/pcomp_native_tests'].map((p) => path.join(root, p));
const bin = candidates.find((p) => existsSync(p));
if (!bin) {
  console.error('native tests: build/pcomp_native_tests is missing; run `npm run build` first');
  process.exit(1);
}
const r = spawnSync(bin, process.argv.slice(2), { stdio: 'inherit' });
process.exit(r.status ?? 1);
