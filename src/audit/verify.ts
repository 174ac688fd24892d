// Verification and export of a SQLite audit store's hash chain (read-only; `portcullis audit verify|export`).
//
// verify walks the chain in seq order — recomputes every hash from prev + payload, checks that prev is the
// previous entry's hash and that the seqs are 1, 2, 3… without a gap — and cross-checks every row the store
// wrote against its chain entry: events, sessions (start and end) and recordings rows carry the seq of
// their entry (chain_seq, sessions.end_seq), so an edited row (fields differ from the payload), a deleted
// one (an entry without its row) and an inserted one (a row no entry claims) are all found. Rows from
// before the chain existed have chain_seq = 0: they are counted, not verified. What the spool holds beyond
// the ingested position (the chain's newest entries) is checked for continuity and hashes as well.
//
// Without a secret, a chain only proves internal consistency: someone able to rewrite the database can
// recompute every hash from the point they edit on, or cut entries off the end. Anchor the last hash
// (`verify --json` prints it) somewhere else to detect that.
import type Database from 'better-sqlite3';
import { canonicalJson as canonical, chainHash, GENESIS } from './chain.js';
import type { Pending, SpoolEntry } from './sqlite.js';

export interface VerifyProblem {
  /** the chain entry concerned, if any */
  seq?: number;
  /** the row concerned, if any */
  table?: 'events' | 'sessions' | 'recordings';
  rowId?: number | string;
  message: string;
}

export interface VerifyResult {
  ok: boolean;
  /** chain entries checked (in SQLite and, beyond it, in the spool) */
  entries: number;
  /** of which only in the spool (not yet moved into SQLite) */
  spooled: number;
  /** rows written before the chain existed (not verifiable) */
  beforeChain: number;
  lastSeq: number;
  lastHash: string | null;
  /** in the order found: chain walk (seq order) first, then rows no entry claims; at most maxProblems */
  problems: VerifyProblem[];
  /** more problems than maxProblems were found */
  truncated: boolean;
}

type Row = Record<string, unknown>;

const KIND_LABEL: Record<string, string> = { start: 'session start', end: 'session end', event: 'event', recording: 'recording' };

function describe(seq: number, p: Pending | undefined, kind: string): string {
  if (!p) return `entry seq ${seq} (${KIND_LABEL[kind] ?? kind})`;
  const sid = p.t === 'start' ? p.s?.id : p.t === 'end' ? p.id : p.t === 'event' ? p.e?.sessionId : p.r?.sessionId;
  return `entry seq ${seq} (${KIND_LABEL[p.t] ?? p.t} of session ${sid})`;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** row value vs payload value: absent ↔ NULL; strings as SQLite stores them (lone surrogates become U+FFFD) */
function same(row: unknown, want: unknown): boolean {
  if (want === undefined || want === null) return row === null || row === undefined;
  if (typeof want === 'string') return typeof row === 'string' && (row === want || row === want.replace(LONE_SURROGATE, '\uFFFD'));
  if (typeof want === 'number') return typeof row === 'number' && row === want;
  if (typeof want === 'boolean') return row === (want ? 1 : 0);
  return false;
}

function diff(row: Row, pairs: Array<[string, unknown]>): string[] {
  const out: string[] = [];
  for (const [col, want] of pairs) if (!same(row[col], want)) out.push(col);
  return out;
}

function tableExists(db: Database.Database, name: string): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined;
}

function hasColumn(db: Database.Database, table: string, col: string): boolean {
  return (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).some((c) => c.name === col);
}

interface Walk {
  result: VerifyResult;
  /** the seq and hash a spooled continuation must follow (null after a break in SQLite) */
  expectSeq: number;
  expectPrev: string;
}

class Problems {
  list: VerifyProblem[] = [];
  truncated = false;
  constructor(private readonly max: number) {}
  add(p: VerifyProblem): void {
    if (this.list.length < this.max) this.list.push(p);
    else this.truncated = true;
  }
}

