#!/usr/bin/env node
// MySQL / MariaDB data-path benchmark, the counterpart of bench/pg.mjs. In ONE run, against one throwaway
// MariaDB, it measures:
//   - sysbench oltp_point_select and oltp_read_only (mysql driver, server-side prepared statements: --db-ps-mode=auto)
//     for --duration s with 8 threads, and oltp_point_select with 1 thread, through: direct, HAProxy (mode tcp),
//     a bare Node.js TCP relay (bench/relay.mjs), portcullis; Com_stmt_* on the server show the statements ran prepared;
//   - a --rows-row SELECT of a table with two masked columns (email, card) read with the mariadb CLI through each path;
//   - resident memory of each proxy process after the runs, and with --idle idle sessions (mysql2).
// and writes the "MySQL / MariaDB" section of bench/RESULTS.md (replaced in place, or appended; the rest of the
// file is kept). The portcullis leg fails soft ("failed: reason") when the gateway cannot run.
//
// usage: node bench/mysql.mjs [--duration 10] [--tables 4] [--table-size 10000] [--rows 200000] [--idle 200]
//                             [--bulk-runs 3] [--legs direct,haproxy,relay,portcullis] [--out bench/RESULTS.md] [--keep]
// Needs (Debian): mariadb-server + mariadb-client, sysbench, haproxy. Run as root (mariadbd then runs with
// --user=root) or as an ordinary user. Portcullis must be built first (npm run build).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { children, daemon, die, freePort, lastLines, log, logReason, run, runOk, setDefaultEnv, sleep, stopDaemon, waitForPort, which } from './proc.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    tables: { type: 'string', default: '4' },
    'table-size': { type: 'string', default: '10000' },
    rows: { type: 'string', default: '200000' },
    idle: { type: 'string', default: '200' },
    'bulk-runs': { type: 'string', default: '3' },
    legs: { type: 'string', default: 'direct,haproxy,relay,portcullis' },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'RESULTS.md') },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 15).join('\n'));
  process.exit(0);
}
const DURATION = Number(opt.duration);
const TABLES = Math.min(4, Math.max(1, Number(opt.tables)));
const TABLE_SIZE = Number(opt['table-size']);
const ROWS = Number(opt.rows);
const IDLE = Number(opt.idle);
const BULK_RUNS = Math.max(1, Number(opt['bulk-runs']));
const LEGS = opt.legs.split(',').map((s) => s.trim()).filter(Boolean);
for (const l of LEGS) if (!['direct', 'haproxy', 'relay', 'portcullis'].includes(l)) die(`unknown leg ${l}`);
if (!LEGS.includes('direct')) LEGS.unshift('direct');
if (!(DURATION > 0) || !(TABLE_SIZE > 0) || !(ROWS > 0) || !(IDLE >= 0)) die('--duration, --table-size, --rows must be > 0, --idle >= 0');

const BENCH_USER = 'bench';
const BENCH_PASSWORD = 'bench-secret'; // the target account's password (direct, haproxy, relay)
const GW_PASSWORD = 'bench-gateway-pass'; // the portcullis local user's password
const GW_CONNECTION = 'bench-db';
const DB = 'bench';
const AS_ROOT = process.getuid?.() === 0;
const THREADS = 8;
/** The sysbench runs of every leg: [test, threads]. */
const RUNS = [
  ['oltp_point_select', THREADS],
  ['oltp_read_only', THREADS],
  ['oltp_point_select', 1],
];
const SECTION_START = '<!-- bench/mysql.mjs: start -->';
const SECTION_END = '<!-- bench/mysql.mjs: end -->';

// ------------------------------------------------------------------------------------------------
// small process helpers (no shell)

function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('MYSQL') || k.startsWith('MARIADB')) delete env[k];
  return { ...env, LC_ALL: 'C.UTF-8', ...extra };
}
setDefaultEnv(() => cleanEnv());

function need(name) {
  const p = which(name);
  if (!p) die(`${name} not found (Debian: mariadb-server mariadb-client sysbench haproxy)`);
  return p;
}
const BIN = {
  mariadbd: need('mariadbd'),
  installDb: need('mariadb-install-db'),
  mariadb: need('mariadb'),
  admin: need('mariadb-admin'),
  sysbench: need('sysbench'),
};

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

// ------------------------------------------------------------------------------------------------
// the MariaDB server (as test/harness/mariadb.ts: mariadb-install-db + mariadbd --no-defaults, TCP on 127.0.0.1)

