// `pcomp configs [NAME]`: the policy presets and every knob with its range, default and meaning.
// Without NAME it lists presets and knobs; with NAME it shows that preset's resolved values (after
// any --set), marking the knobs that differ from the defaults; --json prints the resolved config (the
// engine receives it less the host-only knobs, which the runner applies). Knobs, ranges and help come
// from engine/knobs.json.
import type { Command } from 'commander';

export interface ConfigsOptions {
  set: string[];
  json: boolean;
}

const EXAMPLES = `
Examples:
  pcomp configs                                   list presets and explain every knob
  pcomp configs parallelcomp-calib                the values one preset runs with
  pcomp configs parallelcomp --set chunk.budget=7600 --set calib.threshold=0.2
  pcomp configs parallelcomp-kv-reference --json  the resolved config as JSON`;

const collect = (value: string, previous: string[]) => [...previous, value];

export function register(program: Command): void {
  program
    .command('configs')
    .description('list the policy presets and explain each knob with its default')
    .argument('[name]', 'a preset to show in full')
    .option('--set <key=value>', 'override a knob (repeatable)', collect, [])
    .option('--json', 'print the resolved config as JSON (needs NAME)', false)
    .addHelpText('after', EXAMPLES)
    .action(async (name: string | undefined, opts: ConfigsOptions) => {
      process.stdout.write(await configsText(name, opts));
    });
}

/** The text `pcomp configs` prints. */
export async function configsText(name: string | undefined, opts: ConfigsOptions): Promise<string> {
  const cfg = await import('../../engine/policy-config.js');
  const { UserError } = await import('../../util/errors.js');
  if (name === undefined) {
    if (opts.json || opts.set.length) throw new UserError('--json and --set need a preset NAME (see `pcomp configs`)');
    return overview(cfg);
  }
  const resolved = cfg.resolveConfig(name, opts.set);
  if (opts.json) return `${JSON.stringify(resolved, null, 2)}\n`;
  return presetDetail(cfg, name, resolved);
}

type ConfigModule = typeof import('../../engine/policy-config.js');

function overview(cfg: ConfigModule): string {
  const presets = cfg.listPresets();
  const width = Math.max(...presets.map((p) => p.name.length));
  const lines = ['Presets (engine/presets/<name>.json; show one with `pcomp configs NAME`):', ''];
  for (const p of presets) {
    lines.push(`  ${p.name.padEnd(width)}  ${p.description}`);
    lines.push(`  ${''.padEnd(width)}  cites: ${p.cites}`);
  }
  lines.push('', 'Knobs (override with --set key=value; defaults are plain full attention, presets switch stages on):', '');
  lines.push(...knobTable(cfg, null));
  return `${lines.join('\n')}\n`;
}

function presetDetail(cfg: ConfigModule, name: string, resolved: import('../../engine/policy-config.js').PolicyConfig): string {
  const p = cfg.loadPreset(name);
  const lines = [`${p.name}: ${p.description}`, `cites: ${p.cites}`];
  if (p.extends) lines.push(`extends: ${p.extends}`);
  lines.push(`pipeline: ${resolved.pipeline.join(' -> ')}`);
  lines.push('', 'Knobs (* = differs from the default):', '');
  lines.push(...knobTable(cfg, resolved));
  return `${lines.join('\n')}\n`;
}

function knobTable(cfg: ConfigModule, resolved: Record<string, unknown> | null): string[] {
  const changed = new Set(resolved ? cfg.changedKnobs(resolved as never) : []);
  const rows = cfg.KNOBS.map((k) => ({
    mark: changed.has(k.key) ? '*' : ' ',
    key: k.key,
    value: cfg.formatValue((resolved ? resolved[k.key] : k.default) as never),
    range: cfg.describeType(k.type),
    help: k.host ? `${k.help} (host: applied by the runner, not sent to the engine)` : k.help,
  }));
  const keyW = Math.max(...rows.map((r) => r.key.length));
  const valueHead = resolved ? 'value' : 'default';
  const valW = Math.max(valueHead.length, ...rows.map((r) => r.value.length));
  return [
    `  ${'knob'.padEnd(keyW)}  ${valueHead.padEnd(valW)}  range`,
    ...rows.flatMap((r) => [
      `${r.mark} ${r.key.padEnd(keyW)}  ${r.value.padEnd(valW)}  ${r.range}`,
      `  ${''.padEnd(keyW)}  ${''.padEnd(valW)}  ${r.help}`,
    ]),
  ];
}
