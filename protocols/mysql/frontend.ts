// Client → target: each command is decided by the policy and audited; forwarded commands leave an Op for
// backend.ts; blocked ones are answered by the gateway (an ERR naming the rule) and never reach the target.
import type { Command, Decision } from '../../src/types.js';
import { auditDecision, decideNow, refusalOf } from '../../src/policy/enforce.js';
import { analyzeSql, type SqlAnalysis } from '../../src/policy/sql/analyze.js';
import { Com, comName } from './codes.js';
import { packet, ProtocolError, readMessage } from './packets.js';
import { encodeErr, type Err } from './messages.js';
import { errors } from './errors.js';
import { newOp, type Op, type Stmt } from './ops.js';
import { isUnsafeCharset } from './charsets.js';
import { drainLocal } from './backend.js';
import type { MySession } from './session.js';

const SQL_MODE_PROBE = 'SELECT @@SESSION.sql_mode, @@max_allowed_packet, @@SESSION.character_set_client';
/** Text after which sql_mode may differ: any mention of it, EXECUTE of a prepared text, a reset. */
const MAY_CHANGE_SQL_MODE = /sql_mode|\bexecute\b|\breset\b|\bansi\b|character_set|\bnames\b|charset|collation/i;

export function onClientData(s: MySession, chunk: Buffer): void {
  if (s.closed) return;
  s.bytesIn += chunk.length;
  let got;
  try {
    got = s.clientFramer.push(chunk);
  } catch (err) {
    return s.fatal(errors.protocol((err as Error).message), 'malformed client packet');
  }
  s.watchPartial();
  if (!got) return;
  try {
    processClient(s, got.buf, got.end);
  } catch (err) {
    if (err instanceof ProtocolError || err instanceof RangeError) {
      return s.fatal(errors.protocol(err.message), 'malformed client packet');
    }
    s.deps.log.error({ err }, 'internal error on client data');
    return s.fatal(errors.internal(), 'internal error');
  }
}

