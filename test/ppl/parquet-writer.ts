// The smallest parquet file a reader must accept, written by hand for tests: one row group of
// REQUIRED UTF8 string columns, each one uncompressed PLAIN data page, metadata in Thrift's compact
// protocol. Enough to stand in for emozilla/pg19-test (columns text, short_book_title) without a writer
// dependency.

class Compact {
  private bytes: number[] = [];
  private last: number[] = [0];

  private varint(n: bigint): void {
    let v = n;
    while (v >= 0x80n) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
  }
  private zigzag(n: number): void {
    const v = BigInt(n);
    this.varint(v >= 0n ? v << 1n : (-v << 1n) - 1n);
  }
  private header(id: number, type: number): void {
    const delta = id - this.last[this.last.length - 1]!;
    if (delta > 0 && delta <= 15) this.bytes.push((delta << 4) | type);
    else {
      this.bytes.push(type);
      this.zigzag(id);
    }
    this.last[this.last.length - 1] = id;
  }
  i32(id: number, v: number): this { this.header(id, 5); this.zigzag(v); return this; }
  i64(id: number, v: number): this { this.header(id, 6); this.zigzag(v); return this; }
  binary(id: number, s: string): this {
    const b = Buffer.from(s, 'utf8');
    this.header(id, 8);
    this.varint(BigInt(b.length));
    this.bytes.push(...b);
    return this;
  }
  struct(id: number, body: (w: Compact) => void): this {
    this.header(id, 12);
    this.structBody(body);
    return this;
  }
  private structBody(body: (w: Compact) => void): void {
    this.last.push(0);
    body(this);
    this.bytes.push(0);
    this.last.pop();
  }
  list<T>(id: number, elemType: 'i32' | 'binary' | 'struct', items: T[], each: (w: Compact, item: T) => void): this {
    this.header(id, 9);
    const code = { i32: 5, binary: 8, struct: 12 }[elemType];
    if (items.length < 15) this.bytes.push((items.length << 4) | code);
    else {
      this.bytes.push(0xf0 | code);
      this.varint(BigInt(items.length));
    }
    for (const item of items) {
      if (elemType === 'struct') this.structBody((w) => each(w, item));
      else each(this, item);
    }
    return this;
  }
  rawI32(v: number): void { this.zigzag(v); }
  rawBinary(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.varint(BigInt(b.length));
    this.bytes.push(...b);
  }
  top(body: (w: Compact) => void): Buffer {
    body(this);
    this.bytes.push(0);
    return Buffer.from(this.bytes);
  }
}

/** A parquet file with one UTF8 column per key of `columns`, all of the same length. */
export function parquetBytes(columns: Record<string, string[]>): Uint8Array {
  const names = Object.keys(columns);
  const rows = columns[names[0]!]!.length;
  const parts: Buffer[] = [Buffer.from('PAR1')];
  let offset = 4;
  const chunks: Array<{ name: string; offset: number; size: number }> = [];
  for (const name of names) {
    const values = Buffer.concat(columns[name]!.map((s) => {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return Buffer.concat([len, b]);
    }));
    const header = new Compact().top((w) => w
      .i32(1, 0) // DATA_PAGE
      .i32(2, values.length)
      .i32(3, values.length)
      .struct(5, (d) => d.i32(1, rows).i32(2, 0).i32(3, 3).i32(4, 3))); // PLAIN values, RLE levels (none: REQUIRED)
    chunks.push({ name, offset, size: header.length + values.length });
    parts.push(header, values);
    offset += header.length + values.length;
  }
  const meta = new Compact().top((w) => w
    .i32(1, 1)
    .list(2, 'struct', [{ root: true, name: 'schema' }, ...names.map((name) => ({ root: false, name }))], (s, el) => {
      if (el.root) s.binary(4, el.name).i32(5, names.length);
      else s.i32(1, 6).i32(3, 0).binary(4, el.name).i32(6, 0); // BYTE_ARRAY, REQUIRED, UTF8
    })
    .i64(3, rows)
    .list(4, 'struct', [0], (rg) => rg
      .list(1, 'struct', chunks, (cc, c) => cc
        .i64(2, c.offset)
        .struct(3, (m) => m
          .i32(1, 6)
          .list(2, 'i32', [0], (l, e) => l.rawI32(e))
          .list(3, 'binary', [c.name], (l, e) => l.rawBinary(e))
          .i32(4, 0) // UNCOMPRESSED
          .i64(5, rows)
          .i64(6, c.size)
          .i64(7, c.size)
          .i64(9, c.offset)))
      .i64(2, chunks.reduce((n, c) => n + c.size, 0))
      .i64(3, rows)));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(meta.length);
  parts.push(meta, len, Buffer.from('PAR1'));
  return new Uint8Array(Buffer.concat(parts));
}
