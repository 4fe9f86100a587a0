// What `pcomp eval` and `pcomp ppl` do when a flag is left out, so the headline commands
// (`pcomp eval longbench`, `pcomp ppl --len 128k`) run as typed on a fresh clone:
//   --model    builtin:tiny (said on the first line of output, with how to pick a real model)
//   --config   full,parallelcomp (the paper's comparison)
//   ppl        --eval-tokens / --query-tokens sized to the model's trained window (as reproduce does)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../../util/errors.js';

export const DEFAULT_MODEL = 'builtin:tiny';
export const DEFAULT_CONFIGS = 'full,parallelcomp';

/** Is this spec one of the models shipped in the package? */
export const isBuiltinModel = (spec: string): boolean => spec.startsWith('builtin:');

/** The first line a command prints when it picked the model itself. */
export function defaultModelNote(command: 'eval' | 'ppl'): string {
  const example = command === 'eval' ? 'pcomp eval longbench --model meta-llama/Llama-2-7b-chat-hf' : 'pcomp ppl --len 128k --model meta-llama/Llama-2-7b-hf';
  return `no --model given: using ${DEFAULT_MODEL}, the 4-layer Llama this project trained on 512-token stories (docs/builtin-model.md); ` +
    `pick a real model with --model <HF folder or org/name>, e.g. ${example}`;
}

export { builtinModelNote as builtinScoresNote } from '../../results/score-run.js';

/** max_position_embeddings of a model folder's config.json (read before the engine loads, to size defaults). */
export function trainedWindow(modelDir: string): number {
  const file = path.join(modelDir, 'config.json');
  let value: unknown;
  try {
    value = (JSON.parse(readFileSync(file, 'utf8')) as { max_position_embeddings?: unknown }).max_position_embeddings;
  } catch (e) {
    throw new UserError(`${file}: cannot read (${(e as Error).message})`);
  }
  if (!Number.isInteger(value) || (value as number) < 1) throw new UserError(`${file}: field "max_position_embeddings" must be a positive integer`);
  return value as number;
}

/**
 * `pcomp ppl`'s evaluated and query tokens when not given: 1024 and 64 (docs/ppl.md), but never more than a
 * quarter and an eighth of the trained window, so a chunk still has room beside them (a 512-token model: 128, 64).
 */
export function pplTokenDefaults(window: number): { evalTokens: number; queryTokens: number } {
  return { evalTokens: Math.max(1, Math.min(1024, Math.floor(window / 4))), queryTokens: Math.max(1, Math.min(64, Math.floor(window / 8))) };
}