function processClient(s: MySession, buf: Buffer, end: number): void {
  const out: Buffer[] = [];
  let runStart = -1;
  let runEnd = -1;
  const flush = (): void => {
    if (runStart >= 0) out.push(runStart === 0 && runEnd === buf.length ? buf : buf.subarray(runStart, runEnd));
    runStart = runEnd = -1;
  };
  const fwd = (a: number, b: number): void => {
    if (runEnd === a) runEnd = b;
    else {
      flush();
      runStart = a;
      runEnd = b;
    }
  };
  const inject = (b: Buffer): void => {
    flush();
    out.push(b);
  };
  const m = s.cm;
  let quit = false;
  let off = 0;
  while (off < end) {
    readMessage(buf, off, m);
    off = m.end;
    if (s.infile) {
      // LOAD DATA LOCAL INFILE: file contents until an empty packet, with consecutive sequence ids
      if (m.seq !== (s.infile.seq & 0xff)) throw new ProtocolError(`sequence id ${m.seq}, expected ${s.infile.seq & 0xff}`);
      fwd(m.start, m.end);
      s.infile.op.outSeq = m.lastSeq + 1;
      s.infile.seq = m.lastSeq + 1;
      if (m.pEnd === m.pStart) s.infile = null;
      continue;
    }
    if (m.seq !== 0) throw new ProtocolError(`sequence id ${m.seq} at the start of a command, expected 0`);
    if (m.pEnd === m.pStart) throw new ProtocolError('empty command packet');
    const p = m.payload;
    const com = p[m.pStart]!;
    const outSeq = m.lastSeq + 1;
    if (s.trace) s.deps.log.trace({ command: comName(com), len: m.pEnd - m.pStart }, 'client →');
    switch (com) {
      case Com.QUERY: {
        const text = p.toString('utf8', m.pStart + 1, m.pEnd);
        const cmdId = ++s.cmdSeq;
        const d = decideSql(s, text, 'query');
        auditDecision(s.deps.audit, s.deps.log, s.info.id, cmdId, 'query', text, d);
        if (d.action !== 'allow') {
          answer(s, outSeq, blockedErr(d), cmdId);
          break;
        }
        const killed = translateKill(s, text);
        if (killed) inject(killed);
        else fwd(m.start, m.end);
        const op = newOp('result', outSeq, 'query', cmdId);
        s.ops.push(op);
        if (MAY_CHANGE_SQL_MODE.test(text)) inject(probe(s, op));
        break;
      }
      case Com.STMT_PREPARE: {
        const text = p.toString('utf8', m.pStart + 1, m.pEnd);
        const cmdId = ++s.cmdSeq;
        const d = decideSql(s, text, 'prepare');
        auditDecision(s.deps.audit, s.deps.log, s.info.id, cmdId, 'prepare', text, d);
        if (d.action !== 'allow') {
          answer(s, outSeq, blockedErr(d), cmdId);
          break;
        }
        fwd(m.start, m.end);
        const op = newOp('prepare', outSeq, 'prepare', cmdId);
        op.stmt = { id: -1, text, cmdId, analysis: null, changesSqlMode: MAY_CHANGE_SQL_MODE.test(text) };
        // MariaDB's execute-direct pipelines COM_STMT_EXECUTE with id 0xFFFFFFFF behind this PREPARE: the
        // id means this statement from now on, not the one the target last confirmed.
        s.lastPrepared = op.stmt;
        s.ops.push(op);
        break;
      }
      case Com.STMT_EXECUTE: {
        // stmt id · flags (cursor type) · iteration count · [NULL bitmap · new-params-bound · types · values]
        const stmt = statement(s, p, m.pStart, m.pEnd);
        fwd(m.start, m.end);
        const op = newOp('result', outSeq, 'execute', stmt ? ++s.cmdSeq : 0);
        op.binary = true;
        if (stmt) op.stmt = stmt;
        s.ops.push(op);
        // id 0xFFFFFFFF: if its PREPARE fails, the target may run an older statement; re-read sql_mode anyway
        if (stmt?.changesSqlMode || p.readUInt32LE(m.pStart + 1) === 0xffffffff) inject(probe(s, op));
        break;
      }
      case Com.STMT_FETCH: {
        const stmt = statement(s, p, m.pStart, m.pEnd);
        if (s.deps.masker && stmt?.cursorDefs === undefined) {
          // rows whose shape the gateway never saw cannot be masked: refuse rather than pass them
          answer(s, outSeq, errors.unsupported('COM_STMT_FETCH without an open cursor'), 0);
          break;
        }
        fwd(m.start, m.end);
        const op = newOp('fetch', outSeq, 'fetch');
        op.binary = true;
        if (stmt) {
          op.stmt = stmt;
          op.defs = stmt.cursorDefs ?? [];
          op.plan = stmt.cursorPlan ?? null;
        }
        s.ops.push(op);
        break;
      }
      case Com.STMT_CLOSE: {
        if (m.pEnd - m.pStart >= 5) {
          const id = p.readUInt32LE(m.pStart + 1);
          s.stmts.delete(id);
        }
        fwd(m.start, m.end);
        break;
      }
      case Com.STMT_SEND_LONG_DATA:
        fwd(m.start, m.end);
        break;
      case Com.STMT_RESET:
      case Com.PING:
      case Com.SET_OPTION:
        fwd(m.start, m.end);
        s.ops.push(newOp('single', outSeq, comName(com)));
        break;
      case Com.RESET_CONNECTION:
        fwd(m.start, m.end);
        s.stmts.clear();
        const op = newOp('single', outSeq, comName(com));
        s.ops.push(op);
        inject(probe(s, op));
        break;
      case Com.INIT_DB: {
        const db = p.toString('utf8', m.pStart + 1, m.pEnd);
        const text = `USE \`${db.replace(/`/g, '``')}\``;
        const cmdId = ++s.cmdSeq;
        const d = decideSql(s, text, 'query');
        auditDecision(s.deps.audit, s.deps.log, s.info.id, cmdId, 'init-db', text, d);
        if (d.action !== 'allow') {
          answer(s, outSeq, blockedErr(d), cmdId);
          break;
        }
        fwd(m.start, m.end);
        s.ops.push(newOp('single', outSeq, 'init-db', cmdId));
        break;
      }
      case Com.FIELD_LIST: {
        // table name · NUL · wildcard: judged and audited as SHOW COLUMNS
        const z = p.indexOf(0, m.pStart + 1);
        const table = p.toString('utf8', m.pStart + 1, z < 0 || z > m.pEnd ? m.pEnd : z);
        const text = `SHOW COLUMNS FROM \`${table.replace(/`/g, '``')}\``;
        const cmdId = ++s.cmdSeq;
        const d = decideSql(s, text, 'query');
        auditDecision(s.deps.audit, s.deps.log, s.info.id, cmdId, 'field-list', text, d);
        if (d.action !== 'allow') {
          answer(s, outSeq, blockedErr(d), cmdId);
          break;
        }
        fwd(m.start, m.end);
        s.ops.push(newOp('fields', outSeq, 'field-list', cmdId));
        break;
      }
      case Com.STATISTICS:
        fwd(m.start, m.end);
        s.ops.push(newOp('raw', outSeq, 'statistics'));
        break;
      case Com.PROCESS_INFO: {
        const cmdId = ++s.cmdSeq;
        const d = decideSql(s, 'SHOW PROCESSLIST', 'query');
        auditDecision(s.deps.audit, s.deps.log, s.info.id, cmdId, 'process-info', 'SHOW PROCESSLIST', d);
        if (d.action !== 'allow') {
          answer(s, outSeq, blockedErr(d), cmdId);
          break;
        }
        fwd(m.start, m.end);
        s.ops.push(newOp('result', outSeq, 'process-info', cmdId));
        break;
      }
      case Com.PROCESS_KILL: {
        if (m.pEnd - m.pStart < 5) throw new ProtocolError('COM_PROCESS_KILL without a thread id');
        const text = `KILL ${p.readUInt32LE(m.pStart + 1)}`;
        const cmdId = ++s.cmdSeq;
        const d = decideSql(s, text, 'query');
        auditDecision(s.deps.audit, s.deps.log, s.info.id, cmdId, 'process-kill', text, d);
        if (d.action !== 'allow') {
          answer(s, outSeq, blockedErr(d), cmdId);
          break;
        }
        inject(packet(0, Buffer.concat([Buffer.from([Com.QUERY]), Buffer.from(translateKillText(s, text), 'utf8')])));
        s.ops.push(newOp('result', outSeq, 'process-kill', cmdId));
        break;
      }
      case Com.QUIT:
        quit = true;
        break;
      case Com.CHANGE_USER:
        answer(s, outSeq, errors.unsupported('COM_CHANGE_USER is not supported through portcullis: open a new connection as the other user'), 0);
        break;
      default:
        // Replication, shutdown, refresh, debug, MariaDB bulk execution (never negotiated) …: they bypass SQL.
        answer(s, outSeq, errors.unsupported(`${comName(com)} is not supported through portcullis`), 0);
    }
  }
  flush();
  s.deps.audit.afterCommit(() => {
    s.writeTo(s.upstream, out, s.client);
    drainLocal(s);
  });
  if (quit) s.close('client quit');
}

