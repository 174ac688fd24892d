// MySQL packets: 3-byte little-endian payload length · 1-byte sequence id · payload. A payload of 2^24-1
// bytes or more continues in the next packet; the last piece is shorter (possibly empty). The framer splits a
// stream once into whole *messages* (a packet and its continuations), so unchanged messages are forwarded as
// slices of the bytes that arrived.
import { ProtocolError } from '../postgres/bytes.js';
import { MAX_PACKET } from './codes.js';

export { ProtocolError };

export class MyReader {
  buf: Buffer = Buffer.alloc(0);
  off = 0;
  end = 0;

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
    if (n < 0 || this.off + n > this.end) throw new ProtocolError('packet too short');
  }

  u8(): number {
    this.need(1);
    return this.buf[this.off++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.off);
    this.off += 2;
    return v;
  }

  u24(): number {
    this.need(3);
    const v = this.buf.readUIntLE(this.off, 3);
    this.off += 3;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.off);
    this.off += 4;
    return v;
  }

  /** Length-encoded integer; null for the NULL marker 0xFB. Values past 2^53 are refused. */
  lenenc(): number | null {
    const b = this.u8();
    if (b < 0xfb) return b;
    if (b === 0xfb) return null;
    if (b === 0xfc) return this.u16();
    if (b === 0xfd) return this.u24();
    if (b === 0xfe) {
      this.need(8);
      const lo = this.buf.readUInt32LE(this.off);
      const hi = this.buf.readUInt32LE(this.off + 4);
      this.off += 8;
      if (hi > 0x1fffff) throw new ProtocolError('length-encoded integer too large');
      return hi * 0x100000000 + lo;
    }
    throw new ProtocolError('invalid length-encoded integer (0xFF)');
  }

  lenencNum(): number {
    const v = this.lenenc();
    if (v === null) throw new ProtocolError('unexpected NULL length');
    return v;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }

  skip(n: number): void {
    this.need(n);
    this.off += n;
  }

  /** Length-encoded string (undefined for NULL). */
  lenencBytes(): Buffer | undefined {
    const n = this.lenenc();
    return n === null ? undefined : this.bytes(n);
  }

  lenencString(): string {
    return (this.lenencBytes() ?? Buffer.alloc(0)).toString('utf8');
  }

  /** NUL-terminated; when there is no NUL, the rest (servers and clients differ at the end of a packet). */
  cstringBytes(): Buffer {
    const z = this.buf.indexOf(0, this.off);
    const stop = z < 0 || z >= this.end ? this.end : z;
    const b = this.buf.subarray(this.off, stop);
    this.off = stop < this.end ? stop + 1 : stop;
    return b;
  }

  cstring(): string {
    return this.cstringBytes().toString('utf8');
  }

  rest(): Buffer {
    const b = this.buf.subarray(this.off, this.end);
    this.off = this.end;
    return b;
  }
}

