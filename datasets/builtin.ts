// Models that ship inside the package, named `builtin:<name>`. They are plain HF-layout folders under models/,
// trained by scripts/train-builtin (docs/builtin-model.md), so `--model builtin:tiny` works offline.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.js';

const PREFIX = 'builtin:';
const modelsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'models');

/** The built-in names, each a folder under models/. */
export const BUILTIN_MODELS = ['tiny'] as const;

/**
 * `builtin:tiny` → the absolute path of its folder; null when `spec` is not a builtin spec (a path or Hub id).
 * An unknown builtin name, or a package missing the folder, is the user's error to see, not a fall-through.
 */
export function resolveBuiltin(spec: string): string | null {
  if (!spec.startsWith(PREFIX)) return null;
  const name = spec.slice(PREFIX.length);
  if (!(BUILTIN_MODELS as readonly string[]).includes(name)) {
    throw new UserError(`--model ${spec}: unknown built-in model "${name}" (built-in: ${BUILTIN_MODELS.map((n) => PREFIX + n).join(', ')})`);
  }
  const dir = path.join(modelsDir, name);
  if (!existsSync(path.join(dir, 'config.json'))) {
    throw new UserError(`--model ${spec}: ${path.join(dir, 'config.json')} is missing from this installation`, {
      hint: 'retrain it with scripts/train-builtin/run.sh (docs/builtin-model.md)',
    });
  }
  return dir;
}
