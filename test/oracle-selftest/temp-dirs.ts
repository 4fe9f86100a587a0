import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

/** A fresh temp folder per call, all removed after the test file. */
export function useTempDirs(): (name?: string) => string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'pcomp-oracle-'));
  let n = 0;
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  return (name = 'model') => path.join(root, `${name}-${n++}`);
}
