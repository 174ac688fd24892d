// The relay after authentication: frames from the client go through the policy and on to the target;
// frames from the target go through the masking plan and back. Each direction is split into frames once;
// unchanged frames are forwarded as slices of the bytes that arrived, one write per chunk.
import type net from 'node:net';
import type { Logger } from 'pino';
import type { AuditStore } from '../../src/audit/store.js';
import type { Command, Decision, Policy, ResultMasker, SessionInfo } from '../../src/types.js';
import { analyzeSql, type SqlAnalysis, type StatementAnalysis } from '../../src/policy/sql/analyze.js';
import { Backend, Frontend, backendName, frontendName } from './codes.js';
import { ProtocolError, Reader, Writer } from './bytes.js';
import { Framer } from './framer.js';
import {
  decodeBind,
  decodeErrorFields,
  decodeExecute,
  decodeParse,
  decodeRowDescription,
  decodeTarget,
  encodeDescribe,
  encodeErrorResponse,
  encodeParse,
  encodeQuery,
  encodeTerminate,
  rowsFromTag,
  type ErrorFields,
  type FieldDescription,
} from './messages.js';
import { errors } from './errors.js';
import type { CatalogResolver } from './catalog.js';
import { isUnsafeEncoding } from './select.js';
import {
  activate,
  copyColumns,
  copyFormat,
  type CopyFormat,
  describeColumns,
  maskCopyRow,
  maskDataRow,
  resultFormats,
  type ActivePlan,
} from './results.js';

/** PostgreSQL's own cap on a message from the client. */
const MAX_CLIENT_FRAME = 0x3fffffff;
const MAX_SERVER_FRAME = 0x3fffffff;
/** A statement we substitute for a blocked Parse: it fails at Parse, and we rewrite the error. */
const FAILING_STATEMENT = 'portcullis_blocked_statement';

interface Blocked {
  rule: string;
  message: string;
}

interface Statement {
  text: string;
  analysis: SqlAnalysis | null;
  /** undefined: not described yet; null: returns no rows */
  fields?: FieldDescription[] | null;
  /** masking plans by result-format codes, so re-executions cost a lookup */
  plans?: Map<string, ActivePlan | null>;
}

interface Portal {
  /** order of its Bind, to forget it when its transaction ends */
  bound: number;
  stmt: Statement;
  formatCodes: number[];
  fields?: FieldDescription[] | null;
  plan?: ActivePlan | null;
}

type Op =
  | { t: 'Q'; bindSeq?: number; cmdId: number; started: number; blocked?: Blocked; analysis: SqlAnalysis | null; index: number; rows: number; error?: string; masked: number }
  | { t: 'P'; name: string; blocked?: Blocked }
  | { t: 'B' }
  | { t: 'D'; stmt?: Statement; portal?: Portal; injected: boolean }
  | { t: 'E'; portal: Portal; started: number; rows: number; masked: number }
  | { t: 'C' }
  | { t: 'S'; bindSeq: number };

export interface SessionDeps {
  policy: Policy;
  masker: ResultMasker | null;
  catalog: CatalogResolver | null;
  audit: AuditStore;
  log: Logger;
  onClose: (s: PgSession) => void;
  /** as the target reported it at login */
  standardConformingStrings: boolean;
}

