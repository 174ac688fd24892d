// Masking of result rows: DataRow cells (text or binary format, as the columns say) and COPY TO STDOUT rows
// (text and csv). Rows whose plan needs no work are never touched; a changed row is rebuilt once.
import type { CellMasker, ColumnInfo, RowPlan } from '../../src/types.js';
import { Backend } from './codes.js';
import type { FieldDescription } from './messages.js';
import type { TableInfo } from './catalog.js';

/** Types whose text form can never carry free text (numbers, dates, booleans...). */
const NON_TEXT_TYPES = new Set([
  16, 17, 20, 21, 23, 26, 27, 28, 29, 700, 701, 790, 1082, 1083, 1114, 1184, 1186, 1266, 1560, 1562, 1700, 2950, 3220,
]);
/** Types whose binary form is plain UTF-8 text. */
const BINARY_TEXT_TYPES = new Set([25, 1043, 1042, 19, 114, 705, 18]);

const TYPE_NAMES: Record<number, string> = {
  16: 'bool', 17: 'bytea', 20: 'int8', 21: 'int2', 23: 'int4', 25: 'text', 26: 'oid', 114: 'json', 700: 'float4',
  701: 'float8', 1042: 'bpchar', 1043: 'varchar', 1082: 'date', 1114: 'timestamp', 1184: 'timestamptz', 1700: 'numeric',
  2950: 'uuid', 3802: 'jsonb',
};

export function isTextLike(typeOid: number, format: number): boolean {
  return format === 0 ? !NON_TEXT_TYPES.has(typeOid) : BINARY_TEXT_TYPES.has(typeOid);
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
    };
  });
}

/** Result formats of a portal's columns from Bind's result-format codes (none: text; one: all). */
export function resultFormats(codes: readonly number[], n: number): number[] {
  if (codes.length === 0) return new Array<number>(n).fill(0);
  if (codes.length === 1) return new Array<number>(n).fill(codes[0]!);
  return codes.slice(0, n);
}

/** A compiled per-result plan: which cells to look at and whether their replacement must be NULL. */
export interface ActivePlan {
  cells: readonly (CellMasker | null)[];
  /** per column: a replacement string would not be a valid value of the type, so use NULL */
  nullOnly: readonly boolean[];
  masked: number;
}

export function activate(plan: RowPlan | null, columns: readonly ColumnInfo[]): ActivePlan | null {
  if (!plan || !plan.cells.some((c) => c !== null)) return null;
  return { cells: plan.cells, nullOnly: columns.map((c) => !c.textLike), masked: 0 };
}

/**
 * DataRow: Byte1('D') · Int32 len · Int16 n · { Int32 len (-1 = NULL) · Byte[len] }[n].
 * Returns the rebuilt frame, or null when no cell changed (forward the original bytes).
 */
export function maskDataRow(buf: Buffer, start: number, end: number, plan: ActivePlan): Buffer | null {
  const n = buf.readInt16BE(start + 5);
  let off = start + 7;
  let pieces: Array<Buffer | string | null> | null = null;
  let copiedUpTo = start + 7; // bytes before this cell already represented in pieces
  const cells = plan.cells;
  for (let i = 0; i < n; i++) {
    if (off + 4 > end) throw new RangeError('DataRow shorter than its column count');
    const len = buf.readInt32BE(off);
    const cellStart = off + 4;
    const cellEnd = len < 0 ? cellStart : cellStart + len;
    if (cellEnd > end) throw new RangeError('DataRow cell past the end of the message');
    const m = i < cells.length ? cells[i] : null;
    if (m && len >= 0) {
      let out = m(buf, cellStart, cellEnd);
      if (out !== undefined) {
        if (out !== null && plan.nullOnly[i]) out = null;
        pieces ??= [];
        if (copiedUpTo < off) pieces.push(buf.subarray(copiedUpTo, off));
        pieces.push(out);
        copiedUpTo = cellEnd;
        plan.masked++;
      }
    }
    off = cellEnd;
  }
  if (!pieces) return null;
  if (copiedUpTo < end) pieces.push(buf.subarray(copiedUpTo, end));
  // Each piece is either raw bytes (whole cells with their length prefixes) or a replacement cell.
  let size = 7;
  const encoded: Buffer[] = [];
  for (const p of pieces) {
    let b: Buffer;
    if (p === null) {
      b = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    } else if (typeof p === 'string') {
      const body = Buffer.from(p, 'utf8');
      b = Buffer.allocUnsafe(4 + body.length);
      b.writeInt32BE(body.length, 0);
      body.copy(b, 4);
    } else {
      b = p;
    }
    encoded.push(b);
    size += b.length;
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = Backend.DataRow;
  out.writeInt32BE(size - 1, 1);
  out.writeInt16BE(n, 5);
  let w = 7;
  for (const b of encoded) {
    b.copy(out, w);
    w += b.length;
  }
  return out;
}

/** COPY text-format escaping of a replacement value. */
function escapeCopyText(s: string): string {
  return s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

function quoteCsv(s: string): string {
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

/**
 * CopyData of COPY … TO STDOUT: one row per message (PostgreSQL sends one), text or csv format.
 * Returns the rebuilt CopyData frame, or null when nothing changed.
 */
export function maskCopyRow(buf: Buffer, start: number, end: number, plan: ActivePlan, csv: boolean): Buffer | null {
  const body = start + 5;
  const parts: string[] = [];
  let changed = false;
  let col = 0;
  let i = body;
  let rowEnd = end;
  if (rowEnd > body && buf[rowEnd - 1] === 0x0a) rowEnd--;
  if (rowEnd > body && buf[rowEnd - 1] === 0x0d) rowEnd--;
  while (i <= rowEnd) {
    let fieldEnd = i;
    if (csv && buf[i] === 0x22) {
      // quoted field: "" is an escaped quote
      fieldEnd = i + 1;
      while (fieldEnd < rowEnd) {
        if (buf[fieldEnd] === 0x22) {
          if (buf[fieldEnd + 1] === 0x22) fieldEnd += 2;
          else break;
        } else fieldEnd++;
      }
      fieldEnd++;
    }
    const sep = csv ? 0x2c : 0x09;
    while (fieldEnd < rowEnd && buf[fieldEnd] !== sep) fieldEnd++;
    const m = col < plan.cells.length ? plan.cells[col] : null;
    let piece = buf.toString('utf8', i, fieldEnd);
    const isNull = csv ? fieldEnd === i : piece === '\\N';
    if (m && !isNull) {
      const quoted = csv && buf[i] === 0x22;
      let out: string | null | undefined;
      if (quoted) {
        const inner = Buffer.from(piece.slice(1, -1).replace(/""/g, '"'), 'utf8');
        out = m(inner, 0, inner.length);
      } else {
        out = m(buf, i, fieldEnd);
      }
      if (out !== undefined) {
        changed = true;
        plan.masked++;
        piece = out === null ? (csv ? '' : '\\N') : csv ? quoteCsv(out) : escapeCopyText(out);
      }
    }
    parts.push(piece);
    col++;
    i = fieldEnd + 1;
  }
  if (!changed) return null;
  const text = parts.join(csv ? ',' : '\t') + buf.toString('utf8', rowEnd, end);
  const payload = Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(5 + payload.length);
  out[0] = Backend.CopyData;
  out.writeInt32BE(4 + payload.length, 1);
  payload.copy(out, 5);
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
