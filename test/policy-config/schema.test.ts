// engine/knobs.json as data: loadSchema refuses a malformed schema with the file and the entry named,
// and the engine module refuses an addon built from a different schema.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSchemaBuild } from '../../engine/index.js';
import { KNOBS, SCHEMA_FILE, STAGES, loadSchema, pipelineOf } from '../../engine/presets/knobs.js';
import { UserError } from '../../util/errors.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pcomp-schema-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const real = (): Record<string, any> => JSON.parse(readFileSync(SCHEMA_FILE, 'utf8'));

function errorOf(schema: unknown, raw?: string): string {
  const file = path.join(dir, 'knobs.json');
  writeFileSync(file, raw ?? JSON.stringify(schema));
  try {
    loadSchema(file);
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return (e as Error).message;
  }
  return '';
}

function edited(edit: (s: Record<string, any>) => void): Record<string, any> {
  const s = real();
  edit(s);
  return s;
}

const knobAt = (s: Record<string, any>, key: string) => s.knobs.find((k: { key: string }) => k.key === key);

describe('engine/knobs.json', () => {
  it('loads: every knob, the stage list in pipeline order, the host knobs marked', () => {
    const s = loadSchema();
    expect(s.knobs.map((k) => k.key)).toEqual(KNOBS.map((k) => k.key));
    expect(STAGES.map((t) => t.key)).toEqual(['rope-{rope.scaling}', 'full-prefill', 'cache-streaming', 'cache-snapkv', 'chunk-prefill',
      'chunk-evict-{chunkEvict.method}', 'kv-evict-{kvEvict.method}', 'attn-calib-{calib.method}', 'global-reencode', 'attn-dca', 'trace-attention']);
    expect(KNOBS.filter((k) => k.host).map((k) => k.key)).toEqual(['chunk.split', 'chunk.budget', 'chunk.count']);
    expect(KNOBS.find((k) => k.key === 'chunk.parallel')!.default).toBe(8);
  });

  it('the stage list gives the pipeline the paper describes', () => {
    const d = Object.fromEntries(KNOBS.map((k) => [k.key, k.default]));
    expect(pipelineOf(d)).toEqual(['full-prefill']);
    expect(pipelineOf({ ...d, 'rope.scaling': 'dynamic-ntk', 'snapkv.enabled': true })).toEqual(['rope-dynamic-ntk', 'full-prefill', 'cache-snapkv']);
    expect(pipelineOf({ ...d, 'chunk.enabled': true, 'chunkEvict.enabled': true, 'kvEvict.enabled': true, 'calib.enabled': true }))
      .toEqual(['chunk-prefill', 'chunk-evict-selfinfo', 'kv-evict-cumattn', 'attn-calib-bias', 'global-reencode']);
    // A whole-prompt cache switch is not a stage of the chunked pipeline.
    expect(pipelineOf({ ...d, 'chunk.enabled': true, 'streaming.enabled': true })).toEqual(['chunk-prefill', 'global-reencode']);
  });

  it('a malformed schema is refused with the file and the entry named', () => {
    const file = /knobs\.json: /;
    expect(errorOf(null, '{"knobs": [')).toMatch(/knobs\.json: cannot read the knob schema/);
    expect(errorOf(edited((s) => { s.extra = 1; }))).toMatch(/knobs\.json: unknown field "extra"/);
    const cases: [(s: Record<string, any>) => void, RegExp][] = [
      [(s) => { knobAt(s, 'kvEvict.kernel').default = 4; }, /knobs\[\d+\] "kvEvict\.kernel": field "default" 4 is not a valid value/],
      [(s) => { s.knobs.push({ ...knobAt(s, 'chunk.enabled') }); }, /"chunk\.enabled": key appears twice/],
      [(s) => { knobAt(s, 'calib.gqa').values = []; }, /"calib\.gqa": field "values" must be a non-empty list of distinct strings/],
      [(s) => { knobAt(s, 'snapkv.window').maximum = 3; }, /"snapkv\.window": unknown field "maximum"/],
      [(s) => { knobAt(s, 'snapkv.window').type = 'integer'; }, /"snapkv\.window": field "type" must be bool, int, number, enum or calib-rules/],
      [(s) => { knobAt(s, 'rope.factor').max = -1; }, /"rope\.factor": "max" is below "min"/],
      [(s) => { knobAt(s, 'calib.threshold').help = ''; }, /"calib\.threshold": field "help" must be a non-empty string/],
      [(s) => { s.knobs.push({ key: 'h2o.enabled', type: 'bool', default: false, help: 'x' }); }, /knob "h2o\.enabled": section "h2o" belongs to no stage/],
      [(s) => { s.stages[5].key = 'chunk-evict-{chunkEvict.k}'; }, /stages\[5\] "chunk-evict-\{chunkEvict\.k\}": \{chunkEvict\.k\} must name an enum knob/],
      [(s) => { s.stages[4].when = { 'chunk.budget': 0 }; }, /stages\[4\] "chunk-prefill": when "chunk\.budget": a host knob never reaches the engine/],
      [(s) => { s.stages[4].when = { 'chunk.enabled': 'yes' }; }, /when "chunk\.enabled": "yes" is not a value of this knob/],
      [(s) => { s.stages[0].section = 'chunk'; }, /stages\[4\] "chunk-prefill": section "chunk" belongs to an earlier stage/],
      [(s) => { s.rules[0].when = { 'chunkEvict.on': true }; }, /rules\[0\]: when "chunkEvict\.on": no such knob/],
      [(s) => { s.rules[0].require = { 'calib.rules': { nonEmpty: true, min: 1 } }; }, /rules\[0\]: require "calib\.rules": a condition object is/],
      [(s) => { delete s.rules[1].message; }, /rules\[1\]: field "message" must be a non-empty string/],
    ];
    for (const [edit, want] of cases) {
      const msg = errorOf(edited(edit));
      expect(msg, String(want)).toMatch(file);
      expect(msg).toMatch(want);
    }
  });

  it('an engine built from another knobs.json is refused with a rebuild hint', () => {
    const source = readFileSync(SCHEMA_FILE, 'utf8');
    expect(() => checkSchemaBuild({ knobSchema: () => JSON.stringify({ source }) })).not.toThrow();
    const other = JSON.stringify(edited((s) => { knobAt(s, 'chunk.parallel').default = 0; }));
    expect(() => checkSchemaBuild({ knobSchema: () => JSON.stringify({ source: other }) })).toThrow(/built from a different engine\/knobs\.json.*npm run build/);
    expect(() => checkSchemaBuild({})).toThrow(/predates engine\/knobs\.json/);
  });
});
