import { describe, expect, it } from 'vitest';
import { Framer } from '../../../protocols/postgres/framer.js';
import { ProtocolError } from '../../../protocols/postgres/bytes.js';
import {
  encodeDescribe,
  encodeErrorResponse,
  encodeParse,
  encodeQuery,
  encodeTerminate,
} from '../../../protocols/postgres/messages.js';

/** Feed `bytes` split at `cuts`, collect the frames the framer hands out. */
function frames(bytes: Buffer, cuts: number[], max = 1 << 20): Buffer[] {
  const f = new Framer(max);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, bytes.length]) {
    const got = f.push(bytes.subarray(prev, c));
    prev = c;
    if (!got) continue;
    let off = 0;
    while (off < got.end) {
      const len = 1 + got.buf.readInt32BE(off + 1);
      out.push(Buffer.from(got.buf.subarray(off, off + len)));
      off += len;
    }
  }
  expect(f.buffered()).toBe(0);
  return out;
}

const stream = Buffer.concat([
  encodeQuery('SELECT 1'),
  encodeParse('s1', 'SELECT $1::int', Buffer.from([0, 1, 0, 0, 0, 23])),
  encodeDescribe('S', 's1'),
  encodeErrorResponse({ severity: 'ERROR', code: '42501', message: 'nope' }),
  encodeQuery('x'.repeat(300)),
  encodeTerminate(),
]);
const expected = frames(stream, []);

describe('Framer', () => {
  it('splits a stream into its messages', () => {
    expect(expected.map((b) => String.fromCharCode(b[0]!))).toEqual(['Q', 'P', 'D', 'E', 'Q', 'X']);
  });

  it('gives the same frames for every single split point', () => {
    for (let i = 1; i < stream.length; i++) {
      expect(frames(stream, [i])).toEqual(expected);
    }
  });

  it('gives the same frames when fed one byte at a time', () => {
    const cuts = Array.from({ length: stream.length - 1 }, (_, i) => i + 1);
    expect(frames(stream, cuts)).toEqual(expected);
  });

  it('gives the same frames for every pair of split points (small stream)', () => {
    const small = Buffer.concat([encodeQuery('SELECT 1'), encodeDescribe('P', ''), encodeTerminate()]);
    const want = frames(small, []);
    for (let i = 1; i < small.length; i++) for (let j = i + 1; j < small.length; j++) expect(frames(small, [i, j])).toEqual(want);
  });

  it('refuses a frame that claims 2 GiB, or a length below 4', () => {
    const huge = Buffer.from([0x51, 0x7f, 0xff, 0xff, 0xff]);
    expect(() => new Framer(1 << 30).push(huge)).toThrow(ProtocolError);
    const neg = Buffer.from([0x51, 0x80, 0x00, 0x00, 0x00]);
    expect(() => new Framer(1 << 30).push(neg)).toThrow(ProtocolError);
    const tiny = Buffer.from([0x51, 0, 0, 0, 3]);
    expect(() => new Framer(1 << 30).push(tiny)).toThrow(ProtocolError);
  });

  it('holds back an incomplete frame without copying per chunk', () => {
    const f = new Framer(1 << 30);
    const big = encodeQuery('y'.repeat(100_000));
    for (let off = 0; off < big.length - 1000; off += 1000) expect(f.push(big.subarray(off, off + 1000))).toBeNull();
  });
});
