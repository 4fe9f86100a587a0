// Locates ../shared/bench-samples (read-only reference data beside the repository). A user's clone has
// no ../shared, so parity tests that need it skip with a message saying so.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const benchSamples = path.resolve(repoRoot, '../shared/bench-samples');
export const haveBenchSamples = existsSync(benchSamples);

export function skipNotice(what: string): void {
  if (!haveBenchSamples) console.warn(`[skip] ${what}: ${benchSamples} is absent (it exists only beside the team checkout)`);
}
