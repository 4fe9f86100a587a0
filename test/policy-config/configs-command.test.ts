// `pcomp configs` through commander, stdout captured.
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { register } from '../../cli/commands/configs.js';
import { KNOBS, listPresets, resolveConfig } from '../../engine/policy-config.js';

async function run(...args: string[]): Promise<string> {
  const program = new Command('pcomp').exitOverride();
  register(program);
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    vi.restoreAllMocks();
  }
  return out;
}

afterEach(() => vi.restoreAllMocks());

describe('pcomp configs', () => {
  it('lists every preset and explains every knob with its default', async () => {
    const out = await run('configs');
    for (const p of listPresets()) expect(out).toContain(`  ${p.name} `);
    for (const k of KNOBS) expect(out).toMatch(new RegExp(`\\n  ${k.key.replace('.', '\\.')}\\s`));
    expect(out).toMatch(/kvEvict\.window\s+8\s+int >= 1/);
    expect(out).toMatch(/calib\.rules\s+middle:1-8,recent:9-16,sink:25-32/);
  });

  it('shows one preset with its changed knobs marked and --set applied', async () => {
    const out = await run('configs', 'parallelcomp-calib', '--set', 'calib.threshold=0.3');
    expect(out).toMatch(/^parallelcomp-calib: /);
    expect(out).toMatch(/cites: .*Tables 6 and 8/);
    expect(out).toContain('pipeline: chunk-prefill -> chunk-evict-selfinfo -> attn-calib-bias -> global-reencode');
    expect(out).toMatch(/\* calib\.enabled\s+true/);
    expect(out).toMatch(/\* calib\.threshold\s+0\.3/);
    expect(out).toMatch(/\n {2}kvEvict\.enabled\s+false/);
  });

  it('--json prints the resolved config the engine receives', async () => {
    const out = await run('configs', 'parallelcomp-kv', '--json', '--set', 'kvEvict.capacity=64');
    expect(JSON.parse(out)).toEqual(resolveConfig('parallelcomp-kv', ['kvEvict.capacity=64']));
  });

  it('bad input is a UserError', async () => {
    await expect(run('configs', 'nosuch')).rejects.toMatchObject({ name: 'UserError', message: expect.stringMatching(/unknown preset "nosuch"/) });
    await expect(run('configs', '--json')).rejects.toMatchObject({ name: 'UserError' });
    await expect(run('configs', 'pcw', '--set', 'pcw.windows=2')).rejects.toMatchObject({ message: expect.stringMatching(/unknown knob "pcw.windows"/) });
  });
});
