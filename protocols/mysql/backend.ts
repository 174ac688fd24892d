// Target → client: answers are read against the queue of ops frontend.ts left; result rows are masked per
// their column definitions; EOF packets are translated where one leg uses CLIENT_DEPRECATE_EOF and the other
// does not; sequence ids are renumbered when packets were added or removed. Unchanged packets are forwarded
// as slices of the bytes that arrived, one write per chunk.
import { MAX_PACKET, Status } from './codes.js';
import { MyReader, MyWriter, packet, packetCount, ProtocolError, readMessage, type Message } from './packets.js';
import { decodeColumnDef, decodeErr, decodeOk, decodePrepareOk, encodeEof, encodeErr, encodeOk, hasMoreResults, terminatorStatus } from './messages.js';
import { freeTextMasker } from '../postgres/notices.js';
import { isUnsafeCharset } from './charsets.js';
import { errors } from './errors.js';
import { St, type Op } from './ops.js';
import { maskBinaryRowInto, maskTextRowInto, planFor } from './rows.js';
import type { MySession } from './session.js';

export function onUpstreamData(s: MySession, chunk: Buffer): void {
  if (s.closed) return;
  s.bytesOut += chunk.length;
  let got;
  try {
    got = s.upFramer.push(chunk);
  } catch (err) {
    return s.fatal(errors.protocol(`from the target: ${(err as Error).message}`), 'malformed target packet');
  }
  if (!got) return;
  try {
    processUpstream(s, got.buf, got.end);
  } catch (err) {
    if (err instanceof ProtocolError || err instanceof RangeError) {
      s.deps.log.warn({ err: err.message }, 'malformed packet from the target');
      return s.fatal(errors.protocol(`from the target: ${err.message}`), 'malformed target packet');
    }
    s.deps.log.error({ err }, 'internal error on target data');
    return s.fatal(errors.internal(), 'internal error');
  }
}

/**
 * Output toward the client for one chunk: runs of forwarded bytes (slices of what arrived) and, between them,
 * runs of rewritten packets written back to back into one buffer (no allocation per rewritten row).
 */
class Out {
  parts: Buffer[] = [];
  buf: Buffer = Buffer.alloc(0);
  runStart = -1;
  runEnd = -1;
  readonly rw = new MyWriter(64 * 1024);

  private flushRun(): void {
    if (this.runStart >= 0) {
      this.parts.push(this.runStart === 0 && this.runEnd === this.buf.length ? this.buf : this.buf.subarray(this.runStart, this.runEnd));
    }
    this.runStart = this.runEnd = -1;
  }

  private flushRewritten(): void {
    if (this.rw.len > 0) this.parts.push(this.rw.take());
  }

  flush(): void {
    this.flushRun();
    this.flushRewritten();
  }

  slice(a: number, b: number): void {
    if (this.runEnd === a) this.runEnd = b;
    else {
      this.flush();
      this.runStart = a;
      this.runEnd = b;
    }
  }

  push(b: Buffer): void {
    this.flush();
    this.parts.push(b);
  }

  /** Start a rewritten packet: returns where its header goes (4 bytes reserved). */
  beginPacket(): number {
    this.flushRun();
    const h = this.rw.len;
    this.rw.zeros(4);
    return h;
  }
}

const out = new Out();

function processUpstream(s: MySession, buf: Buffer, end: number): void {
  out.parts = [];
  out.buf = buf;
  out.runStart = out.runEnd = -1;
  const m = s.um;
  let off = 0;
  while (off < end) {
    readMessage(buf, off, m);
    off = m.end;
    const op = s.ops[0];
    if (!op || op.t === 'local') {
      // Nothing asked: the target is ending the session (wait_timeout, KILL, shutdown) with an ERR.
      if (m.payload[m.pStart] === 0xff) {
        const e = decodeErr(m.payload, m.pStart, m.pEnd);
        s.deps.log.info({ code: e.code, message: e.message }, 'target sent an unsolicited error');
        out.flush();
        const parts = out.parts;
        s.deps.audit.afterCommit(() => s.writeTo(s.client, parts, s.upstream));
        s.fatal(e, 'target error');
        return;
      }
      throw new ProtocolError('unexpected packet from the target');
    }
    if (op.hold) {
      out.flush();
      const mark = out.parts.length;
      step(s, op, m);
      out.flush();
      for (const b of out.parts.splice(mark)) s.held.push(b);
    } else step(s, op, m);
  }
  out.flush();
  const parts = out.parts;
  out.parts = [];
  out.buf = Buffer.alloc(0);
  if (parts.length > 0) s.deps.audit.afterCommit(() => s.writeTo(s.client, parts, s.upstream));
}