async function startMariadb(work) {
  const dir = path.join(work, 'my');
  fs.mkdirSync(dir, { recursive: true });
  const data = path.join(dir, 'data');
  const socket = path.join(dir, 'mysqld.sock');
  const errLog = path.join(dir, 'error.log');
  const userArg = AS_ROOT ? ['--user=root'] : [];
  await runOk(BIN.installDb, ['--no-defaults', ...userArg, `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve'], {
    timeoutMs: 180_000,
  });
  const args = [
    '--no-defaults',
    ...userArg,
    `--datadir=${data}`,
    '--bind-address=127.0.0.1',
    `--socket=${socket}`,
    `--pid-file=${path.join(dir, 'mysqld.pid')}`,
    `--log-error=${errLog}`,
    '--skip-log-bin',
    '--skip-name-resolve',
    '--innodb-flush-log-at-trx-commit=0',
    '--innodb-buffer-pool-size=256M',
    `--max-connections=${Math.max(300, IDLE + 100)}`,
    '--character-set-server=utf8mb4', // what Debian's packaged config sets; --no-defaults would leave latin1
    '--collation-server=utf8mb4_general_ci',
    '--local-infile=1',
  ];
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = daemon(BIN.mariadbd, [...args, `--port=${port}`], path.join(dir, 'stdout.log'));
    try {
      await waitAlive(child, socket, 60_000);
    } catch (e) {
      await stopDaemon(child);
      const text = fs.existsSync(errLog) ? fs.readFileSync(errLog, 'utf8') : '';
      if (attempt < 6 && /address already in use|Bind on TCP\/IP port/i.test(text)) {
        fs.writeFileSync(errLog, '');
        fs.rmSync(socket, { force: true });
        continue;
      }
      throw new Error(`mariadbd: ${e.message}: ${lastLines(text)}`);
    }
    /** SQL as root over the unix socket (no password); the first error stops it. */
    const sqlAdmin = (sql, extra = []) =>
      runOk(BIN.mariadb, ['--no-defaults', `--socket=${socket}`, '-uroot', '--batch', '--skip-column-names', ...extra], { input: sql, timeoutMs: 900_000 });
    const stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // the data dir is thrown away: no need for a clean shutdown
      child.kill('SIGKILL');
      await child.exited;
    };
    return { port, pid: child.pid, socket, dir, sqlAdmin, stop };
  }
}

async function waitAlive(child, socket, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (${child.exitCode ?? child.signalCode}) before accepting connections`);
    if (fs.existsSync(socket)) {
      const r = await run(BIN.admin, ['--no-defaults', `--socket=${socket}`, '-uroot', '--connect-timeout=2', 'ping'], { timeoutMs: 5_000 });
      if (r.code === 0) return;
      last = r.stderr.trim() || r.stdout.trim();
    }
    await sleep(100);
  }
  throw new Error(`not alive after ${timeoutMs} ms${last ? ` (${last})` : ''}`);
}

