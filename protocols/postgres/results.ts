// Masking of result rows: DataRow cells (text or binary format, as the columns say) and COPY TO STDOUT rows
// (text and csv). Rows whose plan needs no work are never touched; a changed row is rebuilt once.
import type { CellMasker, ColumnInfo, RowPlan } from '../../src/types.js';
import { Backend } from './codes.js';
import type { FieldDescription } from './messages.js';
import type { TableInfo } from './catalog.js';
import { encodeBinary } from './typed.js';

/** Types whose text form can never carry free text (numbers, dates, booleans...). */
const NON_TEXT_TYPES = new Set([
  16, 17, 20, 21, 23, 26, 27, 28, 29, 700, 701, 790, 1082, 1083, 1114, 1184, 1186, 1266, 1560, 1562, 1700, 2950, 3220,
]);
/** Types whose binary form is plain UTF-8 text. */
const BINARY_TEXT_TYPES = new Set([25, 1043, 1042, 19, 114, 705, 18]);

const TYPE_NAMES: Record<number, string> = {
  16: 'bool', 17: 'bytea', 18: 'char', 19: 'name', 20: 'int8', 21: 'int2', 23: 'int4', 25: 'text', 26: 'oid', 114: 'json',
  650: 'cidr', 700: 'float4', 701: 'float8', 705: 'unknown', 829: 'macaddr', 869: 'inet', 1042: 'bpchar', 1043: 'varchar',
  1082: 'date', 1083: 'time', 1114: 'timestamp', 1184: 'timestamptz', 1186: 'interval', 1266: 'timetz', 1700: 'numeric',
  2950: 'uuid', 3802: 'jsonb', 1000: '_bool', 1005: '_int2', 1007: '_int4', 1009: '_text', 1015: '_varchar', 1016: '_int8',
};

/** Arrays of numbers, dates and the like: their binary form cannot carry free text. */
const BINARY_NON_TEXT_ARRAYS = new Set([1000, 1005, 1007, 1016, 1021, 1022, 1028, 1115, 1182, 1183, 1185, 1187, 1231, 2951]);
const JSONB = 3802;

/**
 * A binary-format column of a type whose layout we do not decode (text arrays, records, domains, citext,
 * enums, extension types…): its bytes are still scanned as text, and if anything is found the whole cell
 * becomes NULL — a rewritten piece inside would corrupt the binary layout, and passing it would leak.
 */
export function isOpaqueBinary(typeOid: number, format: number): boolean {
  return format === 1 && typeOid !== JSONB && !BINARY_TEXT_TYPES.has(typeOid) && !NON_TEXT_TYPES.has(typeOid) && !BINARY_NON_TEXT_ARRAYS.has(typeOid);
}

export function isTextLike(typeOid: number, format: number): boolean {
  if (format === 0) return !NON_TEXT_TYPES.has(typeOid);
  return BINARY_TEXT_TYPES.has(typeOid) || typeOid === JSONB || isOpaqueBinary(typeOid, format);
}

/** Column descriptions for the masking engine, with source tables resolved through the catalog. */
export function describeColumns(
  fields: readonly FieldDescription[],
  formats: readonly number[],
  table: (oid: number) => TableInfo | undefined,
): ColumnInfo[] {
  return fields.map((f, i) => {
    const t = f.tableOid !== 0 ? table(f.tableOid) : undefined;
    const column = t?.columns.get(f.attnum);
    return {
      name: f.name,
      schema: t && t.table ? t.schema : undefined,
      table: t && t.table ? t.table : undefined,
      column,
      textLike: isTextLike(f.typeOid, formats[i] ?? 0),
      typeName: TYPE_NAMES[f.typeOid],
      format: (formats[i] ?? 0) === 0 ? 'text' : 'binary',
    };
  });
}

/** Result formats of a portal's columns from Bind's result-format codes (none: text; one: all). */
export function resultFormats(codes: readonly number[], n: number): number[] {
  if (codes.length === 0) return new Array<number>(n).fill(0);
  if (codes.length === 1) return new Array<number>(n).fill(codes[0]!);
  return codes.slice(0, n);
}

/** A compiled per-result plan: which cells to look at and how their replacement must be written. */
export interface ActivePlan {
  cells: readonly (CellMasker | null)[];
  /** per column: a replacement string would not be a valid value of the type, so use NULL */
  nullOnly: readonly boolean[];
  /** per column: the type OID whose binary form the replacement text must be encoded in, or 0 */
  binaryType?: readonly number[];
  /** per column: binary jsonb (a version byte, then JSON text) */
  jsonbBinary?: readonly boolean[];
  masked: number;
}

