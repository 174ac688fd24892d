// Client → target: each frame from the client is decided by the policy and audited; the pending answers
// are queued as ops for backend.ts. Blocked commands are replaced by statements the target itself fails,
// everything else is forwarded as slices of the bytes that arrived.
import type { Command, Decision } from '../../src/types.js';
import { auditDecision, decideNow, refusalOf } from '../../src/policy/enforce.js';
import { analyzeSql, type SqlAnalysis } from '../../src/policy/sql/analyze.js';
import { Frontend, frontendName } from './codes.js';
import { ProtocolError } from './bytes.js';
import {
  decodeBind,
  decodeExecute,
  decodeParse,
  decodeTarget,
  encodeDescribe,
  encodeParse,
  encodeQuery,
} from './messages.js';
import { errors } from './errors.js';
import { copyFormat } from './results.js';
import type { Blocked, Op, Portal, Statement } from './ops.js';
import { isUnsafeEncoding } from './select.js';
import type { PgSession } from './session.js';

/** A statement we substitute for a blocked Parse: it fails at Parse, and we rewrite the error. */
const FAILING_STATEMENT = 'portcullis_blocked_statement';

export function onClientData(s: PgSession, chunk: Buffer): void {
  if (s.closed) return;
  s.bytesIn += chunk.length;
  let got;
  try {
    got = s.clientFramer.push(chunk);
  } catch (err) {
    return s.fatal(errors.protocol((err as Error).message), 'malformed client message');
  }
  if (!got) return;
  try {
    processClient(s, got.buf, got.end);
  } catch (err) {
    if (err instanceof ProtocolError || err instanceof RangeError) {
      return s.fatal(errors.protocol(`malformed message from client: ${err.message}`), 'malformed client message');
    }
    s.deps.log.error({ err }, 'internal error on client data');
    return s.fatal(errors.internal(), 'internal error');
  }
}

