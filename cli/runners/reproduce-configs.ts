// The configs each reproduced table runs: the paper-table presets (engine/presets), plus one variant
// the presets do not name: "extrapolate", full attention over the whole prompt with positions past the
// trained window left as they are (the paper's Table 3 "base" row; plain position extrapolation).
import { resolveConfig, type PolicyConfig } from '../../engine/policy-config.js';

export interface NamedConfig {
  name: string;
  config: PolicyConfig;
  /** How to get the same config from `pcomp eval`/`pcomp ppl`: the preset and its --set flags. */
  preset: string;
  set: string[];
}

function named(name: string, preset = name, set: string[] = []): NamedConfig {
  return { name, config: resolveConfig(preset, set), preset, set };
}

/** T-PPL: Table 3's rows. `pcomp ppl` lets unchunked configs read the whole context, so full here is "base". */
export function pplConfigs(): NamedConfig[] {
  return ['full', 'ntk', 'dynamic-ntk', 'streaming', 'parallelcomp'].map((n) => named(n));
}

/** T-IB: Table 2's rows (full = FullKV, middle-truncated to the window), plain extrapolation, and the calibration variants. */
export function ibConfigs(): NamedConfig[] {
  return [
    named('full'),
    named('extrapolate', 'full', ['full.maxTokens=131072']),
    named('ntk'),
    named('dynamic-ntk'),
    named('streaming'),
    named('parallelcomp'),
    named('parallelcomp-calib'),
    named('parallelcomp-kv'),
    named('parallelcomp-calib-kv'),
  ];
}

/** T-speed: Table 7's two columns. */
export function speedConfigs(): NamedConfig[] {
  return [named('parallelcomp'), named('parallelcomp-kv')];
}