/** Forward a whole message, renumbered to the op's next sequence id. */
function fwd(op: Op, m: Message, buf: Buffer): void {
  if (op.swallow) return;
  let seq = op.outSeq & 0xff;
  if (buf[m.start + 3] === seq && m.pStart === m.start + 4) {
    op.outSeq++;
  } else {
    let p = m.start;
    for (;;) {
      const n = buf.readUIntLE(p, 3);
      buf[p + 3] = seq;
      seq = (seq + 1) & 0xff;
      op.outSeq++;
      p += 4 + n;
      if (n < MAX_PACKET) break;
    }
  }
  out.slice(m.start, m.end);
}

function emit(op: Op, payload: Buffer): void {
  if (op.swallow) return;
  out.push(packet(op.outSeq & 0xff, payload));
  op.outSeq += packetCount(payload.length);
}

const isTerminator = (m: Message): boolean => m.payload[m.pStart] === 0xfe && m.pEnd - m.pStart < MAX_PACKET;

/** The end of rows or definitions: EOF or OK-with-0xFE, as each leg expects. */
function terminator(s: MySession, op: Op, m: Message): number {
  const { status, warnings } = terminatorStatus(m.payload, m.pStart, m.pEnd, s.upDeprecateEof);
  s.status = status;
  if (s.upDeprecateEof === s.clientDeprecateEof) fwd(op, m, out.buf);
  else if (s.clientDeprecateEof) emit(op, encodeOk({ status, warnings }, 0xfe));
  else emit(op, encodeEof(status, warnings));
  return status;
}

/** The EOF that ends parameter or column definitions of a prepared statement (absent on a CLIENT_DEPRECATE_EOF leg). */
function definitionsEnd(s: MySession, op: Op): void {
  if (!s.clientDeprecateEof) emit(op, encodeEof(s.status));
}