function processClient(s: PgSession, buf: Buffer, end: number): void {
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
    const r = s.r.reset(buf, off + 5, next);
    if (s.trace) s.deps.log.trace({ message: frontendName(code), len: next - off }, 'client →');
    switch (code) {
      case Frontend.Query: {
        const text = r.cstring();
        const analysis = analyze(s, text);
        const cmdId = ++s.cmdSeq;
        const decision = decideSql(s, text, 'query', analysis);
        auditDecision(s.deps.audit, s.deps.log, s.info.id, cmdId, 'query', text, decision);
        const op: Op = { t: 'Q', bindSeq: s.bindSeq, cmdId, started: performance.now(), analysis, index: 0, rows: 0, masked: 0 };
        if (decision.action !== 'allow') {
          op.blocked = refusalOf(decision);
          replace(off, next, encodeQuery(raiseStatement(op.blocked), s.w));
        }
        s.ops.push(op);
        break;
      }
      case Frontend.Parse: {
        const p = decodeParse(r);
        const analysis = analyze(s, p.query);
        const decision = decideSql(s, p.query, 'prepare', analysis);
        const cmdId = ++s.cmdSeq;
        auditDecision(s.deps.audit, s.deps.log, s.info.id, cmdId, 'prepare', p.query, decision);
        const op: Op = { t: 'P', name: p.name };
        if (decision.action !== 'allow') {
          op.blocked = refusalOf(decision);
          replace(off, next, encodeParse(p.name, FAILING_STATEMENT, p.paramTypes));
        } else {
          // Committed to s.statements only when the target answers ParseComplete: a Parse it rejects (a name
          // already in use…) must not replace what the name really means on the target.
          op.stmt = { text: p.query, analysis };
          s.pendingStatements.set(p.name, op.stmt);
        }
        s.ops.push(op);
        break;
      }
      case Frontend.Bind: {
        const b = decodeBind(r);
        const stmt = lookupStatement(s, b.statement) ?? { text: '', analysis: null, fields: undefined };
        const portal: Portal = { bound: ++s.bindSeq, stmt, formatCodes: b.resultFormats };
        if (stmt.fields !== undefined) portal.fields = stmt.fields;
        s.portals.set(b.portal, portal);
        s.ops.push({ t: 'B' });
        // A result shape must be known before rows can be masked: if neither the statement was described
        // nor the client describes the portal next, ask the target ourselves and swallow the answer.
        if (s.deps.masker && portal.fields === undefined && !describesNext(buf, next, end, b.portal)) {
          replace(off, next, buf.subarray(off, next), encodeDescribe('P', b.portal));
          s.ops.push({ t: 'D', portal, injected: true });
        }
        break;
      }
      case Frontend.Describe: {
        // Remember the object described now: pipelined Binds may replace the unnamed portal before the answer.
        const d = decodeTarget(r);
        if (d.kind === 'S') s.ops.push({ t: 'D', stmt: s.statements.get(d.name), injected: false });
        else s.ops.push({ t: 'D', portal: s.portals.get(d.name), injected: false });
        break;
      }
      case Frontend.Execute: {
        const e = decodeExecute(r);
        const portal = s.portals.get(e.portal) ?? { bound: 0, stmt: { text: '', analysis: null }, formatCodes: [], fields: null };
        s.ops.push({ t: 'E', portal, started: performance.now(), rows: 0, masked: 0 });
        break;
      }
      case Frontend.Close: {
        const c = decodeTarget(r);
        if (c.kind === 'S') {
          s.pendingStatements.delete(c.name);
          s.ops.push({ t: 'C', statement: c.name });
        } else {
          s.portals.delete(c.name);
          s.ops.push({ t: 'C' });
        }
        break;
      }
      case Frontend.Sync:
        s.ops.push({ t: 'S', bindSeq: s.bindSeq });
        break;
      case Frontend.Flush:
      case Frontend.CopyData:
      case Frontend.CopyDone:
      case Frontend.CopyFail:
        break;
      case Frontend.FunctionCall: {
        // lo_import/lo_export and friends: refused by default. The target answers a substituted failing
        // query with ErrorResponse + ReadyForQuery, exactly the shape a failed FunctionCall has.
        const cmdId = ++s.cmdSeq;
        const decision = decideNow(s.deps.policy, s.info, { kind: 'function-call' }, s.deps.log);
        auditDecision(s.deps.audit, s.deps.log, s.info.id, cmdId, 'function-call', 'FunctionCall', decision);
        const op: Op = { t: 'Q', bindSeq: s.bindSeq, cmdId, started: performance.now(), analysis: null, index: 0, rows: 0, masked: 0 };
        if (decision.action !== 'allow') {
          op.blocked = refusalOf(decision);
          replace(off, next, encodeQuery(raiseStatement(op.blocked), s.w));
        }
        s.ops.push(op);
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
  s.deps.audit.afterCommit(() => s.writeTo(s.upstream, out, s.client));
  if (terminate) s.close('client terminated');
}

function describesNext(buf: Buffer, off: number, end: number, portal: string): boolean {
  if (off + 6 > end || buf[off] !== Frontend.Describe || buf[off + 5] !== 0x50) return false;
  const next = off + 1 + buf.readInt32BE(off + 1);
  return buf.toString('utf8', off + 6, next - 1) === portal;
}

function analyze(s: PgSession, text: string): SqlAnalysis {
  return analyzeSql(text, { dialect: 'postgres', standardConformingStrings: s.standardConformingStrings });
}

/** The statement a name means once everything sent so far has been answered. */
function lookupStatement(s: PgSession, name: string): Statement | undefined {
  return s.pendingStatements.get(name) ?? s.statements.get(name);
}

function decideSql(s: PgSession, text: string, via: 'query' | 'prepare', analysis: SqlAnalysis): Decision {
  const cmd = (scs: boolean): Command => ({
    kind: 'sql',
    dialect: 'postgres',
    text,
    via,
    lexer: { dialect: 'postgres', standardConformingStrings: scs },
  });
  let d = decideNow(s.deps.policy, s.info, cmd(s.standardConformingStrings), s.deps.log);
  // A change of standard_conforming_strings sent ahead of this text and not answered yet changes how the
  // target reads its backslashes before the gateway hears of it: judge both readings, most restrictive wins.
  if (s.scsChangeInFlight && text.includes('\\')) {
    const other = decideNow(s.deps.policy, s.info, cmd(!s.standardConformingStrings), s.deps.log);
    if (RANK[other.action] > RANK[d.action]) d = other;
  }
  if (mayChangeScs(text)) s.scsChangeInFlight = true;
  if (d.action !== 'allow') return d;
  const encoding = encodingChange(analysis);
  if (encoding) return { action: 'block', rule: 'client-encoding', message: encoding };
  if (!s.deps.masker) return d;
  // COPY output whose rows cannot be split safely (binary, exotic options) is refused, never passed unmasked.
  for (const st of analysis.statements) {
    for (const inner of [st, ...(st.inner ?? [])]) {
      if (inner.copy && inner.copy.direction === 'to') {
        const f = copyFormat(inner.copy);
        if (typeof f === 'string') return { action: 'block', rule: 'masking', message: f };
      }
    }
  }
  return d;
}

const RANK = { allow: 0, review: 1, block: 2 } as const;

/** SET/RESET/set_config of standard_conforming_strings, RESET ALL, DISCARD ALL: any spelling, any case. */
function mayChangeScs(text: string): boolean {
  return /standard_conforming_strings|reset\s+all|discard\s+all|set_config/i.test(text);
}
const SET_ENCODING = /^set\s+(?:session\s+|local\s+)?(?:client_encoding|names)\b\s*(?:to\b|=)?\s*(.*?)\s*;?$/;

/**
 * The lexer must read text in the encoding the target will: a client may not switch to one where a quote
 * byte can hide inside a multibyte character (SJIS, BIG5, GBK…), nor through set_config() at all.
 */
function encodingChange(analysis: SqlAnalysis): string | null {
  for (const st of analysis.statements) {
    if (st.functions.includes('set_config') && /client_encoding/i.test(st.text)) {
      return 'client_encoding cannot be changed with set_config() through portcullis; use SET client_encoding';
    }
    if (st.verb !== 'set') continue;
    const m = SET_ENCODING.exec(st.text);
    if (!m) continue;
    const value = m[1]!.replace(/^['"]|['"]$/g, '');
    if (!/^[a-z0-9_-]+$/i.test(value) || isUnsafeEncoding(value)) {
      return `client_encoding ${value} is not supported through portcullis (a quote byte can hide in its multibyte characters)`;
    }
  }
  return null;
}

/** A statement the target itself fails with SQLSTATE 42501, so transaction state matches what the client saw. */
function raiseStatement(b: Blocked): string {
  const msg = b.message.replace(/\$/g, '');
  return `DO $portcullis$BEGIN RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = $pcmsg$${msg}$pcmsg$; END$portcullis$`;
}
