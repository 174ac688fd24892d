// Splits a byte stream of typed messages (Byte1 code · Int32 len · body) into whole frames, once per
// direction. Complete frames are handed over as one contiguous buffer so that unchanged frames can be
// forwarded as slices of the original bytes.
import { ProtocolError } from './bytes.js';

export class Framer {
  private parts: Buffer[] = [];
  private size = 0;
  /** bytes needed before the buffered partial frame is complete (5 when the header is not known yet) */
  private need = 0;

  constructor(private readonly maxFrame: number) {}

  /** Bytes held back waiting for the rest of a frame. */
  buffered(): number {
    return this.size;
  }

  /**
   * Feed a chunk. Returns a buffer whose [0, end) holds only complete frames (end may be 0), or null
   * when nothing is complete yet. The remainder is kept for the next push.
   */
  push(chunk: Buffer): { buf: Buffer; end: number } | null {
    let buf: Buffer;
    if (this.size === 0) {
      buf = chunk;
    } else {
      this.parts.push(chunk);
      this.size += chunk.length;
      // A large frame arrives in many chunks: concatenate once when it is complete, not per chunk.
      if (this.size < this.need) return null;
      buf = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
      this.parts = [];
      this.size = 0;
    }
    const len = buf.length;
    let off = 0;
    while (off + 5 <= len) {
      const l = buf.readInt32BE(off + 1);
      if (l < 4 || l > this.maxFrame) {
        throw new ProtocolError(`invalid message length ${l} for message type 0x${buf[off]!.toString(16)}`);
      }
      if (off + 1 + l > len) break;
      off += 1 + l;
    }
    if (off < len) {
      const rest = buf.subarray(off);
      this.parts = [rest];
      this.size = rest.length;
      this.need = rest.length >= 5 ? 1 + rest.readInt32BE(1) : 5;
      if (rest.length >= 5) {
        const l = rest.readInt32BE(1);
        if (l < 4 || l > this.maxFrame) throw new ProtocolError(`invalid message length ${l}`);
      }
    }
    if (off === 0) return null;
    return { buf, end: off };
  }
}

/** Iterate frames in buf[start, end): calls fn(code, frameStart, bodyStart, frameEnd). */
export function frameLength(buf: Buffer, off: number): number {
  return 1 + buf.readInt32BE(off + 1);
}