function step(s: MySession, op: Op, m: Message): void {
  if (m.pEnd === m.pStart) throw new ProtocolError('empty packet from the target');
  const p = m.payload;
  const first = p[m.pStart]!;
  const buf = out.buf;
  switch (op.state) {
    case St.First: {
      if (op.t === 'prepare') return prepareFirst(s, op, m);
      if (first === 0x00) {
        const ok = decodeOk(p, m.pStart, m.pEnd);
        s.status = ok.status;
        fwd(op, m, buf);
        op.rows += ok.affectedRows;
        if (!hasMoreResults(ok.status)) finish(s, op);
        return;
      }
      if (first === 0xff) {
        op.error = errText(p, m);
        forwardErr(s, op, m);
        return finish(s, op);
      }
      if (first === 0xfb) {
        // LOCAL INFILE request: the client now sends the file (only when the connection allows it; otherwise
        // the target was never offered CLIENT_LOCAL_FILES and asking anyway is refused with an empty file).
        if (s.deps.localInfile && !op.swallow) {
          fwd(op, m, buf);
          s.infile = { op, seq: m.lastSeq + 1 };
        } else {
          s.upstream.write(packet((m.lastSeq + 1) & 0xff, Buffer.alloc(0)));
        }
        return;
      }
      // a result set: column count, then that many definitions
      const n = new MyReader().reset(p, m.pStart, m.pEnd).lenencNum();
      if (n === 0) throw new ProtocolError('result set with no columns');
      fwd(op, m, buf);
      op.remaining = n;
      op.defs = [];
      op.state = St.Cols;
      return;
    }
    case St.Cols: {
      const stmt = op.binary ? op.stmt : undefined;
      if (stmt) {
        // a prepared statement's executions repeat the same definitions: compare bytes, decode once
        (op.defBytes ??= []).push(p.subarray(m.pStart, m.pEnd));
      } else op.defs.push(decodeColumnDef(p, m.pStart, m.pEnd));
      fwd(op, m, buf);
      if (--op.remaining > 0) return;
      if (stmt) {
        const key = Buffer.concat(op.defBytes!);
        op.defBytes = undefined;
        if (stmt.resultKey && stmt.resultKey.equals(key)) {
          op.defs = stmt.resultDefs!;
          op.plan = stmt.resultPlan!;
        } else {
          op.defs = [];
          for (let off = 0; off < key.length; ) {
            const r = new MyReader().reset(key, off, key.length);
            for (let i = 0; i < 6; i++) r.lenencBytes();
            r.skip(r.lenencNum());
            op.defs.push(decodeColumnDef(key, off, r.off));
            off = r.off;
          }
          op.plan = planFor(s.deps.masker, s.info, op.defs, op.binary);
          stmt.resultKey = key;
          stmt.resultDefs = op.defs;
          stmt.resultPlan = op.plan;
        }
      } else op.plan = op.swallow ? null : planFor(s.deps.masker, s.info, op.defs, op.binary);
      op.warnings = s.deps.masker !== null && !op.swallow && isWarningsShape(op.defs);
      if (s.upDeprecateEof) {
        op.defsEofPending = !s.clientDeprecateEof;
        op.state = St.Rows;
      } else op.state = St.ColEof;
      return;
    }
    case St.ColEof: {
      if (first !== 0xfe) throw new ProtocolError('expected EOF after column definitions');
      const { status } = terminatorStatus(p, m.pStart, m.pEnd, false);
      s.status = status;
      if (status & Status.CURSOR_EXISTS) {
        // COM_STMT_EXECUTE opened a cursor: no rows now, COM_STMT_FETCH brings them
        rememberCursor(op);
        if (s.clientDeprecateEof) emit(op, encodeOk({ status }, 0xfe));
        else fwd(op, m, buf);
        return finish(s, op);
      }
      if (!s.clientDeprecateEof) fwd(op, m, buf);
      op.state = St.Rows;
      return;
    }
    case St.Rows: {
      if (op.defsEofPending) {
        op.defsEofPending = false;
        if (isTerminator(m)) {
          const { status } = terminatorStatus(p, m.pStart, m.pEnd, true);
          if (status & Status.CURSOR_EXISTS) {
            // a cursor was opened: the client expects exactly one EOF, carrying that status
            s.status = status;
            rememberCursor(op);
            emit(op, encodeEof(status, 0));
            return finish(s, op);
          }
        }
        emit(op, encodeEof(s.status));
      }
      if (first === 0xff) {
        op.error = errText(p, m);
        forwardErr(s, op, m);
        return finish(s, op);
      }
      if (isTerminator(m)) {
        const status = terminator(s, op, m);
        if (status & Status.CURSOR_EXISTS && op.t === 'result') rememberCursor(op);
        if (op.t === 'result' && hasMoreResults(status)) {
          op.state = St.First;
          return;
        }
        return finish(s, op);
      }
      op.rows++;
      if (op.swallow) {
        const r = new MyReader().reset(p, m.pStart, m.pEnd);
        op.probe = r.lenencString();
        if (r.remaining() > 0) op.maxPacket = Number(r.lenencString());
        if (r.remaining() > 0) op.charset = r.lenencString();
        return;
      }
      if (op.warnings) {
        const w = maskWarningRow(s, p, m.pStart, m.pEnd, op.binary);
        if (w) {
          op.masked++;
          return emit(op, w);
        }
      }
      const plan = op.plan;
      if (plan) {
        const before = plan.masked;
        const rw = out.rw;
        const h = out.beginPacket();
        const changed = op.binary ? maskBinaryRowInto(p, m.pStart, m.pEnd, plan, rw) : maskTextRowInto(p, m.pStart, m.pEnd, plan, rw);
        op.masked += plan.masked - before;
        if (changed) {
          const n = rw.len - h - 4;
          if (n < MAX_PACKET) {
            rw.header(h, n, op.outSeq);
            op.outSeq++;
            return;
          }
          // a row of 16 MiB or more: split into continuation packets
          const payload = rw.payload().subarray(h + 4);
          rw.len = h;
          return emit(op, payload);
        }
        rw.len = h;
      }
      return fwd(op, m, buf);
    }
    case St.PParams:
    case St.PCols: {
      fwd(op, m, buf);
      if (--op.remaining > 0) return;
      if (s.upDeprecateEof) {
        definitionsEnd(s, op);
        return op.state === St.PParams ? prepareColumns(s, op) : finish(s, op);
      }
      op.state = op.state === St.PParams ? St.PParamsEof : St.PColsEof;
      return;
    }
    case St.PParamsEof:
    case St.PColsEof: {
      if (first !== 0xfe) throw new ProtocolError('expected EOF after parameter or column definitions');
      if (!s.clientDeprecateEof) fwd(op, m, buf);
      return op.state === St.PParamsEof ? prepareColumns(s, op) : finish(s, op);
    }
    case St.Fields: {
      if (first === 0xff) {
        forwardErr(s, op, m);
        return finish(s, op);
      }
      if (isTerminator(m)) {
        terminator(s, op, m);
        return finish(s, op);
      }
      // COM_FIELD_LIST definitions end with the column's default value: on a masked connection it is dropped
      if (s.deps.masker) {
        const stop = columnDefEnd(p, m.pStart, m.pEnd);
        if (stop < m.pEnd) return emit(op, Buffer.from(p.subarray(m.pStart, stop)));
      }
      return fwd(op, m, buf);
    }
    case St.Single: {
      if (first === 0xfe && isTerminator(m)) terminator(s, op, m);
      else {
        if (first === 0x00) s.status = decodeOk(p, m.pStart, m.pEnd).status;
        if (first === 0xff) {
          op.error = errText(p, m);
          forwardErr(s, op, m);
        } else fwd(op, m, buf);
      }
      return finish(s, op);
    }
    case St.Raw:
      fwd(op, m, buf);
      return finish(s, op);
  }
}

