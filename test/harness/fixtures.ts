// Gateway config pieces the PostgreSQL tests share (users, targets, guardrails, masking profiles), and the gateway
// the client-compatibility tests (pg-jdbc, pg-psycopg2, pg-pgbench, pg-psql) run behind: user alice, connection
// app-db, guardrails no-drop and where-required, masking profile pii.
import type { PgInfo } from './postgres.js';
import { startTestGateway, testHash, type TestGateway } from './gateway.js';

/** Blocks DROP and TRUNCATE. */
export const NO_DROP = { name: 'no-drop', when: { statements: ['drop', 'truncate'] }, action: 'block' };
/** Blocks UPDATE and DELETE without a WHERE. */
export const WHERE_REQUIRED = { name: 'where-required', when: { statements: ['update', 'delete'], where: 'missing' }, action: 'block' };
/** `*.email` with `partial` (u***@corp.example); e-mails and card numbers found anywhere else redacted. */
export const PII_MASKING = { name: 'pii', columns: [{ match: '*.email', with: 'partial' }], detect: ['email', 'credit_card'], with: 'redact' };

/** A target on `server` for a connection's config, without TLS (no password key when `password` is undefined). */
export function pgTarget(server: PgInfo, database: string, user: string, password?: string): Record<string, unknown> {
  return { host: server.host, port: server.port, database, user, ...(password !== undefined ? { password } : {}), tls: 'disable' };
}

/** A postgres connection's config: `name` to `target`, allowed to `group`; `extra` adds to it or overrides (guardrails, masking, …). */
export function pgConnection(name: string, target: Record<string, unknown>, group: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, protocol: 'postgres', target, allow: [group], ...extra };
}

/** A config user with password `${name}-pw`. */
export function testUser(name: string, group: string): Record<string, unknown> {
  return { name, groups: [group], password: { hash: testHash(`${name}-pw`) } };
}

export interface CompatGatewayOptions {
  /** app-db's target (see pgTarget) */
  target: Record<string, unknown>;
  /** alice's group, the one app-db allows (default dev) */
  group?: string;
  /** more users after alice */
  users?: Record<string, unknown>[];
  /** more connections after app-db */
  connections?: Record<string, unknown>[];
  /** the pii profile (default PII_MASKING) */
  pii?: Record<string, unknown>;
  /** more masking profiles after pii */
  masking?: Record<string, unknown>[];
}

/**
 * The gateway of the client-compat tests: alice (password alice-pw) in `group`; connection app-db to `target`,
 * allowed to `group`, with the guardrails no-drop and where-required and the masking profile pii.
 */
export function startCompatGateway(o: CompatGatewayOptions): Promise<TestGateway> {
  const group = o.group ?? 'dev';
  return startTestGateway({
    identity: { users: [testUser('alice', group), ...(o.users ?? [])] },
    connections: [
      pgConnection('app-db', o.target, group, { guardrails: ['no-drop', 'where-required'], masking: 'pii' }),
      ...(o.connections ?? []),
    ],
    guardrails: [NO_DROP, WHERE_REQUIRED],
    masking: [o.pii ?? PII_MASKING, ...(o.masking ?? [])],
  });
}
