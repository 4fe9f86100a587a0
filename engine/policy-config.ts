// Policy configuration: the knob schema (engine/knobs.json, read by presets/knobs.ts) turned into
// validation, `--set key=value` parsing, preset loading and the resolved config. The engine receives
// it less the host-only knobs (engineConfig in presets/knobs.ts), which the runner applies itself.
//
// The resolved config is one flat object keyed by the knob spelling (`"chunk.budget": 7600`) plus
// `preset`; values are numbers, strings, booleans or (calib.rules) an array of plain objects. Flat
// keys keep one spelling everywhere: preset files, the command line, the C++ side and the trace.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.js';
import { KNOBS, KNOB_BY_KEY, brokenRules, fits, pipelineOf } from './presets/knobs.js';
import type { CalibRule, Knob, KnobType, KnobValue } from './presets/knobs.js';

export type { CalibRule, Knob, KnobValue } from './presets/knobs.js';
export { HOST_KNOBS, KNOBS, engineConfig, pipelineOf } from './presets/knobs.js';

/**
 * The resolved configuration: every knob present, plus the preset it came from and `pipeline`, the
 * policy registry keys it runs in order (the stages of engine/knobs.json, presets/knobs.ts pipelineOf).
 */
export type PolicyConfig = { preset: string; pipeline: string[] } & Record<string, KnobValue | string[]>;

export interface Preset {
  name: string;
  description: string;
  /** The paper section / table this preset reproduces. */
  cites: string;
  extends?: string;
  /** The knobs this file sets itself (not those inherited through `extends`). */
  set: Record<string, KnobValue>;
  file: string;
}

export const PRESET_DIR = fileURLToPath(new URL('./presets/', import.meta.url));

/** "int >= 0", "one of max|avg", ...: the range as the user should read it. */
export function describeType(type: KnobType): string {
  switch (type.kind) {
    case 'bool': return 'true|false';
    case 'int': return `int >= ${type.min}${type.max === undefined ? '' : `, <= ${type.max}`}${type.odd ? ', odd' : ''}`;
    case 'number': {
      const lo = `${type.minExclusive ? '>' : '>='} ${type.min}`;
      return type.max === undefined ? `number ${lo}` : `number ${lo}, ${type.maxExclusive ? '<' : '<='} ${type.max}`;
    }
    case 'enum': return type.values.join('|');
    case 'calib-rules': return `list of region:from-to (region ${type.regions.join('|')}, layers 1-indexed)`;
  }
}

export function formatValue(value: KnobValue): string {
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.map((r) => `${r.region}:${r.from}-${r.to}`).join(',');
  return String(value);
}

function knobList(): string {
  const width = Math.max(...KNOBS.map((k) => k.key.length));
  return KNOBS.map((k) => `  ${k.key.padEnd(width)}  ${describeType(k.type)} (default ${formatValue(k.default)})`).join('\n');
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

function lookupKnob(key: string, where: string): Knob {
  const knob = KNOB_BY_KEY.get(key);
  if (knob) return knob;
  const near = KNOBS.filter((k) => k.key.endsWith(`.${key}`) || editDistance(k.key.toLowerCase(), key.toLowerCase()) <= 2).map((k) => k.key);
  const hint = near.length ? ` (did you mean ${near.join(' or ')}?)` : '';
  throw new UserError(`${where}: unknown knob "${key}"${hint}; valid knobs:\n${knobList()}`);
}

function badValue(knob: Knob, where: string, got: unknown): never {
  throw new UserError(`${where}: knob "${knob.key}" must be ${describeType(knob.type)}, got ${JSON.stringify(got)}`);
}

function checkRule(raw: unknown, knob: Knob, where: string): CalibRule {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) badValue(knob, where, raw);
  const r = raw as Record<string, unknown>;
  const extra = Object.keys(r).filter((k) => !['region', 'from', 'to'].includes(k));
  if (extra.length) throw new UserError(`${where}: knob "${knob.key}": unknown rule field "${extra[0]}" (fields: region, from, to)`);
  const { region, from, to } = r;
  const regions = knob.type.kind === 'calib-rules' ? knob.type.regions : [];
  if (typeof region !== 'string' || !regions.includes(region)) badValue(knob, where, raw);
  if (!Number.isInteger(from) || !Number.isInteger(to) || (from as number) < 1 || (to as number) < (from as number) || (to as number) > 2147483647) {
    throw new UserError(`${where}: knob "${knob.key}": rule ${JSON.stringify(raw)} needs integer layers 1 <= from <= to`);
  }
  return { region: region as CalibRule['region'], from: from as number, to: to as number };
}

/** Checks a value (from JSON or already parsed) against the knob's type; returns a fresh copy. */
export function checkValue(knob: Knob, value: unknown, where: string): KnobValue {
  if (knob.type.kind === 'calib-rules') {
    if (!Array.isArray(value)) badValue(knob, where, value);
    return value.map((r) => checkRule(r, knob, where));
  }
  if (!fits(knob.type, value)) badValue(knob, where, value);
  return value as KnobValue;
}