function prepareFirst(s: MySession, op: Op, m: Message): void {
  const p = m.payload;
  if (p[m.pStart] === 0xff) {
    op.error = errText(p, m);
    forwardErr(s, op, m);
    return finish(s, op);
  }
  if (p[m.pStart] !== 0x00) throw new ProtocolError('unexpected answer to COM_STMT_PREPARE');
  const ok = decodePrepareOk(p, m.pStart, m.pEnd);
  fwd(op, m, out.buf);
  const stmt = op.stmt!;
  stmt.id = ok.id;
  s.stmts.set(ok.id, stmt);
  op.remaining = ok.columns;
  if (ok.params > 0) {
    op.state = St.PParams;
    op.pendingCols = ok.columns;
    op.remaining = ok.params;
    return;
  }
  op.pendingCols = ok.columns;
  prepareColumns(s, op);
}

function prepareColumns(s: MySession, op: Op): void {
  const n = op.pendingCols ?? 0;
  if (n === 0) return finish(s, op);
  op.state = St.PCols;
  op.remaining = n;
}

function rememberCursor(op: Op): void {
  if (op.stmt) {
    op.stmt.cursorDefs = op.defs;
    op.stmt.cursorPlan = op.plan;
  }
}

/**
 * Error messages quote the values they failed on (`Duplicate entry 'alice@example.com' for key 'email'`,
 * `Incorrect integer value: '…'`, `XPATH syntax error: '…'` — a known way to read data through errors). On a
 * masked connection the value may come from a masked column, which content detection alone does not know:
 * every quoted part of the message is redacted, except for the errors known to quote only names or the
 * client's own SQL; the rest of the text then goes through the profile's detectors.
 */
const NAMES_ONLY = new Set([
  1044, 1045, 1046, 1049, 1050, 1051, 1054, 1060, 1061, 1062, 1064, 1068, 1072, 1091, 1109, 1110, 1113, 1142, 1143,
  1146, 1149, 1166, 1176, 1305, 1356, 1360, 1370, 1449, 1451, 1452, 1631, 1813, 4031,
]);
const QUOTED = /'((?:[^'\\]|\\.|'')*)'/g;
const DUPLICATE = /^(Duplicate entry )'((?:[^'\\]|\\.|'')*)'/;

export function maskErrorMessage(code: number, message: string, detect: ((t: string) => string) | null): string {
  let masked: string;
  if (code === 1062) masked = message.replace(DUPLICATE, "$1'[REDACTED]'"); // the key name stays
  else if (NAMES_ONLY.has(code)) masked = message;
  else masked = message.replace(QUOTED, "'[REDACTED]'");
  return detect ? detect(masked) : masked;
}

function forwardErr(s: MySession, op: Op, m: Message): void {
  const masker = s.deps.masker;
  if (!masker || op.swallow) return fwd(op, m, out.buf);
  const e = decodeErr(m.payload, m.pStart, m.pEnd);
  s.errDetect ??= detector(freeTextMasker(masker, s.info));
  const masked = maskErrorMessage(e.code, e.message, s.errDetect);
  if (masked === e.message) return fwd(op, m, out.buf);
  emit(op, encodeErr({ ...e, message: masked }));
}

function detector(cell: ReturnType<typeof freeTextMasker>): ((t: string) => string) | null {
  if (!cell) return null;
  return (t) => {
    const b = Buffer.from(t, 'utf8');
    const o = cell(b, 0, b.length);
    return typeof o === 'string' ? o : t;
  };
}