export class PgSession {
  private readonly clientFramer = new Framer(MAX_CLIENT_FRAME);
  private readonly upFramer = new Framer(MAX_SERVER_FRAME);
  private readonly r = new Reader();
  private readonly w = new Writer(1024);
  private readonly ops: Op[] = [];
  private readonly statements = new Map<string, Statement>();
  private readonly portals = new Map<string, Portal>();
  private readonly trace: boolean;
  private standardConformingStrings = true;
  private cmdSeq = 0;
  private bindSeq = 0;
  /** the simple-query result being streamed */
  private qPlan: ActivePlan | null = null;
  private copy: { plan: ActivePlan | null; format: CopyFormat | null; skipHeader: boolean } | null = null;
  private upSuspended = false;
  private upQueue: Buffer[] = [];
  private closed = false;
  private failing = false;
  private draining = false;
  txStatus = 0x49; // 'I'
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    readonly info: SessionInfo,
    private readonly client: net.Socket,
    private readonly upstream: net.Socket,
    private readonly deps: SessionDeps,
  ) {
    this.trace = deps.log.isLevelEnabled('trace');
    this.standardConformingStrings = deps.standardConformingStrings;
  }

  /** Start relaying; `clientRest`/`upstreamRest` are bytes that arrived during the handshake. */
  start(clientRest: Buffer, upstreamRest: Buffer): void {
    this.client.on('data', (d: Buffer) => this.onClientData(d));
    this.upstream.on('data', (d: Buffer) => this.onUpstreamData(d));
    this.client.on('drain', () => this.upSuspended || this.upstream.resume());
    this.upstream.on('drain', () => this.client.resume());
    this.client.on('close', () => this.close('client closed'));
    // A target that goes away is said in the client's protocol, not as a bare disconnect.
    this.upstream.on('close', () => this.fatal(errors.targetLost(), 'target closed'));
    this.client.on('error', (e) => this.deps.log.debug({ err: e.message }, 'client socket error'));
    this.upstream.on('error', (e) => this.deps.log.debug({ err: e.message }, 'target socket error'));
    if (upstreamRest.length) this.onUpstreamData(upstreamRest);
    if (clientRest.length) this.onClientData(clientRest);
    this.client.resume();
    this.upstream.resume();
  }

  /** Graceful shutdown: idle sessions end now; busy ones when their current command finishes. */
  shutdown(): void {
    this.draining = true;
    if (this.ops.length === 0 && this.txStatus === 0x49) this.fatal(errors.shuttingDown(), 'gateway shutdown');
  }

  destroy(reason: string): void {
    this.close(reason);
  }

  // ---- client → target ----------------------------------------------------------------------------

  private onClientData(chunk: Buffer): void {
    if (this.closed) return;
    this.bytesIn += chunk.length;
    let got;
    try {
      got = this.clientFramer.push(chunk);
    } catch (err) {
      return this.fatal(errors.protocol((err as Error).message), 'malformed client message');
    }
    if (!got) return;
    try {
      this.processClient(got.buf, got.end);
    } catch (err) {
      if (err instanceof ProtocolError || err instanceof RangeError) {
        return this.fatal(errors.protocol(`malformed message from client: ${err.message}`), 'malformed client message');
      }
      this.deps.log.error({ err }, 'internal error on client data');
      return this.fatal(errors.internal(), 'internal error');
    }
  }

  private processClient(buf: Buffer, end: number): void {
    const out: Buffer[] = [];
    let pass = 0;
    let off = 0;
    const replace = (frameStart: number, frameEnd: number, ...with_: Buffer[]): void => {
      if (pass < frameStart) out.push(buf.subarray(pass, frameStart));
      out.push(...with_);
      pass = frameEnd;
    };
    let terminate = false;
    while (off < end) {
      const code = buf[off]!;
      const next = off + 1 + buf.readInt32BE(off + 1);
      const r = this.r.reset(buf, off + 5, next);
      if (this.trace) this.deps.log.trace({ message: frontendName(code), len: next - off }, 'client →');
      switch (code) {
        case Frontend.Query: {
          const text = r.cstring();
          const analysis = this.analyze(text);
          const cmdId = ++this.cmdSeq;
          const decision = this.decideSql(text, 'query', analysis);
          this.auditDecision(cmdId, 'query', text, decision);
          const op: Op = { t: 'Q', bindSeq: this.bindSeq, cmdId, started: performance.now(), analysis, index: 0, rows: 0, masked: 0 };
          if (decision.action !== 'allow') {
            op.blocked = blockedOf(decision);
            replace(off, next, encodeQuery(raiseStatement(op.blocked), this.w));
          }
          this.ops.push(op);
          break;
        }
        case Frontend.Parse: {
          const p = decodeParse(r);
          const analysis = this.analyze(p.query);
          const decision = this.decideSql(p.query, 'prepare', analysis);
          const cmdId = ++this.cmdSeq;
          this.auditDecision(cmdId, 'prepare', p.query, decision);
          const op: Op = { t: 'P', name: p.name };
          if (decision.action !== 'allow') {
            op.blocked = blockedOf(decision);
            replace(off, next, encodeParse(p.name, FAILING_STATEMENT, p.paramTypes));
            this.statements.delete(p.name);
          } else {
            this.statements.set(p.name, { text: p.query, analysis });
          }
          this.ops.push(op);
          break;
        }
        case Frontend.Bind: {
          const b = decodeBind(r);
          const stmt = this.statements.get(b.statement) ?? { text: '', analysis: null, fields: undefined };
          const portal: Portal = { bound: ++this.bindSeq, stmt, formatCodes: b.resultFormats };
          if (stmt.fields !== undefined) portal.fields = stmt.fields;
          this.portals.set(b.portal, portal);
          this.ops.push({ t: 'B' });
          // A result shape must be known before rows can be masked: if neither the statement was described
          // nor the client describes the portal next, ask the target ourselves and swallow the answer.
          if (this.deps.masker && portal.fields === undefined && !this.describesNext(buf, next, end, b.portal)) {
            replace(off, next, buf.subarray(off, next), encodeDescribe('P', b.portal));
            this.ops.push({ t: 'D', portal, injected: true });
          }
          break;
        }
        case Frontend.Describe: {
          // Remember the object described now: pipelined Binds may replace the unnamed portal before the answer.
          const d = decodeTarget(r);
          if (d.kind === 'S') this.ops.push({ t: 'D', stmt: this.statements.get(d.name), injected: false });
          else this.ops.push({ t: 'D', portal: this.portals.get(d.name), injected: false });
          break;
        }
        case Frontend.Execute: {
          const e = decodeExecute(r);
          const portal = this.portals.get(e.portal) ?? { bound: 0, stmt: { text: '', analysis: null }, formatCodes: [], fields: null };
          this.ops.push({ t: 'E', portal, started: performance.now(), rows: 0, masked: 0 });
          break;
        }
        case Frontend.Close: {
          const c = decodeTarget(r);
          if (c.kind === 'S') this.statements.delete(c.name);
          else this.portals.delete(c.name);
          this.ops.push({ t: 'C' });
          break;
        }
        case Frontend.Sync:
          this.ops.push({ t: 'S', bindSeq: this.bindSeq });
          break;
        case Frontend.Flush:
        case Frontend.CopyData:
        case Frontend.CopyDone:
        case Frontend.CopyFail:
          break;
        case Frontend.FunctionCall: {
          // lo_import/lo_export and friends: refused by default. The target answers a substituted failing
          // query with ErrorResponse + ReadyForQuery, exactly the shape a failed FunctionCall has.
          const cmdId = ++this.cmdSeq;
          const decision = this.decide({ kind: 'function-call' });
          this.auditDecision(cmdId, 'function-call', 'FunctionCall', decision);
          const op: Op = { t: 'Q', bindSeq: this.bindSeq, cmdId, started: performance.now(), analysis: null, index: 0, rows: 0, masked: 0 };
          if (decision.action !== 'allow') {
            op.blocked = blockedOf(decision);
            replace(off, next, encodeQuery(raiseStatement(op.blocked), this.w));
          }
          this.ops.push(op);
          break;
        }
        case Frontend.Terminate:
          terminate = true;
          break;
        default:
          throw new ProtocolError(`unknown message type 0x${code.toString(16)}`);
      }
      off = next;
    }
    if (pass < end) out.push(pass === 0 && end === buf.length ? buf : buf.subarray(pass, end));
    this.deps.audit.afterCommit(() => this.writeTo(this.upstream, out, this.client));
    if (terminate) this.close('client terminated');
  }

  private describesNext(buf: Buffer, off: number, end: number, portal: string): boolean {
    if (off + 6 > end || buf[off] !== Frontend.Describe || buf[off + 5] !== 0x50) return false;
    const next = off + 1 + buf.readInt32BE(off + 1);
    return buf.toString('utf8', off + 6, next - 1) === portal;
  }

  private analyze(text: string): SqlAnalysis {
    return analyzeSql(text, { dialect: 'postgres', standardConformingStrings: this.standardConformingStrings });
  }

  private decideSql(text: string, via: 'query' | 'prepare', analysis: SqlAnalysis): Decision {
    const d = this.decide({
      kind: 'sql',
      dialect: 'postgres',
      text,
      via,
      lexer: { dialect: 'postgres', standardConformingStrings: this.standardConformingStrings },
    });
    if (d.action !== 'allow' || !this.deps.masker) return d;
    // COPY output whose rows cannot be split safely (binary, exotic options) is refused, never passed unmasked.
    for (const s of analysis.statements) {
      for (const st of [s, ...(s.inner ?? [])]) {
        if (st.copy && st.copy.direction === 'to') {
          const f = copyFormat(st.copy);
          if (typeof f === 'string') return { action: 'block', rule: 'masking', message: f };
        }
      }
    }
    return d;
  }

  private decide(cmd: Command): Decision {
    try {
      const d = this.deps.policy.decide(this.info, cmd);
      if (d instanceof Promise) {
        // Reviews (asynchronous decisions) are not built yet: fail closed.
        void d.catch(() => undefined);
        return { action: 'block', rule: 'review', message: 'this command needs a review, and reviews are not available yet' };
      }
      return d;
    } catch (err) {
      this.deps.log.error({ err }, 'policy failed; blocking');
      return { action: 'block', rule: 'policy-error', message: 'the policy could not decide; blocked (fail closed)' };
    }
  }

  private auditDecision(cmdId: number, via: string, text: string, d: Decision): void {
    this.deps.audit.append({
      sessionId: this.info.id,
      at: Date.now(),
      kind: 'decision',
      commandId: cmdId,
      via,
      text,
      decision: d.action,
      rule: d.action === 'allow' ? undefined : d.rule,
      message: d.action === 'allow' ? undefined : d.message,
    });
    if (d.action !== 'allow') {
      this.deps.log.info({ rule: d.rule, via, decision: d.action }, 'command blocked');
    }
  }

  // ---- target → client ----------------------------------------------------------------------------

  private onUpstreamData(chunk: Buffer): void {
    if (this.closed) return;
    if (this.upSuspended) {
      this.upQueue.push(chunk);
      return;
    }
    let got;
    try {
      got = this.upFramer.push(chunk);
    } catch (err) {
      return this.fatal(errors.upstream(this.info.connection, 'malformed message from target'), 'malformed target message');
    }
    if (got) this.processUpstreamSafe(got.buf, 0, got.end);
  }

  private processUpstreamSafe(buf: Buffer, off: number, end: number): void {
    try {
      this.processUpstream(buf, off, end);
    } catch (err) {
      this.deps.log.error({ err }, 'internal error on target data');
      this.fatal(errors.internal(), 'internal error');
    }
  }

  private processUpstream(buf: Buffer, start: number, end: number): void {
    const out: Buffer[] = [];
    let pass = start;
    let off = start;
    const replace = (frameStart: number, frameEnd: number, with_: Buffer | null): void => {
      if (pass < frameStart) out.push(buf.subarray(pass, frameStart));
      if (with_) out.push(with_);
      pass = frameEnd;
    };
    while (off < end) {
      const code = buf[off]!;
      const next = off + 1 + buf.readInt32BE(off + 1);
      if (this.trace) this.deps.log.trace({ message: backendName(code), len: next - off }, '← target');
      const head = this.ops[0];
      switch (code) {
        case Backend.DataRow: {
          let plan: ActivePlan | null | undefined = null;
          if (head?.t === 'E') {
            if (this.deps.masker) {
              const p = head.portal;
              if (p.plan === undefined) {
                if (!p.fields) {
                  // Rows of a shape we never saw: never forward them unmasked.
                  this.flushUp(out, buf, pass, off);
                  return this.fatal(errors.internal(), 'rows of an unknown result shape');
                }
                const pending = this.needsCatalog(p.fields);
                if (pending) return this.suspend(out, buf, pass, off, end, pending);
                p.plan = this.portalPlan(p, p.fields);
              }
              plan = p.plan;
            }
            head.rows++;
          } else if (head?.t === 'Q') {
            plan = this.qPlan;
            head.rows++;
          } else if (this.deps.masker) {
            this.flushUp(out, buf, pass, off);
            return this.fatal(errors.internal(), 'rows outside any command');
          }
          if (plan) {
            const before = plan.masked;
            const row = maskDataRow(buf, off, next, plan);
            if (row) {
              replace(off, next, row);
              if (head?.t === 'E' || head?.t === 'Q') head.masked += plan.masked - before;
            }
          }
          break;
        }
        case Backend.RowDescription: {
          if (!this.deps.masker) {
            if (head?.t === 'D') this.ops.shift();
            break;
          }
          const fields = decodeRowDescription(this.r.reset(buf, off + 5, next));
          const pending = this.needsCatalog(fields);
          if (pending) return this.suspend(out, buf, pass, off, end, pending);
          if (head?.t === 'D') {
            this.ops.shift();
            if (head.stmt) {
              head.stmt.fields = fields;
              head.stmt.plans = undefined;
            }
            if (head.portal) {
              head.portal.fields = fields;
              head.portal.plan = this.portalPlan(head.portal, fields);
            }
            if (head.injected) replace(off, next, null);
          } else if (head?.t === 'Q') {
            this.qPlan = this.planFor(fields, fields.map((f) => f.format));
          }
          break;
        }
        case Backend.NoData:
          if (head?.t === 'D') {
            this.ops.shift();
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
        case Backend.BindComplete:
        case Backend.CloseComplete:
          this.ops.shift();
          if (code === Backend.BindComplete) this.bindComplete();
          break;
        case Backend.CommandComplete:
        case Backend.EmptyQueryResponse:
        case Backend.PortalSuspended: {
          const tagRows = code === Backend.CommandComplete ? rowsFromTag(this.r.reset(buf, off + 5, next).cstring()) : undefined;
          if (head?.t === 'E') {
            this.ops.shift();
            this.auditExecute(head, tagRows);
          } else if (head?.t === 'Q') {
            head.index++;
            if (tagRows !== undefined && head.rows === 0) head.rows = tagRows;
            this.qPlan = null;
            this.copy = null;
          }
          break;
        }
        case Backend.CopyOutResponse: {
          const stmt = this.currentStatement(head);
          const r = this.r.reset(buf, off + 5, next);
          const format = r.byte();
          const n = r.int16();
          if (!this.deps.masker) break;
          const copy = stmt?.copy;
          const pendingCopy = this.copyColumnsPending(copy);
          if (pendingCopy) return this.suspend(out, buf, pass, off, end, pendingCopy);
          const names = copy?.columns ?? (copy?.table ? this.copyTableColumns.get(copy.table) : undefined);
          const cols = copyColumns(names, n, copy?.table ? splitTable(copy.table) : undefined);
          const plan = activate(this.deps.masker.plan(this.info, cols), cols);
          const fmt = copyFormat(copy);
          if (plan && (format !== 0 || typeof fmt === 'string')) {
            // The decision step refuses these; rows we cannot split must never pass unmasked.
            this.flushUp(out, buf, pass, off);
            return this.fatal(errors.blocked('masking', typeof fmt === 'string' ? fmt : 'binary COPY output cannot be masked'), 'unmaskable copy');
          }
          this.copy = { plan, format: typeof fmt === 'string' ? null : fmt, skipHeader: typeof fmt !== 'string' && fmt.header };
          break;
        }
        case Backend.CopyData:
          if (this.copy?.plan && this.copy.format) {
            if (this.copy.skipHeader) this.copy.skipHeader = false;
            else {
              const row = maskCopyRow(buf, off, next, this.copy.plan, this.copy.format);
              if (row) replace(off, next, row);
            }
          }
          break;
        case Backend.ErrorResponse: {
          const fields = decodeErrorFields(this.r.reset(buf, off + 5, next));
          if (head?.t === 'Q') {
            head.error ??= fields.get('M');
            if (head.blocked) replace(off, next, encodeErrorResponse(errors.blocked(head.blocked.rule, head.blocked.message)));
          } else if (head && head.t !== 'S') {
            if (head.t === 'P' && head.blocked) {
              replace(off, next, encodeErrorResponse(errors.blocked(head.blocked.rule, head.blocked.message)));
            }
            if (head.t === 'E') this.auditExecute(head, undefined, fields.get('M') ?? 'error');
            // After an error the target skips everything up to Sync.
            while (this.ops.length && this.ops[0]!.t !== 'S') this.ops.shift();
          }
          this.qPlan = null;
          this.copy = null;
          break;
        }
        case Backend.ReadyForQuery: {
          this.txStatus = buf[off + 5]!;
          let ended = -1;
          while (this.ops.length) {
            const op = this.ops.shift()!;
            if (op.t === 'Q') {
              this.auditQuery(op);
              ended = op.bindSeq ?? this.bindSeq;
              break;
            }
            if (op.t === 'S') {
              ended = op.bindSeq;
              break;
            }
          }
          this.qPlan = null;
          this.copy = null;
          // Portals live until their transaction ends (idle again), not until the next ReadyForQuery; those
          // bound in a pipeline after this Sync belong to the next transaction and stay.
          if (this.txStatus === 0x49 && this.portals.size > 0) {
            for (const [name, p] of this.portals) if (p.bound <= ended) this.portals.delete(name);
          }
          break;
        }
        case Backend.ParameterStatus: {
          const r = this.r.reset(buf, off + 5, next);
          const name = r.cstring();
          const value = r.cstring();
          if (name === 'standard_conforming_strings') this.standardConformingStrings = value === 'on';
          if (name === 'client_encoding' && isUnsafeEncoding(value)) {
            this.flushUp(out, buf, pass, off);
            return this.fatal(errors.badEncoding(value), 'unsafe client encoding');
          }
          break;
        }
        default:
          // NoticeResponse, NotificationResponse, CopyInResponse, CopyDone, FunctionCallResponse...: as is.
          break;
      }
      off = next;
    }
    this.flushUp(out, buf, pass, end);
    if (this.draining && this.ops.length === 0 && this.txStatus === 0x49) {
      this.fatal(errors.shuttingDown(), 'gateway shutdown');
    }
  }

  private flushUp(out: Buffer[], buf: Buffer, pass: number, end: number): void {
    if (pass < end) out.push(buf.subarray(pass, end));
    if (out.length === 0) return;
    for (const b of out) this.bytesOut += b.length;
    this.deps.audit.afterCommit(() => this.writeTo(this.client, out, this.upstream));
  }

  private bindComplete(): void {
    // nothing to track: the portal was recorded when Bind was sent
  }

  private currentStatement(head: Op | undefined): StatementAnalysis | undefined {
    if (head?.t === 'Q') return head.analysis?.statements[head.index];
    if (head?.t === 'E') return head.portal.stmt.analysis?.statements[0];
    return undefined;
  }

  private readonly copyTableColumns = new Map<string, string[]>();

  private copyColumnsPending(copy: StatementAnalysis['copy'] | undefined): Promise<void> | null {
    const catalog = this.deps.catalog;
    if (!copy?.table || copy.columns || !catalog || this.copyTableColumns.has(copy.table)) return null;
    const table = copy.table;
    return catalog.tableByName(table).then((t) => {
      if (!t) throw new Error(`table ${table} not found in the catalog`);
      this.copyTableColumns.set(table, t.ordered);
    });
  }

  private needsCatalog(fields: FieldDescription[]): Promise<void> | null {
    const catalog = this.deps.catalog;
    if (!this.deps.masker || !catalog) return null;
    let missing: number[] | null = null;
    for (const f of fields) {
      if (f.tableOid !== 0 && !catalog.cached(f.tableOid)) (missing ??= []).push(f.tableOid);
    }
    return missing ? catalog.resolve(missing) : null;
  }

  private portalPlan(p: Portal, fields: FieldDescription[]): ActivePlan | null {
    const key = p.formatCodes.join(',');
    const stmt = p.stmt;
    const cached = stmt.fields === fields ? stmt.plans?.get(key) : undefined;
    if (cached !== undefined) return cached;
    const plan = this.planFor(fields, resultFormats(p.formatCodes, fields.length));
    if (stmt.fields === fields) (stmt.plans ??= new Map()).set(key, plan);
    return plan;
  }

  private planFor(fields: FieldDescription[], formats: number[]): ActivePlan | null {
    const masker = this.deps.masker;
    if (!masker) return null;
    const catalog = this.deps.catalog;
    const cols = describeColumns(fields, formats, (oid) => catalog?.cached(oid));
    return activate(masker.plan(this.info, cols), cols);
  }

  /** Stop reading the target until an async lookup finishes, then re-process from the frame at `off`. */
  private suspend(out: Buffer[], buf: Buffer, pass: number, off: number, end: number, wait: Promise<void>): void {
    this.flushUp(out, buf, pass, off);
    this.upSuspended = true;
    this.upstream.pause();
    wait.then(
      () => {
        if (this.closed) return;
        this.upSuspended = false;
        this.processUpstreamSafe(buf, off, end);
        const queued = this.upQueue;
        this.upQueue = [];
        for (const q of queued) this.onUpstreamData(q);
        if (!this.upSuspended && !this.closed) this.upstream.resume();
      },
      (err: Error) => {
        this.deps.log.warn({ err: err.message }, 'cannot resolve result columns for masking; closing session');
        this.fatal(errors.upstream(this.info.connection, 'cannot resolve result columns for masking'), 'catalog lookup failed');
      },
    );
  }

  private auditExecute(op: Extract<Op, { t: 'E' }>, tagRows?: number, error?: string): void {
    this.deps.audit.append({
      sessionId: this.info.id,
      at: Date.now(),
      kind: 'complete',
      commandId: ++this.cmdSeq,
      via: 'execute',
      text: op.portal.stmt.text,
      decision: 'allow',
      durationMs: round(performance.now() - op.started),
      rows: op.rows || tagRows || 0,
      error,
      maskedCells: op.masked || undefined,
    });
  }

  private auditQuery(op: Extract<Op, { t: 'Q' }>): void {
    this.deps.audit.append({
      sessionId: this.info.id,
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

  // ---- writes, errors, close ----------------------------------------------------------------------

  private writeTo(dest: net.Socket, out: Buffer[], source: net.Socket): void {
    if (this.closed || dest.destroyed) return;
    let ok = true;
    if (out.length === 1) ok = dest.write(out[0]!);
    else if (out.length > 8) {
      // Many pieces (masked rows between slices): one copy beats a writev of hundreds of small buffers.
      ok = dest.write(Buffer.concat(out));
    } else {
      dest.cork();
      for (const b of out) ok = dest.write(b);
      dest.uncork();
    }
    // Backpressure: stop reading the other side until this one drains.
    if (!ok) source.pause();
  }

  /** Tell the client in its protocol, then close both legs. */
  fatal(fields: ErrorFields, reason: string): void {
    if (this.closed || this.failing) return;
    this.failing = true;
    const msg = encodeErrorResponse(fields);
    this.deps.audit.append({ sessionId: this.info.id, at: Date.now(), kind: 'error', message: `${fields.code} ${fields.message}` });
    this.deps.audit.afterCommit(() => {
      if (!this.client.destroyed) this.client.end(msg);
      this.close(reason);
    });
  }

  private close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.upstream.destroyed) this.upstream.end(encodeTerminate());
    setTimeout(() => this.upstream.destroy(), 1000).unref();
    if (!this.client.destroyed) this.client.end();
    setTimeout(() => this.client.destroy(), 1000).unref();
    this.deps.log.info({ reason, bytesIn: this.bytesIn, bytesOut: this.bytesOut }, 'session closed');
    this.deps.audit.endSession(this.info.id, { endedAt: Date.now(), reason, bytesIn: this.bytesIn, bytesOut: this.bytesOut });
    this.deps.onClose(this);
  }
}

function blockedOf(d: Decision): Blocked {
  if (d.action === 'block') return { rule: d.rule, message: d.message };
  if (d.action === 'review') {
    return { rule: d.rule, message: d.message ?? `this command needs a review (rule "${d.rule}"), and reviews are not available yet` };
  }
  return { rule: 'internal', message: 'blocked' };
}

/** A statement the target itself fails with SQLSTATE 42501, so transaction state matches what the client saw. */
function raiseStatement(b: Blocked): string {
  const msg = b.message.replace(/\$/g, '');
  return `DO $portcullis$BEGIN RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = $pcmsg$${msg}$pcmsg$; END$portcullis$`;
}

function splitTable(name: string): { schema?: string; table?: string } {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? { table: name } : { schema: name.slice(0, dot), table: name.slice(dot + 1) };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
