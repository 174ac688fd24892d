// Target → client: each frame from the target answers the op at the head of the queue. Result shapes
// pick a masking plan, rows and COPY data go through it, errors for blocked commands are rewritten, and
// ReadyForQuery ends commands in the audit. Unchanged frames are forwarded as slices of the bytes that arrived.
import type { StatementAnalysis } from '../../src/policy/sql/analyze.js';
import type { CellMasker } from '../../src/types.js';
import { Backend, backendName } from './codes.js';
import { decodeErrorFields, decodeRowDescription, encodeErrorResponse, rowsFromTag, type FieldDescription } from './messages.js';
import { errors } from './errors.js';
import { encodeFields, freeTextMasker, maskNoticeFields } from './notices.js';
import { isUnsafeEncoding } from './select.js';
import {
  activate,
  copyColumns,
  copyFormat,
  describeColumns,
  maskCopyRow,
  measureMaskedRow,
  resultFormats,
  type ActivePlan,
} from './results.js';
import type { Op, Portal } from './ops.js';
import type { PgSession } from './session.js';

export function onUpstreamData(s: PgSession, chunk: Buffer): void {
  if (s.closed) return;
  if (s.upSuspended) {
    s.upQueue.push(chunk);
    return;
  }
  let got;
  try {
    got = s.upFramer.push(chunk);
  } catch (err) {
    return s.fatal(errors.upstream(s.info.connection, 'malformed message from target'), 'malformed target message');
  }
  if (got) processUpstreamSafe(s, got.buf, 0, got.end);
}

function processUpstreamSafe(s: PgSession, buf: Buffer, off: number, end: number): void {
  try {
    processUpstream(s, buf, off, end);
  } catch (err) {
    s.deps.log.error({ err }, 'internal error on target data');
    s.fatal(errors.internal(), 'internal error');
  }
}

