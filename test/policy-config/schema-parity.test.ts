// The knob schema's two readers agree: engine/presets/knobs.ts + policy-config.ts (TypeScript) and
// engine/src/policy/config.cpp (the engine, which embeds engine/knobs.json at build time). Both read
// the same file but interpret it with their own code (types, ranges, defaults into PolicyConfig
// members, the stage list, the cross-knob rules), so this test puts the same configs through both
// and fails on any difference: names, types, ranges and their wording, defaults as the engine holds
// them, host-only knobs, accepted and refused values, the pipeline and the rule messages.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { engineKnobSchema, engineResolveConfig } from '../../engine/index.js';
import {
  HOST_KNOBS, KNOBS, checkValue, describeType, engineConfig, listPresets, pipelineOf, resolveConfig,
} from '../../engine/policy-config.js';
import type { Knob, KnobValue } from '../../engine/policy-config.js';
import { RULES, SCHEMA_FILE, STAGES, brokenRules, fits, holds } from '../../engine/presets/knobs.js';
import { UserError } from '../../util/errors.js';

const engine = engineKnobSchema();
const defaults = (): Record<string, KnobValue> => Object.fromEntries(KNOBS.map((k) => [k.key, structuredClone(k.default)]));

/** What the engine holds for a config, or its refusal ("config: " and the message). */
function viaEngine(config: Record<string, unknown>): { config?: Record<string, unknown>; error?: string } {
  try {
    return { config: engineResolveConfig(config) };
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return { error: e.message };
  }
}

/** What the TS side makes of the same knob values: the engine's view, or the first broken rule. */
function viaTs(knobs: Record<string, KnobValue>, preset = ''): { config?: Record<string, unknown>; error?: string } {
  const broken = brokenRules(knobs);
  if (broken.length) return { error: `config: ${broken[0]}` };
  return { config: { preset, retrieval: false, pipeline: pipelineOf(knobs), ...engineConfig(knobs) } };
}

function expectSame(knobs: Record<string, KnobValue>, label: string) {
  const ts = viaTs(knobs);
  const cpp = viaEngine(engineConfig(knobs));
  expect(cpp, label).toEqual(ts);
}

/** The numbers the stages and rules compare a knob with (their edges are where two readers can differ). */
function edges(key: string): number[] {
  const out: number[] = [];
  for (const conds of [...STAGES.map((s) => s.when), ...RULES.flatMap((r) => (r.require ? [r.when, r.require] : [r.when]))]) {
    const c = conds.get(key);
    if (c && c.op !== 'nonEmpty' && typeof c.value === 'number') out.push(c.value);
  }
  return out;
}

/** Valid values of a knob other than its default, from its type and the conditions on it. */
function validValues(k: Knob): KnobValue[] {
  const fromType = typeValues(k);
  const step = k.type.kind === 'int' ? 1 : 0.5;
  const near = edges(k.key).flatMap((n) => [n - step, n, n + step]).filter((v) => fits(k.type, v) && v !== k.default);
  return [...fromType, ...near.filter((v) => !fromType.includes(v))];
}

function typeValues(k: Knob): KnobValue[] {
  const t = k.type;
  switch (t.kind) {
    case 'bool': return [!k.default];
    case 'enum': return t.values.filter((v) => v !== k.default);
    case 'int': {
      const lo = t.odd && t.min % 2 === 0 ? t.min + 1 : t.min;
      const vs = [lo, lo + (t.odd ? 2 : 1), lo + (t.odd ? 40 : 41), 2147483647 - (t.odd ? 0 : 1)];
      return vs.filter((v) => v !== k.default && (t.max === undefined || v <= t.max));
    }
    case 'number': {
      const lo = t.minExclusive ? t.min + 1e-9 : t.min;
      const vs = t.max === undefined ? [lo, t.min + 2.5, 1e6] : [lo, (t.min + t.max) / 2, t.maxExclusive ? t.max - 1e-9 : t.max];
      return vs.filter((v) => v !== k.default);
    }
    case 'calib-rules':
      return [[], t.regions.map((region, i) => ({ region, from: i + 1, to: i + 2 })), [{ region: t.regions[0]!, from: 3, to: 3 }]];
  }
}