/** Queue the gateway's own answer; it is written once every earlier command has been answered. */
function answer(s: MySession, seq: number, e: Err, cmdId: number): void {
  const op = newOp('local', seq, 'local', cmdId);
  op.local = packet(seq & 0xff, encodeErr(e));
  op.error = `${e.code} ${e.message}`;
  s.ops.push(op);
}

/**
 * Inject `SELECT @@SESSION.sql_mode, …` after what was forwarded; its answer is read by the gateway alone.
 * The answer to `after` is held back until then, so a client that waits for it sends its next command when
 * the gateway already reads text as the target does (only pipelined commands are judged under every reading).
 */
function probe(s: MySession, after?: Op): Buffer {
  if (after) after.hold = true;
  const op = newOp('result', 1, 'sql-mode');
  op.swallow = true;
  s.ops.push(op);
  s.sqlModeInFlight++;
  return packet(0, Buffer.concat([Buffer.from([Com.QUERY]), Buffer.from(SQL_MODE_PROBE)]));
}

export function probeSqlMode(s: MySession): void {
  s.upstream.write(probe(s));
}

function statement(s: MySession, p: Buffer, start: number, end: number): Stmt | undefined {
  if (end - start < 5) throw new ProtocolError('statement command without a statement id');
  const id = p.readUInt32LE(start + 1);
  // MariaDB: 0xFFFFFFFF means the statement prepared last
  if (id === 0xffffffff) return s.lastPrepared ?? undefined;
  return s.stmts.get(id);
}