/**
 * Text-like columns take any replacement. Other types keep the engine's replacement when it says the value
 * is valid for the type (0 for an int4, 1970-01-01 for a date…), encoded in binary when the column is
 * binary; otherwise they become NULL, the one value valid for every type.
 */
export function activate(
  plan: RowPlan | null,
  columns: readonly ColumnInfo[],
  typeOids?: readonly number[],
): ActivePlan | null {
  if (!plan || !plan.cells.some((c) => c !== null)) return null;
  const binary = (i: number): boolean => columns[i]!.format === 'binary';
  const nullOnly = columns.map(
    (c, i) => (!c.textLike && !(plan.typeValid?.[i] ?? false)) || (binary(i) && isOpaqueBinary(typeOids?.[i] ?? 0, 1)),
  );
  let binaryType: number[] | undefined;
  let jsonbBinary: boolean[] | undefined;
  columns.forEach((c, i) => {
    if (!binary(i)) return;
    const oid = typeOids?.[i] ?? 0;
    if (oid === JSONB) {
      (jsonbBinary ??= new Array<boolean>(columns.length).fill(false))[i] = true;
      (binaryType ??= new Array<number>(columns.length).fill(0))[i] = JSONB;
    } else if (!c.textLike && !nullOnly[i]) {
      (binaryType ??= new Array<number>(columns.length).fill(0))[i] = oid || -1;
    }
  });
  return { cells: plan.cells, nullOnly, binaryType, jsonbBinary, masked: 0 };
}

// Scratch for measureMaskedRow/writeMaskedRow, reused across rows (the gateway is single-threaded).
let rowCells = 0;
let outCells: (string | Buffer | null | undefined)[] = [];
let cellStarts: number[] = [];
let cellEnds: number[] = [];

/**
 * DataRow: Byte1('D') · Int32 len · Int16 n · { Int32 len (-1 = NULL) · Byte[len] }[n].
 * First pass: run the plan's maskers over the cells. Returns the size of the rebuilt frame, or -1 when no
 * cell changed (forward the original bytes). The replacements wait in module scratch for writeMaskedRow.
 */
export function measureMaskedRow(buf: Buffer, start: number, end: number, plan: ActivePlan): number {
  const n = buf.readInt16BE(start + 5);
  if (outCells.length < n) {
    outCells = new Array(n);
    cellStarts = new Array(n);
    cellEnds = new Array(n);
  }
  let off = start + 7;
  let changed = false;
  let delta = 0;
  const cells = plan.cells;
  for (let i = 0; i < n; i++) {
    if (off + 4 > end) throw new RangeError('DataRow shorter than its column count');
    const len = buf.readInt32BE(off);
    const cellStart = off + 4;
    const cellEnd = len < 0 ? cellStart : cellStart + len;
    if (cellEnd > end) throw new RangeError('DataRow cell past the end of the message');
    cellStarts[i] = cellStart;
    cellEnds[i] = len < 0 ? -1 : cellEnd;
    let out: string | Buffer | null | undefined;
    const m = i < cells.length ? cells[i] : null;
    if (m && len >= 0) {
      // binary jsonb: skip the version byte; the replacement is re-encoded with it below
      out = plan.jsonbBinary?.[i] && len > 0 ? m(buf, cellStart + 1, cellEnd) : m(buf, cellStart, cellEnd);
      if (out !== undefined) {
        if (out !== null && plan.nullOnly[i]) out = null;
        else if (out !== null && plan.binaryType && plan.binaryType[i]) out = encodeBinary(plan.binaryType[i]!, out);
        changed = true;
        plan.masked++;
        delta += (out === null ? 0 : typeof out === 'string' ? Buffer.byteLength(out, 'utf8') : out.length) - len;
      }
    }
    outCells[i] = out;
    off = cellEnd;
  }
  rowCells = n;
  if (!changed) {
    for (let i = 0; i < n; i++) outCells[i] = undefined;
    return -1;
  }
  return end - start + delta;
}

/** Second pass: write the row measured last into target at offset; returns the bytes written. */
export function writeMaskedRow(buf: Buffer, start: number, target: Buffer, at: number, size: number): number {
  const n = rowCells;
  target[at] = Backend.DataRow;
  target.writeInt32BE(size - 1, at + 1);
  target.writeInt16BE(n, at + 5);
  let w = at + 7;
  for (let i = 0; i < n; i++) {
    const out = outCells[i];
    outCells[i] = undefined;
    if (out === undefined) {
      // unchanged: length prefix and bytes as they came
      const from = cellStarts[i]! - 4;
      const to = cellEnds[i]! < 0 ? cellStarts[i]! : cellEnds[i]!;
      w += buf.copy(target, w, from, to);
    } else if (out === null) {
      target.writeInt32BE(-1, w);
      w += 4;
    } else if (typeof out === 'string') {
      const bytes = target.write(out, w + 4, 'utf8');
      target.writeInt32BE(bytes, w);
      w += 4 + bytes;
    } else {
      target.writeInt32BE(out.length, w);
      w += 4 + out.copy(target, w + 4);
    }
  }
  void start;
  return w - at;
}

