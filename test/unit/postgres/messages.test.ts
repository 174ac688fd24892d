import { describe, expect, it } from 'vitest';
import { Reader } from '../../../protocols/postgres/bytes.js';
import {
  decodeBind,
  decodeErrorFields,
  decodeParse,
  decodeRowDescription,
  decodeStartupParams,
  encodeAuthentication,
  encodeBackendKeyData,
  encodeErrorResponse,
  encodeNegotiateProtocolVersion,
  encodeParse,
  encodeQuery,
  encodeReadyForQuery,
  encodeStartupMessage,
  rowsFromTag,
} from '../../../protocols/postgres/messages.js';
import { copyFormat, maskCopyRow, maskDataRow, type ActivePlan, type CopyFormat } from '../../../protocols/postgres/results.js';

const hex = (b: Buffer): string => b.toString('hex');

describe('golden buffers', () => {
  it('Query', () => {
    expect(hex(encodeQuery('SELECT 1'))).toBe('510000000d53454c454354203100');
  });
  it('ReadyForQuery, BackendKeyData, AuthenticationOk/Cleartext', () => {
    expect(hex(encodeReadyForQuery(0x49))).toBe('5a0000000549');
    expect(hex(encodeBackendKeyData(1, 2))).toBe('4b0000000c0000000100000002');
    expect(hex(encodeAuthentication(0))).toBe('520000000800000000');
    expect(hex(encodeAuthentication(3))).toBe('520000000800000003');
  });
  it('AuthenticationSASL lists mechanisms', () => {
    // 'R' · len 23 · code 10 · "SCRAM-SHA-256\0" · terminating \0
    expect(hex(encodeAuthentication(10, ['SCRAM-SHA-256']))).toBe('52000000170000000a534352414d2d5348412d3235360000');
  });
  it('ErrorResponse fields round-trip', () => {
    const b = encodeErrorResponse({ severity: 'ERROR', code: '42501', message: 'blocked', hint: 'rule x' });
    expect(b[0]).toBe(0x45);
    const f = decodeErrorFields(new Reader().reset(b, 5, b.length));
    expect(f.get('C')).toBe('42501');
    expect(f.get('M')).toBe('blocked');
    expect(f.get('H')).toBe('rule x');
    expect(f.get('S')).toBe('ERROR');
  });
  it('NegotiateProtocolVersion', () => {
    expect(hex(encodeNegotiateProtocolVersion(0, ['_pq_.x']))).toBe('760000001300000000000000015f70715f2e7800');
  });
  it('StartupMessage round-trips its parameters', () => {
    const b = encodeStartupMessage(new Map([['user', 'alice'], ['database', 'app']]));
    expect(b.readInt32BE(0)).toBe(b.length);
    expect(b.readInt32BE(4)).toBe(196608);
    expect([...decodeStartupParams(new Reader().reset(b, 8, b.length))]).toEqual([['user', 'alice'], ['database', 'app']]);
  });
  it('Parse round-trips and keeps parameter types', () => {
    const types = Buffer.from([0, 1, 0, 0, 0, 23]);
    const b = encodeParse('s', 'SELECT $1', types);
    const p = decodeParse(new Reader().reset(b, 5, b.length));
    expect(p).toEqual({ name: 's', query: 'SELECT $1', paramTypes: types });
  });
  it('Bind result formats', () => {
    // Bind: portal "" · statement "s" · 1 format (1) · 1 param (len 1, "7") · 2 result formats (0, 1)
    const body = Buffer.from([0, 0x73, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 0x37, 0, 2, 0, 0, 0, 1]);
    const b = Buffer.concat([Buffer.from([0x42, 0, 0, 0, 4 + body.length]), body]);
    expect(decodeBind(new Reader().reset(b, 5, b.length))).toEqual({ portal: '', statement: 's', resultFormats: [0, 1] });
  });
  it('RowDescription', () => {
    const name = Buffer.from('email\0');
    const body = Buffer.alloc(2 + name.length + 18);
    body.writeInt16BE(1, 0);
    name.copy(body, 2);
    let o = 2 + name.length;
    body.writeUInt32BE(16384, o); o += 4;
    body.writeInt16BE(2, o); o += 2;
    body.writeUInt32BE(25, o); o += 4;
    body.writeInt16BE(-1, o); o += 2;
    body.writeInt32BE(-1, o); o += 4;
    body.writeInt16BE(0, o);
    const b = Buffer.concat([Buffer.from([0x54, 0, 0, 0, 4 + body.length]), body]);
    expect(decodeRowDescription(new Reader().reset(b, 5, b.length))).toEqual([
      { name: 'email', tableOid: 16384, attnum: 2, typeOid: 25, typeSize: -1, typeMod: -1, format: 0 },
    ]);
  });
  it('rows from command tags', () => {
    expect(rowsFromTag('SELECT 5')).toBe(5);
    expect(rowsFromTag('INSERT 0 3')).toBe(3);
    expect(rowsFromTag('BEGIN')).toBeUndefined();
  });
});

