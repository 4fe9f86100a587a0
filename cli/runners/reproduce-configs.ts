// The configs each reproduced table runs: the paper-table presets (engine/presets), plus one variant
// the presets do not name: "extrapolate", full attention over the whole prompt with positions past the
// trained window left as they are (the paper's Table 3 "base" row; plain position extrapolation).
import { resolveConfig, type CalibRule, type PolicyConfig } from '../../engine/policy-config.js';

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

/**
 * The paper's calibration layer ranges are for 32 layers (middle 1-8, recent 9-16, sink 25-32); on a
 * shallower model each range keeps its place in the depth: layers (from-1)·L/32+1 .. to·L/32, rounded
 * down and at least one layer (4 layers: middle 1-1, recent 2-2, sink 4-4). Deep enough models run
 * the preset as it is.
 */
export function scaledCalibRules(rules: readonly CalibRule[], layers: number): CalibRule[] {
  if (rules.every((r) => r.to <= layers)) return [...rules];
  return rules.map((r) => {
    const from = Math.floor(((r.from - 1) * layers) / 32) + 1;
    return { region: r.region, from, to: Math.max(from, Math.min(layers, Math.floor((r.to * layers) / 32))) };
  });
}

/** A calibration preset fitted to the model's depth (see scaledCalibRules); other presets as they are. */
function fitted(name: string, layers: number): NamedConfig {
  const preset = named(name);
  if (!preset.config['calib.enabled']) return preset;
  const rules = preset.config['calib.rules'] as CalibRule[];
  const scaled = scaledCalibRules(rules, layers);
  if (scaled.every((r, i) => r.from === rules[i]!.from && r.to === rules[i]!.to)) return preset;
  return named(name, name, [`calib.rules=${scaled.map((r) => `${r.region}:${r.from}-${r.to}`).join(',')}`]);
}

/** T-PPL: Table 3's rows. `pcomp ppl` lets unchunked configs read the whole context, so full here is "base". */
export function pplConfigs(names: readonly string[]): NamedConfig[] {
  return names.map((n) => named(n));
}

/**
 * T-IB: Table 2's rows (full = FullKV, middle-truncated to the window), plain extrapolation, and the
 * calibration variants, their layer ranges fitted to a model of `layers` layers.
 */
export function ibConfigs(names: readonly string[], layers: number): NamedConfig[] {
  const all = [
    named('full'),
    named('extrapolate', 'full', ['full.maxTokens=131072']),
    named('ntk'),
    named('dynamic-ntk'),
    named('chunkllama'),
    named('streaming'),
    named('parallelcomp'),
    fitted('parallelcomp-calib', layers),
    fitted('parallelcomp-kv', layers),
    fitted('parallelcomp-calib-kv', layers),
  ];
  return names.map((n) => all.find((c) => c.name === n)!);
}

/** T-speed: Table 7's two columns. */
export function speedConfigs(names: readonly string[]): NamedConfig[] {
  return names.map((n) => named(n));
}
