// Throwaway MariaDB servers for integration tests (DESIGN "Throwaway servers without Docker").
// Each startMariadb() call gets its own temp dir (data dir, unix socket, pid file, error log, certs)
// and its own TCP port on 127.0.0.1, so parallel vitest workers never share anything. We run as
// root; mariadbd then needs --user=root. root@localhost has no password and is only used over the
// socket (mariadbAdmin); tests log in over TCP with the MY_* accounts.
/// <reference path="./provided-context.d.ts" />
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chmodSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, run, runOk } from './processes.js';

export { freePort } from './processes.js';

/** What tests receive through inject('mariadb'): plain data, no functions. */
export interface MariaInfo {
  host: string; // always 127.0.0.1
  port: number;
  /** The server's temp dir (data dir is DIR/data; socket, pid file, error.log and certs are in DIR). */
  dir: string;
  ssl: boolean;
  /** PEM of the CA that signed the server cert (ssl servers only); the cert is for localhost / 127.0.0.1. */
  caFile?: string;
  /** The unix socket (root logs in here without a password). */
  socket: string;
  /** Whether the ed25519 auth plugin is installed and the MY_ED account exists. */
  ed25519: boolean;
}

export interface MariaServer extends MariaInfo {
  stop(): Promise<void>;
}

/** Accounts created on host '%' in every server. */
export const MY_ADMIN = { user: 'pc_admin', password: 'pc-admin-secret', plugin: 'mysql_native_password' } as const; // ALL ON *.* WITH GRANT OPTION
export const MY_NATIVE = { user: 'pc_native', password: 'pc-native-secret', plugin: 'mysql_native_password' } as const; // ALL ON *.*
/** Only present when MariaInfo.ed25519 is true. */
export const MY_ED = { user: 'pc_ed25519', password: 'pc-ed25519-secret', plugin: 'ed25519' } as const; // ALL ON *.*

/** Superuser, over the unix socket only (no password). */
export const MY_ROOT = 'root';

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const binCache = new Map<string, string>();
/** Resolves a MariaDB program through PATH (plus the sbin dirs, which a non-root PATH may lack). */
export function mariadbBin(name: string): string {
  const hit = binCache.get(name);
  if (hit) return hit;
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      accessSync(p, constants.X_OK);
      binCache.set(name, p);
      return p;
    } catch {
      /* next */
    }
  }
  throw new Error(`${name} not found in PATH (install mariadb-server and mariadb-client)`);
}

/** Environment for our own client calls: no MYSQL_* variables from the caller leak in. */
function cleanMyEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const k of Object.keys(process.env)) if (k.startsWith('MYSQL') || k.startsWith('MARIADB')) env[k] = undefined;
  return { ...env, LC_ALL: 'C.UTF-8' };
}

/** SQL string literal (single quotes, backslashes and quotes escaped). */
function lit(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** SQL identifier in backticks. */
function ident(s: string): string {
  return '`' + s.replace(/`/g, '``') + '`';
}

async function makeCerts(dir: string): Promise<{ caFile: string; certFile: string; keyFile: string }> {
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
      'CN = portcullis test CA (mariadb)',
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
  chmodSync(f('server.key'), 0o600);
  chmodSync(f('ca.crt'), 0o644);
  return { caFile: f('ca.crt'), certFile: f('server.crt'), keyFile: f('server.key') };
}

// Servers still running in this process: killed synchronously if the process exits without stop().
const live = new Map<string, ChildProcess>(); // dir -> mariadbd
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [dir, child] of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  });
}

function isAddrInUse(log: string): boolean {
  return /address already in use|Bind on TCP\/IP port|Do you already have another (mysqld|mariadbd) server running/i.test(log);
}

function tail(file: string, chars = 4000): string {
  return existsSync(file) ? readFileSync(file, 'utf8').slice(-chars) : '(no log)';
}

/** Resolves when the child has exited (immediately if it already has), or false after timeoutMs. */
function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await waitExit(child, 5_000);
}

/** Polls `mariadb-admin ping` over the socket until the server answers, dies, or timeoutMs passes. */
async function waitAlive(child: ChildProcess, socket: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`mariadbd exited (${child.exitCode ?? child.signalCode}) before accepting connections`);
    }
    if (existsSync(socket)) {
      const r = await run(mariadbBin('mariadb-admin'), ['--no-defaults', `--socket=${socket}`, `-u${MY_ROOT}`, '--connect-timeout=2', 'ping'], {
        env: cleanMyEnv(),
        timeoutMs: 5_000,
      });
      if (r.code === 0) return;
      last = r.stderr.trim() || r.stdout.trim();
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`mariadbd not alive after ${timeoutMs} ms${last ? ` (${last})` : ''}`);
}

/**
 * Starts a throwaway MariaDB on 127.0.0.1 with the MY_* accounts and no anonymous users. With
 * `ssl`, the server has a cert from its own CA (caFile) and accepts both TLS and plain clients.
 */
