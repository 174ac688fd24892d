// MySQL packet layer (protocols/mysql/packets.ts): the framer, readMessage, lenenc integers, packet().
// DESIGN: codecs with golden buffers and every input split at every byte boundary.
import { describe, expect, it } from 'vitest';
import { MAX_PACKET } from '../../../protocols/mysql/codes.js';
import { MyFramer, MyReader, MyWriter, newMessage, packet, packetCount, ProtocolError, readMessage } from '../../../protocols/mysql/packets.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s|]/g, ''), 'hex');

interface Got {
  seq: number;
  lastSeq: number;
  payload: Buffer;
  /** the message's raw bytes (headers included) */
  raw: Buffer;
}

/** Feeds `chunks` to `framer`, walks every complete message with readMessage, returns copies. */
function feed(framer: MyFramer, chunks: Buffer[]): Got[] {
  const out: Got[] = [];
  const m = newMessage();
  for (const c of chunks) {
    const got = framer.push(c);
    if (!got) continue;
    expect(got.end).toBeGreaterThan(0);
    let off = 0;
    while (off < got.end) {
      readMessage(got.buf, off, m);
      expect(m.start).toBe(off);
      out.push({
        seq: m.seq,
        lastSeq: m.lastSeq,
        payload: Buffer.from(m.payload.subarray(m.pStart, m.pEnd)),
        raw: Buffer.from(got.buf.subarray(m.start, m.end)),
      });
      off = m.end;
    }
    expect(off).toBe(got.end);
  }
  return out;
}

/** Splits `all` at the given cut points (sorted, within [0, length]). */
function splitAt(all: Buffer, cuts: number[]): Buffer[] {
  const pts = [0, ...cuts, all.length];
  const out: Buffer[] = [];
  for (let i = 1; i < pts.length; i++) out.push(all.subarray(pts[i - 1], pts[i]));
  return out;
}

// The binary result set example of the MySQL protocol documentation ("Binary Protocol Resultset"):
// column count 1 · column definition `col1` VAR_STRING · EOF · one row "foobar" · EOF.
const DOC_BINARY_RESULTSET = hex(`
  01 00 00 01 01|1a 00 00 02 03 64 65 66 00 00 00
  04 63 6f 6c 31 00 0c 08 00 06 00 00 00 fd 00 00
  1f 00 00|05 00 00 03 fe 00 00 02 00|09 00 00 04
  00 00 06 66 6f 6f 62 61 72|05 00 00 05 fe 00 00
  02 00`);

describe('packet() and packetCount()', () => {
  it('golden: a 3-byte little-endian length, the sequence id, the payload', () => {
    expect(packet(1, Buffer.from('abc')).toString('hex')).toBe('03000001616263');
    expect(packet(0, Buffer.alloc(0)).toString('hex')).toBe('00000000');
    expect(packet(0x1ff, Buffer.from([0x0e])).toString('hex')).toBe('010000ff0e'); // sequence ids wrap at 256
    const big = packet(3, Buffer.alloc(0x12345, 0x41));
    expect(big.subarray(0, 4).toString('hex')).toBe('45230103');
    expect(big.length).toBe(4 + 0x12345);
  });

  it('a payload of 0xFFFFFF bytes or more is split into packets of 0xFFFFFF and a shorter (possibly empty) last one', () => {
    for (const len of [MAX_PACKET - 1, MAX_PACKET, MAX_PACKET + 10, 2 * MAX_PACKET, 2 * MAX_PACKET + 3]) {
      const payload = Buffer.alloc(len);
      for (let i = 0; i < len; i += 4093) payload[i] = (i / 4093) & 0xff;
      const out = packet(254, payload);
      // walk the headers
      const lens: number[] = [];
      const seqs: number[] = [];
      let p = 0;
      const parts: Buffer[] = [];
      while (p < out.length) {
        const n = out.readUIntLE(p, 3);
        lens.push(n);
        seqs.push(out[p + 3]!);
        parts.push(out.subarray(p + 4, p + 4 + n));
        p += 4 + n;
      }
      expect(p, `len ${len}`).toBe(out.length);
      expect(lens.length, `len ${len}`).toBe(packetCount(len));
      expect(lens.slice(0, -1).every((n) => n === MAX_PACKET), `len ${len}`).toBe(true);
      expect(lens.at(-1)!, `len ${len}`).toBe(len % MAX_PACKET);
      expect(seqs, `len ${len}`).toEqual(lens.map((_, i) => (254 + i) & 0xff));
      expect(Buffer.concat(parts).equals(payload), `len ${len}`).toBe(true);
    }
    expect(packetCount(0)).toBe(1);
    expect(packetCount(MAX_PACKET - 1)).toBe(1);
    expect(packetCount(MAX_PACKET)).toBe(2);
    expect(packetCount(MAX_PACKET + 10)).toBe(2);
    expect(packetCount(2 * MAX_PACKET)).toBe(3);
  });
});

