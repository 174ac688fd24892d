// Result rows: which columns a masking plan touches, and rebuilding text-protocol and binary-protocol rows
// whose cells changed. Rows with no masked cell are forwarded as the original bytes.
import type { CellMasker, ColumnInfo, ResultMasker, RowPlan, SessionInfo } from '../../src/types.js';
import { BINARY_CHARSET, Flag, Type } from './codes.js';
import type { ColumnDef } from './messages.js';
import { MyReader, MyWriter, ProtocolError } from './packets.js';

const TYPE_NAMES: Record<number, string> = {
  [Type.DECIMAL]: 'decimal',
  [Type.NEWDECIMAL]: 'decimal',
  [Type.TINY]: 'tinyint',
  [Type.SHORT]: 'smallint',
  [Type.INT24]: 'mediumint',
  [Type.LONG]: 'int',
  [Type.LONGLONG]: 'bigint',
  [Type.FLOAT]: 'float',
  [Type.DOUBLE]: 'double',
  [Type.TIMESTAMP]: 'timestamp',
  [Type.TIMESTAMP2]: 'timestamp',
  [Type.DATE]: 'date',
  [Type.NEWDATE]: 'date',
  [Type.TIME]: 'time',
  [Type.TIME2]: 'time',
  [Type.DATETIME]: 'datetime',
  [Type.DATETIME2]: 'datetime',
  [Type.YEAR]: 'year',
  [Type.VARCHAR]: 'varchar',
  [Type.VAR_STRING]: 'varchar',
  [Type.STRING]: 'char',
  [Type.ENUM]: 'enum',
  [Type.SET]: 'set',
  [Type.TINY_BLOB]: 'blob',
  [Type.MEDIUM_BLOB]: 'blob',
  [Type.LONG_BLOB]: 'blob',
  [Type.BLOB]: 'blob',
  [Type.JSON]: 'json',
  [Type.BIT]: 'bit',
  [Type.GEOMETRY]: 'geometry',
  [Type.NULL]: 'null',
};

/** Types whose cells are length-encoded strings in both protocols. */
function isStringType(t: number): boolean {
  return (
    t === Type.VARCHAR || t === Type.VAR_STRING || t === Type.STRING || t === Type.ENUM || t === Type.SET ||
    t === Type.TINY_BLOB || t === Type.MEDIUM_BLOB || t === Type.LONG_BLOB || t === Type.BLOB || t === Type.JSON
  );
}

export function columnInfo(d: ColumnDef, binaryRows: boolean): ColumnInfo {
  const str = isStringType(d.type);
  // Binary-charset strings (BLOB, VARBINARY, and every string column under character_set_results=binary, as
  // mariadb-dump sets it) are still scanned: the bytes are the text the client will print.
  // An unknown type gets a name no type table knows, so a masked value of it becomes NULL, never text.
  let typeName = TYPE_NAMES[d.type] ?? `mysql type 0x${d.type.toString(16)}`;
  if (str && d.charset === BINARY_CHARSET && typeName === 'varchar') typeName = 'varbinary';
  if (!str && d.flags & Flag.UNSIGNED) typeName += ' unsigned';
  return {
    name: d.name,
    ...(d.schema ? { schema: d.schema } : {}),
    ...(d.orgTable ? { table: d.orgTable } : {}),
    ...(d.orgName ? { column: d.orgName } : {}),
    textLike: str,
    typeName,
    format: binaryRows && !str ? 'binary' : 'text',
  };
}

/** A plan ready to apply to rows: the masker per column, and what a replacement may become. */
export interface MyPlan {
  cells: (CellMasker | null)[];
  /** replacement must become NULL (not a valid value of a non-string column) */
  nullOnly: boolean[];
  types: number[];
  unsigned: boolean[];
  masked: number;
}

export function planFor(masker: ResultMasker | null, session: SessionInfo, defs: readonly ColumnDef[], binaryRows: boolean): MyPlan | null {
  if (!masker) return null;
  const cols = defs.map((d) => columnInfo(d, binaryRows));
  const plan: RowPlan | null = masker.plan(session, cols);
  if (!plan || !plan.cells.some((c) => c !== null)) return null;
  return {
    cells: [...plan.cells],
    nullOnly: cols.map((c, i) => !c.textLike && !(plan.typeValid?.[i] ?? false)),
    types: defs.map((d) => d.type),
    unsigned: defs.map((d) => (d.flags & Flag.UNSIGNED) !== 0),
    masked: 0,
  };
}

