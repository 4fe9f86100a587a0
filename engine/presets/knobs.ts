// The knob schema, read from its one source, engine/knobs.json: every policy knob with its type and
// range, its default, one line of help and whether the host (the TS runner) or the engine applies it;
// the pipeline's stages in order with the knobs that switch each on; the cross-knob rules. CMake
// embeds the same file into the engine (engine/src/policy/config.cpp), which validates, defaults and
// derives the pipeline from it; test/policy-config/schema-parity.test.ts fails when the two sides
// disagree. policy-config.ts validates presets and `--set` against this table and `pcomp configs`
// prints it. Keys are `<section>.<name>`, spelled the same in presets, on the command line, in the
// resolved config handed to the engine and in traces.
//
// Defaults describe plain full attention (every stage off); presets switch stages on. Where a knob
// has a paper value and a different reference-code value, the default is the paper's and the
// `*-reference` presets set the code's (docs/parallelcomp.md, "Paper vs reference code").
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../util/errors.js';

export type KnobType =
  | { kind: 'bool' }
  | { kind: 'int'; min: number; max?: number; odd?: boolean }
  | { kind: 'number'; min: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'calib-rules'; regions: readonly string[] };

/** A calibration region name: one of CALIB_REGIONS (the `regions` of calib.rules in knobs.json). */
export type CalibRegion = string;

/** One calibration rule: evict outliers of `region` in layers from..to (1-indexed, inclusive). */
export interface CalibRule {
  region: CalibRegion;
  from: number;
  to: number;
}

export type KnobValue = boolean | number | string | CalibRule[];

export interface Knob {
  key: string;
  type: KnobType;
  default: KnobValue;
  help: string;
  /** Applied by the TS runner before the engine (chunk cutting); never sent to the engine. */
  host: boolean;
}

/** A condition on one knob: equal to a value, not equal, a number >= min, a non-empty list. */
export type Condition = { op: 'eq' | 'not'; value: boolean | number | string } | { op: 'min'; value: number } | { op: 'nonEmpty' };

export interface Stage {
  /** The registry key, `{knob}` replaced by that (enum) knob's value: `chunk-evict-{chunkEvict.method}`. */
  key: string;
  /** The knob section (`chunkEvict` for chunkEvict.*) the stage reads. */
  section: string;
  when: ReadonlyMap<string, Condition>;
  help: string;
}

export interface Rule {
  when: ReadonlyMap<string, Condition>;
  /** Absent: every config `when` matches is refused. */
  require?: ReadonlyMap<string, Condition>;
  message: string;
}

export interface Schema {
  knobs: Knob[];
  stages: Stage[];
  rules: Rule[];
}

export const SCHEMA_FILE = fileURLToPath(new URL('../knobs.json', import.meta.url));

/** Does `value` have the knob type's kind and lie in its range? (calib-rules: the rule shape too.) */
export function fits(type: KnobType, value: unknown): boolean {
  switch (type.kind) {
    case 'bool': return typeof value === 'boolean';
    case 'int':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return false;
      // int: a 32-bit integer, the engine's member type.
      if (type.kind === 'int' && (!Number.isInteger(value) || Math.abs(value) > 2147483647 || (type.odd && value % 2 === 0))) return false;
      const tooLow = type.kind === 'number' && type.minExclusive ? value <= type.min : value < type.min;
      const tooHigh = type.max !== undefined && (type.kind === 'number' && type.maxExclusive ? value >= type.max : value > type.max);
      return !tooLow && !tooHigh;
    }
    case 'enum': return typeof value === 'string' && type.values.includes(value);
    case 'calib-rules':
      return Array.isArray(value) && value.every((r) => {
        if (typeof r !== 'object' || r === null || Array.isArray(r)) return false;
        const keys = Object.keys(r);
        const { region, from, to } = r as Record<string, unknown>;
        return keys.length === 3 && typeof region === 'string' && type.regions.includes(region) &&
          Number.isInteger(from) && Number.isInteger(to) && (from as number) >= 1 && (to as number) >= (from as number) && (to as number) <= 2147483647;
      });
  }
}

