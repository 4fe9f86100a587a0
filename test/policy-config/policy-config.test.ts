import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KNOBS, changedKnobs, listPresets, loadPreset, parseSet, resolveConfig } from '../../engine/policy-config.js';

const REQUIRED = ['full', 'parallelcomp', 'parallelcomp-calib', 'parallelcomp-kv', 'parallelcomp-calib-kv', 'ntk', 'dynamic-ntk', 'pi',
  'streaming', 'snapkv', 'pcw', 'parallelcomp-reference', 'parallelcomp-kv-reference', 'parallelcomp-calib-reference', 'parallelcomp-calib-kv-reference'];

const REFERENCE_KNOBS = ['chunk.split', 'chunkEvict.score', 'global.bos', 'global.questionBos', 'kvEvict.gqa', 'kvEvict.bos',
  'kvEvict.capacityRule', 'calib.gqa', 'calib.regionOver', 'calib.strictEdges', 'calib.reencodeMask'];

function errorOf(fn: () => unknown): Error {
  try { fn(); } catch (e) { return e as Error; }
  throw new Error('expected an error');
}

function presetDir(files: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pcomp-presets-'));
  for (const [name, body] of Object.entries(files)) {
    writeFileSync(path.join(dir, `${name}.json`), typeof body === 'string' ? body : JSON.stringify(body));
  }
  return dir;
}

describe('presets', () => {
  it('ships every required preset, each valid and citing its source', () => {
    const names = listPresets().map((p) => p.name);
    for (const n of REQUIRED) expect(names).toContain(n);
    for (const n of names) {
      expect(loadPreset(n).cites.length).toBeGreaterThan(10);
      expect(() => resolveConfig(n)).not.toThrow();
    }
  });

  it('switches on exactly the stages the paper rows use', () => {
    const on = (n: string) => changedKnobs(resolveConfig(n)).filter((k) => k.endsWith('.enabled') || k.startsWith('rope.'));
    expect(on('full')).toEqual([]);
    expect(on('pcw')).toEqual(['chunk.enabled']);
    expect(on('parallelcomp')).toEqual(['chunk.enabled', 'chunkEvict.enabled']);
    expect(on('parallelcomp-kv')).toEqual(['chunk.enabled', 'chunkEvict.enabled', 'kvEvict.enabled']);
    expect(on('parallelcomp-calib')).toEqual(['chunk.enabled', 'chunkEvict.enabled', 'calib.enabled']);
    expect(on('parallelcomp-calib-kv')).toEqual(['chunk.enabled', 'chunkEvict.enabled', 'kvEvict.enabled', 'calib.enabled']);
    expect(on('ntk')).toEqual(['rope.scaling']);
    expect(on('streaming')).toEqual(['streaming.enabled']);
    const calib = resolveConfig('parallelcomp-calib');
    expect(calib['calib.rules']).toEqual([{ region: 'middle', from: 1, to: 8 }, { region: 'recent', from: 9, to: 16 }, { region: 'sink', from: 25, to: 32 }]);
    expect(calib['calib.threshold']).toBe(0.1);
    expect(calib['chunkEvict.k']).toBe(3);
  });

  it('lists the policy registry keys each preset runs, in order', () => {
    const p = (n: string, sets: string[] = []) => resolveConfig(n, sets).pipeline;
    expect(p('full')).toEqual(['full-prefill']);
    expect(p('pcw')).toEqual(['chunk-prefill', 'global-reencode']);
    expect(p('parallelcomp')).toEqual(['chunk-prefill', 'chunk-evict-selfinfo', 'global-reencode']);
    expect(p('parallelcomp-calib-kv')).toEqual(['chunk-prefill', 'chunk-evict-selfinfo', 'kv-evict-cumattn', 'attn-calib-bias', 'global-reencode']);
    expect(p('dynamic-ntk')).toEqual(['rope-dynamic-ntk', 'full-prefill']);
    expect(p('snapkv')).toEqual(['full-prefill', 'cache-snapkv']);
    expect(p('streaming')).toEqual(['full-prefill', 'cache-streaming']);
    expect(p('parallelcomp', ['rope.scaling=linear'])).toEqual(['rope-linear', 'chunk-prefill', 'chunk-evict-selfinfo', 'global-reencode']);
  });

  it('each reference variant differs from its paper preset in the reference knobs only', () => {
    for (const paper of ['parallelcomp', 'parallelcomp-kv', 'parallelcomp-calib', 'parallelcomp-calib-kv']) {
      const a = resolveConfig(paper);
      const b = resolveConfig(`${paper}-reference`);
      const differ = KNOBS.map((k) => k.key).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
      expect(differ.sort()).toEqual([...REFERENCE_KNOBS].sort());
    }
  });

  it('resolves to a plain JSON object the engine can take as-is, never aliasing the defaults', () => {
    const c = resolveConfig('parallelcomp-calib-kv', ['chunk.budget=7600']);
    expect(JSON.parse(JSON.stringify(c))).toEqual(c);
    expect(c.preset).toBe('parallelcomp-calib-kv');
    expect(Object.keys(c).length).toBe(KNOBS.length + 2);
    for (const [k, v] of Object.entries(c)) {
      const plainItem = (r: unknown) => typeof r === 'string' || Object.getPrototypeOf(r) === Object.prototype;
      const plain = ['number', 'string', 'boolean'].includes(typeof v) || (Array.isArray(v) && v.every(plainItem));
      expect(plain, k).toBe(true);
    }
    (c['calib.rules'] as { from: number }[])[0].from = 99;
    expect((resolveConfig('parallelcomp-calib')['calib.rules'] as { from: number }[])[0].from).toBe(1);
  });
});