function processUpstream(s: PgSession, buf: Buffer, start: number, end: number): void {
  const out: Buffer[] = [];
  let pass = start;
  let off = start;
  // Masked rows are written into one buffer per chunk (with the unchanged bytes between them), not
  // allocated one by one; `rows` is open while such a run lasts.
  const rows = s.rowsOut;
  const closeRows = (upto: number): void => {
    if (!rows.open) return;
    if (pass < upto) rows.copy(buf, pass, upto);
    out.push(rows.take());
    pass = upto;
  };
  const replace = (frameStart: number, frameEnd: number, with_: Buffer | null): void => {
    closeRows(frameStart);
    if (pass < frameStart) out.push(buf.subarray(pass, frameStart));
    if (with_) out.push(with_);
    pass = frameEnd;
  };
  while (off < end) {
    const code = buf[off]!;
    const next = off + 1 + buf.readInt32BE(off + 1);
    if (s.trace) s.deps.log.trace({ message: backendName(code), len: next - off }, '← target');
    const head = s.ops[0];
    switch (code) {
      case Backend.DataRow: {
        let plan: ActivePlan | null | undefined = null;
        if (head?.t === 'E') {
          if (s.deps.masker) {
            const p = head.portal;
            if (p.plan === undefined) {
              if (!p.fields) {
                // Rows of a shape we never saw: never forward them unmasked.
                closeRows(off);
                flushUp(s, out, buf, pass, off);
                return s.fatal(errors.internal(), 'rows of an unknown result shape');
              }
              const pending = needsCatalog(s, p.fields);
              if (pending) {
                closeRows(off);
                return suspend(s, out, buf, pass, off, end, pending);
              }
              p.plan = portalPlan(s, p, p.fields);
            }
            plan = p.plan;
          }
          head.rows++;
        } else if (head?.t === 'Q') {
          plan = s.qPlan;
          head.rows++;
        } else if (s.deps.masker) {
          closeRows(off);
                flushUp(s, out, buf, pass, off);
          return s.fatal(errors.internal(), 'rows outside any command');
        }
        if (plan) {
          const before = plan.masked;
          const size = measureMaskedRow(buf, off, next, plan);
          if (size >= 0) {
            if (!rows.open) {
              if (pass < off) out.push(buf.subarray(pass, off));
              rows.begin(end - off + 256);
            } else if (pass < off) {
              rows.copy(buf, pass, off);
            }
            rows.writeRow(buf, off, next, size);
            pass = next;
            if (head?.t === 'E' || head?.t === 'Q') head.masked += plan.masked - before;
          }
        }
        break;
      }
      case Backend.RowDescription: {
        if (!s.deps.masker) {
          if (head?.t === 'D') s.ops.shift();
          break;
        }
        const fields = decodeRowDescription(s.r.reset(buf, off + 5, next));
        const pending = needsCatalog(s, fields);
        if (pending) {
                closeRows(off);
                return suspend(s, out, buf, pass, off, end, pending);
              }
        if (head?.t === 'D') {
          s.ops.shift();
          if (head.stmt) {
            head.stmt.fields = fields;
            head.stmt.plans = undefined;
          }
          if (head.portal) {
            head.portal.fields = fields;
            head.portal.plan = portalPlan(s, head.portal, fields);
          }
          if (head.injected) replace(off, next, null);
        } else if (head?.t === 'Q') {
          s.qPlan = planFor(s, fields, fields.map((f) => f.format));
        }
        break;
      }
      case Backend.NoData:
        if (head?.t === 'D') {
          s.ops.shift();
          if (head.stmt) head.stmt.fields = null;
          if (head.portal) {
            head.portal.fields = null;
            head.portal.plan = null;
          }
          if (head.injected) replace(off, next, null);
        }
        break;
      case Backend.ParameterDescription:
        break;
      case Backend.ParseComplete:
        if (head?.t === 'P') {
          s.ops.shift();
          if (head.stmt) {
            s.statements.set(head.name, head.stmt);
            if (s.pendingStatements.get(head.name) === head.stmt) s.pendingStatements.delete(head.name);
          }
        }
        break;
      case Backend.CloseComplete:
        if (head?.t === 'C') {
          s.ops.shift();
          if (head.statement !== undefined) s.statements.delete(head.statement);
        }
        break;
      case Backend.BindComplete: // nothing to track: the portal was recorded when Bind was sent
        s.ops.shift();
        break;
      case Backend.CommandComplete:
      case Backend.EmptyQueryResponse:
      case Backend.PortalSuspended: {
        const tagRows = code === Backend.CommandComplete ? rowsFromTag(s.r.reset(buf, off + 5, next).cstring()) : undefined;
        if (head?.t === 'E') {
          s.ops.shift();
          auditExecute(s, head, tagRows);
        } else if (head?.t === 'Q') {
          head.index++;
          if (tagRows !== undefined && head.rows === 0) head.rows = tagRows;
          s.qPlan = null;
          s.copy = null;
        }
        break;
      }
      case Backend.CopyOutResponse: {
        const stmt = currentStatement(head);
        const r = s.r.reset(buf, off + 5, next);
        const format = r.byte();
        const n = r.int16();
        if (!s.deps.masker) break;
        const copy = stmt?.copy;
        const pendingCopy = copyColumnsPending(s, copy);
        if (pendingCopy) {
          closeRows(off);
          return suspend(s, out, buf, pass, off, end, pendingCopy);
        }
        const names = copy?.columns ?? (copy?.table ? s.copyTableColumns.get(copy.table) : undefined);
        const cols = copyColumns(names, n, copy?.table ? splitTable(copy.table) : undefined);
        const plan = activate(s.deps.masker.plan(s.info, cols), cols);
        const fmt = copyFormat(copy);
        if (plan && (format !== 0 || typeof fmt === 'string')) {
          // The decision step refuses these; rows we cannot split must never pass unmasked.
          closeRows(off);
                flushUp(s, out, buf, pass, off);
          return s.fatal(errors.blocked('masking', typeof fmt === 'string' ? fmt : 'binary COPY output cannot be masked'), 'unmaskable copy');
        }
        s.copy = { plan, format: typeof fmt === 'string' ? null : fmt, skipHeader: typeof fmt !== 'string' && fmt.header };
        break;
      }
      case Backend.CopyData:
        if (s.copy?.plan && s.copy.format) {
          if (s.copy.skipHeader) s.copy.skipHeader = false;
          else {
            const before = s.copy.plan.masked;
            const row = maskCopyRow(buf, off, next, s.copy.plan, s.copy.format);
            if (row) {
              // into the chunk's buffer, like rewritten DataRows
              if (!rows.open) {
                if (pass < off) out.push(buf.subarray(pass, off));
                rows.begin(end - off + 256);
              } else if (pass < off) {
                rows.copy(buf, pass, off);
              }
              rows.copy(row, 0, row.length);
              pass = next;
              if (head?.t === 'E' || head?.t === 'Q') head.masked += s.copy.plan.masked - before;
            }
          }
        }
        break;
      case Backend.ErrorResponse: {
        let fields = decodeErrorFields(s.r.reset(buf, off + 5, next));
        const blocked = (head?.t === 'Q' || head?.t === 'P') && head.blocked ? head.blocked : undefined;
        if (blocked) {
          replace(off, next, encodeErrorResponse(errors.blocked(blocked.rule, blocked.message)));
        } else if (s.deps.masker) {
          const masked = maskNoticeFields(fields, textMasker(s));
          if (masked) {
            fields = masked;
            replace(off, next, encodeFields(Backend.ErrorResponse, masked));
          }
        }
        if (head?.t === 'Q') {
          head.error ??= fields.get('M');
        } else if (head && head.t !== 'S') {
          if (head.t === 'E') auditExecute(s, head, undefined, fields.get('M') ?? 'error');
          // After an error the target skips everything up to Sync: Parses that never completed are forgotten.
          while (s.ops.length && s.ops[0]!.t !== 'S') {
            const skipped = s.ops.shift()!;
            if (skipped.t === 'P' && skipped.stmt && s.pendingStatements.get(skipped.name) === skipped.stmt) {
              s.pendingStatements.delete(skipped.name);
            }
          }
        }
        s.qPlan = null;
        s.copy = null;
        break;
      }
      case Backend.ReadyForQuery: {
        s.txStatus = buf[off + 5]!;
        let ended = -1;
        while (s.ops.length) {
          const op = s.ops.shift()!;
          if (op.t === 'Q') {
            auditQuery(s, op);
            ended = op.bindSeq ?? s.bindSeq;
            break;
          }
          if (op.t === 'S') {
            ended = op.bindSeq;
            break;
          }
        }
        s.qPlan = null;
        s.copy = null;
        // everything sent has been answered: ParameterStatus told us any new standard_conforming_strings
        if (s.ops.length === 0) s.scsChangeInFlight = false;
        // Portals live until their transaction ends (idle again), not until the next ReadyForQuery; those
        // bound in a pipeline after this Sync belong to the next transaction and stay.
        if (s.txStatus === 0x49 && s.portals.size > 0) {
          for (const [name, p] of s.portals) if (p.bound <= ended) s.portals.delete(name);
        }
        break;
      }
      case Backend.ParameterStatus: {
        const r = s.r.reset(buf, off + 5, next);
        const name = r.cstring();
        const value = r.cstring();
        if (name === 'standard_conforming_strings') s.standardConformingStrings = value === 'on';
        if (name === 'client_encoding' && isUnsafeEncoding(value)) {
          closeRows(off);
                flushUp(s, out, buf, pass, off);
          return s.fatal(errors.badEncoding(value), 'unsafe client encoding');
        }
        break;
      }
      case Backend.NoticeResponse:
        if (s.deps.masker) {
          const masked = maskNoticeFields(decodeErrorFields(s.r.reset(buf, off + 5, next)), textMasker(s));
          if (masked) replace(off, next, encodeFields(Backend.NoticeResponse, masked));
        }
        break;
      default:
        // NotificationResponse, CopyInResponse, CopyDone, FunctionCallResponse...: as is.
        break;
    }
    off = next;
  }
  closeRows(end);
  flushUp(s, out, buf, pass, end);
  if (s.draining && s.ops.length === 0 && s.txStatus === 0x49) {
    s.fatal(errors.shuttingDown(), 'gateway shutdown');
  }
}