/** Parses the text after `=` in `--set key=value` by the knob's type. */
function parseText(knob: Knob, text: string, where: string): KnobValue {
  const t = knob.type;
  const s = text.trim();
  switch (t.kind) {
    case 'bool': {
      const v = s.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      return badValue(knob, where, text);
    }
    case 'int':
    case 'number':
      if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) badValue(knob, where, text);
      return checkValue(knob, Number(s), where);
    case 'enum':
      return checkValue(knob, s, where);
    case 'calib-rules': {
      if (s.startsWith('[')) {
        let parsed: unknown;
        try { parsed = JSON.parse(s); } catch { return badValue(knob, where, text); }
        return checkValue(knob, parsed, where);
      }
      if (s === '' || s === 'none') return [];
      const rules = s.split(',').map((part) => {
        const m = /^\s*([a-z]+)\s*:\s*(\d+)\s*-\s*(\d+)\s*$/.exec(part);
        if (!m) throw new UserError(`${where}: knob "${knob.key}": cannot read rule "${part}" (write region:from-to, e.g. sink:25-32)`);
        return { region: m[1], from: Number(m[2]), to: Number(m[3]) };
      });
      return checkValue(knob, rules, where);
    }
  }
}

/** `parseSet(['chunk.budget=7600', 'calib.threshold=0.2'])` → `{ 'chunk.budget': 7600, 'calib.threshold': 0.2 }`. */
export function parseSet(items: readonly string[]): Record<string, KnobValue> {
  const out: Record<string, KnobValue> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UserError(`--set ${item}: expected key=value, e.g. --set chunk.budget=7600; valid knobs:\n${knobList()}`);
    const key = item.slice(0, eq).trim();
    const knob = lookupKnob(key, `--set ${item}`);
    out[key] = parseText(knob, item.slice(eq + 1), `--set ${item}`);
  }
  return out;
}

/** Cross-knob rules the per-knob ranges cannot express (the `rules` of engine/knobs.json). */
export function checkConsistency(c: Record<string, KnobValue>, where: string): void {
  const broken = brokenRules(c);
  if (broken.length) throw new UserError(`${where}: ${broken[0]}`);
}

function presetPath(name: string, dir: string): string {
  return path.join(dir, `${name}.json`);
}

function shown(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

/** Reads and validates one preset file (not its parents). */
export function loadPreset(name: string, dir = PRESET_DIR): Preset {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new UserError(`preset name "${name}" must be lowercase letters, digits and dashes`);
  const file = presetPath(name, dir);
  if (!existsSync(file)) {
    throw new UserError(`unknown preset "${name}"; presets: ${presetNames(dir).join(', ')}`);
  }
  const where = shown(file);
  let raw: unknown;
  try { raw = JSON.parse(readFileSync(file, 'utf8')); } catch (e) {
    throw new UserError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UserError(`${where}: must be a JSON object`);
  const obj = raw as Record<string, unknown>;
  const fields = ['description', 'cites', 'extends', 'set'];
  for (const k of Object.keys(obj)) if (!fields.includes(k)) throw new UserError(`${where}: unknown field "${k}" (fields: ${fields.join(', ')})`);
  for (const k of ['description', 'cites']) {
    if (typeof obj[k] !== 'string' || (obj[k] as string).trim() === '') throw new UserError(`${where}: field "${k}" must be a non-empty string`);
  }
  if (obj.extends !== undefined && typeof obj.extends !== 'string') throw new UserError(`${where}: field "extends" must be a preset name`);
  const setRaw = obj.set ?? {};
  if (typeof setRaw !== 'object' || setRaw === null || Array.isArray(setRaw)) throw new UserError(`${where}: field "set" must be an object of knob: value`);
  const set: Record<string, KnobValue> = {};
  for (const [key, value] of Object.entries(setRaw as Record<string, unknown>)) {
    set[key] = checkValue(lookupKnob(key, `${where}: "set"`), value, `${where}: "set"`);
  }
  return { name, description: obj.description as string, cites: obj.cites as string, extends: obj.extends as string | undefined, set, file };
}

export function presetNames(dir = PRESET_DIR): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length)).sort();
}

/** Every preset in the folder, validated, by name. */
export function listPresets(dir = PRESET_DIR): Preset[] {
  return presetNames(dir).map((n) => loadPreset(n, dir));
}

function defaults(): Record<string, KnobValue> {
  return Object.fromEntries(KNOBS.map((k) => [k.key, structuredClone(k.default)]));
}

/** The knobs a preset sets, its `extends` chain applied first (parents before children). */
function presetSettings(name: string, dir: string, seen: string[] = []): Record<string, KnobValue> {
  if (seen.includes(name)) throw new UserError(`preset "${seen[0]}": "extends" loops through ${[...seen, name].join(' -> ')}`);
  const p = loadPreset(name, dir);
  const parent = p.extends === undefined ? {} : presetSettings(p.extends, dir, [...seen, name]);
  return { ...parent, ...structuredClone(p.set) };
}

/**
 * Defaults ← preset (with its parents) ← `--set` items, checked as a whole.
 * `resolveConfig('parallelcomp', ['chunk.budget=7600'])`.
 */
export function resolveConfig(name: string, sets: readonly string[] = [], dir = PRESET_DIR): PolicyConfig {
  const fromPreset = presetSettings(name, dir);
  checkConsistency({ ...defaults(), ...fromPreset }, shown(presetPath(name, dir)));
  const merged = { ...defaults(), ...fromPreset, ...parseSet(sets) };
  checkConsistency(merged, sets.length ? `preset "${name}" with --set ${sets.join(' --set ')}` : `preset "${name}"`);
  return { preset: name, pipeline: pipelineOf(merged), ...merged };
}

/** The knobs whose resolved value differs from the schema default (what a preset really changes). */
export function changedKnobs(config: PolicyConfig): string[] {
  return KNOBS.filter((k) => JSON.stringify(config[k.key]) !== JSON.stringify(k.default)).map((k) => k.key);
}