function dataRow(cells: (string | null)[]): Buffer {
  const parts = cells.map((c) => {
    if (c === null) return Buffer.from([0xff, 0xff, 0xff, 0xff]);
    const v = Buffer.from(c);
    const l = Buffer.alloc(4);
    l.writeInt32BE(v.length);
    return Buffer.concat([l, v]);
  });
  const body = Buffer.concat([Buffer.from([0, cells.length]), ...parts]);
  const head = Buffer.from([0x44, 0, 0, 0, 0]);
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

function cellsOf(b: Buffer): (string | null)[] {
  const n = b.readInt16BE(5);
  const out: (string | null)[] = [];
  let off = 7;
  for (let i = 0; i < n; i++) {
    const l = b.readInt32BE(off);
    off += 4;
    out.push(l < 0 ? null : b.toString('utf8', off, off + l));
    if (l > 0) off += l;
  }
  expect(off).toBe(b.length);
  return out;
}

describe('DataRow and COPY masking', () => {
  const upper = (buf: Buffer, s: number, e: number): string | undefined => {
    const t = buf.toString('utf8', s, e);
    return t.includes('@') ? t.toUpperCase() : undefined;
  };
  const plan = (): ActivePlan => ({ cells: [null, upper, upper], nullOnly: [false, false, true], masked: 0 });

  it('leaves rows without a change untouched (null)', () => {
    expect(maskDataRow(dataRow(['1', 'x', 'y']), 0, dataRow(['1', 'x', 'y']).length, plan())).toBeNull();
  });
  it('rebuilds a row with the masked cells, keeping the others and NULLs', () => {
    const row = dataRow(['1', 'a@b.c', null]);
    const p = plan();
    const out = maskDataRow(row, 0, row.length, p)!;
    expect(cellsOf(out)).toEqual(['1', 'A@B.C', null]);
    expect(p.masked).toBe(1);
  });
  it('uses NULL where a replacement would not be valid for the type', () => {
    const row = dataRow(['1', 'x', 'q@r.s']);
    expect(cellsOf(maskDataRow(row, 0, row.length, plan())!)).toEqual(['1', 'x', null]);
  });
  it('masks COPY text rows, escaping the replacement', () => {
    const line = Buffer.from('1\ta@b.c\t\\N\n');
    const frame = Buffer.concat([Buffer.from([0x64, 0, 0, 0, 4 + line.length]), line]);
    const p: ActivePlan = { cells: [null, () => 'x\ty', null], nullOnly: [false, false, false], masked: 0 };
    const out = maskCopyRow(frame, 0, frame.length, p, copyFormat(undefined) as CopyFormat)!;
    expect(out.toString('utf8', 5)).toBe('1\tx\\ty\t\\N\n');
  });
  it('masks COPY csv rows with quoted fields', () => {
    const line = Buffer.from('1,"a,b@c.d",z\n');
    const frame = Buffer.concat([Buffer.from([0x64, 0, 0, 0, 4 + line.length]), line]);
    const seen: string[] = [];
    const p: ActivePlan = {
      cells: [null, (b, s, e) => { seen.push(b.toString('utf8', s, e)); return 'M'; }, null],
      nullOnly: [false, false, false],
      masked: 0,
    };
    const out = maskCopyRow(frame, 0, frame.length, p, copyFormat({ format: 'csv' }) as CopyFormat)!;
    expect(seen).toEqual(['a,b@c.d']);
    expect(out.toString('utf8', 5)).toBe('1,M,z\n');
  });
  it('honours DELIMITER, QUOTE and escaped delimiters', () => {
    const f = copyFormat({ format: 'text', options: { delimiter: '|' } }) as CopyFormat;
    const line = Buffer.from('1|a\\|b|x@y.z\n');
    const frame = Buffer.concat([Buffer.from([0x64, 0, 0, 0, 4 + line.length]), line]);
    const seen: string[] = [];
    const p: ActivePlan = { cells: [null, (b, s, e) => { seen.push(b.toString('utf8', s, e)); return undefined; }, () => 'M|N'], nullOnly: [false, false, false], masked: 0 };
    const out = maskCopyRow(frame, 0, frame.length, p, f)!;
    expect(seen).toEqual(['a\\|b']);
    expect(out.toString('utf8', 5)).toBe('1|a\\|b|M\\|N\n');
    const csv = copyFormat({ format: 'csv', options: { delimiter: ';', quote: "'" } }) as CopyFormat;
    const l2 = Buffer.from("1;'a;b''c';z\n");
    const f2 = Buffer.concat([Buffer.from([0x64, 0, 0, 0, 4 + l2.length]), l2]);
    const got: string[] = [];
    const p2: ActivePlan = { cells: [null, (b, s, e) => { got.push(b.toString('utf8', s, e)); return "q'r"; }, null], nullOnly: [false, false, false], masked: 0 };
    expect(maskCopyRow(f2, 0, f2.length, p2, csv)!.toString('utf8', 5)).toBe("1;'q''r';z\n");
    expect(got).toEqual(["a;b'c"]);
  });
  it('refuses formats it cannot split', () => {
    expect(copyFormat({ format: 'binary' })).toMatch(/binary/);
    expect(copyFormat({ options: { delimiter: '||' } })).toMatch(/DELIMITER/);
    expect(copyFormat({ options: { encoding: 'latin1' } })).toMatch(/ENCODING/);
    expect(copyFormat({ options: { header: true } })).toMatchObject({ header: true });
    expect(copyFormat({ options: { header: 'false' } })).toMatchObject({ header: false });
  });
});
