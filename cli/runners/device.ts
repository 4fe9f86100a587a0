// --device for the commands that load a model (eval, ppl, generate). The engine resolves auto and
// refuses cuda without a usable GPU itself; this check runs first so that the refusal comes before
// data, tokenizers or a run directory are touched.
import type { BuildInfo, EngineModel } from '../../engine/index.js';
import { UserError } from '../../util/errors.js';

export function requireCuda(engine: BuildInfo): void {
  if (!engine.cuda_available)
    throw new UserError(`--device cuda: no usable GPU (${engine.cuda_reason})`, { hint: 'use --device cpu or auto' });
}

/**
 * Every config checked against the loaded model's device before a run directory is touched: on cuda
 * a knob the GPU pipeline lacks stops the run here, naming the config and the knob.
 */
export function checkConfigs(model: EngineModel, configs: { name: string; config: object }[]): void {
  for (const { name, config } of configs) {
    try {
      model.checkConfig(config);
    } catch (e) {
      if (e instanceof UserError) throw new UserError(`--config ${name} on device ${model.info.device}: ${e.message}`);
      throw e;
    }
  }
}