/** Rebuilt DataRow frame, or null when no cell changed. */
export function maskDataRow(buf: Buffer, start: number, end: number, plan: ActivePlan): Buffer | null {
  const size = measureMaskedRow(buf, start, end, plan);
  if (size < 0) return null;
  const row = Buffer.allocUnsafe(size);
  writeMaskedRow(buf, start, row, 0, size);
  return row;
}

/** One output buffer per chunk for runs of rewritten rows and the bytes between them. */
export class ChunkOut {
  buf: Buffer = Buffer.alloc(0);
  len = 0;
  open = false;

  begin(hint: number): void {
    this.buf = Buffer.allocUnsafe(Math.max(hint, 4096));
    this.len = 0;
    this.open = true;
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  copy(src: Buffer, start: number, end: number): void {
    this.ensure(end - start);
    this.len += src.copy(this.buf, this.len, start, end);
  }

  writeRow(src: Buffer, start: number, end: number, size: number): void {
    void end;
    this.ensure(size);
    this.len += writeMaskedRow(src, start, this.buf, this.len, size);
  }

  take(): Buffer {
    this.open = false;
    return this.buf.subarray(0, this.len);
  }
}

/** How the server writes the rows of one COPY … TO STDOUT (from the statement's options). */
export interface CopyFormat {
  csv: boolean;
  delimiter: number;
  quote: number;
  escape: number;
  nullText: string;
  nullBytes: Buffer;
  header: boolean;
}

const COPY_OPTIONS_UNDERSTOOD = new Set(['header', 'delimiter', 'quote', 'escape', 'null', 'force_quote', 'force_not_null', 'force_null', 'freeze', 'encoding', 'default']);

/** The row format of a COPY TO, or the reason its rows cannot be split safely (then it is refused). */
export function copyFormat(info: { format?: string; options?: Record<string, string | true> } | undefined): CopyFormat | string {
  if (info?.format === 'binary') return 'binary COPY output cannot be masked; use FORMAT text or csv';
  const csv = info?.format === 'csv';
  const o = info?.options ?? {};
  for (const k of Object.keys(o)) if (!COPY_OPTIONS_UNDERSTOOD.has(k)) return `COPY option ${k.toUpperCase()} is not supported on a masked connection`;
  const enc = o.encoding;
  if (enc !== undefined && (enc === true || !/^utf-?8$/i.test(enc))) return 'COPY … ENCODING other than UTF8 cannot be masked';
  const char = (v: string | true | undefined, dflt: number, what: string): number | string => {
    if (v === undefined) return dflt;
    if (v === true || v.length !== 1 || v.charCodeAt(0) > 0x7f) return `COPY ${what} must be one ASCII character on a masked connection`;
    return v.charCodeAt(0);
  };
  const delimiter = char(o.delimiter, csv ? 0x2c : 0x09, 'DELIMITER');
  const quote = char(o.quote, 0x22, 'QUOTE');
  if (typeof delimiter === 'string') return delimiter;
  if (typeof quote === 'string') return quote;
  const escape = char(o.escape, quote, 'ESCAPE');
  if (typeof escape === 'string') return escape;
  const h = o.header;
  const header = h !== undefined && h !== 'false' && h !== 'off' && h !== '0';
  const nullText = typeof o.null === 'string' ? o.null : csv ? '' : '\\N';
  return { csv, delimiter, quote, escape, nullText, nullBytes: Buffer.from(nullText, 'utf8'), header };
}

function encodeCopyField(s: string, f: CopyFormat): string {
  const d = String.fromCharCode(f.delimiter);
  let plain = true;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c === 0x5c || c === 0x0a || c === 0x0d || c === 0x09 || c === f.delimiter || c === f.quote || c === f.escape) {
      plain = false;
      break;
    }
  }
  if (plain && (!f.csv || (s !== '' && s !== f.nullText))) return s;
  if (!f.csv) {
    let out = '';
    for (const c of s) {
      if (c === '\\') out += '\\\\';
      else if (c === '\n') out += '\\n';
      else if (c === '\r') out += '\\r';
      else if (c === '\t') out += '\\t';
      else if (c === d) out += '\\' + c;
      else out += c;
    }
    return out;
  }
  const q = String.fromCharCode(f.quote);
  const e = String.fromCharCode(f.escape);
  if (s !== '' && s !== f.nullText && !s.includes(d) && !s.includes(q) && !s.includes('\n') && !s.includes('\r')) return s;
  let out = q;
  for (const c of s) out += c === q || c === e ? e + c : c;
  return out + q;
}

