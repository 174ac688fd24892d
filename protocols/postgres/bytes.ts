// Byte reader and writer for protocol messages. No dependencies; the reader is reused across frames.

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export class Reader {
  buf: Buffer = Buffer.alloc(0);
  off = 0;
  end = 0;

  /** Point the reader at buf[start, end). */
  reset(buf: Buffer, start: number, end: number): this {
    this.buf = buf;
    this.off = start;
    this.end = end;
    return this;
  }

  remaining(): number {
    return this.end - this.off;
  }

  private need(n: number): void {
    if (this.off + n > this.end) throw new ProtocolError('message too short');
  }

  byte(): number {
    this.need(1);
    return this.buf[this.off++]!;
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.off);
    this.off += 2;
    return v;
  }

  uint16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.off);
    this.off += 4;
    return v;
  }

  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }

  /** NUL-terminated string (UTF-8). */
  cstring(): string {
    const nul = this.buf.indexOf(0, this.off);
    if (nul < 0 || nul >= this.end) throw new ProtocolError('unterminated string');
    const s = this.buf.toString('utf8', this.off, nul);
    this.off = nul + 1;
    return s;
  }

  bytes(n: number): Buffer {
    if (n < 0) throw new ProtocolError('negative length');
    this.need(n);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }

  rest(): Buffer {
    const b = this.buf.subarray(this.off, this.end);
    this.off = this.end;
    return b;
  }
}

/** A growable writer that patches the message length when the message is finished. */
export class Writer {
  private buf: Buffer;
  private off = 0;
  private start = 0;

  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private ensure(n: number): void {
    if (this.off + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.off + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.off);
    this.buf = next;
  }

  /** Begin a typed message: code byte + length placeholder. */
  begin(code: number): this {
    this.ensure(5);
    this.start = this.off;
    this.buf[this.off++] = code;
    this.off += 4;
    return this;
  }

  /** Begin an untyped message (startup-phase): length placeholder only. */
  beginUntyped(): this {
    this.ensure(4);
    this.start = this.off - 1;
    this.off += 4;
    return this;
  }

  byte(v: number): this {
    this.ensure(1);
    this.buf[this.off++] = v;
    return this;
  }

  int16(v: number): this {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.off);
    this.off += 2;
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.off);
    this.off += 4;
    return this;
  }

  cstring(s: string): this {
    const n = Buffer.byteLength(s);
    this.ensure(n + 1);
    this.buf.write(s, this.off, 'utf8');
    this.off += n;
    this.buf[this.off++] = 0;
    return this;
  }

  string(s: string): this {
    const n = Buffer.byteLength(s);
    this.ensure(n);
    this.buf.write(s, this.off, 'utf8');
    this.off += n;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.off);
    this.off += b.length;
    return this;
  }

  /** Patch the length of the message begun last. */
  end(): this {
    this.buf.writeInt32BE(this.off - this.start - 1, this.start + 1);
    return this;
  }

  /** Take everything written so far as a new buffer and reset. */
  flush(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.off));
    this.off = 0;
    this.start = 0;
    return out;
  }
}
