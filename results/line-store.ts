// Append-only JSON-lines files, one whole line per finished sample.
// Each line goes out in a single write() ending in '\n', so after a kill -9 the file holds complete
// lines plus at most one unterminated tail. Reading ignores that tail; opening for append cuts it
// off, so the interrupted sample is simply run again. Every line carries a string `_id`, and a store
// refuses a second line with the same `_id`: each sample lands exactly once.
import { closeSync, existsSync, fdatasyncSync, mkdirSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../util/errors.js';

export interface IdentifiedLine {
  _id: string;
  [field: string]: unknown;
}

export interface ReadLinesResult<T> {
  lines: T[];
  /** Byte length of the complete lines; anything after it is an unterminated tail. */
  completeBytes: number;
  /** True when the file ended in a partial line (a write cut short). */
  hadPartialTail: boolean;
}

/** Reads complete lines, validating that each is a JSON object with a string `_id` seen once. */
export function readLines<T extends IdentifiedLine>(path: string): ReadLinesResult<T> {
  if (!existsSync(path)) return { lines: [], completeBytes: 0, hadPartialTail: false };
  const buf = readFileSync(path);
  const end = buf.lastIndexOf(0x0a) + 1; // 0 when no newline at all
  const text = buf.subarray(0, end).toString('utf8');
  const lines: T[] = [];
  const seen = new Map<string, number>();
  const rows = text.length === 0 ? [] : text.slice(0, -1).split('\n');
  rows.forEach((row, i) => {
    const where = `${path}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(row);
    } catch (e) {
      throw new UserError(`${where}: not a valid JSON line (${(e as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new UserError(`${where}: each line must be a JSON object`);
    const id = (value as { _id?: unknown })._id;
    if (typeof id !== 'string') throw new UserError(`${where}: field "_id" must be a string`);
    const first = seen.get(id);
    if (first !== undefined) throw new UserError(`${where}: sample "_id" ${JSON.stringify(id)} already recorded on line ${first}`);
    seen.set(id, i + 1);
    lines.push(value as T);
  });
  return { lines, completeBytes: end, hadPartialTail: end < buf.length };
}

export class LineStore<T extends IdentifiedLine> {
  private readonly ids: Set<string>;
  private fd: number | undefined;

  private constructor(readonly path: string, ids: Iterable<string>, readonly repairedTail: boolean) {
    this.ids = new Set(ids);
  }

  /** Opens for appending; a partial tail left by a killed writer is cut off first. */
  static open<T extends IdentifiedLine>(path: string): LineStore<T> {
    const { lines, completeBytes, hadPartialTail } = readLines<T>(path);
    if (hadPartialTail) truncateSync(path, completeBytes);
    return new LineStore<T>(path, lines.map((l) => l._id), hadPartialTail);
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  get size(): number {
    return this.ids.size;
  }

  doneIds(): ReadonlySet<string> {
    return this.ids;
  }

  read(): T[] {
    return readLines<T>(this.path).lines;
  }

  append(line: T): void {
    if (typeof line._id !== 'string') throw new Error(`${this.path}: line without a string _id`);
    if (this.ids.has(line._id)) throw new Error(`${this.path}: sample ${JSON.stringify(line._id)} is already recorded`);
    const bytes = Buffer.from(JSON.stringify(line) + '\n', 'utf8');
    if (this.fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.fd = openSync(this.path, 'a');
    }
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(this.fd, bytes, offset, bytes.length - offset);
    // A sample costs seconds of inference; a data sync per line is cheap insurance against power loss.
    fdatasyncSync(this.fd);
    this.ids.add(line._id);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
