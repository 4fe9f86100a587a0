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

/**
 * Loads the model for --device and checks every config against the device it landed on. Under auto, a
 * config the GPU pipeline lacks (a RoPE baseline, a *-reference preset) moves the whole run to the CPU
 * with a warning rather than stopping it: auto promises a device that can run the request. An explicit
 * --device cuda still refuses such a config, naming the knob.
 */
export async function loadForConfigs(
  load: (device: Device) => Promise<EngineModel>,
  device: Device,
  configs: { name: string; config: object }[],
  warn: (message: string) => void,
): Promise<EngineModel> {
  const model = await load(device);
  try {
    checkConfigs(model, configs);
    return model;
  } catch (e) {
    if (!(e instanceof UserError) || device !== 'auto' || model.info.device === 'cpu') {
      model.free();
      throw e;
    }
    model.free();
    warn(`--device auto: ${e.message}; running every config on the CPU instead`);
    const cpu = await load('cpu');
    checkConfigs(cpu, configs);
    return cpu;
  }
}