export function holds(cond: Condition, value: unknown): boolean {
  switch (cond.op) {
    case 'eq': return value === cond.value;
    case 'not': return value !== cond.value;
    case 'min': return typeof value === 'number' && value >= cond.value;
    case 'nonEmpty': return Array.isArray(value) && value.length > 0;
  }
}

const holdsAll = (conds: ReadonlyMap<string, Condition>, c: Record<string, unknown>): boolean =>
  [...conds].every(([key, cond]) => holds(cond, c[key]));

/**
 * Reads and validates a schema file; every error names the file and the entry at fault
 * (`engine/knobs.json: knobs[4] "chunk.split": ...`). Exported for the tests; the module loads
 * SCHEMA_FILE once.
 */
export function loadSchema(file = SCHEMA_FILE): Schema {
  const where = path.relative(process.cwd(), file).startsWith('..') ? file : path.relative(process.cwd(), file);
  let raw: unknown;
  try { raw = JSON.parse(readFileSync(file, 'utf8')); } catch (e) {
    throw new UserError(`${where}: cannot read the knob schema (${(e as Error).message})`);
  }
  const fail = (at: string, msg: string): never => { throw new UserError(`${where}: ${at}${msg}`); };
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const onlyFields = (o: Record<string, unknown>, allowed: string[], at: string) => {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(at, `unknown field "${k}" (fields: ${allowed.join(', ')})`);
  };
  const list = (o: Record<string, unknown>, field: string, at: string): unknown[] => {
    if (!Array.isArray(o[field])) fail(at, `field "${field}" must be a list`);
    return o[field] as unknown[];
  };
  const strings = (o: Record<string, unknown>, field: string, at: string): string[] => {
    const v = o[field];
    if (!Array.isArray(v) || v.length === 0 || v.some((s) => typeof s !== 'string' || s === '') || new Set(v).size !== v.length)
      fail(at, `field "${field}" must be a non-empty list of distinct strings`);
    return v as string[];
  };
  const num = (o: Record<string, unknown>, field: string, at: string, optional: boolean): number | undefined => {
    const v = o[field];
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(at, `field "${field}" must be a number`);
    return v as number;
  };
  const flag = (o: Record<string, unknown>, field: string, at: string): boolean | undefined => {
    if (o[field] === undefined) return undefined;
    if (typeof o[field] !== 'boolean') fail(at, `field "${field}" must be true or false`);
    return o[field] as boolean;
  };
  const text = (o: Record<string, unknown>, field: string, at: string): string => {
    if (typeof o[field] !== 'string' || (o[field] as string).trim() === '') fail(at, `field "${field}" must be a non-empty string`);
    return o[field] as string;
  };

  if (!isObj(raw)) return fail('', 'must be a JSON object');
  onlyFields(raw, ['about', 'knobs', 'stages', 'rules'], '');
  if (raw.about !== undefined && (!Array.isArray(raw.about) || raw.about.some((s) => typeof s !== 'string'))) fail('', 'field "about" must be a list of strings');

  const knobs: Knob[] = [];
  const byKey = new Map<string, Knob>();
  list(raw, 'knobs', '').forEach((k, i) => {
    let at = `knobs[${i}]: `;
    if (!isObj(k)) fail(at, 'must be an object');
    const o = k as Record<string, unknown>;
    const key = text(o, 'key', at);
    at = `knobs[${i}] "${key}": `;
    if (!/^[a-z][A-Za-z0-9]*\.[a-z][A-Za-z0-9]*$/.test(key)) fail(at, 'key must be <section>.<camelCaseName>');
    if (byKey.has(key)) fail(at, 'key appears twice');
    const common = ['key', 'type', 'default', 'help', 'host'];
    let type: KnobType;
    switch (o.type) {
      case 'bool':
        onlyFields(o, common, at);
        type = { kind: 'bool' };
        break;
      case 'int': {
        onlyFields(o, [...common, 'min', 'max', 'odd'], at);
        const t: { kind: 'int'; min: number; max?: number; odd?: boolean } = { kind: 'int', min: num(o, 'min', at, false)! };
        const max = num(o, 'max', at, true);
        if (max !== undefined) t.max = max;
        if (flag(o, 'odd', at)) t.odd = true;
        if (!Number.isInteger(t.min) || (t.max !== undefined && !Number.isInteger(t.max))) fail(at, 'an int knob\'s min and max must be integers');
        type = t;
        break;
      }
      case 'number': {
        onlyFields(o, [...common, 'min', 'max', 'minExclusive', 'maxExclusive'], at);
        const t: { kind: 'number'; min: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean } = { kind: 'number', min: num(o, 'min', at, false)! };
        const max = num(o, 'max', at, true);
        if (max !== undefined) t.max = max;
        if (flag(o, 'minExclusive', at)) t.minExclusive = true;
        if (flag(o, 'maxExclusive', at)) t.maxExclusive = true;
        if (t.maxExclusive && t.max === undefined) fail(at, '"maxExclusive" needs "max"');
        type = t;
        break;
      }
      case 'enum':
        onlyFields(o, [...common, 'values'], at);
        type = { kind: 'enum', values: strings(o, 'values', at) };
        break;
      case 'calib-rules':
        onlyFields(o, [...common, 'regions'], at);
        type = { kind: 'calib-rules', regions: strings(o, 'regions', at) };
        break;
      default:
        return fail(at, `field "type" must be bool, int, number, enum or calib-rules, got ${JSON.stringify(o.type)}`);
    }
    if (type.kind !== 'bool' && type.kind !== 'enum' && type.kind !== 'calib-rules' && type.max !== undefined && type.max < type.min) fail(at, '"max" is below "min"');
    if (!fits(type, o.default)) fail(at, `field "default" ${JSON.stringify(o.default)} is not a valid value of the knob's own type`);
    const knob: Knob = { key, type, default: o.default as KnobValue, help: text(o, 'help', at), host: flag(o, 'host', at) ?? false };
    knobs.push(knob);
    byKey.set(key, knob);
  });

  const conditions = (v: unknown, at: string, field: string): Map<string, Condition> => {
    if (!isObj(v) || Object.keys(v).length === 0) return fail(at, `field "${field}" must be a non-empty object of knob: condition`);
    const out = new Map<string, Condition>();
    for (const [key, c] of Object.entries(v)) {
      const knob = byKey.get(key);
      const cat = `${at}${field} "${key}": `;
      if (!knob) fail(cat, 'no such knob');
      if (knob!.host) fail(cat, 'a host knob never reaches the engine, so no stage or rule can test it');
      let cond: Condition;
      if (isObj(c)) {
        const [op, ...more] = Object.keys(c);
        if (more.length || !['not', 'min', 'nonEmpty'].includes(op ?? '')) fail(cat, 'a condition object is {"not": value}, {"min": n} or {"nonEmpty": true}');
        if (op === 'nonEmpty') {
          if (c.nonEmpty !== true || knob!.type.kind !== 'calib-rules') fail(cat, '{"nonEmpty": true} applies to list knobs only');
          cond = { op: 'nonEmpty' };
        } else if (op === 'min') {
          if (typeof c.min !== 'number' || (knob!.type.kind !== 'int' && knob!.type.kind !== 'number')) fail(cat, '{"min": n} applies to number knobs only');
          cond = { op: 'min', value: c.min as number };
        } else {
          if (!fits(knob!.type, c.not) || knob!.type.kind === 'calib-rules') fail(cat, `${JSON.stringify(c.not)} is not a value of this knob`);
          cond = { op: 'not', value: c.not as boolean | number | string };
        }
      } else {
        if (!fits(knob!.type, c) || knob!.type.kind === 'calib-rules') fail(cat, `${JSON.stringify(c)} is not a value of this knob`);
        cond = { op: 'eq', value: c as boolean | number | string };
      }
      out.set(key, cond);
    }
    return out;
  };

  const stages: Stage[] = [];
  list(raw, 'stages', '').forEach((s, i) => {
    let at = `stages[${i}]: `;
    if (!isObj(s)) fail(at, 'must be an object');
    const o = s as Record<string, unknown>;
    onlyFields(o, ['key', 'section', 'when', 'help'], at);
    const key = text(o, 'key', at);
    at = `stages[${i}] "${key}": `;
    if (!/^[a-z][a-z0-9-]*(\{[a-zA-Z0-9.]+\})?$/.test(key)) fail(at, 'key must be a registry key, optionally ending in {knob}');
    const m = /\{([^}]+)\}$/.exec(key);
    if (m) {
      const knob = byKey.get(m[1]!);
      if (!knob || knob.type.kind !== 'enum' || knob.host) fail(at, `{${m[1]}} must name an enum knob the engine reads`);
    }
    const section = text(o, 'section', at);
    if (stages.some((t) => t.section === section)) fail(at, `section "${section}" belongs to an earlier stage`);
    stages.push({ key, section, when: conditions(o.when, at, 'when'), help: text(o, 'help', at) });
  });
  if (stages.length === 0) fail('', 'field "stages" must list the pipeline');
  for (const k of knobs) {
    const section = k.key.slice(0, k.key.indexOf('.'));
    if (!stages.some((s) => s.section === section)) fail(`knob "${k.key}": `, `section "${section}" belongs to no stage (stages: ${stages.map((s) => s.section).join(', ')})`);
  }

  const rules: Rule[] = [];
  list(raw, 'rules', '').forEach((r, i) => {
    const at = `rules[${i}]: `;
    if (!isObj(r)) fail(at, 'must be an object');
    const o = r as Record<string, unknown>;
    onlyFields(o, ['when', 'require', 'message'], at);
    const rule: Rule = { when: conditions(o.when, at, 'when'), message: text(o, 'message', at) };
    if (o.require !== undefined) rule.require = conditions(o.require, at, 'require');
    rules.push(rule);
  });
  return { knobs, stages, rules };
}