/** A Luhn-valid 16-digit card-like number (Visa-like prefix 4) for row i, printed 4-4-4-4. */
function cardNumber(i) {
  const body = `4${String(100000000000000 + ((i * 7919) % 899999999999999)).slice(0, 14)}`; // 15 digits
  let sum = 0;
  for (let k = 0; k < 15; k++) {
    let d = body.charCodeAt(14 - k) - 48;
    if (k % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  const n = body + String((10 - (sum % 10)) % 10);
  return `${n.slice(0, 4)}-${n.slice(4, 8)}-${n.slice(8, 12)}-${n.slice(12)}`;
}

/** The bulk table, loaded from a TSV file with LOAD DATA LOCAL INFILE. */
async function createBulkTable(server, work) {
  const tsv = path.join(work, 'bulk_pii.tsv');
  const fd = fs.openSync(tsv, 'w');
  let buf = [];
  for (let i = 1; i <= ROWS; i++) {
    buf.push(`${i}\tuser${i}@example.com\t${cardNumber(i)}\n`);
    if (buf.length === 10_000 || i === ROWS) {
      fs.writeSync(fd, buf.join(''));
      buf = [];
    }
  }
  fs.closeSync(fd);
  await server.sqlAdmin(
    `CREATE TABLE ${DB}.bulk_pii (id INT NOT NULL PRIMARY KEY, email VARCHAR(100) NOT NULL, card VARCHAR(32) NOT NULL) ENGINE=InnoDB;
     LOAD DATA LOCAL INFILE '${tsv.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}' INTO TABLE ${DB}.bulk_pii (id, email, card);
     ANALYZE TABLE ${DB}.bulk_pii;`,
    ['--local-infile=1'],
  );
  fs.rmSync(tsv, { force: true });
}

/** Com_stmt_* and Questions from SHOW GLOBAL STATUS. */
async function serverCounters(server) {
  const out = await server.sqlAdmin("SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_stmt_prepare', 'Com_stmt_execute', 'Com_stmt_close', 'Com_select', 'Questions');");
  const c = {};
  for (const line of out.trim().split('\n')) {
    const [k, v] = line.split('\t');
    if (k) c[k.toLowerCase()] = Number(v);
  }
  return c;
}

// ------------------------------------------------------------------------------------------------
// the paths under test: each returns { port, user, password, pid, stop }

async function startHaproxy(work, myPort) {
  const bin = which('haproxy');
  if (!bin) throw new Error('haproxy not installed');
  const dir = path.join(work, `haproxy-${Date.now()}`);
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const cfg = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(
    cfg,
    [
      'global',
      `  maxconn ${IDLE + 500}`,
      'defaults',
      '  mode tcp',
      '  timeout connect 5s',
      '  timeout client 1h',
      '  timeout server 1h',
      'frontend mysql_in',
      `  bind 127.0.0.1:${port}`,
      '  default_backend mysql_out',
      'backend mysql_out',
      `  server db 127.0.0.1:${myPort}`, // no "check": no health checks
      '',
    ].join('\n'),
  );
  const logFile = path.join(dir, 'haproxy.log');
  const child = daemon(bin, ['-db', '-f', cfg], logFile);
  try {
    await waitForPort(port, 15_000, child);
  } catch (e) {
    await stopDaemon(child);
    throw new Error(`haproxy: ${e.message}: ${lastLines(fs.readFileSync(logFile, 'utf8'))}`);
  }
  return { port, user: BENCH_USER, password: BENCH_PASSWORD, pid: child.pid, stop: () => stopDaemon(child) };
}

async function startRelay(work, myPort) {
  const port = await freePort();
  const logFile = path.join(work, 'relay.log');
  const child = daemon(process.execPath, [path.join(ROOT, 'bench', 'relay.mjs'), String(port), '127.0.0.1', String(myPort)], logFile);
  await waitForPort(port, 10_000, child);
  return { port, user: BENCH_USER, password: BENCH_PASSWORD, pid: child.pid, stop: () => stopDaemon(child) };
}

let gwPasswordHash = null;
async function portcullisHash() {
  if (gwPasswordHash) return gwPasswordHash;
  const cli = path.join(buildCopy?.root ?? ROOT, 'bin', 'portcullis');
  // --mysql: the hash carries the mysql_native_password verifier (`;mysql=*HEX`), so libmariadb clients
  // (sysbench, the mariadb CLI) log in with the scramble instead of mysql_clear_password
  const r = await run(process.execPath, [cli, 'users', 'hash', '--mysql'], { input: `${GW_PASSWORD}\n`, timeoutMs: 30_000 });
  const lines = r.stdout.trim().split('\n').filter(Boolean);
  if (r.code !== 0 || lines.length !== 1) throw new Error(`\`portcullis users hash --mysql\`: ${r.code !== 0 ? `exit ${r.code}: ` : ''}${lastLines(r.stderr || r.stdout) || 'no output'}`);
  if (!/;mysql=\*[0-9A-Fa-f]{40}$/.test(lines[0].trim())) throw new Error(`\`portcullis users hash --mysql\` printed no ;mysql= verifier`);
  return (gwPasswordHash = lines[0].trim());
}

function portcullisConfig(dataDir, port, adminPort, myPort, hash) {
  // YAML (JSON is YAML): the schema is src/config/schema.ts.
  return JSON.stringify(
    {
      dataDir,
      logLevel: 'warn',
      listen: { mysql: { host: '127.0.0.1', port }, admin: { host: '127.0.0.1', port: adminPort } },
      tls: { mode: 'off' }, // plain TCP everywhere, like the other legs
      store: { sqlite: path.join(dataDir, 'portcullis.db') },
      identity: { users: [{ name: BENCH_USER, groups: ['bench'], password: { hash } }] },
      connections: [
        {
          name: GW_CONNECTION,
          protocol: 'mysql',
          target: { host: '127.0.0.1', port: myPort, database: DB, user: BENCH_USER, password: BENCH_PASSWORD, tls: 'disable' },
          allow: ['bench'],
          guardrails: ['no-drop', 'where-required', 'ddl-review'],
          masking: 'pii',
          review: { approvers: ['dba'], wait: '5s', ttl: '15m' },
        },
      ],
      guardrails: [
        { name: 'no-drop', when: { statements: ['drop', 'truncate'] }, action: 'block' },
        { name: 'where-required', when: { statements: ['update', 'delete'], where: 'missing' }, action: 'block' },
        { name: 'ddl-review', when: { category: 'ddl' }, action: 'review' },
      ],
      masking: [
        {
          name: 'pii',
          columns: [{ match: '*.email', with: 'partial' }], // the card column is left to detection
          detect: ['email', 'credit_card'],
          with: 'redact',
        },
      ],
    },
    null,
    2,
  );
}

/** mariadb CLI arguments for an endpoint (password through MYSQL_PWD, not argv). */
function cliArgs(ep) {
  return ['--no-defaults', '-h', '127.0.0.1', '-P', String(ep.port), '--protocol=TCP', '--skip-ssl', '-u', ep.user, '-D', DB, '--connect-timeout=15'];
}

/**
 * A copy of the build (dist/, bin/, package.json; node_modules linked) taken once per run, so that every gateway
 * process of the run runs the same code even when dist/ is rebuilt meanwhile. Returns its root, or throws.
 */
let buildCopy = null;
function portcullisBuild(work) {
  if (buildCopy) return buildCopy;
  if (!fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'))) throw new Error('not built (run `npm run build`)');
  const dir = path.join(work, 'portcullis-build');
  let newest = 0;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.js')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  walk(path.join(ROOT, 'dist'));
  fs.mkdirSync(dir, { recursive: true });
  fs.cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'bin'), path.join(dir, 'bin'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return (buildCopy = { root: dir, builtAt: new Date(newest).toISOString().replace(/\.\d+Z$/, 'Z') });
}

async function startPortcullis(work, myPort) {
  const cli = path.join(portcullisBuild(work).root, 'bin', 'portcullis');
  const hash = await portcullisHash();
  const dir = path.join(work, `portcullis-${Date.now()}`);
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const adminPort = await freePort();
  const cfg = path.join(dir, 'portcullis.yaml');
  const dataDir = path.join(dir, 'data');
  fs.writeFileSync(cfg, portcullisConfig(dataDir, port, adminPort, myPort, hash));
  const logFile = path.join(dir, 'gateway.log');
  const child = daemon(process.execPath, [cli, 'start', '-c', cfg], logFile);
  const ep = { port, user: `${BENCH_USER}#${GW_CONNECTION}`, password: GW_PASSWORD, pid: child.pid, dataDir, logFile, stop: () => stopDaemon(child) };
  try {
    await waitForPort(port, 30_000, child);
    // one real query end to end, so that a gateway that listens but cannot serve fails here with a reason
    const r = await run(BIN.mariadb, [...cliArgs(ep), '--batch', '--skip-column-names', '-e', 'SELECT 1'], {
      env: cleanEnv({ MYSQL_PWD: GW_PASSWORD }),
      timeoutMs: 20_000,
    });
    if (r.code !== 0 || r.stdout.trim() !== '1') throw new Error(`SELECT 1 through the gateway: ${lastLines(r.stderr || r.stdout) || `exit ${r.code}`}`);
    // and the gateway really checks the password (a wrong one is refused)
    const bad = await run(BIN.mariadb, [...cliArgs(ep), '--batch', '-e', 'SELECT 1'], { env: cleanEnv({ MYSQL_PWD: 'not-the-password' }), timeoutMs: 20_000 });
    if (bad.code === 0) throw new Error('the gateway accepted a wrong password');
  } catch (e) {
    await stopDaemon(child);
    const tail = fs.existsSync(logFile) ? logReason(fs.readFileSync(logFile, 'utf8')) : '';
    throw new Error(`${e.message}${tail ? ` (log: ${tail})` : ''}`);
  }
  return ep;
}

/** What the gateway's audit store recorded (read after the gateway stopped). */
async function auditSummary(dataDir) {
  const file = path.join(dataDir, 'portcullis.db');
  if (!fs.existsSync(file)) return 'no audit database';
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const s = db.prepare("SELECT count(*) AS n, group_concat(DISTINCT auth_method) AS auth FROM sessions WHERE protocol = 'mysql' AND user = ?").get(BENCH_USER);
    const kinds = db.prepare('SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY n DESC').all();
    return `${s.n} mysql sessions of user \`${BENCH_USER}\` (auth ${s.auth ?? '—'}), events: ${kinds.map((k) => `${k.kind} ${fmt(k.n)}`).join(', ') || 'none'}`;
  } finally {
    db.close();
  }
}

// ------------------------------------------------------------------------------------------------
// measurements

function sysbenchArgs(ep, test, threads, extra) {
  return [
    test,
    '--db-driver=mysql',
    '--mysql-host=127.0.0.1',
    `--mysql-port=${ep.port}`,
    `--mysql-user=${ep.user}`,
    `--mysql-password=${ep.password}`,
    `--mysql-db=${DB}`,
    '--mysql-ssl=off',
    `--tables=${TABLES}`,
    `--table-size=${TABLE_SIZE}`,
    `--threads=${threads}`,
    ...extra,
  ];
}

/** sysbench TEST run; returns { qps, tps, latAvgMs, p95Ms, errors, stmt: Com_stmt_* deltas } or throws. */
async function sysbench(server, ep, test, threads, duration = DURATION) {
  const before = await serverCounters(server);
  const args = sysbenchArgs(ep, test, threads, [`--time=${duration}`, '--events=0', '--db-ps-mode=auto', '--percentile=95', '--report-interval=0', '--rand-seed=1', 'run']);
  const r = await run(BIN.sysbench, args, { timeoutMs: (duration + 120) * 1000 });
  const after = await serverCounters(server);
  const num = (re) => Number(re.exec(r.stdout)?.[1]);
  const qps = num(/queries:\s+\d+\s+\(([\d.]+) per sec\.\)/);
  const tps = num(/transactions:\s+\d+\s+\(([\d.]+) per sec\.\)/);
  const queries = num(/queries:\s+(\d+)\s+\(/);
  const latAvgMs = num(/avg:\s+([\d.]+)/);
  const p95Ms = num(/95th percentile:\s+([\d.]+)/);
  const errors = num(/ignored errors:\s+(\d+)/);
  if (r.code !== 0 || !Number.isFinite(qps) || !(queries > 0) || /FATAL/.test(r.stdout + r.stderr)) {
    throw new Error(`sysbench ${r.timedOut ? 'timed out' : `exit ${r.code}`}: ${lastLines((r.stdout + '\n' + r.stderr).split('\n').filter((l) => /FATAL|error|Error/.test(l)).join('\n') || r.stderr || r.stdout)}`);
  }
  const d = (k) => (after[k] ?? NaN) - (before[k] ?? NaN);
  return { qps, tps, latAvgMs, p95Ms, errors, queries, stmt: { prepare: d('com_stmt_prepare'), execute: d('com_stmt_execute'), select: d('com_select'), questions: d('questions') } };
}

/** Wall time of the mariadb CLI reading the whole result (--quick: row by row) to /dev/null. */
async function timeQuery(ep, sql) {
  const t0 = process.hrtime.bigint();
  const r = await run(BIN.mariadb, [...cliArgs(ep), '--batch', '--quick', '--skip-column-names', '-e', sql], {
    env: cleanEnv({ MYSQL_PWD: ep.password }),
    stdout: 'ignore',
    timeoutMs: 600_000,
  });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.code !== 0) throw new Error(`mariadb: ${lastLines(r.stderr) || `exit ${r.code}`}`);
  return s;
}

async function bulk(ep) {
  const times = [];
  for (let i = 0; i < BULK_RUNS; i++) times.push(await timeQuery(ep, 'SELECT id, email, card FROM bulk_pii'));
  const r = await run(BIN.mariadb, [...cliArgs(ep), '--batch', '--quick', '--skip-column-names', '-e', 'SELECT id, email, card FROM bulk_pii'], {
    env: cleanEnv({ MYSQL_PWD: ep.password }),
    timeoutMs: 600_000,
  });
  const lines = r.code === 0 ? r.stdout.split('\n').filter(Boolean) : [];
  return {
    best: Math.min(...times),
    bytes: Buffer.byteLength(r.stdout),
    rowsSeen: lines.length,
    sample: r.code === 0 ? (lines[0] ?? '').replace(/\t/g, ' | ') : `error: ${lastLines(r.stderr)}`,
  };
}

/** RSS of the proxy process before and with IDLE idle sessions opened through it with mysql2. */
async function idleMemory(ep) {
  const { default: mysql } = await import('mysql2/promise');
  await sleep(1000);
  const before = rssKiB(ep.pid);
  const conns = [];
  const t0 = Date.now();
  try {
    const batch = 25;
    for (let i = 0; i < IDLE; i += batch) {
      const n = Math.min(batch, IDLE - i);
      await Promise.all(
        Array.from({ length: n }, async () => {
          const c = await mysql.createConnection({ host: '127.0.0.1', port: ep.port, user: ep.user, password: ep.password, database: DB, connectTimeout: 30_000 });
          c.on('error', () => {});
          conns.push(c);
          await c.query('SELECT 1');
        }),
      );
    }
    const openSeconds = (Date.now() - t0) / 1000;
    await sleep(2000);
    const after = rssKiB(ep.pid);
    return { before, after, perSessionKiB: IDLE > 0 ? (after - before) / IDLE : NaN, openSeconds };
  } finally {
    await Promise.all(conns.map((c) => c.end().catch(() => c.destroy())));
  }
}

// ------------------------------------------------------------------------------------------------
// report

const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '—');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '—');
const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const short = { oltp_point_select: 'point_select', oltp_read_only: 'read_only' };

