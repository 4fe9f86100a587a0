// `--model builtin:tiny` is the reproduction's default: resolveModel (the one entry point every command uses)
// maps builtin:<name> to the package's models/<name> folder before looking for a folder or a Hub id.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveModel } from '../../datasets/hub.js';
import { repoRoot } from '../eval/helpers.js';

describe('resolveModel with builtin:<name>', () => {
  it('refuses an unknown built-in name, naming the known ones, without touching the network', async () => {
    await expect(resolveModel('builtin:huge')).rejects.toThrow(/unknown built-in model "huge".*builtin:tiny/);
  });

  it.skipIf(!existsSync(path.join(repoRoot, 'models/tiny/config.json')))('resolves builtin:tiny to models/tiny', async () => {
    expect(path.resolve(await resolveModel('builtin:tiny'))).toBe(path.join(repoRoot, 'models/tiny'));
  });
});
