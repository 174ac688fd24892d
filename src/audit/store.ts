// The audit store interface. A decision event is appended before a command is forwarded, a completion
// event after; both become durable at the next group commit, and nothing is answered before that.
import type { SessionInfo } from '../types.js';

export interface SessionRecord {
  id: string;
  startedAt: number;
  user: string;
  groups: readonly string[];
  authMethod: string;
  connection: string;
  protocol: string;
  clientAddress: string;
  database?: string;
  tls: boolean;
}

/** The session record of an authenticated session, as every protocol starts it. */
export function sessionRecord(info: SessionInfo, tls: boolean): SessionRecord {
  return {
    id: info.id,
    startedAt: Date.now(),
    user: info.user,
    groups: info.groups,
    authMethod: info.authMethod,
    connection: info.connection,
    protocol: info.protocol,
    clientAddress: info.clientAddress,
    ...(info.database !== undefined ? { database: info.database } : {}),
    tls,
  };
}

export interface SessionEnd {
  endedAt: number;
  reason: string;
  bytesIn: number;
  bytesOut: number;
}

export type EventKind = 'decision' | 'complete' | 'session' | 'error';

export interface AuditEvent {
  sessionId: string;
  at: number;
  kind: EventKind;
  /** groups a decision with its completion, per session */
  commandId?: number;
  via?: string;
  text?: string;
  decision?: 'allow' | 'block' | 'review';
  rule?: string;
  message?: string;
  durationMs?: number;
  rows?: number;
  bytes?: number;
  error?: string;
  maskedCells?: number;
}

export interface StoredEvent extends AuditEvent {
  id: number;
  user: string;
  connection: string;
}

/** A terminal recording (asciicast v2 file) of one channel of a session. */
export interface RecordingEntry {
  sessionId: string;
  /** the SSH channel number (may repeat within a session when the client reuses it) */
  channel: number;
  /** the .cast file; relative paths are relative to the config's dataDir */
  file: string;
  /** ms since the epoch, as SessionRecord.startedAt */
  startedAt: number;
  kind: 'shell' | 'exec';
}

export interface RecordingRecord {
  channel: number;
  file: string;
  startedAt: number;
  kind: string;
}

export interface AuditStore {
  startSession(s: SessionRecord): void;
  endSession(id: string, end: SessionEnd): void;
  append(ev: AuditEvent): void;
  /** Run fn once everything appended so far is durable (at once when nothing is pending). */
  afterCommit(fn: () => void): void;
  /** Commit now (shutdown). */
  flush(): void;
  listSessions(limit?: number): Array<SessionRecord & Partial<SessionEnd>>;
  events(sessionId?: string, limit?: number): StoredEvent[];
  /** Index a recording (durable with the next group commit, like the events). */
  recording(r: RecordingEntry): void;
  /** A session's recordings, in the order they started. */
  recordings(sessionId: string): RecordingRecord[];
  /** SSH trust on first use: the fingerprint remembered for a target ('host:port'), if any. */
  knownHostKey(target: string): string | undefined;
  /** Remember a target's host key fingerprint (durable at once: it is rare and decides later logins). */
  rememberHostKey(target: string, fingerprint: string): void;
  close(): void;
}
