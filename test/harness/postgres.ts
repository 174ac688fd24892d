// Throwaway PostgreSQL servers for integration tests (DESIGN "Throwaway servers without Docker").
// Each startPostgres() call gets its own temp dir, data dir, unix socket dir and TCP port on 127.0.0.1,
// so parallel vitest workers never share anything. We run as root; initdb refuses root, so the server
// runs as the OS user `postgres` (created by the Debian package).
/// <reference path="./provided-context.d.ts" />
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, run, runOk } from './processes.js';

export { freePort } from './processes.js';

/** What tests receive through inject('pg') / inject('pgSsl'): plain data, no functions. */
export interface PgInfo {
  host: string; // always 127.0.0.1
  port: number;
  /** The server's temp dir; also its unix socket dir (psql -h DIR). */
  dir: string;
  ssl: boolean;
  /** PEM of the CA that signed the server cert (ssl servers only): use with sslmode=verify-full host=localhost. */
  caFile?: string;
}

export interface PgServer extends PgInfo {
  stop(): Promise<void>;
}

/** Superuser: trust over the socket and from 127.0.0.1 (no password). */
export const PG_SUPERUSER = 'postgres';
/** Database created in every server, owned by postgres, every test role has ALL on schema public. */
export const PG_APP_DB = 'app';

/** Roles created in every server. `auth` is the pg_hba method used for them on 127.0.0.1. */
export const PG_ROLES = {
  trust: { user: 'trust_user', password: '', auth: 'trust' },
  md5: { user: 'md5_user', password: 'md5-secret', auth: 'md5' },
  scram: { user: 'scram_user', password: 'scram-secret', auth: 'scram-sha-256' },
  clear: { user: 'clear_user', password: 'clear-secret', auth: 'password' },
} as const;
export type PgRoleKind = keyof typeof PG_ROLES;

export const PG_TRUST_USER = PG_ROLES.trust.user;
export const PG_MD5_USER = PG_ROLES.md5.user;
export const PG_MD5_PASSWORD = PG_ROLES.md5.password;
export const PG_SCRAM_USER = PG_ROLES.scram.user;
export const PG_SCRAM_PASSWORD = PG_ROLES.scram.password;
export const PG_CLEAR_USER = PG_ROLES.clear.user;
export const PG_CLEAR_PASSWORD = PG_ROLES.clear.password;

const ALL_TEST_ROLES = Object.values(PG_ROLES).map((r) => r.user);

let bindirCache: string | undefined;
/** Directory of the PostgreSQL server binaries (env PG_BINDIR, else `pg_config --bindir`, else newest /usr/lib/postgresql/N/bin). */
export function pgBindir(): string {
  if (bindirCache) return bindirCache;
  const fromEnv = process.env.PG_BINDIR;
  if (fromEnv && existsSync(path.join(fromEnv, 'initdb'))) return (bindirCache = fromEnv);
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (existsSync(path.join(dir, 'initdb'))) return (bindirCache = dir);
  } catch {
    /* fall through */
  }
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => existsSync(path.join(base, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error('PostgreSQL server binaries not found (install postgresql, or set PG_BINDIR)');
  return (bindirCache = path.join(base, versions[0]!, 'bin'));
}

/** Absolute path of a PostgreSQL program (initdb, pg_ctl, psql, pgbench…). */
export function pgBin(name: string): string {
  return path.join(pgBindir(), name);
}

/** Environment for our own psql/pg_ctl calls: no PG* variables from the caller leak in. */
function cleanPgEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const k of Object.keys(process.env)) if (k.startsWith('PG')) env[k] = undefined;
  return { ...env, LC_ALL: 'C.UTF-8', PGCONNECT_TIMEOUT: '10', ...extra };
}

