import { describe, expect, it } from 'vitest';
import { encodeBinary } from '../../../protocols/postgres/typed.js';

describe('binary encodings of replacement values', () => {
  it('integers, floats, bool', () => {
    expect(encodeBinary(23, '0')!.toString('hex')).toBe('00000000');
    expect(encodeBinary(23, '-2')!.readInt32BE()).toBe(-2);
    expect(encodeBinary(21, '7')!.readInt16BE()).toBe(7);
    expect(encodeBinary(20, '9007199254740993')!.readBigInt64BE()).toBe(9007199254740993n);
    expect(encodeBinary(701, '1.5')!.readDoubleBE()).toBe(1.5);
    expect(encodeBinary(700, '0')!.length).toBe(4);
    expect(encodeBinary(16, 'f')!.toString('hex')).toBe('00');
    expect(encodeBinary(23, 'x')).toBeNull();
  });
  it('dates and timestamps count from 2000-01-01', () => {
    expect(encodeBinary(1082, '2000-01-02')!.readInt32BE()).toBe(1);
    expect(encodeBinary(1082, '1970-01-01')!.readInt32BE()).toBe(-10957);
    expect(encodeBinary(1114, '2000-01-01 00:00:01')!.readBigInt64BE()).toBe(1_000_000n);
    expect(encodeBinary(1184, '2000-01-01 00:00:00+00')!.readBigInt64BE()).toBe(0n);
  });
  it('uuid, and null for types without an encoder', () => {
    expect(encodeBinary(2950, '00000000-0000-0000-0000-000000000001')!.toString('hex')).toBe('00000000000000000000000000000001');
    expect(encodeBinary(1700, '0')).toBeNull(); // numeric: no encoder, the column becomes NULL
  });
});