/** Verifies the chain in SQLite (run it inside a read transaction) and then its continuation in the spool. */
export function verifyDatabase(db: Database.Database, spool: readonly SpoolEntry[], opts: { maxProblems?: number } = {}): VerifyResult {
  const problems = new Problems(opts.maxProblems ?? 100);
  const walk = walkDatabase(db, problems);
  // the spool's chained entries beyond SQLite's last seq: continuity and hashes only (no rows yet)
  let { expectSeq, expectPrev } = walk;
  let spooled = 0;
  for (const { p, link } of spool) {
    if (!link || link.seq < expectSeq) continue; // written before the chain, or already in SQLite
    spooled++;
    const what = `${describe(link.seq, p, p.t)} (in the spool)`;
    if (link.seq !== expectSeq) {
      problems.add({ seq: expectSeq, message: gapMessage(expectSeq, link.seq) });
    } else if (link.prev !== expectPrev) {
      problems.add({ seq: link.seq, message: `${what}: prev is not the hash of seq ${link.seq - 1} — reordered, or seq ${link.seq - 1} edited?` });
    }
    // the spool line carries the payload as written: re-encoding it canonically gives the same text
    if (chainHash(link.prev, canonical(p)) !== link.hash) problems.add({ seq: link.seq, message: `${what}: hash mismatch — edited?` });
    expectSeq = link.seq + 1;
    expectPrev = link.hash;
  }
  const r = walk.result;
  r.entries += spooled;
  r.spooled = spooled;
  if (spooled > 0) {
    r.lastSeq = expectSeq - 1;
    r.lastHash = expectPrev;
  }
  r.problems = problems.list;
  r.truncated = problems.truncated;
  r.ok = problems.list.length === 0;
  return r;
}

function gapMessage(expected: number, found: number): string {
  return found === expected + 1 ? `seq ${expected} missing — deleted?` : `seqs ${expected}–${found - 1} missing — deleted?`;
}

