// SQLite audit store (the embedded default). The durability point is a spool file next to the database:
// once per event-loop turn every pending event is appended to it with one write(2) — after that the
// kernel holds it and a process kill cannot lose it — and only then are answers released. The spool is
// moved into SQLite (WAL, synchronous=NORMAL) in larger transactions off the critical path, and replayed
// on open after a crash. A SQLite commit costs ~60 µs here; one spool write ~6 µs.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { canonicalJson, chainHash, GENESIS, type ChainLink } from './chain.js';
import { exportDatabaseEvents, verifyDatabase, type ExportedEvent, type VerifyResult } from './verify.js';
import type { AuditEvent, AuditStore, RecordingEntry, RecordingRecord, SessionEnd, SessionRecord, StoredEvent } from './store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  started_at INTEGER NOT NULL,
  ended_at INTEGER,
  user TEXT NOT NULL,
  groups TEXT NOT NULL,
  auth_method TEXT NOT NULL,
  connection TEXT NOT NULL,
  protocol TEXT NOT NULL,
  client_addr TEXT NOT NULL,
  database TEXT,
  tls INTEGER NOT NULL,
  end_reason TEXT,
  bytes_in INTEGER,
  bytes_out INTEGER,
  chain_seq INTEGER,
  end_seq INTEGER
);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  command_id INTEGER,
  via TEXT,
  text TEXT,
  decision TEXT,
  rule TEXT,
  message TEXT,
  duration_ms REAL,
  rows INTEGER,
  bytes INTEGER,
  error TEXT,
  masked_cells INTEGER,
  chain_seq INTEGER
);
CREATE INDEX IF NOT EXISTS events_session ON events(session_id, id);
CREATE TABLE IF NOT EXISTS recordings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id TEXT NOT NULL,
  channel INTEGER NOT NULL,
  file TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  chain_seq INTEGER
);
CREATE INDEX IF NOT EXISTS recordings_session ON recordings(session_id, id);
CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY CHECK (id = 1), pos INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS host_keys (target TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, first_seen INTEGER NOT NULL);
INSERT OR IGNORE INTO spool (id, pos) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS chain (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
`;

/**
 * A database written before the hash chain existed: its rows get chain_seq = 0 ("before the chain"; ended
 * sessions end_seq = 0 as well), once, in one transaction. Rows the store writes from now on carry the seq
 * of their chain entry; a row with chain_seq NULL was not written by the store.
 */
function migrateChainColumns(db: Database.Database): void {
  const has = (table: string, col: string): boolean =>
    (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).some((c) => c.name === col);
  db.transaction(() => {
    for (const table of ['sessions', 'events', 'recordings']) {
      if (has(table, 'chain_seq')) continue;
      db.exec(`ALTER TABLE ${table} ADD COLUMN chain_seq INTEGER`);
      db.exec(`UPDATE ${table} SET chain_seq = 0`);
    }
    if (!has('sessions', 'end_seq')) {
      db.exec('ALTER TABLE sessions ADD COLUMN end_seq INTEGER');
      db.exec('UPDATE sessions SET end_seq = 0 WHERE ended_at IS NOT NULL');
    }
  })();
}

/** Move the spool into SQLite at least this often, and whenever this many events wait. */
const INGEST_INTERVAL_MS = 25;
const INGEST_BATCH = 1000;
/** Truncate the spool once everything in it is in SQLite and it has grown past this. */
const SPOOL_TRUNCATE_BYTES = 16 * 1024 * 1024;

export type Pending =
  | { t: 'start'; s: SessionRecord }
  | { t: 'end'; id: string; e: SessionEnd }
  | { t: 'event'; e: AuditEvent }
  | { t: 'recording'; r: RecordingEntry };

/** An entry with its place in the hash chain; payload is canonicalJson(p), what the hash covers. */
interface Entry extends ChainLink {
  p: Pending;
  payload: string;
}

/** A spool line as read back: chained ({seq, prev, hash, p}) or written before the chain existed (a bare Pending). */
export interface SpoolEntry {
  p: Pending;
  link?: ChainLink;
}

/** One spool line: the chain fields, then the canonical payload verbatim (stringified once, at push()). */
const spoolLine = (e: Entry): string => `{"seq":${e.seq},"prev":"${e.prev}","hash":"${e.hash}","p":${e.payload}}\n`;

function parseSpoolLine(line: string): SpoolEntry {
  const o = JSON.parse(line) as { seq?: unknown; prev?: unknown; hash?: unknown; p?: Pending; t?: string };
  if (o.p !== undefined && typeof o.seq === 'number' && typeof o.prev === 'string' && typeof o.hash === 'string') {
    return { p: o.p, link: { seq: o.seq, prev: o.prev, hash: o.hash } };
  }
  return { p: o as Pending };
}

export class SqliteAuditStore implements AuditStore {
  private db: Database.Database;
  private pending: Entry[] = [];
  private waiters: Array<() => void> = [];
  private scheduled = false;
  private closed = false;
  private insertSession: Database.Statement;
  private updateSession: Database.Statement;
  private insertEvent: Database.Statement;
  private insertRecording: Database.Statement;
  private insertChain: Database.Statement;
  private commitBatch: (batch: Entry[], spoolPos: number) => void;
  private setSpoolPos: Database.Statement;
  private readonly spoolFile: string | null;
  private spoolFd: number | null = null;
  /** bytes written to the spool file so far (its size) */
  private spoolSize = 0;
  /** spooled but not yet in SQLite */
  private unIngested: Entry[] = [];
  /** the chain's tail: the last seq handed out and its hash */
  private lastSeq = 0;
  private lastHash = GENESIS;
  private ingestTimer: NodeJS.Timeout | null = null;
  /** called when a commit fails; the gateway then fails closed */
  onError: (err: Error) => void = () => {};

  constructor(file: string) {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    migrateChainColumns(this.db);
    this.insertSession = this.db.prepare(
      `INSERT INTO sessions (id, started_at, user, groups, auth_method, connection, protocol, client_addr, database, tls, chain_seq)
       VALUES (@id, @startedAt, @user, @groups, @authMethod, @connection, @protocol, @clientAddress, @database, @tls, @seq)`,
    );
    this.updateSession = this.db.prepare(
      `UPDATE sessions SET ended_at = @endedAt, end_reason = @reason, bytes_in = @bytesIn, bytes_out = @bytesOut, end_seq = @seq WHERE id = @id`,
    );
    this.insertEvent = this.db.prepare(
      `INSERT INTO events (session_id, at, kind, command_id, via, text, decision, rule, message, duration_ms, rows, bytes, error, masked_cells, chain_seq)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertRecording = this.db.prepare(
      `INSERT INTO recordings (session_id, channel, file, started_at, kind, chain_seq) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.insertChain = this.db.prepare('INSERT INTO chain (seq, kind, payload, prev, hash) VALUES (?, ?, ?, ?, ?)');
    this.setSpoolPos = this.db.prepare('UPDATE spool SET pos = ? WHERE id = 1');
    this.commitBatch = this.db.transaction((batch: Entry[], spoolPos: number) => {
      this.setSpoolPos.run(spoolPos);
      for (const { p, seq, prev, hash, payload } of batch) {
        this.insertChain.run(seq, p.t, payload, prev, hash);
        if (p.t === 'event') {
          const e = p.e;
          this.insertEvent.run(
            e.sessionId, e.at, e.kind, e.commandId ?? null, e.via ?? null, e.text ?? null, e.decision ?? null,
            e.rule ?? null, e.message ?? null, e.durationMs ?? null, e.rows ?? null, e.bytes ?? null,
            e.error ?? null, e.maskedCells ?? null, seq,
          );
        } else if (p.t === 'start') {
          const s = p.s;
          this.insertSession.run({
            id: s.id, startedAt: s.startedAt, user: s.user, groups: JSON.stringify(s.groups), authMethod: s.authMethod,
            connection: s.connection, protocol: s.protocol, clientAddress: s.clientAddress, database: s.database ?? null,
            tls: s.tls ? 1 : 0, seq,
          });
        } else if (p.t === 'end') {
          const e = p.e;
          this.updateSession.run({ id: p.id, endedAt: e.endedAt, reason: e.reason, bytesIn: e.bytesIn, bytesOut: e.bytesOut, seq });
        } else if (p.t === 'recording') {
          const r = p.r;
          this.insertRecording.run(r.sessionId, r.channel, r.file, r.startedAt, r.kind, seq);
        }
      }
    });
    const tail = this.db.prepare('SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined;
    if (tail) {
      this.lastSeq = tail.seq;
      this.lastHash = tail.hash;
    }
    this.spoolFile = file === ':memory:' ? null : `${file}-spool`;
    if (this.spoolFile) this.openSpool(this.spoolFile);
  }

  /** The next link of the chain for p (advances the tail). */
  private link(p: Pending): Entry {
    const payload = canonicalJson(p);
    const prev = this.lastHash;
    const hash = chainHash(prev, payload);
    this.lastHash = hash;
    return { p, seq: ++this.lastSeq, prev, hash, payload };
  }

  /** Replay what a crash left in the spool beyond the recorded position, then append from there. */
  private openSpool(file: string): void {
    const fd = fs.openSync(file, 'a+');
    const size = fs.fstatSync(fd).size;
    let pos = (this.db.prepare('SELECT pos FROM spool WHERE id = 1').get() as { pos: number }).pos;
    if (pos > size) pos = 0; // the spool was truncated after the last ingestion was recorded
    if (size > pos) {
      const buf = Buffer.alloc(size - pos);
      fs.readSync(fd, buf, 0, buf.length, pos);
      const text = buf.toString('utf8');
      // A torn last line (killed mid-write) was never acknowledged: ignore it.
      const end = text.lastIndexOf('\n');
      const batch: Entry[] = [];
      for (const line of text.slice(0, end + 1).split('\n')) {
        if (!line) continue;
        const { p, link } = parseSpoolLine(line);
        if (!link) {
          // spooled by a version without the chain: it joins the chain now
          batch.push(this.link(p));
        } else if (link.seq > this.lastSeq) {
          // exactly the chain it was spooled with (the hash is not recomputed); an entry already in SQLite is skipped
          batch.push({ p, ...link, payload: canonicalJson(p) });
          this.lastSeq = link.seq;
          this.lastHash = link.hash;
        }
      }
      this.commitBatch(batch, size);
    }
    fs.ftruncateSync(fd, 0);
    this.db.prepare('UPDATE spool SET pos = 0 WHERE id = 1').run();
    this.spoolFd = fd;
    this.spoolSize = 0;
  }

  startSession(s: SessionRecord): void {
    this.push({ t: 'start', s });
  }

  endSession(id: string, e: SessionEnd): void {
    this.push({ t: 'end', id, e });
  }

  append(e: AuditEvent): void {
    this.push({ t: 'event', e });
  }

  recording(r: RecordingEntry): void {
    this.push({ t: 'recording', r: { sessionId: r.sessionId, channel: r.channel, file: r.file, startedAt: r.startedAt, kind: r.kind } });
  }

  afterCommit(fn: () => void): void {
    if (this.pending.length === 0 || this.closed) fn();
    else this.waiters.push(fn);
  }

  /** Make everything pending durable (one spool write), then release the waiting answers. */
  flush(): void {
    this.scheduled = false;
    if (this.closed || this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    try {
      if (this.spoolFd !== null) {
        let text = '';
        for (const e of batch) text += spoolLine(e);
        const buf = Buffer.from(text, 'utf8');
        let off = 0;
        while (off < buf.length) off += fs.writeSync(this.spoolFd, buf, off);
        this.spoolSize += buf.length;
        for (const p of batch) this.unIngested.push(p);
        if (this.unIngested.length >= INGEST_BATCH) this.ingest();
        else this.ingestTimer ??= setTimeout(() => this.ingest(), INGEST_INTERVAL_MS).unref();
      } else {
        this.commitBatch(batch, 0);
      }
    } catch (err) {
      // Fail closed: the waiters (answers and forwards) are dropped and the gateway is told.
      this.waiters = [];
      this.onError(err as Error);
      return;
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Move spooled events into SQLite (one transaction that also records how far the spool is done). */
  ingest(): void {
    if (this.ingestTimer) {
      clearTimeout(this.ingestTimer);
      this.ingestTimer = null;
    }
    if (this.closed || this.unIngested.length === 0) return;
    const batch = this.unIngested;
    this.unIngested = [];
    try {
      this.commitBatch(batch, this.spoolSize);
      if (this.spoolSize > SPOOL_TRUNCATE_BYTES && this.spoolFd !== null) {
        // Truncate first: a crash before the position is reset finds pos > size and starts from 0.
        fs.ftruncateSync(this.spoolFd, 0);
        this.spoolSize = 0;
        this.setSpoolPos.run(0);
      }
    } catch (err) {
      this.onError(err as Error);
    }
  }

  listSessions(limit = 100): Array<SessionRecord & Partial<SessionEnd>> {
    this.flush();
    this.ingest();
    const rows = this.db
      .prepare(`SELECT * FROM sessions ORDER BY started_at DESC LIMIT ?`)
      .all(limit) as Array<Record<string, unknown>>;
    return rows.map(sessionFromRow);
  }

  knownHostKey(target: string): string | undefined {
    const row = this.db.prepare('SELECT fingerprint FROM host_keys WHERE target = ?').get(target) as { fingerprint: string } | undefined;
    return row?.fingerprint;
  }

  rememberHostKey(target: string, fingerprint: string): void {
    this.db
      .prepare('INSERT INTO host_keys (target, fingerprint, first_seen) VALUES (?, ?, ?) ON CONFLICT(target) DO UPDATE SET fingerprint = excluded.fingerprint')
      .run(target, fingerprint, Date.now());
  }

  recordings(sessionId: string): RecordingRecord[] {
    this.flush();
    this.ingest();
    const rows = this.db
      .prepare(`SELECT channel, file, started_at, kind FROM recordings WHERE session_id = ? ORDER BY started_at, id`)
      .all(sessionId) as Array<Record<string, unknown>>;
    return rows.map(recordingFromRow);
  }

  events(sessionId?: string, limit = 1000): StoredEvent[] {
    this.flush();
    this.ingest();
    const sql =
      `SELECT e.*, s.user AS user, s.connection AS connection FROM events e JOIN sessions s ON s.id = e.session_id ` +
      (sessionId ? `WHERE e.session_id = ? ` : '') +
      `ORDER BY e.id LIMIT ?`;
    const rows = (sessionId ? this.db.prepare(sql).all(sessionId, limit) : this.db.prepare(sql).all(limit)) as Array<
      Record<string, unknown>
    >;
    return rows.map((r) => ({
      id: Number(r.id),
      sessionId: String(r.session_id),
      at: Number(r.at),
      kind: r.kind as StoredEvent['kind'],
      commandId: (r.command_id as number | null) ?? undefined,
      via: (r.via as string | null) ?? undefined,
      text: (r.text as string | null) ?? undefined,
      decision: (r.decision as StoredEvent['decision'] | null) ?? undefined,
      rule: (r.rule as string | null) ?? undefined,
      message: (r.message as string | null) ?? undefined,
      durationMs: (r.duration_ms as number | null) ?? undefined,
      rows: (r.rows as number | null) ?? undefined,
      bytes: (r.bytes as number | null) ?? undefined,
      error: (r.error as string | null) ?? undefined,
      maskedCells: (r.masked_cells as number | null) ?? undefined,
      user: String(r.user),
      connection: String(r.connection),
    }));
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.ingest();
    this.closed = true;
    if (this.spoolFd !== null) {
      fs.ftruncateSync(this.spoolFd, 0);
      fs.closeSync(this.spoolFd);
      this.db.prepare('UPDATE spool SET pos = 0 WHERE id = 1').run();
    }
    this.db.close();
  }

  private push(p: Pending): void {
    if (this.closed) return;
    this.pending.push(this.link(p));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }
}

function sessionFromRow(r: Record<string, unknown>): SessionRecord & Partial<SessionEnd> {
  return {
    id: String(r.id),
    startedAt: Number(r.started_at),
    user: String(r.user),
    groups: JSON.parse(String(r.groups)) as string[],
    authMethod: String(r.auth_method),
    connection: String(r.connection),
    protocol: String(r.protocol),
    clientAddress: String(r.client_addr),
    database: r.database == null ? undefined : String(r.database),
    tls: r.tls === 1,
    endedAt: r.ended_at == null ? undefined : Number(r.ended_at),
    reason: r.end_reason == null ? undefined : String(r.end_reason),
    bytesIn: r.bytes_in == null ? undefined : Number(r.bytes_in),
    bytesOut: r.bytes_out == null ? undefined : Number(r.bytes_out),
  };
}

function recordingFromRow(r: Record<string, unknown>): RecordingRecord {
  return { channel: Number(r.channel), file: String(r.file), startedAt: Number(r.started_at), kind: String(r.kind) };
}

export type SessionSummary = SessionRecord & Partial<SessionEnd> & { recordings: number };

/** The database file does not exist (the gateway never ran with this store). */
export class AuditStoreMissing extends Error {
  override name = 'AuditStoreMissing';
}

/**
 * A read-only view of a SQLite audit store for the CLI, safe while a gateway runs on it: the database is
 * opened read-only (no schema changes, no checkpoint) and the spool is only read, never replayed or
 * truncated. What the spool holds beyond the ingested position (the last few ms, or what a crash left
 * before the next start replays it) is merged into the answers.
 */
export class SqliteAuditReader {
  private readonly db: Database.Database;
  private readonly spoolFile: string;
  private readonly hasRecordings: boolean;

  constructor(file: string) {
    if (file === ':memory:') throw new AuditStoreMissing('the audit store is in memory (store.sqlite: ":memory:"): nothing to read');
    if (!fs.existsSync(file)) throw new AuditStoreMissing(`no audit database at ${file}`);
    this.db = new Database(file, { readonly: true, fileMustExist: true });
    this.db.pragma('busy_timeout = 5000');
    this.spoolFile = `${file}-spool`;
    // a database written before recordings existed (the gateway adds the table at its next start)
    this.hasRecordings = this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'recordings'`).get() !== undefined;
  }

  listSessions(limit = 100): SessionSummary[] {
    const { rows, counts, spool } = this.snapshot(() => {
      const rows = (this.db.prepare(`SELECT * FROM sessions ORDER BY started_at DESC LIMIT ?`).all(limit) as Array<Record<string, unknown>>).map(sessionFromRow);
      const counts = new Map<string, number>();
      if (this.hasRecordings && rows.length > 0) {
        const q = this.db.prepare(`SELECT COUNT(*) AS n FROM recordings WHERE session_id = ?`);
        for (const r of rows) counts.set(r.id, Number((q.get(r.id) as { n: number }).n));
      }
      return { rows, counts };
    });
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const p of spool) {
      if (p.t === 'start' && !byId.has(p.s.id)) byId.set(p.s.id, { ...p.s });
      else if (p.t === 'end') Object.assign(byId.get(p.id) ?? {}, p.e);
    }
    const extra = spoolRecordings(spool);
    return [...byId.values()]
      .sort((a, b) => b.startedAt - a.startedAt)
      .slice(0, limit)
      .map((s) => ({ ...s, recordings: (counts.get(s.id) ?? 0) + (extra.get(s.id)?.length ?? 0) }));
  }

  /** One session, or undefined. */
  session(id: string): SessionSummary | undefined {
    const { row, n, spool } = this.snapshot(() => {
      const r = this.db.prepare(`SELECT * FROM sessions WHERE id = ?`).get(id) as Record<string, unknown> | undefined;
      const n = this.hasRecordings ? Number((this.db.prepare(`SELECT COUNT(*) AS n FROM recordings WHERE session_id = ?`).get(id) as { n: number }).n) : 0;
      return { row: r ? sessionFromRow(r) : undefined, n };
    });
    let s = row;
    for (const p of spool) {
      if (p.t === 'start' && p.s.id === id && !s) s = { ...p.s };
      else if (p.t === 'end' && p.id === id && s) Object.assign(s, p.e);
    }
    return s ? { ...s, recordings: n + (spoolRecordings(spool).get(id)?.length ?? 0) } : undefined;
  }

  recordings(sessionId: string): RecordingRecord[] {
    const { rows, spool } = this.snapshot(() => ({
      rows: this.hasRecordings
        ? (this.db.prepare(`SELECT channel, file, started_at, kind FROM recordings WHERE session_id = ? ORDER BY started_at, id`).all(sessionId) as Array<Record<string, unknown>>).map(recordingFromRow)
        : [],
    }));
    const extra = spoolRecordings(spool).get(sessionId) ?? [];
    const seen = new Set(rows.map(recordingKey));
    for (const r of extra) if (!seen.has(recordingKey(r))) rows.push(r);
    return rows.sort((a, b) => a.startedAt - b.startedAt);
  }

  close(): void {
    this.db.close();
  }

  /** Runs `read` in one read transaction with the spool position it saw, then reads the spool from there. */
  private snapshot<T>(read: () => T): T & { spool: Pending[] } {
    let pos = 0;
    const result = this.db.transaction(() => {
      pos = (this.db.prepare('SELECT pos FROM spool WHERE id = 1').get() as { pos: number } | undefined)?.pos ?? 0;
      return read();
    })();
    return { ...result, spool: this.readSpool(pos).map((e) => e.p) };
  }

  /** Runs `read` in one read transaction with what the spool holds beyond the ingested position it saw. */
  private withSpool<T>(read: (spool: SpoolEntry[]) => T): T {
    return this.db.transaction(() => {
      const pos = (this.db.prepare('SELECT pos FROM spool WHERE id = 1').get() as { pos: number } | undefined)?.pos ?? 0;
      return read(this.readSpool(pos));
    })();
  }

  /** Walks the hash chain and cross-checks the rows against it (verify.ts). */
  verify(opts: { maxProblems?: number } = {}): VerifyResult {
    return this.withSpool((spool) => verifyDatabase(this.db, spool, opts));
  }

  /** The events with their session's user and connection and their chain seq and hash, in chain order (verify.ts). */
  exportEvents(since?: number): ExportedEvent[] {
    return this.withSpool((spool) => exportDatabaseEvents(this.db, spool, since));
  }

  private readSpool(pos: number): SpoolEntry[] {
    let fd: number;
    try {
      fd = fs.openSync(this.spoolFile, 'r');
    } catch {
      return [];
    }
    try {
      const size = fs.fstatSync(fd).size;
      // pos > size: truncated after everything in it was ingested
      if (size <= pos) return [];
      const buf = Buffer.alloc(size - pos);
      let off = 0;
      while (off < buf.length) {
        const n = fs.readSync(fd, buf, off, buf.length - off, pos + off);
        if (n === 0) break;
        off += n;
      }
      const text = buf.subarray(0, off).toString('utf8');
      const out: SpoolEntry[] = [];
      // a torn last line was never acknowledged; a line that does not parse (a truncation racing this read) is skipped
      for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
        if (!line) continue;
        try {
          out.push(parseSpoolLine(line));
        } catch {
          // skipped
        }
      }
      return out;
    } finally {
      fs.closeSync(fd);
    }
  }
}

const recordingKey = (r: RecordingRecord): string => `${r.channel}\u0000${r.file}\u0000${r.startedAt}`;

function spoolRecordings(spool: Pending[]): Map<string, RecordingRecord[]> {
  const out = new Map<string, RecordingRecord[]>();
  for (const p of spool) {
    if (p.t !== 'recording') continue;
    const list = out.get(p.r.sessionId) ?? [];
    list.push({ channel: p.r.channel, file: p.r.file, startedAt: p.r.startedAt, kind: p.r.kind });
    out.set(p.r.sessionId, list);
  }
  return out;
}