/** SHOW WARNINGS / SHOW ERRORS (however invoked): Level, Code, Message, from no table. */
function isWarningsShape(defs: readonly { name: string; orgTable: string }[]): boolean {
  return defs.length === 3 && defs[0]!.name === 'Level' && defs[1]!.name === 'Code' && defs[2]!.name === 'Message' && !defs[2]!.orgTable;
}

/** A warning's message is an error message: redacted as ERR packets are. Returns the new row, or null. */
function maskWarningRow(s: MySession, p: Buffer, start: number, end: number, binary: boolean): Buffer | null {
  const r = new MyReader().reset(p, binary ? start + 2 : start, end);
  const level = r.lenencBytes();
  const code = binary ? r.u32() : Number((r.lenencBytes() ?? Buffer.alloc(0)).toString('latin1'));
  const msgStart = r.off;
  const msg = r.lenencBytes();
  if (level === undefined || msg === undefined) return null;
  s.errDetect ??= detector(freeTextMasker(s.deps.masker!, s.info));
  const text = msg.toString('utf8');
  const masked = maskErrorMessage(code, text, s.errDetect);
  if (masked === text) return null;
  const w = new MyWriter(msgStart - start + masked.length + 9);
  w.bytes(p.subarray(start, msgStart)).lenencBytes(masked);
  return w.payload();
}

/** End of the standard part of a column definition (COM_FIELD_LIST appends the default value after it). */
function columnDefEnd(p: Buffer, start: number, end: number): number {
  const r = new MyReader().reset(p, start, end);
  for (let i = 0; i < 6; i++) r.lenencBytes();
  const fixed = r.lenencNum();
  r.skip(fixed);
  return r.off;
}

function errText(p: Buffer, m: Message): string {
  const e = decodeErr(p, m.pStart, m.pEnd);
  return `${e.code} ${e.message}`;
}

function finish(s: MySession, op: Op): void {
  s.ops.shift();
  if (op.swallow) {
    s.sqlModeInFlight = Math.max(0, s.sqlModeInFlight - 1);
    if (op.charset !== undefined && isUnsafeCharset(op.charset)) {
      // Backstop: charsetChange() in frontend.ts refuses every way to get here that is known. The answer
      // held for the command that did it is never sent.
      s.deps.log.error({ charset: op.charset }, 'the target reports an unsafe client character set; closing the session');
      s.held = [];
      s.fatal(errors.charset(op.charset), 'unsafe character set');
    }
    if (s.held.length > 0) {
      for (const b of s.held) out.push(b);
      s.held = [];
    }
    if (op.maxPacket && Number.isFinite(op.maxPacket)) {
      // The target refuses (and disconnects) a larger packet anyway: do not hold more than it would take.
      s.clientFramer.maxMessage = Math.min(s.clientFramer.maxMessage, op.maxPacket + 1024);
    }
    if (op.probe !== undefined) {
      const modes = op.probe.toUpperCase().split(',');
      s.noBackslashEscapes = modes.includes('NO_BACKSLASH_ESCAPES');
      s.ansiQuotes = modes.includes('ANSI_QUOTES') || modes.includes('ANSI');
    }
  } else if (op.cmdId > 0 && op.t !== 'local') {
    s.deps.audit.append({
      sessionId: s.info.id,
      at: Date.now(),
      kind: 'complete',
      commandId: op.cmdId,
      via: op.via,
      ...(op.t === 'result' && op.via === 'execute' && op.stmt ? { text: op.stmt.text } : {}),
      durationMs: Math.round((performance.now() - op.started) * 1000) / 1000,
      rows: op.rows,
      error: op.error,
      maskedCells: op.masked || undefined,
    });
  }
  // answers the gateway gave itself, waiting behind this one
  while (s.ops.length > 0 && s.ops[0]!.t === 'local') {
    const l = s.ops.shift()!;
    out.push(l.local!);
  }
  if (s.draining && s.ops.length === 0 && !(s.status & Status.IN_TRANS)) s.shutdown();
}

/** Write local answers at the head of the queue (called by frontend.ts after its audit commit). */
export function drainLocal(s: MySession): void {
  const parts: Buffer[] = [];
  while (s.ops.length > 0 && s.ops[0]!.t === 'local') parts.push(s.ops.shift()!.local!);
  if (parts.length > 0) s.writeTo(s.client, parts, s.upstream);
}