/** The ERR packet for a refused command. */
function blockedErr(d: Decision): Err {
  const r = refusalOf(d);
  return errors.blocked(r.rule, r.message);
}

const RANK = { allow: 0, review: 1, block: 2 } as const;

function decideSql(s: MySession, text: string, via: 'query' | 'prepare'): Decision {
  const cmd = (nbe: boolean, aq: boolean): Command => ({
    kind: 'sql',
    dialect: 'mysql',
    text,
    via,
    lexer: { dialect: 'mysql', noBackslashEscapes: nbe, ansiQuotes: aq },
  });
  let d = decideNow(s.deps.policy, s.info, cmd(s.noBackslashEscapes, s.ansiQuotes), s.deps.log);
  // sql_mode may be changing under a command not answered yet: judge every reading, most restrictive wins.
  if (s.sqlModeInFlight > 0 && /["\\]/.test(text)) {
    for (const nbe of [false, true]) {
      for (const aq of [false, true]) {
        if (RANK[d.action] === 2) break;
        const o = decideNow(s.deps.policy, s.info, cmd(nbe, aq), s.deps.log);
        if (RANK[o.action] > RANK[d.action]) d = o;
      }
    }
  }
  if (d.action !== 'allow') return d;
  let analysis: SqlAnalysis;
  try {
    analysis = analyzeSql(text, { dialect: 'mysql', noBackslashEscapes: s.noBackslashEscapes, ansiQuotes: s.ansiQuotes });
  } catch {
    return d;
  }
  for (const st of analysis.statements) {
    for (const inner of [st, ...(st.inner ?? [])]) {
      if (inner.verb === 'set') {
        const refusal = charsetChange(inner.text);
        if (refusal) return { action: 'block', rule: 'charset', message: refusal };
      }
      if (inner.verb === 'kill') {
        const refusal = killRefusal(s, analysis.statements.length, inner === st ? text : '', via);
        if (refusal) return { action: 'block', rule: 'kill', message: refusal };
      }
      if (inner.verb === 'get' && /^get\s+(?:current\s+|stacked\s+)?diagnostics\b/.test(inner.text) && s.deps.masker) {
        return { action: 'block', rule: 'masking', message: 'GET DIAGNOSTICS is not available on a masked connection (error texts may quote masked values)' };
      }
      if (inner.verb === 'load' && LOAD_LOCAL.test(inner.text) && !s.deps.localInfile) {
        return { action: 'block', rule: 'local-infile', message: 'LOAD DATA LOCAL INFILE is not allowed on this connection (connection option localInfile)' };
      }
    }
  }
  return d;
}

/** An assignment to a connection character set or collation, in any SET spelling. */
const CHARSET_SETTING =
  /(?:^set\s+(?:statement\s+)?|,\s*)(?:(?:session|local|global|persist|persist_only)\s+)?(?:@@(?:session\.|local\.|global\.|persist\.)?)?(names|character\s+set|charset|character_set_client|character_set_connection|character_set_results|collation_connection)\b\s*(?::=|=|\bto\b)?\s*/g;
const CHARSET_VALUE = /^(?:'([^'\\]*)'|"([^"\\]*)"|`([^`]*)`|([a-z][a-z0-9_]*))(?=\s*(?:$|,|;|\bcollate\b|\bfor\b))/;