function flushUp(s: PgSession, out: Buffer[], buf: Buffer, pass: number, end: number): void {
  if (pass < end) out.push(buf.subarray(pass, end));
  if (out.length === 0) return;
  for (const b of out) s.bytesOut += b.length;
  s.deps.audit.afterCommit(() => s.writeTo(s.client, out, s.upstream));
}

function currentStatement(head: Op | undefined): StatementAnalysis | undefined {
  if (head?.t === 'Q') return head.analysis?.statements[head.index];
  if (head?.t === 'E') return head.portal.stmt.analysis?.statements[0];
  return undefined;
}

function copyColumnsPending(s: PgSession, copy: StatementAnalysis['copy'] | undefined): Promise<void> | null {
  const catalog = s.deps.catalog;
  if (!copy?.table || copy.columns || !catalog || s.copyTableColumns.has(copy.table)) return null;
  const table = copy.table;
  return catalog.tableByName(table).then((t) => {
    if (!t) throw new Error(`table ${table} not found in the catalog`);
    s.copyTableColumns.set(table, t.ordered);
  });
}

/** The profile's detectors as a free-text masker, built once per session. */
function textMasker(s: PgSession): CellMasker | null {
  if (s.noticeMasker === undefined) s.noticeMasker = s.deps.masker ? freeTextMasker(s.deps.masker, s.info) : null;
  return s.noticeMasker;
}