function report(ctx) {
  const { sbRows, bulkRows, memRows, info, notes } = ctx;
  const L = [];
  L.push(SECTION_START);
  L.push('## MySQL / MariaDB', '');
  const cmd = ['node bench/mysql.mjs', ...process.argv.slice(2)].join(' ');
  L.push(`Generated by \`${cmd}\` on ${info.date}; everything in this section comes from that one run (the ratios compare figures of the same run; the PostgreSQL figures above come from another run).`, '');
  L.push('### Machine', '');
  L.push(`- CPU: ${info.cpu} (nproc ${info.nproc}), memory ${info.memGiB} GiB, Linux ${info.kernel}`);
  L.push(`- Node.js ${info.node}; ${info.mariadb}; ${info.sysbench}; ${info.haproxy}; client ${info.client}`);
  L.push(`- sysbench ${TABLES} table(s) of ${fmt(TABLE_SIZE)} rows, ${DURATION} s per run; bulk table of ${fmt(ROWS)} rows; ${IDLE} idle sessions`);
  L.push('- every path on this one machine over 127.0.0.1 without TLS; clients, proxies and the server share the cores');
  L.push(`- load average (1/5/15 min) at the start ${info.loadStart}, at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' / ')} (other work on the machine skews the figures)`, '');

  L.push('### sysbench', '');
  L.push('`sysbench --db-driver=mysql --db-ps-mode=auto` (server-side prepared statements). QPS and TPS exclude connection time; latency is per sysbench event (one transaction: 1 query for point_select, 14 SELECTs + BEGIN/COMMIT for read_only). "vs direct" / "vs bare relay" are QPS ratios (1.00× = same throughput). "stmt exec / query" is Com_stmt_execute divided by the queries sysbench counted, from SHOW GLOBAL STATUS before and after the run (1.00 = every query ran as a prepared statement on the server; sysbench prepares the BEGIN and COMMIT of read_only too). Com_stmt_prepare counts the prepares of the run (sysbench prepares its statements once per thread and table).', '');
  L.push('| path | test | threads | QPS | TPS | avg latency (ms) | p95 latency (ms) | vs direct | vs bare relay | stmt exec / query | Com_stmt_prepare |');
  L.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of sbRows) {
    if (r.error) {
      L.push(`| ${r.leg} | ${short[r.test]} | ${r.threads} | failed: ${cell(r.error)} | — | — | — | — | — | — | — |`);
      continue;
    }
    const d = sbRows.find((x) => x.leg === 'direct' && x.test === r.test && x.threads === r.threads && !x.error);
    const b = sbRows.find((x) => x.leg === 'relay' && x.test === r.test && x.threads === r.threads && !x.error);
    L.push(
      `| ${r.leg} | ${short[r.test]} | ${r.threads} | ${fmt(r.qps)} | ${fmt(r.tps)} | ${fmt(r.latAvgMs, 2)} | ${fmt(r.p95Ms, 2)} | ${ratio(r.qps, d?.qps)} | ${ratio(r.qps, b?.qps)} | ${fmt(r.stmt.execute / r.queries, 2)} | ${fmt(r.stmt.prepare)} |`,
    );
  }
  L.push('');
  L.push('Goal: portcullis ≥ 0.90× the bare relay\'s QPS (stretch: 1.00×); HAProxy beside it for scale.', '');
  L.push('| test | threads | portcullis vs bare relay | goal ≥ 0.90× | HAProxy vs bare relay | portcullis vs HAProxy |');
  L.push('| --- | ---: | ---: | --- | ---: | ---: |');
  for (const [test, threads] of RUNS) {
    const get = (leg) => sbRows.find((x) => x.leg === leg && x.test === test && x.threads === threads && !x.error);
    const p = get('portcullis');
    const b = get('relay');
    const h = get('haproxy');
    const met = p && b ? (p.qps / b.qps >= 1 ? 'met (stretch too)' : p.qps / b.qps >= 0.9 ? 'met' : 'missed') : '—';
    L.push(`| ${short[test]} | ${threads} | ${ratio(p?.qps, b?.qps)} | ${met} | ${ratio(h?.qps, b?.qps)} | ${ratio(p?.qps, h?.qps)} |`);
  }
  L.push('');

  L.push(`### Bulk read: ${fmt(ROWS)} rows, two masked columns`, '');
  L.push(`Table \`bulk_pii(id int, email varchar, card varchar)\` (card: Luhn-valid 16-digit numbers printed 4-4-4-4); wall time of \`mariadb --batch --quick\` reading everything to /dev/null, best of ${BULK_RUNS}. The ratios compare times (higher = slower). Through portcullis the profile masks \`*.email\` by column rule (partial) and the card by content detection (credit_card, redact); the first row shows whether masking happened.`, '');
  L.push('| path | SELECT (s) | vs direct | vs bare relay | output (MB) | first row as the client saw it |');
  L.push('| --- | ---: | ---: | ---: | ---: | --- |');
  for (const r of bulkRows) {
    if (r.error) {
      L.push(`| ${r.leg} | failed: ${cell(r.error)} | — | — | — | — |`);
      continue;
    }
    const d = bulkRows.find((x) => x.leg === 'direct' && !x.error);
    const b = bulkRows.find((x) => x.leg === 'relay' && !x.error);
    L.push(`| ${r.leg} | ${fmt(r.best, 2)} | ${ratio(r.best, d?.best)} | ${ratio(r.best, b?.best)} | ${fmt(r.bytes / 1e6, 1)} | \`${cell(r.sample)}\` |`);
  }
  L.push('');

  L.push('### Memory', '');
  L.push(`Resident set size (VmRSS) of the proxy process, from /proc: "after the runs" is the process that carried the sysbench and bulk runs, just before it stopped; the idle columns come from a fresh process, before and 2 s after opening ${IDLE} sessions with the \`mysql2\` driver (each ran \`SELECT 1\` once).`, '');
  L.push(`| path | RSS after the runs (MiB) | fresh (MiB) | with ${IDLE} idle sessions (MiB) | per session (KiB) | time to open them (s) |`);
  L.push('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of memRows) {
    if (r.error && !Number.isFinite(r.afterRuns)) {
      L.push(`| ${r.leg} | failed: ${cell(r.error)} | — | — | — | — |`);
      continue;
    }
    if (r.error) {
      L.push(`| ${r.leg} | ${fmt(r.afterRuns / 1024, 1)} | failed: ${cell(r.error)} | — | — | — |`);
      continue;
    }
    L.push(`| ${r.leg} | ${fmt(r.afterRuns / 1024, 1)} | ${fmt(r.before / 1024, 1)} | ${fmt(r.after / 1024, 1)} | ${fmt(r.perSessionKiB, 1)} | ${fmt(r.openSeconds, 1)} |`);
  }
  L.push('');

  L.push('### Setup', '');
  L.push('- direct: MariaDB started by the script (`mariadbd --no-defaults`, innodb_flush_log_at_trx_commit=0, buffer pool 256M, binlog off), `mysql_native_password` account for sysbench and the CLI.');
  L.push('- haproxy: Debian\'s HAProxy, `mode tcp`, one backend server, no health check, run in the foreground (`-db`).');
  L.push('- relay: `bench/relay.mjs`, `client.pipe(upstream); upstream.pipe(client)` with TCP_NODELAY — the ceiling for any Node.js proxy here.');
  L.push(`- portcullis: \`node bin/portcullis start\`, shared MySQL listener, one local user whose hash carries the \`mysql_native_password\` verifier (\`portcullis users hash --mysql\`), client user \`${BENCH_USER}#${GW_CONNECTION}\`, guardrails no-drop / where-required / ddl-review, masking profile \`pii\` (columns \`*.email\` partial; detect email, credit_card → redact), SQLite audit store, \`tls.mode: off\`, logLevel warn.`);
  for (const n of notes) L.push(`- ${n}`);
  L.push('', SECTION_END);
  return L.join('\n');
}