const w = new MyWriter(4096);
const r = new MyReader();

/**
 * Text row: one length-encoded string (or 0xFB for NULL) per column. Writes the new payload to `dest` and
 * returns true, or writes nothing and returns false when no cell changed.
 */
export function maskTextRowInto(buf: Buffer, start: number, end: number, plan: MyPlan, dest: MyWriter): boolean {
  r.reset(buf, start, end);
  const n = plan.cells.length;
  let copied = start;
  let changed = false;
  for (let i = 0; i < n; i++) {
    const cellHead = r.off;
    const len = r.lenenc();
    if (len === null) continue;
    const cs = r.off;
    r.skip(len);
    const m = plan.cells[i];
    if (!m) continue;
    let out = m(buf, cs, r.off);
    if (out === undefined) continue;
    if (out !== null && plan.nullOnly[i]) out = null;
    plan.masked++;
    changed = true;
    dest.range(buf, copied, cellHead);
    if (out === null) dest.u8(0xfb);
    else dest.lenencStr(out);
    copied = r.off;
  }
  if (!changed) return false;
  dest.range(buf, copied, end);
  return true;
}

/** maskTextRowInto as a new payload, or null when no cell changed. */
export function maskTextRow(buf: Buffer, start: number, end: number, plan: MyPlan): Buffer | null {
  w.reset();
  return maskTextRowInto(buf, start, end, plan, w) ? w.payload() : null;
}

/** Size of a binary-protocol value of type t at buf[off] (fixed width or length-encoded). */
function binaryCell(t: number, buf: Buffer, off: number, end: number): { start: number; end: number } {
  let width = -1;
  switch (t) {
    case Type.TINY:
      width = 1;
      break;
    case Type.SHORT:
    case Type.YEAR:
      width = 2;
      break;
    case Type.LONG:
    case Type.INT24:
    case Type.FLOAT:
      width = 4;
      break;
    case Type.LONGLONG:
    case Type.DOUBLE:
      width = 8;
      break;
    case Type.DATE:
    case Type.NEWDATE:
    case Type.DATETIME:
    case Type.DATETIME2:
    case Type.TIMESTAMP:
    case Type.TIMESTAMP2:
    case Type.TIME:
    case Type.TIME2: {
      if (off >= end) throw new ProtocolError('binary row shorter than its columns');
      const n = buf[off]!;
      return { start: off + 1, end: off + 1 + n };
    }
    default: {
      r.reset(buf, off, end);
      const n = r.lenencNum();
      return { start: r.off, end: r.off + n };
    }
  }
  return { start: off, end: off + width };
}