describe('--set', () => {
  it('parses each knob type', () => {
    expect(parseSet(['chunk.budget=7600', 'calib.threshold=0.2'])).toEqual({ 'chunk.budget': 7600, 'calib.threshold': 0.2 });
    expect(parseSet(['kvEvict.enabled=yes', 'chunkEvict.keepOrder=0', 'kvEvict.pooling=avg'])).toEqual({
      'kvEvict.enabled': true, 'chunkEvict.keepOrder': false, 'kvEvict.pooling': 'avg' });
    expect(parseSet(['calib.rules=sink:3-6, middle:1-2'])['calib.rules']).toEqual([{ region: 'sink', from: 3, to: 6 }, { region: 'middle', from: 1, to: 2 }]);
    expect(parseSet(['calib.rules=[{"region":"all","from":2,"to":2}]'])['calib.rules']).toEqual([{ region: 'all', from: 2, to: 2 }]);
    expect(parseSet(['rope.factor=1e1'])['rope.factor']).toBe(10);
  });

  it('overrides the preset, the last --set winning', () => {
    const c = resolveConfig('parallelcomp', ['chunkEvict.k=1', 'chunkEvict.k=5']);
    expect(c['chunkEvict.k']).toBe(5);
  });

  it('rejects an unknown key with the list of valid keys and ranges', () => {
    const e = errorOf(() => parseSet(['chunk.budgte=3']));
    expect(e.name).toBe('UserError');
    expect(e.message).toMatch(/unknown knob "chunk.budgte" \(did you mean chunk.budget\?\)/);
    for (const k of KNOBS) expect(e.message).toContain(k.key);
    expect(e.message).toMatch(/calib\.threshold\s+number > 0, < 1 \(default 0\.1\)/);
    expect(errorOf(() => parseSet(['budget=3'])).message).toMatch(/did you mean chunk.budget/);
    expect(errorOf(() => parseSet(['chunk.budget'])).message).toMatch(/expected key=value/);
  });

  it('rejects bad values with the knob and its range', () => {
    const cases: [string, RegExp][] = [
      ['kvEvict.kernel=4', /"kvEvict.kernel" must be int >= 1, odd, got 4/],
      ['calib.threshold=1', /"calib.threshold" must be number > 0, < 1/],
      ['chunk.budget=-3', /"chunk.budget" must be int >= 0/],
      ['chunk.budget=12.5', /"chunk.budget" must be int >= 0/],
      ['chunk.budget=lots', /"chunk.budget" must be int >= 0, got "lots"/],
      ['kvEvict.pooling=mean', /"kvEvict.pooling" must be max\|avg, got "mean"/],
      ['chunk.enabled=maybe', /"chunk.enabled" must be true\|false/],
      ['calib.rules=sink:6-3', /needs integer layers 1 <= from <= to/],
      ['calib.rules=edge:1-3', /"calib.rules" must be list of region:from-to/],
      ['calib.rules=sink', /cannot read rule "sink"/],
    ];
    for (const [item, re] of cases) {
      const e = errorOf(() => parseSet([item]));
      expect(e.name, item).toBe('UserError');
      expect(e.message, item).toMatch(re);
    }
  });

  it('rejects combinations no pipeline runs', () => {
    expect(errorOf(() => resolveConfig('full', ['kvEvict.enabled=true'])).message).toMatch(/kvEvict.enabled=true needs chunk.enabled=true/);
    expect(errorOf(() => resolveConfig('streaming', ['chunk.enabled=true'])).message).toMatch(/streaming.enabled=true runs on the whole prompt/);
    expect(errorOf(() => resolveConfig('snapkv', ['streaming.enabled=true'])).message).toMatch(/cannot both be true/);
    expect(errorOf(() => resolveConfig('ntk', ['rope.factor=0.5'])).message).toMatch(/rope.factor must be 0 \(auto\) or >= 1/);
    expect(errorOf(() => resolveConfig('parallelcomp-calib', ['calib.rules=none'])).message).toMatch(/needs at least one rule/);
  });
});