export async function startMariadb(opts: { ssl?: boolean } = {}): Promise<MariaServer> {
  const ssl = opts.ssl ?? false;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'portcullis-my-'));
  const data = path.join(dir, 'data');
  const socket = path.join(dir, 'mysqld.sock');
  const logFile = path.join(dir, 'error.log');
  const userArg = asRoot ? ['--user=root'] : [];
  let child: ChildProcess | undefined;
  try {
    chmodSync(dir, 0o755); // other local users (the mariadb CLI as non-root, the gateway) may use the socket
    await runOk(
      mariadbBin('mariadb-install-db'),
      ['--no-defaults', ...userArg, `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve'],
      { env: cleanMyEnv(), timeoutMs: 120_000 },
    );

    const args = [
      '--no-defaults',
      ...userArg,
      `--datadir=${data}`,
      '--bind-address=127.0.0.1',
      `--socket=${socket}`,
      `--pid-file=${path.join(dir, 'mysqld.pid')}`,
      `--log-error=${logFile}`,
      '--skip-log-bin',
      '--skip-name-resolve',
      '--innodb-flush-log-at-trx-commit=0',
      '--innodb-buffer-pool-size=64M',
      '--max-connections=300',
      '--character-set-server=utf8mb4', // what Debian's packaged config sets; --no-defaults would leave latin1
      '--collation-server=utf8mb4_general_ci',
    ];
    let caFile: string | undefined;
    if (ssl) {
      const certs = await makeCerts(dir);
      caFile = certs.caFile;
      args.push(`--ssl-ca=${certs.caFile}`, `--ssl-cert=${certs.certFile}`, `--ssl-key=${certs.keyFile}`);
    }

    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      child = spawn(mariadbBin('mariadbd'), [...args, `--port=${port}`], { env: cleanMyEnv(), stdio: 'ignore' });
      child.unref(); // never keeps the test process alive; the exit hook below kills it
      child.on('error', () => {}); // a spawn failure shows up as an early exit in waitAlive
      live.set(dir, child);
      installExitHook();
      try {
        await waitAlive(child, socket, 30_000);
        break;
      } catch (e) {
        await kill(child);
        live.delete(dir);
        const log = tail(logFile);
        if (attempt < 6 && isAddrInUse(log)) {
          // another process took the port between freePort() and bind(): try another one
          writeFileSync(logFile, '');
          rmSync(socket, { force: true });
          continue;
        }
        throw new Error(`${(e as Error).message}\n--- ${logFile} ---\n${log}`);
      }
    }

    const info: MariaInfo = { host: '127.0.0.1', port, dir, ssl, ...(caFile ? { caFile } : {}), socket, ed25519: false };
    const anon = ['localhost', os.hostname(), '127.0.0.1', '::1', '%'].map((h) => `''@${lit(h)}`).join(', ');
    await mariadbAdmin(
      info,
      `
      DROP USER IF EXISTS ${anon};
      DELETE FROM mysql.global_priv WHERE User = '';
      FLUSH PRIVILEGES;
      CREATE USER ${lit(MY_ADMIN.user)}@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD(${lit(MY_ADMIN.password)});
      GRANT ALL PRIVILEGES ON *.* TO ${lit(MY_ADMIN.user)}@'%' WITH GRANT OPTION;
      CREATE USER ${lit(MY_NATIVE.user)}@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD(${lit(MY_NATIVE.password)});
      GRANT ALL PRIVILEGES ON *.* TO ${lit(MY_NATIVE.user)}@'%';
      `,
    );
    try {
      // Optional: the plugin ships with mariadb-server on Debian, but may be missing elsewhere.
      await mariadbAdmin(
        info,
        `
        INSTALL SONAME 'auth_ed25519';
        CREATE USER ${lit(MY_ED.user)}@'%' IDENTIFIED VIA ed25519 USING PASSWORD(${lit(MY_ED.password)});
        GRANT ALL PRIVILEGES ON *.* TO ${lit(MY_ED.user)}@'%';
        `,
      );
      info.ed25519 = true;
    } catch {
      await mariadbAdmin(info, `DROP USER IF EXISTS ${lit(MY_ED.user)}@'%';`).catch(() => {});
    }

    const server = child;
    let stopped = false;
    return {
      ...info,
      async stop() {
        if (stopped) return;
        stopped = true;
        if (server.exitCode === null && server.signalCode === null) {
          // Graceful shutdown; mariadb-admin itself polls in 1 s steps, so stop as soon as mariadbd is gone.
          const admin = run(mariadbBin('mariadb-admin'), ['--no-defaults', `--socket=${socket}`, `-u${MY_ROOT}`, '--connect-timeout=2', 'shutdown'], {
            env: cleanMyEnv(),
            timeoutMs: 10_000,
          });
          await Promise.race([admin, waitExit(server, 10_000)]);
          if (!(await waitExit(server, 5_000))) await kill(server);
        }
        live.delete(dir);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    if (child) {
      await kill(child);
      live.delete(dir);
    }
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Runs SQL as root over the server's unix socket. The SQL goes through the client's stdin, so several
 * statements work; the first error stops it. Output is `--batch --skip-column-names` (tab-separated
 * rows, one per line). Throws with stderr on error.
 */
export async function mariadbAdmin(info: MariaInfo, sql: string): Promise<string> {
  const r = await run(
    mariadbBin('mariadb'),
    ['--no-defaults', `--socket=${info.socket}`, `-u${MY_ROOT}`, '--batch', '--skip-column-names', '--connect-timeout=10'],
    { env: cleanMyEnv(), input: sql, timeoutMs: 120_000 },
  );
  if (r.code !== 0) throw new Error(`mariadb failed: ${r.stderr.trim() || `exit ${r.code ?? r.signal}`}\nSQL: ${sql.trim().slice(0, 500)}`);
  return r.stdout;
}

/**
 * Creates database `name` (exactly that name; utf8mb4 like the server default) for one test file. Every MY_* account has ALL
 * on *.*, so no grants are needed. Pick a name unique to the file (two files never share a database).
 */
export async function createMysqlDatabase(info: MariaInfo, name: string): Promise<void> {
  await mariadbAdmin(info, `CREATE DATABASE ${ident(name)};`);
}
