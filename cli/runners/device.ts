// --device for the commands that load a model (eval, ppl, generate). The engine resolves auto and
// refuses cuda without a usable GPU itself; this check runs first so that the refusal comes before
// data, tokenizers or a run directory are touched.
import type { BuildInfo, Device, EngineModel } from '../../engine/index.js';
import { UserError } from '../../util/errors.js';

export function requireCuda(engine: BuildInfo): void {
  if (!engine.cuda_available)
    throw new UserError(`--device cuda: no usable GPU (${engine.cuda_reason})`, { hint: 'use --device cpu or auto' });
}

/**
 * Every config checked against the loaded model before a run directory is touched. Both devices run
 * the one engine, so a refusal here (a bad key, a calibration rule past the model's layers) is the
 * config's, never the device's.
 */
export function checkConfigs(model: EngineModel, configs: { name: string; config: object }[]): void {
  for (const { name, config } of configs) {
    try {
      model.checkConfig(config);
    } catch (e) {
      if (e instanceof UserError) throw new UserError(`--config ${name}: ${e.message}`);
      throw e;
    }
  }
}

/**
 * Loads the model for --device (auto: cuda when a usable GPU is present, else the CPU) and checks
 * every config against it. Every preset and knob runs on either device, so there is nothing to fall
 * back from: a config that fails the check fails on every device, and the model is freed.
 */
export async function loadForConfigs(
  load: (device: Device) => Promise<EngineModel>,
  device: Device,
  configs: { name: string; config: object }[],
): Promise<EngineModel> {
  const model = await load(device);
  try {
    checkConfigs(model, configs);
    return model;
  } catch (e) {
    model.free();
    throw e;
  }
}