function walkDatabase(db: Database.Database, problems: Problems): Walk {
  const result: VerifyResult = { ok: true, entries: 0, spooled: 0, beforeChain: 0, lastSeq: 0, lastHash: null, problems: [], truncated: false };
  const hasChain = tableExists(db, 'chain');
  const hasRecordings = tableExists(db, 'recordings');
  const chained = (table: string): boolean => hasColumn(db, table, 'chain_seq');

  // rows by the seq of the entry that claims them
  const events = new Map<number, Row>();
  const sessions = new Map<number, Row>();
  const recordings = new Map<number, Row>();
  const sessionsById = new Map<string, Row>();
  const unclaimed: Array<{ table: 'events' | 'sessions' | 'recordings'; row: Row }> = [];
  const load = (table: 'events' | 'sessions' | 'recordings', into: Map<number, Row>): void => {
    const order = table === 'sessions' ? 'rowid' : 'id';
    const rows = db.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).all() as Row[];
    const hasSeq = chained(table);
    for (const row of rows) {
      if (table === 'sessions') sessionsById.set(String(row.id), row);
      const seq = hasSeq ? (row.chain_seq as number | null) : 0;
      if (seq === 0) result.beforeChain++;
      else if (seq === null || into.has(seq)) unclaimed.push({ table, row });
      else into.set(seq, row);
    }
  };
  load('events', events);
  load('sessions', sessions);
  if (hasRecordings) load('recordings', recordings);
  if (!hasChain) {
    for (const u of unclaimed) problems.add(notInChain(u.table, u.row));
    return { result, expectSeq: 1, expectPrev: GENESIS };
  }

  const claimed = { events: new Set<number>(), sessions: new Set<number>(), recordings: new Set<number>() };
  const verifiedEnds = new Set<number>();
  let expectSeq = 1;
  let expectPrev = GENESIS;
  let lastEventId = 0;
  for (const c of db.prepare('SELECT seq, kind, payload, prev, hash FROM chain ORDER BY seq').iterate() as IterableIterator<{
    seq: number;
    kind: string;
    payload: string;
    prev: string;
    hash: string;
  }>) {
    result.entries++;
    let p: Pending | undefined;
    try {
      p = JSON.parse(c.payload) as Pending;
    } catch {
      p = undefined;
    }
    const what = describe(c.seq, p, c.kind);
    if (c.seq !== expectSeq) {
      problems.add({ seq: expectSeq, message: gapMessage(expectSeq, c.seq) });
    } else if (c.prev !== expectPrev) {
      problems.add({ seq: c.seq, message: `${what}: prev is not the hash of seq ${c.seq - 1} — reordered, or seq ${c.seq - 1} edited?` });
    }
    expectSeq = c.seq + 1;
    expectPrev = c.hash;
    if (chainHash(c.prev, c.payload) !== c.hash) {
      problems.add({ seq: c.seq, message: `${what}: hash mismatch — edited?` });
      continue;
    }
    if (!p || typeof p !== 'object' || p.t !== c.kind) {
      problems.add({ seq: c.seq, message: `${what}: the payload is not a ${c.kind} entry — edited?` });
      continue;
    }
    // the row the entry wrote
    if (p.t === 'event') {
      const row = events.get(c.seq);
      if (!row) {
        problems.add({ seq: c.seq, table: 'events', message: `${what}: its events row is missing — deleted?` });
        continue;
      }
      claimed.events.add(c.seq);
      const e = p.e;
      const bad = diff(row, [
        ['session_id', e.sessionId], ['at', e.at], ['kind', e.kind], ['command_id', e.commandId], ['via', e.via], ['text', e.text],
        ['decision', e.decision], ['rule', e.rule], ['message', e.message], ['duration_ms', e.durationMs], ['rows', e.rows],
        ['bytes', e.bytes], ['error', e.error], ['masked_cells', e.maskedCells],
      ]);
      if (bad.length > 0) {
        problems.add({ seq: c.seq, table: 'events', rowId: Number(row.id), message: `${what}: events row id ${row.id} differs from the chain (${bad.join(', ')}) — edited?` });
      } else if (Number(row.id) < lastEventId) {
        problems.add({ seq: c.seq, table: 'events', rowId: Number(row.id), message: `${what}: events row id ${row.id} comes before id ${lastEventId} of an earlier entry — reordered?` });
      }
      lastEventId = Math.max(lastEventId, Number(row.id));
    } else if (p.t === 'start') {
      const row = sessions.get(c.seq);
      if (!row) {
        problems.add({ seq: c.seq, table: 'sessions', message: `${what}: its sessions row is missing — deleted?` });
        continue;
      }
      claimed.sessions.add(c.seq);
      const s = p.s;
      const bad = diff(row, [
        ['id', s.id], ['started_at', s.startedAt], ['user', s.user], ['auth_method', s.authMethod], ['connection', s.connection],
        ['protocol', s.protocol], ['client_addr', s.clientAddress], ['database', s.database], ['tls', s.tls],
      ]);
      if (row.groups !== JSON.stringify(s.groups)) bad.push('groups');
      if (bad.length > 0) problems.add({ seq: c.seq, table: 'sessions', rowId: String(row.id), message: `${what}: sessions row ${row.id} differs from the chain (${bad.join(', ')}) — edited?` });
    } else if (p.t === 'end') {
      const row = sessionsById.get(p.id);
      const endSeq = row ? (row.end_seq as number | null | undefined) ?? null : null;
      if (!row) {
        problems.add({ seq: c.seq, table: 'sessions', rowId: p.id, message: `${what}: its sessions row is missing — deleted?` });
      } else if (endSeq === c.seq) {
        verifiedEnds.add(c.seq);
        const e = p.e;
        const bad = diff(row, [['ended_at', e.endedAt], ['end_reason', e.reason], ['bytes_in', e.bytesIn], ['bytes_out', e.bytesOut]]);
        if (bad.length > 0) problems.add({ seq: c.seq, table: 'sessions', rowId: p.id, message: `${what}: sessions row ${p.id} differs from the chain (${bad.join(', ')}) — edited?` });
      } else if (endSeq === null || endSeq < c.seq) {
        // (endSeq > c.seq: ended again later; that end is checked when the walk gets there)
        problems.add({ seq: c.seq, table: 'sessions', rowId: p.id, message: `${what}: sessions row ${p.id} does not hold this end — edited?` });
      }
    } else if (p.t === 'recording') {
      const row = recordings.get(c.seq);
      if (!row) {
        problems.add({ seq: c.seq, table: 'recordings', message: `${what}: its recordings row is missing — deleted?` });
        continue;
      }
      claimed.recordings.add(c.seq);
      const r = p.r;
      const bad = diff(row, [['session_id', r.sessionId], ['channel', r.channel], ['file', r.file], ['started_at', r.startedAt], ['kind', r.kind]]);
      if (bad.length > 0) problems.add({ seq: c.seq, table: 'recordings', rowId: Number(row.id), message: `${what}: recordings row id ${row.id} differs from the chain (${bad.join(', ')}) — edited?` });
    }
  }
  result.lastSeq = expectSeq - 1;
  result.lastHash = result.entries > 0 ? expectPrev : null;

  // rows no entry claims
  for (const [seq, row] of events) if (!claimed.events.has(seq)) unclaimed.push({ table: 'events', row });
  for (const [seq, row] of sessions) if (!claimed.sessions.has(seq)) unclaimed.push({ table: 'sessions', row });
  for (const [seq, row] of recordings) if (!claimed.recordings.has(seq)) unclaimed.push({ table: 'recordings', row });
  for (const u of unclaimed) problems.add(notInChain(u.table, u.row));
  // a session end no entry claims (the start may be from before the chain)
  for (const row of sessionsById.values()) {
    const endSeq = (row.end_seq as number | null | undefined) ?? null;
    if (endSeq === 0) continue;
    if (endSeq === null ? row.ended_at !== null && row.ended_at !== undefined : !verifiedEnds.has(endSeq)) {
      problems.add({ table: 'sessions', rowId: String(row.id), message: `sessions row ${row.id}: its end is not in the chain — inserted?` });
    }
  }
  return { result, expectSeq, expectPrev };
}