describe('MyFramer', () => {
  const expectedDoc = [
    { seq: 1, payload: '01' },
    { seq: 2, payload: '0364656600000004636f6c31000c0800060000' + '00fd00001f0000' },
    { seq: 3, payload: 'fe00000200' },
    { seq: 4, payload: '000006666f6f626172' },
    { seq: 5, payload: 'fe00000200' },
  ];

  it('golden: the documentation example splits into its five packets', () => {
    const got = feed(new MyFramer(1 << 20), [DOC_BINARY_RESULTSET]);
    expect(got.map((g) => ({ seq: g.seq, payload: g.payload.toString('hex') }))).toEqual(expectedDoc);
    expect(got.every((g) => g.lastSeq === g.seq)).toBe(true);
    expect(Buffer.concat(got.map((g) => g.raw)).equals(DOC_BINARY_RESULTSET)).toBe(true);
  });

  // a stream with an empty packet, a 250-byte, a 251-byte and a 300-byte payload
  const mixed = Buffer.concat([
    DOC_BINARY_RESULTSET,
    packet(0, Buffer.alloc(0)),
    packet(7, Buffer.alloc(250, 0x61)),
    packet(8, Buffer.alloc(251, 0x62)),
    packet(0, Buffer.concat([Buffer.from([0x03]), Buffer.alloc(299, 0x63)])),
    packet(0, Buffer.from([0x01])),
  ]);
  const whole = feed(new MyFramer(1 << 20), [mixed]);

  it('every input split at one byte boundary yields the same messages', () => {
    expect(whole.length).toBe(10);
    for (let cut = 0; cut <= mixed.length; cut++) {
      const f = new MyFramer(1 << 20);
      const got = feed(f, splitAt(mixed, [cut]));
      if (got.length !== whole.length || got.some((g, i) => !g.raw.equals(whole[i]!.raw))) expect.fail(`cut at ${cut}`);
      expect(f.buffered()).toBe(0);
    }
  });

  it('every input split at every pair of byte boundaries yields the same messages', () => {
    const small = DOC_BINARY_RESULTSET;
    const expected = feed(new MyFramer(1 << 20), [small]);
    for (let a = 0; a <= small.length; a++) {
      for (let b = a; b <= small.length; b++) {
        const f = new MyFramer(1 << 20);
        const got = feed(f, splitAt(small, [a, b]));
        if (got.length !== expected.length || got.some((g, i) => !g.raw.equals(expected[i]!.raw))) expect.fail(`cuts at ${a}, ${b}`);
        expect(f.buffered()).toBe(0);
      }
    }
  });

  it('one byte at a time yields the same messages; bytes of an incomplete message stay buffered', () => {
    const f = new MyFramer(1 << 20);
    const got: Got[] = [];
    for (let i = 0; i < mixed.length; i++) {
      got.push(...feed(f, [mixed.subarray(i, i + 1)]));
    }
    expect(got.map((g) => g.raw.toString('hex'))).toEqual(whole.map((g) => g.raw.toString('hex')));
    expect(f.buffered()).toBe(0);

    const g = new MyFramer(100);
    expect(g.push(hex('05 00 00'))).toBeNull();
    expect(g.buffered()).toBe(3);
    expect(g.push(hex('00 03 41'))).toBeNull();
    expect(g.buffered()).toBe(6);
    expect(g.push(Buffer.alloc(0))).toBeNull();
    const done = g.push(hex('42 43 44 01 00'));
    expect(done?.end).toBe(9);
    expect(done!.buf.subarray(0, 9).toString('hex')).toBe('050000000341424344');
    expect(g.buffered()).toBe(2); // the start of the next header
  });

  it('an empty chunk on an empty framer yields nothing', () => {
    const f = new MyFramer(100);
    expect(f.push(Buffer.alloc(0))).toBeNull();
    expect(f.buffered()).toBe(0);
  });

  describe('continuation packets (payload ≥ 0xFFFFFF)', () => {
    const exact = Buffer.alloc(MAX_PACKET);
    exact[0] = 0x03;
    exact[MAX_PACKET - 1] = 0x7a;
    const exactWire = packet(5, exact); // 0xFFFFFF bytes, then an empty packet
    const over = Buffer.alloc(MAX_PACKET + 10, 0x55);
    over[MAX_PACKET] = 0x99;
    const overWire = packet(0, over); // 0xFFFFFF bytes, then 10
    const tail = packet(0, Buffer.from([0x0e]));

    it('packet() wrote the expected headers', () => {
      expect(exactWire.length).toBe(4 + MAX_PACKET + 4);
      expect(exactWire.subarray(0, 4).toString('hex')).toBe('ffffff05');
      expect(exactWire.subarray(4 + MAX_PACKET).toString('hex')).toBe('00000006');
      expect(overWire.subarray(0, 4).toString('hex')).toBe('ffffff00');
      expect(overWire.subarray(4 + MAX_PACKET, 8 + MAX_PACKET).toString('hex')).toBe('0a000001');
    });

    it('0xFFFFFF bytes + an empty packet form one message; readMessage concatenates and reports first/last sequence ids', () => {
      const got = feed(new MyFramer(0x40000000), [Buffer.concat([exactWire, tail])]);
      expect(got.length).toBe(2);
      expect(got[0]!.seq).toBe(5);
      expect(got[0]!.lastSeq).toBe(6);
      expect(got[0]!.payload.length).toBe(MAX_PACKET);
      expect(got[0]!.payload.equals(exact)).toBe(true);
      expect(got[0]!.raw.equals(exactWire)).toBe(true);
      expect(got[1]!.payload.toString('hex')).toBe('0e');
    });

    it('0xFFFFFF + 10 bytes form one message', () => {
      const got = feed(new MyFramer(0x40000000), [overWire]);
      expect(got.length).toBe(1);
      expect(got[0]!.seq).toBe(0);
      expect(got[0]!.lastSeq).toBe(1);
      expect(got[0]!.payload.equals(over)).toBe(true);
    });

    it('readMessage on a multi-packet message returns a copy with pStart 0 and pEnd = length', () => {
      const buf = Buffer.concat([tail, overWire]);
      const m = newMessage();
      readMessage(buf, tail.length, m);
      expect(m.start).toBe(tail.length);
      expect(m.end).toBe(buf.length);
      expect(m.pStart).toBe(0);
      expect(m.pEnd).toBe(MAX_PACKET + 10);
      expect(m.payload).not.toBe(buf);
      readMessage(buf, 0, m);
      expect(m.payload).toBe(buf); // single packet: a view of the input
      expect([m.pStart, m.pEnd, m.end]).toEqual([4, 5, 5]);
    });

    it('the sequence id of the last packet wraps past 255', () => {
      const got = feed(new MyFramer(0x40000000), [packet(255, exact)]);
      expect(got[0]!.seq).toBe(255);
      expect(got[0]!.lastSeq).toBe(0);
    });

    it('split at boundaries around every header, the message is the same', () => {
      const all = Buffer.concat([tail, exactWire, overWire, tail]);
      const heads = [0, tail.length, tail.length + 4 + MAX_PACKET, tail.length + exactWire.length, tail.length + exactWire.length + 4 + MAX_PACKET];
      const cuts = new Set<number>([1, all.length - 1]);
      for (const h of heads) for (const d of [-4, -1, 0, 1, 3]) if (h + d > 0 && h + d < all.length) cuts.add(h + d);
      const expected = feed(new MyFramer(0x40000000), [all]);
      expect(expected.map((g) => g.payload.length)).toEqual([1, MAX_PACKET, MAX_PACKET + 10, 1]);
      for (const c of [...cuts].sort((a, b) => a - b)) {
        const f = new MyFramer(0x40000000);
        const got = feed(f, splitAt(all, [c]));
        expect(got.length, `cut ${c}`).toBe(4);
        for (let i = 0; i < 4; i++) if (!got[i]!.payload.equals(expected[i]!.payload) || got[i]!.lastSeq !== expected[i]!.lastSeq) expect.fail(`cut ${c}: message ${i}`);
        expect(f.buffered()).toBe(0);
      }
      // header bytes of the continuation packet fed one at a time
      const f = new MyFramer(0x40000000);
      const h = tail.length + 4 + MAX_PACKET;
      const chunks = [all.subarray(0, h), ...[0, 1, 2, 3].map((i) => all.subarray(h + i, h + i + 1)), all.subarray(h + 4)];
      const got = feed(f, chunks);
      expect(got.map((g) => g.payload.length)).toEqual([1, MAX_PACKET, MAX_PACKET + 10, 1]);
    }, 60_000);
  });

  describe('the message size limit', () => {
    it('a packet declaring more than the limit throws a ProtocolError as soon as its header arrives', () => {
      const f = new MyFramer(100);
      expect(() => f.push(hex('65 00 00 00'))).toThrow(ProtocolError); // 101 bytes
      const g = new MyFramer(100);
      expect(g.push(hex('65 00'))).toBeNull();
      expect(() => g.push(hex('00 00'))).toThrow(ProtocolError);
    });

    it('exactly the limit passes', () => {
      const f = new MyFramer(100);
      const got = feed(f, [packet(0, Buffer.alloc(100, 1))]);
      expect(got[0]!.payload.length).toBe(100);
    });

    it('an oversized packet after complete ones in the same chunk throws (the error names the limit)', () => {
      const f = new MyFramer(100);
      const good = packet(0, Buffer.from([0x0e]));
      expect(() => f.push(Buffer.concat([good, hex('ff 00 00 00')]))).toThrow(ProtocolError);
      const g = new MyFramer(100);
      expect(() => g.push(Buffer.concat([good, hex('ff 00 00 00')]))).toThrow(/\b100\b/);
    });

    it('continuation packets count toward the limit as a whole', () => {
      const limit = MAX_PACKET + 5;
      const f = new MyFramer(limit);
      const first = Buffer.concat([hex('ff ff ff 00'), Buffer.alloc(MAX_PACKET)]);
      expect(f.push(first)).toBeNull();
      expect(() => f.push(hex('06 00 00 01'))).toThrow(ProtocolError);
      const ok = new MyFramer(limit);
      const got = feed(ok, [first, hex('05 00 00 01'), Buffer.alloc(5, 9)]);
      expect(got.length).toBe(1);
      expect(got[0]!.payload.length).toBe(limit);
    });
  });
});

