/** A one-line description of the machine a benchmark ran on, for bench/RESULTS.md. */
import { readFileSync } from 'node:fs';
import os from 'node:os';

function cpuFlags(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '').split(/\s+/));
    const wanted = ['avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512_bf16', 'amx_tile', 'amx_bf16'];
    return wanted.filter((f) => flags.has(f)).join(' ') || 'no AVX2';
  } catch {
    return 'flags unknown';
  }
}

export function describeMachine(): string {
  const cpus = os.cpus();
  const load = os.loadavg().map((x) => x.toFixed(1)).join('/');
  return `${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores (${cpuFlags()}), ` +
    `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.platform()} ${os.release()}, node ${process.version}; ` +
    `load average at start ${load}`;
}
