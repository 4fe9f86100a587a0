// Option parsers shared by the commands: each rejects a bad value with a message naming the flag.
import { InvalidArgumentError } from 'commander';

export function parseIntOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative integer, got "${value}"`);
  return n;
}

/** "8k" → 8192, "128K" → 131072, "2m" → 2097152, "4096" → 4096. */
export function parseTokenCount(value: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`expected a token count like 4096, 8k or 128k, got "${value}"`);
  const mult = m[2] === '' ? 1 : m[2]!.toLowerCase() === 'k' ? 1024 : 1024 * 1024;
  const n = Math.round(Number(m[1]) * mult);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`token count must be positive, got "${value}"`);
  return n;
}