function notInChain(table: 'events' | 'sessions' | 'recordings', row: Row): VerifyProblem {
  const id = table === 'sessions' ? String(row.id) : Number(row.id);
  return { table, rowId: id, message: `${table} row${table === 'sessions' ? '' : ' id'} ${id} is not in the chain — inserted?` };
}

export interface ExportedEvent {
  seq: number | null;
  hash: string | null;
  /** the events row id (null: still in the spool) */
  id: number | null;
  time: string;
  at: number;
  sessionId: string;
  user: string | null;
  connection: string | null;
  kind: string;
  commandId?: number;
  via?: string;
  text?: string;
  decision?: string;
  rule?: string;
  message?: string;
  durationMs?: number;
  rows?: number;
  bytes?: number;
  error?: string;
  maskedCells?: number;
}

const opt = <T>(v: unknown): T | undefined => (v === null || v === undefined ? undefined : (v as T));

/**
 * The events in SQLite (run inside a read transaction) at or after `since` (ms), rows from before the chain
 * first (seq null) then in seq order, with their session's user and connection; then the spooled events
 * beyond SQLite (`spool`, chained entries only).
 */
export function exportDatabaseEvents(db: Database.Database, spool: readonly SpoolEntry[], since?: number): ExportedEvent[] {
  const hasChain = tableExists(db, 'chain') && hasColumn(db, 'events', 'chain_seq');
  const sql = hasChain
    ? `SELECT e.*, s.user AS s_user, s.connection AS s_connection, c.hash AS c_hash FROM events e
       LEFT JOIN sessions s ON s.id = e.session_id LEFT JOIN chain c ON c.seq = e.chain_seq
       WHERE e.at >= ? ORDER BY COALESCE(e.chain_seq, 0) > 0, e.chain_seq, e.id`
    : `SELECT e.*, s.user AS s_user, s.connection AS s_connection, NULL AS c_hash FROM events e
       LEFT JOIN sessions s ON s.id = e.session_id WHERE e.at >= ? ORDER BY e.id`;
  const rows = db.prepare(sql).all(since ?? -Number.MAX_VALUE) as Row[];
  const out: ExportedEvent[] = rows.map((r) => ({
    seq: r.chain_seq ? Number(r.chain_seq) : null,
    hash: r.chain_seq ? opt<string>(r.c_hash) ?? null : null,
    id: Number(r.id),
    time: new Date(Number(r.at)).toISOString(),
    at: Number(r.at),
    sessionId: String(r.session_id),
    user: opt<string>(r.s_user) ?? null,
    connection: opt<string>(r.s_connection) ?? null,
    kind: String(r.kind),
    commandId: opt(r.command_id),
    via: opt(r.via),
    text: opt(r.text),
    decision: opt(r.decision),
    rule: opt(r.rule),
    message: opt(r.message),
    durationMs: opt(r.duration_ms),
    rows: opt(r.rows),
    bytes: opt(r.bytes),
    error: opt(r.error),
    maskedCells: opt(r.masked_cells),
  }));
  // the spool's newest entries (not in SQLite yet)
  const maxSeq = hasChain ? Number((db.prepare('SELECT COALESCE(MAX(seq), 0) AS m FROM chain').get() as { m: number }).m) : 0;
  const starts = new Map<string, { user: string; connection: string }>();
  for (const { p, link } of spool) {
    if (p.t === 'start') starts.set(p.s.id, { user: p.s.user, connection: p.s.connection });
    if (p.t !== 'event' || !link || link.seq <= maxSeq || p.e.at < (since ?? -Infinity)) continue;
    const e = p.e;
    let who = starts.get(e.sessionId);
    if (!who) {
      const s = db.prepare('SELECT user, connection FROM sessions WHERE id = ?').get(e.sessionId) as { user: string; connection: string } | undefined;
      if (s) who = s;
    }
    out.push({
      seq: link.seq, hash: link.hash, id: null, time: new Date(e.at).toISOString(), at: e.at, sessionId: e.sessionId,
      user: who?.user ?? null, connection: who?.connection ?? null, kind: e.kind, commandId: e.commandId, via: e.via, text: e.text,
      decision: e.decision, rule: e.rule, message: e.message, durationMs: e.durationMs, rows: e.rows, bytes: e.bytes, error: e.error,
      maskedCells: e.maskedCells,
    });
  }
  return out;
}