describe('MyReader', () => {
  const rd = (s: string): MyReader => {
    const b = hex(s);
    return new MyReader().reset(b, 0, b.length);
  };

  it('fixed-width little-endian integers', () => {
    const r = rd('01 0203 040506 0708090a');
    expect(r.u8()).toBe(1);
    expect(r.u16()).toBe(0x0302);
    expect(r.u24()).toBe(0x060504);
    expect(r.u32()).toBe(0x0a090807);
    expect(r.remaining()).toBe(0);
    expect(() => r.u8()).toThrow(ProtocolError);
    expect(() => rd('01').u16()).toThrow(ProtocolError);
    expect(() => rd('0102').u24()).toThrow(ProtocolError);
    expect(() => rd('010203').u32()).toThrow(ProtocolError);
    expect(rd('ffffffff').u32()).toBe(0xffffffff);
  });

  it('lenenc: the 1-, 3-, 4- and 9-byte forms', () => {
    expect(rd('00').lenenc()).toBe(0);
    expect(rd('fa').lenenc()).toBe(250);
    expect(rd('fc fb 00').lenenc()).toBe(251);
    expect(rd('fc 34 12').lenenc()).toBe(0x1234);
    expect(rd('fc ff ff').lenenc()).toBe(0xffff);
    expect(rd('fd 00 00 01').lenenc()).toBe(0x10000);
    expect(rd('fd 01 02 03').lenenc()).toBe(0x030201);
    expect(rd('fe 00 00 00 01 00 00 00 00').lenenc()).toBe(2 ** 24);
    expect(rd('fe 05 00 00 00 01 00 00 00').lenenc()).toBe(2 ** 32 + 5);
    expect(rd('fe ff ff ff ff ff ff 1f 00').lenenc()).toBe(Number.MAX_SAFE_INTEGER);
    const r = rd('fc 01 00 2a');
    expect(r.lenenc()).toBe(1);
    expect(r.off).toBe(3);
    expect(r.lenenc()).toBe(42);
  });

  it('lenenc: 0xFB is NULL, 0xFF an error, truncated forms and values past 2^53 throw ProtocolError', () => {
    expect(rd('fb').lenenc()).toBeNull();
    expect(() => rd('fb').lenencNum()).toThrow(ProtocolError);
    expect(() => rd('ff').lenenc()).toThrow(ProtocolError);
    expect(() => rd('ff 00 00').lenenc()).toThrow(/0xFF/);
    for (const s of ['', 'fc', 'fc 01', 'fd 01 02', 'fe 01 02 03 04 05 06 07']) expect(() => rd(s).lenenc(), s).toThrow(ProtocolError);
    expect(() => rd('fe 00 00 00 00 00 00 20 00').lenenc()).toThrow(ProtocolError); // 2^53
    expect(() => rd('fe ff ff ff ff ff ff ff ff').lenenc()).toThrow(ProtocolError);
  });

  it('strings: lenenc, NUL-terminated (or the rest), fixed, rest', () => {
    const r = rd('03 616263 fb 00 68 69 00 7a 7a');
    expect(r.lenencString()).toBe('abc');
    expect(r.lenencBytes()).toBeUndefined();
    expect(r.lenencString()).toBe('');
    expect(r.cstring()).toBe('hi');
    expect(r.rest().toString()).toBe('zz');
    expect(r.remaining()).toBe(0);
    // no NUL before the end: the rest, and the reader stops at end (not at a NUL past it)
    const b = hex('61 62 00 63');
    const q = new MyReader().reset(b, 0, 2);
    expect(q.cstring()).toBe('ab');
    expect(q.off).toBe(2);
    expect(() => rd('05 6162').lenencBytes()).toThrow(ProtocolError);
    expect(() => rd('01').bytes(2)).toThrow(ProtocolError);
    expect(() => rd('01').bytes(-1)).toThrow(ProtocolError);
    expect(() => rd('01').skip(2)).toThrow(ProtocolError);
  });

  it('reads only within [start, end) of a larger buffer', () => {
    const b = hex('ff ff 02 41 42 ff');
    const r = new MyReader().reset(b, 2, 5);
    expect(r.lenencString()).toBe('AB');
    expect(() => r.u8()).toThrow(ProtocolError);
  });
});

