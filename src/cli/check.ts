// `portcullis check -c FILE [--json]`: validate, then show what the gateway would do with the config.
// Never prints a secret: no passwords, hashes, keys, webhook secrets, or credentials inside URLs.
import { ConfigError, loadConfig, notYetEnforced, type LoadedConfig } from '../config/load.js';
import { DEFAULT_PORTS } from '../config/schema.js';
import { parseStoredHash } from '../identity/passwords.js';
import { CliExit, type CliIo } from './io.js';

const TARGET_PORTS = { postgres: 5432, mysql: 3306, ssh: 22 } as const;

export interface ConfigSummary {
  path: string;
  dataDir: string;
  store: string;
  listeners: Array<{ kind: string; address: string; tls: string; clientAuth?: string }>;
  connections: Array<{
    name: string;
    protocol: string;
    target: string;
    database?: string;
    targetTls?: string;
    listen?: string;
    allow: string[];
    guardrails: string[];
    masking?: string;
    review?: { approvers: string[]; approvals: number; wait: string; ttl: string };
    fallback: string;
  }>;
  users: Array<{ name: string; groups: string[]; auth: string[] }>;
  tokenIssuers: Array<{ issuer: string; audience: string[]; keys: string; algorithms: string[]; userClaim: string; groupsClaim: string }>;
  guardrails: Array<{ name: string; action: string }>;
  masking: string[];
}

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db` */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const key of [...u.searchParams.keys()]) if (/pass|secret|token|key/i.test(key)) u.searchParams.set(key, '***');
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}

const address = (host: string | undefined, port: number): string =>
  `${host === undefined ? '*' : host.includes(':') ? `[${host}]` : host}:${port}`;

export function summarize(config: LoadedConfig, path: string): ConfigSummary {
  const listeners: ConfigSummary['listeners'] = [];
  for (const kind of ['postgres', 'mysql', 'ssh', 'admin'] as const) {
    const l = config.listen[kind];
    if (!l) continue;
    const port = l.port ?? DEFAULT_PORTS[kind];
    if (kind === 'admin') {
      listeners.push({ kind, address: address(l.host ?? '127.0.0.1', port), tls: 'http' });
    } else {
      const entry: ConfigSummary['listeners'][number] = { kind, address: address(l.host, port), tls: l.tls ?? config.tls.mode };
      if (kind === 'postgres') entry.clientAuth = l.clientAuth ?? 'password';
      listeners.push(entry);
    }
  }
  return {
    path,
    dataDir: config.dataDir,
    store: 'sqlite' in config.store ? `sqlite ${config.store.sqlite}` : `postgres ${redactUrl(config.store.postgres)}`,
    listeners,
    connections: config.connections.map((c) => ({
      name: c.name,
      protocol: c.protocol,
      target: address(c.target.host, c.target.port ?? TARGET_PORTS[c.protocol]),
      ...(c.target.database !== undefined ? { database: c.target.database } : {}),
      ...(c.target.tls !== undefined ? { targetTls: c.target.tls } : {}),
      ...(c.listen ? { listen: `${address(c.listen.host, c.listen.port)} tls ${c.listen.tls ?? config.tls.mode}` } : {}),
      allow: c.allow,
      guardrails: c.guardrails,
      ...(c.masking !== undefined ? { masking: c.masking } : {}),
      ...(c.review ? { review: { approvers: c.review.approvers, approvals: c.review.approvals, wait: c.review.wait, ttl: c.review.ttl } } : {}),
      fallback: c.fallback,
    })),
    users: config.identity.users.map((u) => {
      const auth: string[] = [];
      if (u.password) {
        auth.push('password (scram-sha-256)');
        try {
          if (parseStoredHash(u.password.hash).mysqlNative) auth.push('mysql_native_password');
        } catch {
          // the loader already refused unparsable hashes
        }
      }
      if (u.sshKeys.length > 0) auth.push(`ssh keys (${u.sshKeys.length})`);
      return { name: u.name, groups: u.groups, auth };
    }),
    tokenIssuers: config.identity.tokens.map((t) => ({
      issuer: t.issuer,
      audience: Array.isArray(t.audience) ? t.audience : [t.audience],
      keys: t.jwks ? `jwks ${redactUrl(t.jwks)}` : `jwksFile ${t.jwksFile ?? ''}`,
      algorithms: t.algorithms,
      userClaim: t.userClaim,
      groupsClaim: t.groupsClaim,
    })),
    guardrails: config.guardrails.map((g) => ({ name: g.name, action: g.action })),
    masking: config.masking.map((m) => m.name),
  };
}

const list = (xs: readonly string[]): string => (xs.length > 0 ? xs.join(', ') : '-');

export function formatSummary(s: ConfigSummary): string {
  const lines: string[] = [`${s.path}: valid`, `data dir: ${s.dataDir}`, `store: ${s.store}`, ''];
  lines.push('listeners:');
  if (s.listeners.length === 0) lines.push('  (none: nothing will listen)');
  for (const l of s.listeners) {
    const transport = l.kind === 'admin' ? 'http' : l.kind === 'ssh' ? 'ssh' : `tls ${l.tls}`;
    lines.push(`  ${l.kind.padEnd(9)} ${l.address.padEnd(22)} ${transport}${l.clientAuth ? `  auth ${l.clientAuth}` : ''}`);
  }
  lines.push('', 'connections:');
  if (s.connections.length === 0) lines.push('  (none)');
  for (const c of s.connections) {
    lines.push(`  ${c.name} (${c.protocol}) → ${c.target}${c.database ? `/${c.database}` : ''}${c.targetTls ? `  target tls ${c.targetTls}` : ''}`);
    if (c.listen) lines.push(`    own port:   ${c.listen}`);
    lines.push(`    allow:      ${list(c.allow)}`);
    lines.push(`    guardrails: ${list(c.guardrails)}  (fallback ${c.fallback})`);
    lines.push(`    masking:    ${c.masking ?? '-'}`);
    if (c.review) lines.push(`    review:     approvers ${list(c.review.approvers)}, ${c.review.approvals} approval(s), wait ${c.review.wait}, ttl ${c.review.ttl}`);
  }
  lines.push('', 'users:');
  if (s.users.length === 0) lines.push('  (none)');
  for (const u of s.users) lines.push(`  ${u.name}  groups ${list(u.groups)}  auth ${list(u.auth)}`);
  lines.push('', 'token issuers:');
  if (s.tokenIssuers.length === 0) lines.push('  (none)');
  for (const t of s.tokenIssuers) {
    lines.push(`  ${t.issuer}  audience ${list(t.audience)}  ${t.keys}`);
    lines.push(`    algorithms ${list(t.algorithms)}  user claim ${t.userClaim}  groups claim ${t.groupsClaim}`);
  }
  lines.push('', `guardrails: ${list(s.guardrails.map((g) => `${g.name} (${g.action})`))}`);
  lines.push(`masking profiles: ${list(s.masking)}`);
  return lines.join('\n') + '\n';
}

export function checkCommand(io: CliIo, file: string, opts: { json?: boolean }): number {
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig(file, io.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`${err.message}\n`);
    io.err(`${file}: invalid (${err.issues.length} problem${err.issues.length === 1 ? '' : 's'})\n`);
    if (opts.json) io.out(JSON.stringify({ valid: false, errors: err.issues }, null, 2) + '\n');
    throw new CliExit(2);
  }
  const pending = notYetEnforced(loaded.config);
  const summary = summarize(loaded.config, loaded.path);
  if (opts.json) {
    io.out(JSON.stringify({ valid: true, ...summary, warnings: loaded.warnings, notYetEnforced: pending }, null, 2) + '\n');
  } else {
    io.out(formatSummary(summary));
  }
  for (const w of loaded.warnings) io.err(`warning: ${w}\n`);
  for (const p of pending) io.err(`warning: not yet enforced: ${p}\n`);
  return 0;
}