function pgUser(): { uid: number; gid: number } {
  const out = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
  const gid = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim();
  return { uid: Number(out), gid: Number(gid) };
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Runs a PostgreSQL program as the postgres OS user (via runuser when we are root). */
function runAsPostgres(prog: string, args: string[], timeoutMs = 120_000) {
  const bin = pgBin(prog);
  return asRoot
    ? runOk('runuser', ['-u', 'postgres', '--', bin, ...args], { env: cleanPgEnv(), timeoutMs })
    : runOk(bin, args, { env: cleanPgEnv(), timeoutMs });
}

function hbaConf(ssl: boolean): string {
  const lines = [
    '# written by test/harness/postgres.ts',
    'local all all trust',
    ...(ssl ? ['hostssl all scram_user 127.0.0.1/32 scram-sha-256'] : []),
    'host all trust_user 127.0.0.1/32 trust',
    'host all md5_user 127.0.0.1/32 md5',
    'host all scram_user 127.0.0.1/32 scram-sha-256',
    'host all clear_user 127.0.0.1/32 password',
    'host all postgres 127.0.0.1/32 trust',
    'host all all 127.0.0.1/32 scram-sha-256',
  ];
  return lines.join('\n') + '\n';
}

async function makeCerts(dir: string, owner: { uid: number; gid: number }): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const f = (n: string) => path.join(dir, n);
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  writeFileSync(
    f('ca.cnf'),
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      'x509_extensions = v3_ca',
      '[dn]',
      'CN = portcullis test CA',
      '[v3_ca]',
      'basicConstraints = critical, CA:TRUE',
      'keyUsage = critical, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );
  writeFileSync(
    f('server.ext'),
    [
      'basicConstraints = CA:FALSE',
      'keyUsage = critical, digitalSignature, keyEncipherment',
      'extendedKeyUsage = serverAuth',
      'subjectAltName = DNS:localhost, IP:127.0.0.1',
      'authorityKeyIdentifier = keyid',
      '',
    ].join('\n'),
  );
  const env = { OPENSSL_CONF: '/dev/null' };
  await runOk('openssl', ['req', '-x509', ...ecKey, '-config', f('ca.cnf'), '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '30'], { env });
  await runOk('openssl', ['req', '-new', ...ecKey, '-subj', '/CN=localhost', '-keyout', f('server.key'), '-out', f('server.csr')], { env });
  const serial = '0x' + randomBytes(8).toString('hex');
  await runOk('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-set_serial', serial, '-days', '30', '-extfile', f('server.ext'), '-out', f('server.crt')], { env });
  for (const n of ['server.key', 'server.crt', 'ca.crt', 'ca.key']) chownSync(f(n), owner.uid, owner.gid);
  chmodSync(f('server.key'), 0o600);
  chmodSync(f('ca.crt'), 0o644);
  return { caFile: f('ca.crt'), certFile: f('server.crt'), keyFile: f('server.key') };
}

// Servers still running in this process: stopped synchronously if the process exits without stop().
const live = new Map<string, string>(); // dir -> data dir
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [dir, data] of live) {
      try {
        spawnSync(asRoot ? 'runuser' : pgBin('pg_ctl'), asRoot ? ['-u', 'postgres', '--', pgBin('pg_ctl'), '-D', data, '-m', 'immediate', 'stop'] : ['-D', data, '-m', 'immediate', 'stop'], { stdio: 'ignore', timeout: 10_000 });
        rmSync(dir, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  });
}

function isAddrInUse(log: string): boolean {
  return /address already in use|could not bind|could not create any TCP\/IP sockets|could not create lock file/i.test(log);
}

/** Starts a throwaway PostgreSQL on 127.0.0.1 with the test roles and the `app` database. */
export async function startPostgres(opts: { ssl?: boolean } = {}): Promise<PgServer> {
  const ssl = opts.ssl ?? false;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'portcullis-pg-'));
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  const owner = asRoot ? pgUser() : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  let started = false;
  try {
    chownSync(dir, owner.uid, owner.gid);
    chmodSync(dir, 0o755); // other local users (psql as non-root, the gateway) may use the socket
    await runAsPostgres('initdb', ['-D', data, '-U', PG_SUPERUSER, '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8']);
    writeFileSync(path.join(data, 'pg_hba.conf'), hbaConf(ssl));
    const conf = [
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'max_connections = 300',
      "password_encryption = 'scram-sha-256'",
      'log_min_messages = warning',
    ];
    let caFile: string | undefined;
    if (ssl) {
      const certs = await makeCerts(dir, owner);
      caFile = certs.caFile;
      conf.push('ssl = on', `ssl_cert_file = '${certs.certFile}'`, `ssl_key_file = '${certs.keyFile}'`, `ssl_ca_file = '${certs.caFile}'`);
    }
    writeFileSync(path.join(data, 'postgresql.auto.conf'), conf.join('\n') + '\n');
    chownSync(path.join(data, 'pg_hba.conf'), owner.uid, owner.gid);
    chownSync(path.join(data, 'postgresql.auto.conf'), owner.uid, owner.gid);

    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await runAsPostgres('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', '-o', `-p ${port}`, 'start'], 90_000);
        break;
      } catch (e) {
        const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
        if (attempt < 6 && isAddrInUse(log)) {
          // another process took the port between freePort() and bind(): try another one
          writeFileSync(logFile, '');
          continue;
        }
        throw new Error(`${(e as Error).message}\n--- ${logFile} ---\n${log.slice(-4000)}`);
      }
    }
    started = true;
    installExitHook();
    live.set(dir, data);

    const info: PgInfo = { host: '127.0.0.1', port, dir, ssl, ...(caFile ? { caFile } : {}) };
    await psqlAdmin(
      info,
      `
      SET password_encryption = 'md5';
      CREATE ROLE md5_user LOGIN CREATEDB PASSWORD '${PG_MD5_PASSWORD}';
      SET password_encryption = 'scram-sha-256';
      CREATE ROLE scram_user LOGIN CREATEDB PASSWORD '${PG_SCRAM_PASSWORD}';
      CREATE ROLE clear_user LOGIN CREATEDB PASSWORD '${PG_CLEAR_PASSWORD}';
      CREATE ROLE trust_user LOGIN CREATEDB;
      `,
      'postgres',
    );
    // Databases created later (createDatabase) are copies of template1: grant there once.
    await psqlAdmin(info, `GRANT ALL ON SCHEMA public TO ${ALL_TEST_ROLES.join(', ')};`, 'template1');
    await psqlAdmin(info, `CREATE DATABASE ${PG_APP_DB} OWNER ${PG_SUPERUSER};`, 'postgres');
    await psqlAdmin(
      info,
      `GRANT ALL ON DATABASE ${PG_APP_DB} TO ${ALL_TEST_ROLES.join(', ')};`,
      'postgres',
    );

    let stopped = false;
    return {
      ...info,
      async stop() {
        if (stopped) return;
        stopped = true;
        try {
          await runAsPostgres('pg_ctl', ['-D', data, '-m', 'immediate', 'stop'], 30_000);
        } catch {
          /* already gone */
        }
        live.delete(dir);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    if (started) {
      await runAsPostgres('pg_ctl', ['-D', data, '-m', 'immediate', 'stop'], 30_000).catch(() => {});
      live.delete(dir);
    }
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Runs SQL as the superuser `postgres` over the server's unix socket (falls back to 127.0.0.1 when
 * the socket dir is gone). The SQL goes through psql's stdin, so several statements, CREATE DATABASE
 * and psql meta-commands work. Output is unaligned, tuples only (`-At`). Throws with stderr on error.
 */
export async function psqlAdmin(server: PgInfo, sql: string, db: string = PG_APP_DB): Promise<string> {
  const host = existsSync(server.dir) ? server.dir : server.host;
  const r = await run(
    pgBin('psql'),
    ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', host, '-p', String(server.port), '-U', PG_SUPERUSER, '-d', db, '-f', '-'],
    { env: cleanPgEnv(), input: sql, timeoutMs: 120_000 },
  );
  if (r.code !== 0) throw new Error(`psql (${db}) failed: ${r.stderr.trim() || `exit ${r.code ?? r.signal}`}\nSQL: ${sql.trim().slice(0, 500)}`);
  return r.stdout;
}

/**
 * Creates a fresh database for one test file and returns its name: `name` lower-cased, reduced to
 * [a-z0-9_], plus a random suffix (so two files, or two runs against a kept server, never collide).
 * Owned by postgres; every test role gets ALL on the database and on its schema public.
 * Without `server`, uses inject('pg') (call it inside a test or hook).
 */
export async function createDatabase(name: string, server?: PgInfo): Promise<string> {
  const srv = server ?? (await import('vitest')).inject('pg');
  const base = name.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40) || 'db';
  const db = `${/^[a-z_]/.test(base) ? base : `d_${base}`}_${Math.random().toString(36).slice(2, 8)}`;
  await psqlAdmin(srv, `CREATE DATABASE ${db} OWNER ${PG_SUPERUSER};\nGRANT ALL ON DATABASE ${db} TO ${ALL_TEST_ROLES.join(', ')};`, 'postgres');
  await psqlAdmin(srv, `GRANT ALL ON SCHEMA public TO ${ALL_TEST_ROLES.join(', ')};`, db);
  return db;
}

/** A libpq connection string for a role of a harness server (TCP, 127.0.0.1). */
export function pgDsn(server: PgInfo, role: PgRoleKind | 'postgres', db: string = PG_APP_DB, extra = ''): string {
  const r = role === 'postgres' ? { user: PG_SUPERUSER, password: '' } : PG_ROLES[role];
  const pw = r.password ? ` password=${r.password}` : '';
  return `host=${server.host} port=${server.port} dbname=${db} user=${r.user}${pw}${extra ? ' ' + extra : ''}`;
}