/** Replaces this script's section of the results file in place, or appends it; the rest is kept. */
function writeSection(file, md) {
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const a = old.indexOf(SECTION_START);
  const b = old.indexOf(SECTION_END);
  let text;
  if (a >= 0 && b > a) text = old.slice(0, a) + md + old.slice(b + SECTION_END.length);
  else text = old ? `${old.replace(/\n*$/, '')}\n\n${md}\n` : `# Benchmark results\n\n${md}\n`;
  fs.writeFileSync(file, text);
}

async function machineInfo() {
  const firstLine = async (cmd, args) => {
    try {
      const r = await run(cmd, args, { timeoutMs: 10_000 });
      return (r.stdout || r.stderr).trim().split('\n')[0];
    } catch {
      return `${path.basename(cmd)}: not found`;
    }
  };
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    loadStart: os.loadavg().map((x) => x.toFixed(2)).join(' / '),
    cpu: os.cpus()[0]?.model?.replace(/\s+/g, ' ').trim() ?? 'unknown',
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    memGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    kernel: os.release(),
    node: process.version,
    mariadb: (await firstLine(BIN.mariadbd, ['--version'])).replace(/^.*?Ver\s+/, 'MariaDB ').replace(/\s+for\s.*$/, ''),
    client: (await firstLine(BIN.mariadb, ['--version'])).replace(/^.*?(Ver|from)\s+/, 'mariadb ').replace(/,.*$/, ''),
    sysbench: await firstLine(BIN.sysbench, ['--version']),
    haproxy: which('haproxy') ? (await firstLine(which('haproxy'), ['-v'])).replace(/\s+-\s+https?:.*$/, '') : 'haproxy: not installed',
  };
}

