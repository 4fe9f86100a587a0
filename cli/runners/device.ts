// --device for the commands that load a model (eval, ppl, generate). The engine resolves auto and
// refuses cuda without a usable GPU itself; this check runs first so that the refusal comes before
// data, tokenizers or a run directory are touched.
import type { BuildInfo } from '../../engine/index.js';
import { UserError } from '../../util/errors.js';

export function requireCuda(engine: BuildInfo): void {
  if (!engine.cuda_available)
    throw new UserError(`--device cuda: no usable GPU (${engine.cuda_reason})`, { hint: 'use --device cpu or auto' });
}