describe('MyWriter', () => {
  it('lenenc: golden forms at each boundary', () => {
    const enc = (v: number): string => new MyWriter(4).lenenc(v).payload().toString('hex');
    expect(enc(0)).toBe('00');
    expect(enc(250)).toBe('fa');
    expect(enc(251)).toBe('fcfb00');
    expect(enc(0xffff)).toBe('fcffff');
    expect(enc(0x10000)).toBe('fd000001');
    expect(enc(0xffffff)).toBe('fdffffff');
    expect(enc(2 ** 24)).toBe('fe0000000100000000');
    expect(enc(2 ** 32 + 5)).toBe('fe0500000001000000');
  });

  it('lenenc round trip through MyReader', () => {
    const values = [0, 1, 250, 251, 252, 0xfffe, 0xffff, 0x10000, 0xfffffe, 0xffffff, 2 ** 24, 2 ** 24 + 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, 2 ** 40 + 77, Number.MAX_SAFE_INTEGER];
    const w = new MyWriter(1);
    for (const v of values) w.lenenc(v);
    const p = w.payload();
    const r = new MyReader().reset(p, 0, p.length);
    for (const v of values) expect(r.lenenc()).toBe(v);
    expect(r.remaining()).toBe(0);
    const size = (v: number): number => new MyWriter().lenenc(v).payload().length;
    expect(values.map(size)).toEqual(values.map((v) => (v < 251 ? 1 : v <= 0xffff ? 3 : v <= 0xffffff ? 4 : 9)));
  });

  it('grows past its initial size; payload() is a copy; reset() starts over', () => {
    const w = new MyWriter(2);
    w.u8(1).u16(0x0302).u24(0x060504).u32(0x0a090807).cstring('hi').lenencBytes('xyz').str('!').zeros(3).bytes(Buffer.alloc(300, 7));
    const p = w.payload();
    expect(p.subarray(0, 24).toString('hex')).toBe('0102030405060708090a686900' + '0378797a' + '21' + '000000' + '070707');
    expect(p.length).toBe(21 + 300);
    expect(w.len).toBe(p.length);
    w.reset().u8(9);
    expect(w.payload().toString('hex')).toBe('09');
    expect(p[0]).toBe(1); // the earlier payload is unaffected
    expect(new MyWriter().cstring(Buffer.from('ab')).payload().toString('hex')).toBe('616200');
    expect(new MyWriter().lenencBytes(Buffer.alloc(300)).payload().subarray(0, 3).toString('hex')).toBe('fc2c01');
  });
});