describe('preset files', () => {
  const ok = { description: 'd', cites: 'Paper Sec. 1', set: { 'chunk.enabled': true } };

  it('errors name the file and the key', () => {
    const dir = presetDir({
      good: ok,
      typo: { ...ok, set: { 'chunk.budgte': 3 } },
      badvalue: { ...ok, set: { 'chunk.budget': -1 } },
      badrule: { ...ok, set: { 'calib.rules': [{ region: 'sink', from: 1, to: 2, layer: 3 }] } },
      field: { ...ok, notes: 'x' },
      nocite: { description: 'd', set: {} },
      broken: '{ "description": ',
      loop1: { ...ok, extends: 'loop2' },
      loop2: { ...ok, extends: 'loop1' },
      inconsistent: { ...ok, set: { 'kvEvict.enabled': true } },
      child: { ...ok, extends: 'good', set: { 'chunkEvict.enabled': true } },
    });
    const msg = (name: string) => errorOf(() => resolveConfig(name, [], dir)).message;
    expect(msg('typo')).toMatch(/typo\.json: "set": unknown knob "chunk.budgte"/);
    expect(msg('badvalue')).toMatch(/badvalue\.json: "set": knob "chunk.budget" must be int >= 0, got -1/);
    expect(msg('badrule')).toMatch(/badrule\.json: "set": knob "calib.rules": unknown rule field "layer"/);
    expect(msg('field')).toMatch(/field\.json: unknown field "notes"/);
    expect(msg('nocite')).toMatch(/nocite\.json: field "cites" must be a non-empty string/);
    expect(msg('broken')).toMatch(/broken\.json: not valid JSON/);
    expect(msg('loop1')).toMatch(/loops through loop1 -> loop2 -> loop1/);
    expect(msg('inconsistent')).toMatch(/inconsistent\.json: kvEvict.enabled=true needs chunk.enabled=true/);
    expect(msg('nosuch')).toMatch(/unknown preset "nosuch"; presets: .*good/);
    const child = resolveConfig('child', [], dir);
    expect(child['chunk.enabled']).toBe(true);
    expect(child['chunkEvict.enabled']).toBe(true);
  });
});

describe('docs', () => {
  it('docs/parallelcomp.md explains every knob and every preset', () => {
    const doc = readFileSync(path.resolve(import.meta.dirname, '../../docs/parallelcomp.md'), 'utf8');
    for (const k of KNOBS) expect(doc, k.key).toContain(`| \`${k.key}\` |`);
    for (const p of listPresets()) expect(doc, p.name).toContain(p.name.replace(/^parallelcomp(-.*)-reference$/, '$1-reference'));
  });
});