export const SCHEMA: Schema = loadSchema();
export const KNOBS: readonly Knob[] = SCHEMA.knobs;
export const STAGES: readonly Stage[] = SCHEMA.stages;
export const RULES: readonly Rule[] = SCHEMA.rules;
export const KNOB_BY_KEY: ReadonlyMap<string, Knob> = new Map(KNOBS.map((k) => [k.key, k]));
/** The knobs the TS runner applies itself (chunk cutting); never sent to the engine. */
export const HOST_KNOBS: readonly string[] = KNOBS.filter((k) => k.host).map((k) => k.key);

const calibRules = KNOB_BY_KEY.get('calib.rules');
if (calibRules?.type.kind !== 'calib-rules') throw new UserError(`${SCHEMA_FILE}: the knob "calib.rules" (type calib-rules) is missing`);
export const CALIB_REGIONS: readonly string[] = calibRules.type.regions;
/** The paper's "Ours-calibration" mix (Table 6/8 captions, 1-indexed layers): the calib.rules default. */
export const PAPER_CALIB_RULES: CalibRule[] = calibRules.default as CalibRule[];

/**
 * The policy registry keys a config runs, in order: the stages of knobs.json whose `when` holds,
 * `{knob}` replaced by the knob's value (`chunk-evict-selfinfo`). The same spelling as the C++ file
 * (engine/src/policy/<key>.cpp) and its registry entry; the engine derives the same list from the
 * same table and refuses a config whose `pipeline` differs.
 */
export function pipelineOf(c: Record<string, KnobValue>): string[] {
  return STAGES.filter((s) => holdsAll(s.when, c)).map((s) => s.key.replace(/\{([^}]+)\}$/, (_, k: string) => String(c[k])));
}

/** The messages of the cross-knob rules this config breaks, in schema order. */
export function brokenRules(c: Record<string, KnobValue>): string[] {
  return RULES.filter((r) => holdsAll(r.when, c) && (!r.require || !holdsAll(r.require, c))).map((r) => r.message);
}

/** The config as the engine receives it: the host-only knobs left out (the runner has applied them). */
export function engineConfig(config: object): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const k of HOST_KNOBS) delete out[k];
  return out;
}