/** The binary form of a replacement for a column of type t, or null when it cannot be one. */
export function encodeBinaryValue(t: number, unsigned: boolean, text: string): Buffer | null {
  const enc = new MyWriter(16);
  switch (t) {
    case Type.TINY:
    case Type.SHORT:
    case Type.YEAR:
    case Type.LONG:
    case Type.INT24:
    case Type.LONGLONG: {
      if (!/^-?\d+$/.test(text)) return null;
      const v = BigInt(text);
      const width = t === Type.TINY ? 1 : t === Type.SHORT || t === Type.YEAR ? 2 : t === Type.LONGLONG ? 8 : 4;
      // INT24 travels in 4 bytes but holds 3
      const bits = BigInt((t === Type.INT24 ? 3 : width) * 8);
      const min = unsigned ? 0n : -(1n << (bits - 1n));
      const max = unsigned ? (1n << bits) - 1n : (1n << (bits - 1n)) - 1n;
      if (v < min || v > max) return null;
      const b = Buffer.alloc(width);
      const u = v < 0n ? (1n << BigInt(width * 8)) + v : v;
      if (width === 8) b.writeBigUInt64LE(u);
      else b.writeUIntLE(Number(u), 0, width);
      return b;
    }
    case Type.FLOAT:
    case Type.DOUBLE: {
      if (!/^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?\s*$/i.test(text)) return null;
      const v = Number(text);
      if (!Number.isFinite(v)) return null;
      const b = Buffer.alloc(t === Type.FLOAT ? 4 : 8);
      if (t === Type.FLOAT) b.writeFloatLE(v);
      else b.writeDoubleLE(v);
      return b;
    }
    case Type.DATE:
    case Type.NEWDATE:
    case Type.DATETIME:
    case Type.DATETIME2:
    case Type.TIMESTAMP:
    case Type.TIMESTAMP2: {
      const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?$/.exec(text);
      if (!m || Number(m[2]) > 12 || Number(m[3]) > 31 || Number(m[4] ?? 0) > 23 || Number(m[5] ?? 0) > 59 || Number(m[6] ?? 0) > 59) return null;
      enc.u8(m[4] !== undefined ? (m[7] ? 11 : 7) : 4).u16(Number(m[1])).u8(Number(m[2])).u8(Number(m[3]));
      if (m[4] !== undefined) enc.u8(Number(m[4])).u8(Number(m[5])).u8(Number(m[6]));
      if (m[7]) enc.u32(Number(m[7].padEnd(6, '0')));
      return enc.payload();
    }
    case Type.TIME:
    case Type.TIME2: {
      const m = /^(-)?(\d+):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(text);
      if (!m || Number(m[3]) > 59 || Number(m[4]) > 59) return null;
      const hours = Number(m[2]);
      enc.u8(m[5] ? 12 : 8).u8(m[1] ? 1 : 0).u32(Math.floor(hours / 24)).u8(hours % 24).u8(Number(m[3])).u8(Number(m[4]));
      if (m[5]) enc.u32(Number(m[5].padEnd(6, '0')));
      return enc.payload();
    }
    default:
      // DECIMAL, strings, JSON, BIT, GEOMETRY: length-encoded
      return new MyWriter(text.length + 9).lenencBytes(text).payload();
  }
}

/**
 * Binary row: 0x00 · NULL bitmap ((n + 7 + 2) / 8 bytes, offset 2) · values of the non-NULL columns.
 * Writes the new payload to `dest` and returns true, or writes nothing and returns false when no cell changed.
 */
export function maskBinaryRowInto(buf: Buffer, start: number, end: number, plan: MyPlan, dest: MyWriter): boolean {
  const n = plan.cells.length;
  const bitmapLen = (n + 9) >> 3;
  const bitmap = start + 1;
  let off = bitmap + bitmapLen;
  if (off > end) throw new ProtocolError('binary row shorter than its NULL bitmap');
  const mark = dest.len;
  let copied = start;
  let changed = false;
  for (let i = 0; i < n; i++) {
    const bit = i + 2;
    if (buf[bitmap + (bit >> 3)]! & (1 << (bit & 7))) continue;
    const t = plan.types[i]!;
    const cellHead = off;
    const c = binaryCell(t, buf, off, end);
    if (c.end > end) throw new ProtocolError('binary row cell past the end of the packet');
    off = c.end;
    const m = plan.cells[i];
    if (!m) continue;
    const out = m(buf, c.start, c.end);
    if (out === undefined) continue;
    plan.masked++;
    changed = true;
    dest.range(buf, copied, cellHead);
    if (out !== null && !plan.nullOnly[i] && isStringType(t)) dest.lenencStr(out);
    else {
      const enc = out !== null && !plan.nullOnly[i] ? encodeBinaryValue(t, plan.unsigned[i]!, out) : null;
      if (enc === null) dest.orByte(mark + 1 + (bit >> 3), 1 << (bit & 7));
      else dest.bytes(enc);
    }
    copied = off;
  }
  if (!changed) return false;
  dest.range(buf, copied, end);
  return true;
}

/** maskBinaryRowInto as a new payload, or null when no cell changed. */
export function maskBinaryRow(buf: Buffer, start: number, end: number, plan: MyPlan): Buffer | null {
  w.reset();
  return maskBinaryRowInto(buf, start, end, plan, w) ? w.payload() : null;
}
