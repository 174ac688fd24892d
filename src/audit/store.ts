// The audit store interface. A decision event is appended before a command is forwarded, a completion
// event after; both become durable at the next group commit, and nothing is answered before that.

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
  close(): void;
}