/** Grows as needed; `payload()` returns the bytes written so far (a copy-free view). */
export class MyWriter {
  private buf: Buffer;
  len = 0;

  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(v: number): this {
    this.room(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.room(2);
    this.buf.writeUInt16LE(v & 0xffff, this.len);
    this.len += 2;
    return this;
  }

  u24(v: number): this {
    this.room(3);
    this.buf.writeUIntLE(v, this.len, 3);
    this.len += 3;
    return this;
  }

  u32(v: number): this {
    this.room(4);
    this.buf.writeUInt32LE(v >>> 0, this.len);
    this.len += 4;
    return this;
  }

  lenenc(v: number): this {
    if (v < 0xfb) return this.u8(v);
    if (v <= 0xffff) return this.u8(0xfc).u16(v);
    if (v <= 0xffffff) return this.u8(0xfd).u24(v);
    this.u8(0xfe);
    this.u32(v % 0x100000000);
    return this.u32(Math.floor(v / 0x100000000));
  }

  bytes(b: Buffer | Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  str(s: string): this {
    return this.bytes(Buffer.from(s, 'utf8'));
  }

  cstring(s: string | Buffer): this {
    this.bytes(typeof s === 'string' ? Buffer.from(s, 'utf8') : s);
    return this.u8(0);
  }

  lenencBytes(b: Buffer | string): this {
    const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
    return this.lenenc(buf.length).bytes(buf);
  }

  zeros(n: number): this {
    this.room(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
    return this;
  }

  /** Copy src[a, b) in, without a subarray object. */
  range(src: Buffer, a: number, b: number): this {
    const n = b - a;
    this.room(n);
    src.copy(this.buf, this.len, a, b);
    this.len += n;
    return this;
  }

  /** A length-encoded string written straight from a JS string. */
  lenencStr(s: string): this {
    const n = Buffer.byteLength(s, 'utf8');
    this.lenenc(n);
    this.room(n);
    this.buf.write(s, this.len, 'utf8');
    this.len += n;
    return this;
  }

  /** Patch bytes already written: a packet header (3-byte length, sequence id) at off. */
  header(off: number, length: number, seq: number): void {
    this.buf.writeUIntLE(length, off, 3);
    this.buf[off + 3] = seq & 0xff;
  }

  /** OR a bit into a byte already written. */
  orByte(off: number, bits: number): void {
    this.buf[off] = this.buf[off]! | bits;
  }

  /** Hand over the bytes written so far (no copy) and start on a fresh buffer. */
  take(): Buffer {
    const b = this.buf.subarray(0, this.len);
    this.buf = Buffer.allocUnsafe(Math.max(256, this.buf.length));
    this.len = 0;
    return b;
  }

  /** A copy of the payload written so far. */
  payload(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }

  reset(): this {
    this.len = 0;
    return this;
  }
}

/** Encodes a payload as one or more packets starting at sequence id `seq`. */
export function packet(seq: number, payload: Buffer): Buffer {
  if (payload.length < MAX_PACKET) {
    const out = Buffer.allocUnsafe(4 + payload.length);
    out.writeUIntLE(payload.length, 0, 3);
    out[3] = seq & 0xff;
    payload.copy(out, 4);
    return out;
  }
  const parts: Buffer[] = [];
  let off = 0;
  let s = seq;
  for (;;) {
    const n = Math.min(MAX_PACKET, payload.length - off);
    const h = Buffer.allocUnsafe(4);
    h.writeUIntLE(n, 0, 3);
    h[3] = s++ & 0xff;
    parts.push(h, payload.subarray(off, off + n));
    off += n;
    if (n < MAX_PACKET) break;
  }
  return Buffer.concat(parts);
}

/** Number of packets `packet(seq, payload)` produces. */
export function packetCount(payloadLength: number): number {
  return Math.floor(payloadLength / MAX_PACKET) + 1;
}

/**
 * One message in buf at off: its end, its last sequence id, and its payload (a slice when it is a single
 * packet, a copy when it spans several). Only call on bytes the framer returned as complete.
 */
export interface Message {
  start: number;
  end: number;
  /** sequence id of the first packet */
  seq: number;
  /** sequence id of the last packet */
  lastSeq: number;
  payload: Buffer;
  /** payload offsets within `payload` (0 and length for multi-packet messages) */
  pStart: number;
  pEnd: number;
}

export function readMessage(buf: Buffer, off: number, m: Message): void {
  const len = buf.readUIntLE(off, 3);
  m.start = off;
  m.seq = buf[off + 3]!;
  if (len < MAX_PACKET) {
    m.end = off + 4 + len;
    m.lastSeq = m.seq;
    m.payload = buf;
    m.pStart = off + 4;
    m.pEnd = m.end;
    return;
  }
  const parts: Buffer[] = [];
  let p = off;
  let seq = m.seq;
  for (;;) {
    const n = buf.readUIntLE(p, 3);
    seq = buf[p + 3]!;
    parts.push(buf.subarray(p + 4, p + 4 + n));
    p += 4 + n;
    if (n < MAX_PACKET) break;
  }
  m.end = p;
  m.lastSeq = seq;
  m.payload = Buffer.concat(parts);
  m.pStart = 0;
  m.pEnd = m.payload.length;
}

export const newMessage = (): Message => ({ start: 0, end: 0, seq: 0, lastSeq: 0, payload: Buffer.alloc(0), pStart: 0, pEnd: 0 });

/** Splits a stream into whole messages (a packet plus its continuation packets). */
export class MyFramer {
  private parts: Buffer[] = [];
  private size = 0;
  private need = 0;

  /** largest payload of one message; the session lowers it to the target's max_allowed_packet */
  constructor(public maxMessage: number) {}

  /** Bytes held back waiting for the rest of a message. */
  buffered(): number {
    return this.size;
  }

  /** Returns buf whose [0, end) holds only complete messages, or null when nothing is complete yet. */
  push(chunk: Buffer): { buf: Buffer; end: number } | null {
    let buf: Buffer;
    if (this.size === 0) buf = chunk;
    else {
      this.parts.push(chunk);
      this.size += chunk.length;
      if (this.size < this.need) return null;
      buf = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
      this.parts = [];
      this.size = 0;
    }
    const len = buf.length;
    let off = 0;
    let need = 4;
    for (;;) {
      // walk one message: packets of MAX_PACKET continue
      let p = off;
      let total = 0;
      let complete = false;
      while (p + 4 <= len) {
        const n = buf.readUIntLE(p, 3);
        total += n;
        if (total > this.maxMessage) {
          throw new ProtocolError(`packet of ${total} bytes or more is bigger than the target's max_allowed_packet (${this.maxMessage} bytes)`);
        }
        if (p + 4 + n > len) {
          need = p + 4 + n - off;
          break;
        }
        p += 4 + n;
        if (n < MAX_PACKET) {
          complete = true;
          break;
        }
        need = p + 4 - off;
      }
      if (p + 4 > len && !complete) need = Math.max(need, p + 4 - off);
      if (!complete) break;
      off = p;
      need = 4;
      if (off >= len) break;
    }
    if (off < len) {
      const rest = buf.subarray(off);
      this.parts = [rest];
      this.size = rest.length;
      this.need = need;
    }
    if (off === 0) return null;
    return { buf, end: off };
  }
}