/**
 * The lexer reads text as UTF-8 (or another encoding where quote and backslash bytes are never part of a
 * multibyte character). A connection character set may therefore change only to a named, safe one: a
 * variable, an expression, a number (collation id) or a subquery could name sjis or gbk, so they are refused.
 * Returns the refusal, or null.
 */
export function charsetChange(text: string): string | null {
  for (const m of text.matchAll(CHARSET_SETTING)) {
    const rest = text.slice(m.index + m[0].length);
    const v = CHARSET_VALUE.exec(rest);
    const name = v ? (v[1] ?? v[2] ?? v[3] ?? v[4])! : null;
    if (name === null || name === '') {
      return `${m[1]} may only be set to a character set named literally through portcullis (no variables, expressions or numbers)`;
    }
    if (isUnsafeCharset(name)) return `character set ${name} is not supported through portcullis (a quote byte can hide in its multibyte characters)`;
  }
  return null;
}

const LOAD_LOCAL = /^load\s+(?:data|xml)\s+(?:(?:low_priority|concurrent)\s+)?local\b/;

const KILL = /^\s*kill\s+(?:(query|connection)\s+)?(\d+)\s*;?\s*$/i;

/** The session behind a connection id the client may name in KILL: one of this user's own, on this connection. */
function ownThread(s: MySession, id: number): { gateway?: MySession; upstream?: MySession } {
  const mine = (o: MySession): boolean => o.info.user === s.info.user && o.info.connection === s.info.connection;
  const g = s.deps.threads.get(id);
  if (g && mine(g)) return { gateway: g };
  for (const o of s.deps.threads.values()) if (mine(o) && o.deps.upstreamThreadId === id) return { upstream: o };
  return {};
}

/**
 * Every gateway session uses the same target account, so the target would let anyone KILL anyone's session.
 * Allowed: `KILL [QUERY|CONNECTION] n`, sent alone, where n is a connection id of one of the user's own sessions
 * on this connection (the id the gateway handed out, translated below, or the target's own id of such a session).
 */
function killRefusal(s: MySession, statements: number, text: string, via: string): string | null {
  const m = statements === 1 && via === 'query' ? KILL.exec(text) : null;
  if (!m) return 'KILL through portcullis must be sent alone as KILL [QUERY|CONNECTION] <connection id> (no KILL USER, query ids, or prepared KILL)';
  const own = ownThread(s, Number(m[2]));
  if (!own.gateway && !own.upstream) return 'KILL through portcullis is limited to your own sessions on this connection';
  return null;
}

/** `KILL [QUERY] n` with a gateway connection id (what mysql's Ctrl-C sends): the target's id for that session. */
function translateKillText(s: MySession, text: string): string {
  const m = KILL.exec(text);
  if (!m) return text;
  const own = ownThread(s, Number(m[2]));
  if (!own.gateway) return text;
  return `KILL ${m[1] ? m[1].toUpperCase() + ' ' : ''}${own.gateway.deps.upstreamThreadId}`;
}

function translateKill(s: MySession, text: string): Buffer | null {
  if (!/^\s*kill/i.test(text)) return null;
  const t = translateKillText(s, text);
  if (t === text) return null;
  return packet(0, Buffer.concat([Buffer.from([Com.QUERY]), Buffer.from(t, 'utf8')]));
}

export const _test = { decideSql, translateKillText, LOAD_LOCAL };