// ------------------------------------------------------------------------------------------------

async function main() {
  const tStart = Date.now();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-bench-my-'));
  fs.chmodSync(work, 0o755);
  const notes = [];
  const sbRows = [];
  const bulkRows = [];
  const memRows = [];
  let server;
  const info = await machineInfo();
  const cleanup = async () => {
    for (const c of children) c.kill('SIGKILL');
    if (server) await server.stop();
    if (!opt.keep) fs.rmSync(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => cleanup().finally(() => process.exit(130)));
  process.once('SIGTERM', () => cleanup().finally(() => process.exit(143)));
  try {
    log(`work dir ${work}`);
    server = await startMariadb(work);
    log(`MariaDB on 127.0.0.1:${server.port}`);
    await server.sqlAdmin(
      `DELETE FROM mysql.global_priv WHERE User = '';
       FLUSH PRIVILEGES;
       CREATE DATABASE ${DB};
       CREATE USER '${BENCH_USER}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('${BENCH_PASSWORD}');
       GRANT ALL PRIVILEGES ON ${DB}.* TO '${BENCH_USER}'@'%';`,
    );
    const direct = { port: server.port, user: BENCH_USER, password: BENCH_PASSWORD, pid: null, stop: async () => {} };
    const t0 = Date.now();
    await runOk(BIN.sysbench, [...sysbenchArgs(direct, 'oltp_read_only', TABLES, []), 'prepare'], { timeoutMs: 900_000 });
    await createBulkTable(server, work);
    notes.push(`initialisation (sysbench prepare of ${TABLES}×${fmt(TABLE_SIZE)} rows and the ${fmt(ROWS)}-row bulk table) took ${((Date.now() - t0) / 1000).toFixed(1)} s.`);
    log('initialised; warming up');
    await sysbench(server, direct, 'oltp_read_only', THREADS, Math.min(3, DURATION)).catch((e) => log(`warm-up: ${e.message}`));

    const starters = {
      direct: async () => direct,
      haproxy: () => startHaproxy(work, server.port),
      relay: () => startRelay(work, server.port),
      portcullis: () => startPortcullis(work, server.port),
    };
    for (const leg of LEGS) {
      let ep;
      try {
        ep = await starters[leg]();
      } catch (e) {
        const why = e.message.split('\n')[0];
        log(`${leg}: cannot start: ${why}`);
        for (const [test, threads] of RUNS) sbRows.push({ leg, test, threads, error: why });
        bulkRows.push({ leg, error: why });
        if (leg !== 'direct') memRows.push({ leg, error: why });
        continue;
      }
      let afterRuns = NaN;
      try {
        for (const [test, threads] of RUNS) {
          log(`${leg}: sysbench ${test} --threads=${threads} for ${DURATION} s`);
          try {
            const r = await sysbench(server, ep, test, threads);
            sbRows.push({ leg, test, threads, ...r });
            log(
              `  ${fmt(r.qps)} qps, ${fmt(r.tps)} tps, avg ${r.latAvgMs} ms, p95 ${r.p95Ms} ms${r.errors ? `, ${r.errors} ignored errors` : ''}; ` +
                `server: Com_stmt_prepare +${r.stmt.prepare}, Com_stmt_execute +${r.stmt.execute} for ${r.queries} queries, Com_select +${r.stmt.select}`,
            );
          } catch (e) {
            log(`  failed: ${e.message}`);
            sbRows.push({ leg, test, threads, error: e.message });
          }
        }
        log(`${leg}: bulk read of ${ROWS} rows x${BULK_RUNS}`);
        try {
          const b = await bulk(ep);
          bulkRows.push({ leg, ...b });
          log(`  best ${b.best.toFixed(2)} s, ${b.rowsSeen} rows, ${b.bytes} bytes; first row ${b.sample}`);
          if (b.rowsSeen !== ROWS) notes.push(`**warning: ${leg} returned ${b.rowsSeen} bulk rows, not ${ROWS}.**`);
        } catch (e) {
          log(`  failed: ${e.message}`);
          bulkRows.push({ leg, error: e.message });
        }
        if (ep.pid) afterRuns = rssKiB(ep.pid);
      } finally {
        await ep.stop();
      }
      if (leg === 'portcullis') {
        try {
          const s = await auditSummary(ep.dataDir);
          notes.push(`portcullis audit store after the runs: ${s}.`);
          log(`  audit: ${s}`);
        } catch (e) {
          notes.push(`portcullis audit store: cannot read (${e.message.split('\n')[0]}).`);
        }
        // warn and above, without the startup notices about features not built yet
        const gwLog = (fs.existsSync(ep.logFile) ? fs.readFileSync(ep.logFile, 'utf8') : '')
          .split('\n')
          .filter((l) => l.trim() && !/"msg":"not yet enforced:/.test(l))
          .join('\n');
        if (gwLog) {
          const n = gwLog.split('\n').length;
          log(`  gateway log: ${n} line(s) at warn+, last: ${logReason(gwLog)}`);
          notes.push(`the gateway logged ${n} line(s) at warn or above during the runs (startup notices aside); the last: \`${cell(logReason(gwLog))}\`.`);
        } else {
          notes.push('the gateway logged no warning or error during the runs (startup notices about features not built yet aside).');
        }
      }
      if (leg === 'direct') continue;
      // memory: a fresh process of the same proxy, so earlier load does not inflate its heap
      log(`${leg}: RSS after the runs ${(afterRuns / 1024).toFixed(1)} MiB; RSS with ${IDLE} idle sessions`);
      let fresh;
      try {
        fresh = await starters[leg]();
        const m = await idleMemory(fresh);
        memRows.push({ leg, afterRuns, ...m });
        log(`  ${(m.before / 1024).toFixed(1)} MiB -> ${(m.after / 1024).toFixed(1)} MiB (${m.perSessionKiB.toFixed(1)} KiB/session)`);
      } catch (e) {
        log(`  failed: ${e.message}`);
        memRows.push({ leg, afterRuns, error: e.message.split('\n')[0] });
      } finally {
        await fresh?.stop();
      }
    }
    if (LEGS.includes('portcullis')) {
      const d = bulkRows.find((x) => x.leg === 'direct' && !x.error);
      const p = bulkRows.find((x) => x.leg === 'portcullis' && !x.error);
      if (d && p && d.sample === p.sample) notes.push('**warning: the first bulk row came back through portcullis unmasked** — the masking figures above do not measure masking.');
      const ps = sbRows.filter((x) => x.leg === 'portcullis' && !x.error);
      if (ps.some((x) => !(x.stmt.execute > 0))) notes.push('**warning: sysbench through portcullis did not run server-side prepared statements** (Com_stmt_execute did not grow).');
    }
    if (buildCopy) notes.push(`portcullis ran from a copy of \`dist/\` taken at the start of the run (newest compiled file ${buildCopy.builtAt}), so every gateway process of the run ran the same build.`);
    notes.push(`the whole run took ${((Date.now() - tStart) / 1000).toFixed(0)} s.`);
    const md = report({ sbRows, bulkRows, memRows, info, notes });
    writeSection(opt.out, md);
    log(`wrote the MySQL / MariaDB section of ${path.relative(process.cwd(), opt.out) || opt.out}`);
  } finally {
    await cleanup();
  }
}

main().catch((e) => {
  console.error(`bench: ${e.stack ?? e}`);
  process.exit(1);
});