/**
 * CopyData of COPY … TO STDOUT: one row per message (PostgreSQL sends one), text or csv format.
 * Returns the rebuilt CopyData frame, or null when nothing changed.
 */
export function maskCopyRow(buf: Buffer, start: number, end: number, plan: ActivePlan, f: CopyFormat): Buffer | null {
  const body = start + 5;
  let rowEnd = end;
  if (rowEnd > body && buf[rowEnd - 1] === 0x0a) rowEnd--;
  if (rowEnd > body && buf[rowEnd - 1] === 0x0d) rowEnd--;
  const pieces: Array<Buffer | string> = [];
  let copied = body;
  let col = 0;
  let i = body;
  while (i <= rowEnd) {
    // find the end of this field
    let j = i;
    let quoted = false;
    if (f.csv) {
      let inQuote = false;
      while (j < rowEnd) {
        const c = buf[j]!;
        if (inQuote) {
          if (c === f.escape && j + 1 < rowEnd && (buf[j + 1] === f.quote || buf[j + 1] === f.escape) && f.escape !== f.quote) j += 2;
          else if (c === f.quote && f.escape === f.quote && buf[j + 1] === f.quote) j += 2;
          else if (c === f.quote) {
            inQuote = false;
            j++;
          } else j++;
        } else if (c === f.quote) {
          inQuote = true;
          quoted = true;
          j++;
        } else if (c === f.delimiter) break;
        else j++;
      }
    } else {
      // the next delimiter not escaped by an odd run of backslashes
      for (;;) {
        const d = buf.indexOf(f.delimiter, j);
        if (d < 0 || d >= rowEnd) {
          j = rowEnd;
          break;
        }
        let k = d - 1;
        while (k >= i && buf[k] === 0x5c) k--;
        if ((d - 1 - k) % 2 === 0) {
          j = d;
          break;
        }
        j = d + 1;
      }
    }
    const m = col < plan.cells.length ? plan.cells[col] : null;
    if (m) {
      const isNull = !quoted && j - i === f.nullBytes.length && buf.compare(f.nullBytes, 0, f.nullBytes.length, i, j) === 0;
      if (!isNull) {
        let out: string | null | undefined;
        if (quoted) {
          const raw = buf.toString('utf8', i, j);
          const q = String.fromCharCode(f.quote);
          const e = String.fromCharCode(f.escape);
          let v = '';
          let inQ = false;
          for (let k = 0; k < raw.length; k++) {
            const c = raw[k]!;
            if (inQ && (c === e) && (raw[k + 1] === q || raw[k + 1] === e) && (e !== q || raw[k + 1] === q)) {
              v += raw[++k];
            } else if (c === q) inQ = !inQ;
            else v += c;
          }
          const inner = Buffer.from(v, 'utf8');
          out = m(inner, 0, inner.length);
        } else {
          out = m(buf, i, j);
        }
        if (out !== undefined) {
          plan.masked++;
          if (copied < i) pieces.push(buf.subarray(copied, i));
          pieces.push(out === null ? (f.csv ? '' : f.nullText) : encodeCopyField(out, f));
          copied = j;
        }
      }
    }
    col++;
    i = j + 1;
  }
  if (pieces.length === 0) return null;
  if (copied < end) pieces.push(buf.subarray(copied, end));
  let size = 0;
  for (const p of pieces) size += typeof p === 'string' ? Buffer.byteLength(p, 'utf8') : p.length;
  const out = Buffer.allocUnsafe(5 + size);
  out[0] = Backend.CopyData;
  out.writeInt32BE(4 + size, 1);
  let w = 5;
  for (const p of pieces) w += typeof p === 'string' ? out.write(p, w, 'utf8') : p.copy(out, w);
  return out;
}

/** Column descriptions for a COPY whose column names come from the statement or the catalog. */
export function copyColumns(names: readonly string[] | undefined, n: number, table?: { schema?: string; table?: string }): ColumnInfo[] {
  const out: ColumnInfo[] = [];
  for (let i = 0; i < n; i++) {
    const name = names?.[i] ?? `?column${i + 1}?`;
    out.push({ name, column: names?.[i], schema: table?.schema, table: table?.table, textLike: true });
  }
  return out;
}