function needsCatalog(s: PgSession, fields: FieldDescription[]): Promise<void> | null {
  const catalog = s.deps.catalog;
  if (!s.deps.masker || !catalog) return null;
  let missing: number[] | null = null;
  for (const f of fields) {
    if (f.tableOid !== 0 && !catalog.cached(f.tableOid)) (missing ??= []).push(f.tableOid);
  }
  return missing ? catalog.resolve(missing) : null;
}

function portalPlan(s: PgSession, p: Portal, fields: FieldDescription[]): ActivePlan | null {
  const key = p.formatCodes.join(',');
  const stmt = p.stmt;
  const cached = stmt.fields === fields ? stmt.plans?.get(key) : undefined;
  if (cached !== undefined) return cached;
  const plan = planFor(s, fields, resultFormats(p.formatCodes, fields.length));
  if (stmt.fields === fields) (stmt.plans ??= new Map()).set(key, plan);
  return plan;
}

function planFor(s: PgSession, fields: FieldDescription[], formats: number[]): ActivePlan | null {
  const masker = s.deps.masker;
  if (!masker) return null;
  const catalog = s.deps.catalog;
  const cols = describeColumns(fields, formats, (oid) => catalog?.cached(oid));
  return activate(masker.plan(s.info, cols), cols, fields.map((f) => f.typeOid));
}

/** Stop reading the target until an async lookup finishes, then re-process from the frame at `off`. */
function suspend(s: PgSession, out: Buffer[], buf: Buffer, pass: number, off: number, end: number, wait: Promise<void>): void {
                flushUp(s, out, buf, pass, off);
  s.upSuspended = true;
  s.upstream.pause();
  wait.then(
    () => {
      if (s.closed) return;
      s.upSuspended = false;
      processUpstreamSafe(s, buf, off, end);
      const queued = s.upQueue;
      s.upQueue = [];
      for (const q of queued) onUpstreamData(s, q);
      if (!s.upSuspended && !s.closed) s.upstream.resume();
    },
    (err: Error) => {
      s.deps.log.warn({ err: err.message }, 'cannot resolve result columns for masking; closing session');
      s.fatal(errors.upstream(s.info.connection, 'cannot resolve result columns for masking'), 'catalog lookup failed');
    },
  );
}

function auditExecute(s: PgSession, op: Extract<Op, { t: 'E' }>, tagRows?: number, error?: string): void {
  s.deps.audit.append({
    sessionId: s.info.id,
    at: Date.now(),
    kind: 'complete',
    commandId: ++s.cmdSeq,
    via: 'execute',
    text: op.portal.stmt.text,
    decision: 'allow',
    durationMs: round(performance.now() - op.started),
    rows: op.rows || tagRows || 0,
    error,
    maskedCells: op.masked || undefined,
  });
}

function auditQuery(s: PgSession, op: Extract<Op, { t: 'Q' }>): void {
  s.deps.audit.append({
    sessionId: s.info.id,
    at: Date.now(),
    kind: 'complete',
    commandId: op.cmdId,
    via: 'query',
    durationMs: round(performance.now() - op.started),
    rows: op.rows,
    error: op.blocked ? undefined : op.error,
    maskedCells: op.masked || undefined,
  });
}

function splitTable(name: string): { schema?: string; table?: string } {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? { table: name } : { schema: name.slice(0, dot), table: name.slice(dot + 1) };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