/** Values the knob's type refuses. */
function invalidValues(k: Knob): unknown[] {
  const t = k.type;
  const wrongKind = [null, 'x', [], {}, t.kind === 'bool' ? 1 : true];
  switch (t.kind) {
    case 'bool': return [...wrongKind, 'true', 0];
    case 'enum': return [...wrongKind, `${t.values[0]}x`, t.values[0]!.toUpperCase(), 3];
    case 'int': {
      const vs: unknown[] = [...wrongKind, t.min - 1, t.min + 0.5, 2147483648, '3'];
      if (t.max !== undefined) vs.push(t.max + 1);
      if (t.odd) vs.push(t.min % 2 === 0 ? t.min : t.min + 1);
      return vs;
    }
    case 'number': {
      const vs: unknown[] = [...wrongKind, t.min - 1, '0.5'];
      if (t.minExclusive) vs.push(t.min);
      if (t.max !== undefined) vs.push(t.maxExclusive ? t.max : t.max + 1);
      return vs;
    }
    case 'calib-rules': {
      const r = { region: t.regions[0]!, from: 1, to: 2 };
      return [null, 'sink:1-2', {}, [r, 'x'], [{ ...r, region: 'edge' }], [{ ...r, from: 0 }], [{ ...r, from: 3, to: 2 }],
        [{ ...r, from: 1.5 }], [{ ...r, to: 2147483648 }], [{ ...r, extra: 1 }], [{ region: r.region, from: 1 }]];
    }
  }
}

