// SQLite audit store (the embedded default): WAL with synchronous=NORMAL, events group-committed once
// per event-loop turn. A process kill loses nothing committed; nothing is answered before its commit.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AuditEvent, AuditStore, SessionEnd, SessionRecord, StoredEvent } from './store.js';

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
  bytes_out INTEGER
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
  masked_cells INTEGER
);
CREATE INDEX IF NOT EXISTS events_session ON events(session_id, id);
`;

type Pending =
  | { t: 'start'; s: SessionRecord }
  | { t: 'end'; id: string; e: SessionEnd }
  | { t: 'event'; e: AuditEvent };

export class SqliteAuditStore implements AuditStore {
  private db: Database.Database;
  private pending: Pending[] = [];
  private waiters: Array<() => void> = [];
  private scheduled = false;
  private closed = false;
  private insertSession: Database.Statement;
  private updateSession: Database.Statement;
  private insertEvent: Database.Statement;
  private commitBatch: (batch: Pending[]) => void;
  /** called when a commit fails; the gateway then fails closed */
  onError: (err: Error) => void = () => {};

  constructor(file: string) {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.insertSession = this.db.prepare(
      `INSERT INTO sessions (id, started_at, user, groups, auth_method, connection, protocol, client_addr, database, tls)
       VALUES (@id, @startedAt, @user, @groups, @authMethod, @connection, @protocol, @clientAddress, @database, @tls)`,
    );
    this.updateSession = this.db.prepare(
      `UPDATE sessions SET ended_at = @endedAt, end_reason = @reason, bytes_in = @bytesIn, bytes_out = @bytesOut WHERE id = @id`,
    );
    this.insertEvent = this.db.prepare(
      `INSERT INTO events (session_id, at, kind, command_id, via, text, decision, rule, message, duration_ms, rows, bytes, error, masked_cells)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.commitBatch = this.db.transaction((batch: Pending[]) => {
      for (const p of batch) {
        if (p.t === 'event') {
          const e = p.e;
          this.insertEvent.run(
            e.sessionId, e.at, e.kind, e.commandId ?? null, e.via ?? null, e.text ?? null, e.decision ?? null,
            e.rule ?? null, e.message ?? null, e.durationMs ?? null, e.rows ?? null, e.bytes ?? null,
            e.error ?? null, e.maskedCells ?? null,
          );
        } else if (p.t === 'start') {
          const s = p.s;
          this.insertSession.run({
            id: s.id, startedAt: s.startedAt, user: s.user, groups: JSON.stringify(s.groups), authMethod: s.authMethod,
            connection: s.connection, protocol: s.protocol, clientAddress: s.clientAddress, database: s.database ?? null,
            tls: s.tls ? 1 : 0,
          });
        } else {
          this.updateSession.run({ id: p.id, ...p.e });
        }
      }
    });
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

  afterCommit(fn: () => void): void {
    if (this.pending.length === 0 || this.closed) fn();
    else this.waiters.push(fn);
  }

  flush(): void {
    this.scheduled = false;
    if (this.closed || this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    try {
      this.commitBatch(batch);
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

  listSessions(limit = 100): Array<SessionRecord & Partial<SessionEnd>> {
    const rows = this.db
      .prepare(`SELECT * FROM sessions ORDER BY started_at DESC LIMIT ?`)
      .all(limit) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
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
    }));
  }

  events(sessionId?: string, limit = 1000): StoredEvent[] {
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
    this.closed = true;
    this.db.close();
  }

  private push(p: Pending): void {
    if (this.closed) return;
    this.pending.push(p);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }
}