describe('knob schema parity (TypeScript vs the engine)', () => {
  it('the engine was built from this checkout\'s engine/knobs.json', () => {
    expect(JSON.parse(engine.source)).toEqual(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')));
  });

  it('the same knobs, in order, with the same types, ranges, range wording, host flags and defaults', () => {
    expect(engine.knobs.map((k) => k.key)).toEqual(KNOBS.map((k) => k.key));
    for (const [i, k] of KNOBS.entries()) {
      const e = engine.knobs[i]!;
      const { kind, ...fields } = k.type as { kind: string } & Record<string, unknown>;
      const ts: Record<string, unknown> = { key: k.key, type: kind, ...fields, range: describeType(k.type), host: k.host, default: k.default };
      expect(e, k.key).toEqual(ts);
    }
    expect(engine.knobs.filter((k) => k.host).map((k) => k.key)).toEqual(HOST_KNOBS);
    expect([...HOST_KNOBS].sort()).toEqual(['chunk.budget', 'chunk.count', 'chunk.split']);
  });

  it('the same stage list, and each stage key expands to the same registry keys', () => {
    expect(engine.stages.map((s) => [s.key, s.section])).toEqual(STAGES.map((s) => [s.key, s.section]));
    for (const s of engine.stages) {
      const m = /\{([^}]+)\}$/.exec(s.key);
      const knob = m ? KNOBS.find((k) => k.key === m[1]) : undefined;
      const own = STAGES.find((t) => t.key === s.key)!.when.get(knob?.key ?? '');
      const values = knob && knob.type.kind === 'enum' ? knob.type.values.filter((v) => !own || holds(own, v)) : [];
      const want = knob ? values.map((v) => s.key.replace(/\{[^}]+\}$/, v)) : [s.key];
      expect(s.keys, s.key).toEqual(want);
    }
  });

  it('every preset resolves to the same config and pipeline on both sides, given or derived', () => {
    for (const p of listPresets()) {
      const c = resolveConfig(p.name);
      const sent = engineConfig(c);
      const want = { retrieval: false, ...sent };
      expect(engineResolveConfig(sent), p.name).toEqual(want);
      const { pipeline: _, ...withoutPipeline } = sent;
      expect(engineResolveConfig(withoutPipeline), `${p.name} (pipeline derived by the engine)`).toEqual(want);
      expect(engineResolveConfig({ ...sent, retrieval: true }).retrieval).toBe(true);
    }
  });

  it('every valid value of every knob, over every preset: both accept or both refuse with the same rule', () => {
    let accepted = 0;
    for (const p of listPresets()) {
      const base = resolveConfig(p.name) as unknown as Record<string, KnobValue>;
      const knobs = Object.fromEntries(KNOBS.map((k) => [k.key, base[k.key]!]));
      for (const k of KNOBS) {
        if (k.host) continue;
        for (const v of validValues(k)) {
          const c = { ...knobs, [k.key]: v };
          expectSame(c, `${p.name} with ${k.key}=${JSON.stringify(v)}`);
          if (brokenRules(c).length === 0) accepted++;
        }
      }
    }
    expect(accepted).toBeGreaterThan(500);
  });

  it('every invalid value is refused by both, in the same words', () => {
    for (const k of KNOBS) {
      if (k.host) continue;
      for (const v of invalidValues(k)) {
        const label = `${k.key}=${JSON.stringify(v)}`;
        expect(() => checkValue(k, v, 'here'), label).toThrow(UserError);
        const e = viaEngine({ [k.key]: v }).error;
        expect(e, label).toMatch(new RegExp(`^config: key "${k.key.replace('.', '\\.')}" must be `));
        expect(e!.slice(`config: key "${k.key}" must be `.length), label).toMatch(new RegExp(`^${describeType(k.type).replace(/[|()[\]{}.*+?^$\\]/g, '\\$&')}, got `));
      }
    }
  });

  it('every combination of stage switches, RoPE baseline and calibration placement: same pipeline or same refusal', () => {
    const switches = ['chunk.enabled', 'chunkEvict.enabled', 'kvEvict.enabled', 'calib.enabled', 'streaming.enabled', 'snapkv.enabled', 'dca.enabled', 'trace.attention'];
    const scaling = KNOBS.find((k) => k.key === 'rope.scaling')!;
    const calibStage = KNOBS.find((k) => k.key === 'calib.stage')!;
    if (scaling.type.kind !== 'enum' || calibStage.type.kind !== 'enum') throw new Error('rope.scaling / calib.stage are enums');
    const seen = new Set<string>();
    for (let bits = 0; bits < 1 << switches.length; bits++) {
      for (const rope of scaling.type.values) {
        for (const stage of calibStage.type.values) {
          for (const factor of [0, 0.5, 1, 2]) {
            for (const rules of [[], defaults()['calib.rules']]) {
              const c = { ...defaults(), 'rope.scaling': rope, 'rope.factor': factor, 'calib.stage': stage, 'calib.rules': rules } as Record<string, KnobValue>;
              switches.forEach((s, i) => { c[s] = Boolean(bits & (1 << i)); });
              expectSame(c, JSON.stringify(c));
              const ts = viaTs(c);
              seen.add(ts.error ?? (ts.config!.pipeline as string[]).join(' '));
            }
          }
        }
      }
    }
    // Every rule fires somewhere and every stage runs somewhere, so the sweep covers the whole table.
    expect([...seen].filter((s) => s.startsWith('config: ')).length).toBe(new Set(brokenRulesAll()).size);
    for (const s of STAGES) expect([...seen].some((p) => p.split(' ').some((k) => k.startsWith(s.key.replace(/\{[^}]+\}$/, '')))), s.key).toBe(true);
  });

  it('host-only knobs stop at the host: engineConfig drops them, the engine refuses them', () => {
    const c = resolveConfig('parallelcomp', ['chunk.budget=300', 'chunk.split=chars', 'chunk.count=2']);
    expect(c['chunk.budget']).toBe(300);
    for (const k of HOST_KNOBS) expect(engineConfig(c)).not.toHaveProperty(k);
    for (const [k, v] of [['chunk.budget', 300], ['chunk.split', 'chars'], ['chunk.count', 2]] as const) {
      expect(viaEngine({ ...engineConfig(c), [k]: v }).error).toMatch(new RegExp(`key "${k.replace('.', '\\.')}" is a host knob`));
    }
  });

  it('the engine refuses a pipeline the knobs do not enable, and an unknown key', () => {
    const sent = engineConfig(resolveConfig('parallelcomp'));
    expect(viaEngine({ ...sent, pipeline: ['chunk-prefill', 'global-reencode'] }).error)
      .toMatch(/"pipeline" is \[chunk-prefill, global-reencode\] but the knobs enable \[chunk-prefill, chunk-evict-selfinfo, global-reencode\]/);
    expect(viaEngine({ ...sent, 'chunk.enbled': true }).error).toMatch(/unknown key "chunk\.enbled"/);
  });
});

/** The messages of every rule (each should be reachable by the sweep above). */
function brokenRulesAll(): string[] {
  return JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')).rules.map((r: { message: string }) => `config: ${r.message}`);
}
