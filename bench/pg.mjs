#!/usr/bin/env node
// PostgreSQL data-path benchmark (DESIGN "Performance principles"). In ONE run, against one throwaway
// PostgreSQL, it measures:
//   - pgbench -S (select-only) for --duration s: 8 clients (-c 8 -j 2) and 1 client, -M simple and -M prepared,
//     through: direct, PgBouncer (session mode), a bare Node.js TCP relay (bench/relay.mjs), portcullis;
//   - a 1,000,000-row SELECT (and COPY) of a table with two masked columns (email, card) through each path;
//   - resident memory of each proxy process with --idle idle sessions.
// and writes bench/RESULTS.md. The portcullis leg fails soft ("failed: reason") when the gateway cannot run.
//
// usage: node bench/pg.mjs [--duration 10] [--scale 10] [--rows 1000000] [--idle 1000] [--bulk-runs 3]
//                          [--legs direct,pgbouncer,relay,portcullis] [--out bench/RESULTS.md] [--keep]
// Needs (Debian): postgresql (server binaries + pgbench + psql), pgbouncer, util-linux (runuser). Run as root
// (the servers run as the OS user postgres) or as an ordinary user (then they run as you).
// Portcullis must be built first (npm run build).
import { execFileSync } from 'node:child_process';
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
    scale: { type: 'string', default: '10' },
    rows: { type: 'string', default: '1000000' },
    idle: { type: 'string', default: '1000' },
    'bulk-runs': { type: 'string', default: '3' },
    legs: { type: 'string', default: 'direct,pgbouncer,relay,portcullis' },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'RESULTS.md') },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 16).join('\n'));
  process.exit(0);
}
const DURATION = Number(opt.duration);
const SCALE = Number(opt.scale);
const ROWS = Number(opt.rows);
const IDLE = Number(opt.idle);
const BULK_RUNS = Math.max(1, Number(opt['bulk-runs']));
const LEGS = opt.legs.split(',').map((s) => s.trim()).filter(Boolean);
for (const l of LEGS) if (!['direct', 'pgbouncer', 'relay', 'portcullis'].includes(l)) die(`unknown leg ${l}`);
if (!LEGS.includes('direct')) LEGS.unshift('direct');

const BENCH_USER = 'bench';
const BENCH_PASSWORD = 'bench-secret'; // the target role's password (direct, pgbouncer, relay)
const GW_PASSWORD = 'bench-gateway-pass'; // the portcullis local user's password
const GW_CONNECTION = 'bench-db';
const DB = 'bench';
const AS_ROOT = process.getuid?.() === 0;

// ------------------------------------------------------------------------------------------------
// small process helpers (no shell)

function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('PG')) delete env[k];
  return { ...env, LC_ALL: 'C.UTF-8', PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '15', ...extra };
}
setDefaultEnv(() => cleanEnv());

function pgBindir() {
  try {
    const d = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (fs.existsSync(path.join(d, 'initdb'))) return d;
  } catch {}
  const base = '/usr/lib/postgresql';
  const v = fs.existsSync(base) ? fs.readdirSync(base).filter((x) => fs.existsSync(path.join(base, x, 'bin', 'initdb'))).sort((a, b) => b - a) : [];
  if (!v.length) die('PostgreSQL server binaries not found');
  return path.join(base, v[0], 'bin');
}
const BIN = pgBindir();
const pgbin = (n) => path.join(BIN, n);
/** argv prefix to run a program as the postgres OS user (when we are root). */
const asPg = (cmd, args) => (AS_ROOT ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]);

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}
/** The pid of a descendant of `pid` whose command name is `comm` (runuser forks). */
function findDescendant(pid, comm) {
  const kids = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      kids.set(Number(d), { ppid, name });
    } catch {}
  }
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift();
    if (kids.get(p)?.name === comm) return p;
    for (const [c, v] of kids) if (v.ppid === p) queue.push(c);
  }
  return null;
}

const FD_NEED = IDLE * 3 + 512;
/** Open-files limit for us and the proxies: what the idle test needs, at least 65536, raised as far as allowed. */
let FD_LIMIT = FD_NEED;
function raiseFdLimit() {
  try {
    const m = /Max open files\s+(\d+)\s+(\d+|unlimited)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    const soft = Number(m?.[1] ?? 1024);
    const hard = m?.[2] === 'unlimited' ? Infinity : Number(m?.[2] ?? soft);
    const want = Math.max(FD_NEED, 65536);
    // raising the hard limit needs CAP_SYS_RESOURCE: try, else settle for the hard limit
    for (const n of [want, Math.min(want, hard)]) {
      if (!Number.isFinite(n)) continue;
      try {
        execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${n}:${Math.max(n, hard === Infinity ? n : hard)}`], { stdio: 'ignore' });
        FD_LIMIT = n;
        break;
      } catch {
        FD_LIMIT = soft;
      }
    }
  } catch {
    /* no /proc or prlimit */
  }
  if (FD_LIMIT < FD_NEED) log(`warning: open-files limit ${FD_LIMIT} < ${FD_NEED}; the idle-session test may fail`);
}

// ------------------------------------------------------------------------------------------------
// the PostgreSQL server

async function startPostgres(work) {
  const dir = path.join(work, 'pg');
  fs.mkdirSync(dir, { recursive: true });
  const data = path.join(dir, 'data');
  const pgLog = path.join(dir, 'postgres.log');
  if (AS_ROOT) execFileSync('chown', ['-R', 'postgres:postgres', work]);
  await runOk(...asPg(pgbin('initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8']));
  fs.writeFileSync(
    path.join(data, 'pg_hba.conf'),
    ['local all all trust', 'host all postgres 127.0.0.1/32 trust', 'host all all 127.0.0.1/32 scram-sha-256', ''].join('\n'),
  );
  fs.writeFileSync(
    path.join(data, 'postgresql.auto.conf'),
    [
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      `max_connections = ${IDLE + 100}`,
      'shared_buffers = 512MB',
      "password_encryption = 'scram-sha-256'",
      '',
    ].join('\n'),
  );
  if (AS_ROOT) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      await runOk(...asPg(pgbin('pg_ctl'), ['-D', data, '-l', pgLog, '-w', '-t', '60', '-o', `-p ${port}`, 'start']), { timeoutMs: 90_000 });
      const psqlAdmin = (sql, db = 'postgres') =>
        runOk(pgbin('psql'), ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', dir, '-p', String(port), '-U', 'postgres', '-d', db, '-f', '-'], { input: sql });
      const stop = () => run(...asPg(pgbin('pg_ctl'), ['-D', data, '-m', 'immediate', 'stop'])).catch(() => {});
      return { port, dir, data, psqlAdmin, stop };
    } catch (e) {
      const text = fs.existsSync(pgLog) ? fs.readFileSync(pgLog, 'utf8') : '';
      if (attempt < 5 && /already in use|could not bind|could not create any TCP/i.test(text)) continue;
      throw e;
    }
  }
}

// ------------------------------------------------------------------------------------------------
// the paths under test: each returns { port, user, password, pid, stop }

async function startPgBouncer(work, pgPort) {
  const dir = path.join(work, 'pgbouncer');
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const ini = path.join(dir, 'pgbouncer.ini');
  fs.writeFileSync(path.join(dir, 'userlist.txt'), `"${BENCH_USER}" "${BENCH_PASSWORD}"\n`);
  fs.writeFileSync(
    ini,
    [
      '[databases]',
      `${DB} = host=127.0.0.1 port=${pgPort} dbname=${DB}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${path.join(dir, 'userlist.txt')}`,
      'pool_mode = session',
      `max_client_conn = ${IDLE + 100}`,
      `default_pool_size = ${IDLE + 50}`,
      `max_db_connections = ${IDLE + 50}`,
      'ignore_startup_parameters = extra_float_digits,options',
      'query_wait_timeout = 30',
      `logfile = ${path.join(dir, 'pgbouncer.log')}`,
      'log_connections = 0',
      'log_disconnections = 0',
      'log_pooler_errors = 1',
      '',
    ].join('\n'),
  );
  if (AS_ROOT) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  const bin = which('pgbouncer');
  if (!bin) throw new Error('pgbouncer not installed');
  // PgBouncer refuses to run as root: run it as the postgres OS user.
  // runuser's PAM session resets the soft open-files limit (often to 1024): lift it inside, for the idle test.
  const prlimit = which('prlimit');
  const argv = prlimit ? asPg(prlimit, [`--nofile=${FD_LIMIT}:${FD_LIMIT}`, bin, ini]) : asPg(bin, [ini]);
  const child = daemon(...argv, path.join(dir, 'stdout.log'));
  try {
    await waitForPort(port, 15_000, child);
  } catch (e) {
    await stopDaemon(child);
    throw new Error(`pgbouncer: ${e.message}: ${lastLines(fs.readFileSync(path.join(dir, 'stdout.log'), 'utf8'))}`);
  }
  const pid = (AS_ROOT ? findDescendant(child.pid, 'pgbouncer') : child.pid) ?? child.pid;
  return { port, user: BENCH_USER, password: BENCH_PASSWORD, pid, stop: () => stopDaemon(child) };
}

async function startRelay(work, pgPort) {
  const port = await freePort();
  const logFile = path.join(work, 'relay.log');
  const child = daemon(process.execPath, [path.join(ROOT, 'bench', 'relay.mjs'), String(port), '127.0.0.1', String(pgPort)], logFile);
  await waitForPort(port, 10_000, child);
  return { port, user: BENCH_USER, password: BENCH_PASSWORD, pid: child.pid, stop: () => stopDaemon(child) };
}

let gwPasswordHash = null;
async function portcullisHash() {
  if (gwPasswordHash) return gwPasswordHash;
  const cli = path.join(ROOT, 'bin', 'portcullis');
  const r = await run(process.execPath, [cli, 'users', 'hash'], { input: `${GW_PASSWORD}\n`, timeoutMs: 30_000 });
  const lines = r.stdout.trim().split('\n').filter(Boolean);
  if (r.code !== 0 || lines.length !== 1) throw new Error(`\`portcullis users hash\`: ${r.code !== 0 ? `exit ${r.code}: ` : ''}${lastLines(r.stderr || r.stdout) || 'no output'}`);
  return (gwPasswordHash = lines[0].trim());
}

function portcullisConfig(dataDir, port, adminPort, pgPort, hash) {
  // YAML (JSON is YAML): the schema is src/config/schema.ts.
  return JSON.stringify(
    {
      dataDir,
      logLevel: 'warn',
      listen: { postgres: { host: '127.0.0.1', port }, admin: { host: '127.0.0.1', port: adminPort } },
      tls: { mode: 'off' }, // sslmode=disable everywhere; passwords are accepted from loopback
      store: { sqlite: path.join(dataDir, 'portcullis.db') },
      identity: { users: [{ name: BENCH_USER, groups: ['bench'], password: { hash } }] },
      connections: [
        {
          name: GW_CONNECTION,
          protocol: 'postgres',
          target: { host: '127.0.0.1', port: pgPort, database: DB, user: BENCH_USER, password: BENCH_PASSWORD, tls: 'disable' },
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
          columns: [
            { match: '*.email', with: 'partial' },
            { match: '*.card', with: 'redact' },
          ],
          detect: ['email', 'credit_card'],
          with: 'redact',
        },
      ],
    },
    null,
    2,
  );
}

async function startPortcullis(work, pgPort) {
  const cli = path.join(ROOT, 'bin', 'portcullis');
  if (!fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'))) throw new Error('not built (run `npm run build`)');
  const hash = await portcullisHash();
  const dir = path.join(work, `portcullis-${Date.now()}`);
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const adminPort = await freePort();
  const cfg = path.join(dir, 'portcullis.yaml');
  fs.writeFileSync(cfg, portcullisConfig(path.join(dir, 'data'), port, adminPort, pgPort, hash));
  const logFile = path.join(dir, 'gateway.log');
  const child = daemon(process.execPath, [cli, 'start', '-c', cfg], logFile);
  try {
    await waitForPort(port, 30_000, child);
    // one real query end to end, so that a gateway that listens but cannot serve fails here with a reason
    const r = await run(pgbin('psql'), ['-X', '-At', '-w', '-d', dsn({ port, user: `${BENCH_USER}#${GW_CONNECTION}` }), '-c', 'SELECT 1'], {
      env: cleanEnv({ PGPASSWORD: GW_PASSWORD }),
      timeoutMs: 20_000,
    });
    if (r.code !== 0 || r.stdout.trim() !== '1') throw new Error(`SELECT 1 through the gateway: ${lastLines(r.stderr || r.stdout) || `exit ${r.code}`}`);
  } catch (e) {
    await stopDaemon(child);
    const tail = fs.existsSync(logFile) ? logReason(fs.readFileSync(logFile, 'utf8')) : '';
    throw new Error(`${e.message}${tail ? ` (log: ${tail})` : ''}`);
  }
  return { port, user: `${BENCH_USER}#${GW_CONNECTION}`, password: GW_PASSWORD, pid: child.pid, stop: () => stopDaemon(child) };
}

function dsn({ port, user }) {
  return `host=127.0.0.1 port=${port} dbname=${DB} user=${user} sslmode=disable`;
}

// ------------------------------------------------------------------------------------------------
// measurements

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** pgbench -S; returns { tps, latAvgMs, p99Ms, failed, txns } or throws. */
async function pgbench(ep, mode, clients, work, tag, duration = DURATION) {
  const logDir = path.join(work, 'pgbench-logs', tag);
  fs.rmSync(logDir, { recursive: true, force: true });
  fs.mkdirSync(logDir, { recursive: true });
  const args = ['-n', '-S', '-T', String(duration), '-c', String(clients), '-j', String(Math.min(2, clients)), '-M', mode,
    '-h', '127.0.0.1', '-p', String(ep.port), '-U', ep.user, '--log', `--log-prefix=${path.join(logDir, 'tx')}`, DB];
  const r = await run(pgbin('pgbench'), args, { env: cleanEnv({ PGPASSWORD: ep.password }), timeoutMs: (duration + 120) * 1000 });
  const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(r.stdout)?.[1]);
  const latAvgMs = Number(/latency average = ([\d.]+) ms/.exec(r.stdout)?.[1]);
  const failed = Number(/number of failed transactions: (\d+)/.exec(r.stdout)?.[1] ?? 0);
  const txns = Number(/number of transactions actually processed: (\d+)/.exec(r.stdout)?.[1] ?? 0);
  if (r.code !== 0 || !Number.isFinite(tps) || txns === 0) {
    throw new Error(`pgbench ${r.timedOut ? 'timed out' : `exit ${r.code}`}: ${lastLines(r.stderr || r.stdout)}`);
  }
  // per-transaction log lines: client_id transaction_no time(us) script_no epoch epoch_us
  const lat = [];
  for (const f of fs.readdirSync(logDir)) {
    const text = fs.readFileSync(path.join(logDir, f), 'utf8');
    let i = 0;
    while (i < text.length) {
      let nl = text.indexOf('\n', i);
      if (nl < 0) nl = text.length;
      const line = text.slice(i, nl);
      i = nl + 1;
      const a = line.indexOf(' ');
      const b = line.indexOf(' ', a + 1);
      const c = line.indexOf(' ', b + 1);
      if (c > 0) {
        const us = Number(line.slice(b + 1, c));
        if (Number.isFinite(us)) lat.push(us);
      }
    }
  }
  fs.rmSync(logDir, { recursive: true, force: true });
  const sorted = Float64Array.from(lat).sort();
  return { tps, latAvgMs, p99Ms: percentile(sorted, 0.99) / 1000, failed, txns };
}

/** Wall time of psql fetching the whole result (to /dev/null). */
async function timeQuery(ep, sql) {
  const t0 = process.hrtime.bigint();
  const r = await run(pgbin('psql'), ['-X', '-q', '-At', '-w', '-v', 'ON_ERROR_STOP=1', '-d', dsn(ep), '-c', sql], {
    env: cleanEnv({ PGPASSWORD: ep.password }),
    stdout: 'ignore',
    timeoutMs: 600_000,
  });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.code !== 0) throw new Error(`psql: ${lastLines(r.stderr) || `exit ${r.code}`}`);
  return s;
}

async function bulk(ep) {
  const select = [];
  const copy = [];
  for (let i = 0; i < BULK_RUNS; i++) {
    select.push(await timeQuery(ep, 'SELECT id, email, card FROM bulk_pii'));
    copy.push(await timeQuery(ep, 'COPY (SELECT id, email, card FROM bulk_pii) TO STDOUT'));
  }
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const sample = await run(pgbin('psql'), ['-X', '-At', '-w', '-d', dsn(ep), '-c', 'SELECT id, email, card FROM bulk_pii ORDER BY id LIMIT 1'], {
    env: cleanEnv({ PGPASSWORD: ep.password }),
  });
  return { select: med(select), copy: med(copy), sample: sample.code === 0 ? sample.stdout.trim() : `error: ${lastLines(sample.stderr)}` };
}

/** RSS of the proxy process before and with IDLE idle sessions opened through it with the pg driver. */
async function idleMemory(ep) {
  const { default: pg } = await import('pg');
  await sleep(1000);
  const before = rssKiB(ep.pid);
  const clients = [];
  const t0 = Date.now();
  try {
    const batch = 25;
    for (let i = 0; i < IDLE; i += batch) {
      const n = Math.min(batch, IDLE - i);
      const made = await Promise.all(
        Array.from({ length: n }, async () => {
          const c = new pg.Client({ host: '127.0.0.1', port: ep.port, user: ep.user, password: ep.password, database: DB, ssl: false, connectionTimeoutMillis: 30_000, query_timeout: 30_000 });
          c.on('error', () => {});
          clients.push(c);
          await c.connect();
          await c.query('SELECT 1');
          return c;
        }),
      );
      if (made.length !== n) throw new Error('short batch');
    }
    const openSeconds = (Date.now() - t0) / 1000;
    await sleep(2000);
    const after = rssKiB(ep.pid);
    return { before, after, perSessionKiB: (after - before) / IDLE, openSeconds };
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  }
}

// ------------------------------------------------------------------------------------------------
// report

const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '—');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '—');
const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

function report(ctx) {
  const { pgbenchRows, bulkRows, memRows, info, notes } = ctx;
  const L = [];
  L.push('# Benchmark results: PostgreSQL data path', '');
  const cmd = ['node bench/pg.mjs', ...process.argv.slice(2)].join(' ');
  L.push(`Generated by \`${cmd}\` on ${info.date}; everything below comes from that one run.`, '');
  L.push('## Machine', '');
  L.push(`- CPU: ${info.cpu} (nproc ${info.nproc}), memory ${info.memGiB} GiB, Linux ${info.kernel}`);
  L.push(`- Node.js ${info.node}; ${info.postgres}; ${info.pgbench}; ${info.pgbouncer}`);
  L.push(`- pgbench -S (select-only), scale ${SCALE}, ${DURATION} s per run; ${IDLE} idle sessions; bulk table of ${fmt(ROWS)} rows`);
  L.push('- every path on this one machine over 127.0.0.1 with `sslmode=disable`; clients, proxies and the server share the cores');
  L.push(`- load average (1/5/15 min) at the start ${info.loadStart}, at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' / ')} (other work on the machine skews the figures)`, '');
  L.push('## pgbench -S', '');
  L.push('TPS excludes connection time. p99 is computed from pgbench\'s per-transaction log (`--log`). "vs direct" and "vs bare relay" are TPS ratios (1.00× = same throughput).', '');
  L.push('| path | mode | clients | TPS | mean latency (ms) | p99 latency (ms) | vs direct | vs bare relay |');
  L.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of pgbenchRows) {
    if (r.error) {
      L.push(`| ${r.leg} | ${r.mode} | ${r.clients} | failed: ${cell(r.error)} | — | — | — | — |`);
      continue;
    }
    const d = pgbenchRows.find((x) => x.leg === 'direct' && x.mode === r.mode && x.clients === r.clients && !x.error);
    const b = pgbenchRows.find((x) => x.leg === 'relay' && x.mode === r.mode && x.clients === r.clients && !x.error);
    L.push(`| ${r.leg} | ${r.mode} | ${r.clients} | ${fmt(r.tps)} | ${fmt(r.latAvgMs, 3)} | ${fmt(r.p99Ms, 3)} | ${ratio(r.tps, d?.tps)} | ${ratio(r.tps, b?.tps)} |`);
  }
  L.push('');
  L.push(`## Bulk read: ${fmt(ROWS)} rows, two masked columns`, '');
  L.push(`Table \`bulk_pii(id int, email text, card text)\`; wall time of \`psql\` fetching everything to /dev/null, median of ${BULK_RUNS}. The ratios compare times (higher = slower). Through portcullis the masking profile covers \`*.email\` (partial) and \`*.card\` (redact) plus content detection; the first row shows whether masking happened.`, '');
  L.push('| path | SELECT (s) | COPY TO STDOUT (s) | SELECT vs direct | SELECT vs bare relay | first row as the client saw it |');
  L.push('| --- | ---: | ---: | ---: | ---: | --- |');
  for (const r of bulkRows) {
    if (r.error) {
      L.push(`| ${r.leg} | failed: ${cell(r.error)} | — | — | — | — |`);
      continue;
    }
    const d = bulkRows.find((x) => x.leg === 'direct' && !x.error);
    const b = bulkRows.find((x) => x.leg === 'relay' && !x.error);
    L.push(`| ${r.leg} | ${fmt(r.select, 2)} | ${fmt(r.copy, 2)} | ${ratio(r.select, d?.select)} | ${ratio(r.select, b?.select)} | \`${cell(r.sample)}\` |`);
  }
  L.push('');
  L.push(`## Memory: ${IDLE} idle sessions`, '');
  L.push('Resident set size (VmRSS) of the proxy process, read from /proc before and 2 s after opening the sessions with the `pg` driver (each ran `SELECT 1` once).', '');
  L.push('| path | RSS before (MiB) | RSS with sessions (MiB) | per session (KiB) | time to open them (s) |');
  L.push('| --- | ---: | ---: | ---: | ---: |');
  for (const r of memRows) {
    if (r.error) {
      L.push(`| ${r.leg} | failed: ${cell(r.error)} | — | — | — |`);
      continue;
    }
    L.push(`| ${r.leg} | ${fmt(r.before / 1024, 1)} | ${fmt(r.after / 1024, 1)} | ${fmt(r.perSessionKiB, 1)} | ${fmt(r.openSeconds, 1)} |`);
  }
  L.push('');
  L.push('## Setup', '');
  L.push('- direct: PostgreSQL started by the script (fsync=off, shared_buffers=512MB), SCRAM auth for the bench role.');
  L.push('- pgbouncer: Debian\'s PgBouncer, `pool_mode = session`, SCRAM from a userlist, run as the postgres OS user.');
  L.push('- relay: `bench/relay.mjs`, `client.pipe(upstream); upstream.pipe(client)` with TCP_NODELAY — the ceiling for any Node.js proxy here.');
  L.push(`- portcullis: \`node bin/portcullis start\`, one local user (password checked by the gateway, hash from \`portcullis users hash\`), client user \`${BENCH_USER}#${GW_CONNECTION}\`, guardrails no-drop / where-required / ddl-review, masking profile \`pii\` (columns \`*.email\` partial, \`*.card\` redact; detect email, credit_card), SQLite audit store, \`tls.mode: off\`, logLevel warn.`);
  for (const n of notes) L.push(`- ${n}`);
  L.push('');
  return L.join('\n');
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
    postgres: await firstLine(pgbin('postgres'), ['--version']),
    pgbench: await firstLine(pgbin('pgbench'), ['--version']),
    pgbouncer: which('pgbouncer') ? await firstLine(which('pgbouncer'), ['--version']) : 'pgbouncer: not installed',
  };
}

// ------------------------------------------------------------------------------------------------

async function main() {
  raiseFdLimit();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-bench-'));
  fs.chmodSync(work, 0o755);
  const notes = [];
  const pgbenchRows = [];
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
    server = await startPostgres(work);
    log(`PostgreSQL on 127.0.0.1:${server.port}`);
    await server.psqlAdmin(`CREATE ROLE ${BENCH_USER} LOGIN PASSWORD '${BENCH_PASSWORD}';\nCREATE DATABASE ${DB} OWNER ${BENCH_USER};`);
    const direct = { port: server.port, user: BENCH_USER, password: BENCH_PASSWORD, pid: null, stop: async () => {} };
    const t0 = Date.now();
    await runOk(pgbin('pgbench'), ['-i', '-q', '-s', String(SCALE), '-h', '127.0.0.1', '-p', String(server.port), '-U', BENCH_USER, DB], {
      env: cleanEnv({ PGPASSWORD: BENCH_PASSWORD }),
      timeoutMs: 900_000,
    });
    await runOk(pgbin('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-w', '-d', dsn(direct), '-f', '-'], {
      env: cleanEnv({ PGPASSWORD: BENCH_PASSWORD }),
      input: `CREATE TABLE bulk_pii AS
                SELECT i AS id,
                       'user' || i || '@example.com' AS email,
                       lpad((4000000000000000 + i::bigint * 7919)::text, 16, '0') AS card
                FROM generate_series(1, ${ROWS}) AS i;
              ALTER TABLE bulk_pii ADD PRIMARY KEY (id);
              VACUUM ANALYZE;`,
      timeoutMs: 900_000,
    });
    notes.push(`initialisation (pgbench -i -s ${SCALE} and the bulk table) took ${((Date.now() - t0) / 1000).toFixed(1)} s.`);
    log('initialised; warming up');
    await pgbench(direct, 'prepared', 8, work, 'warmup', Math.min(3, DURATION)).catch((e) => log(`warm-up: ${e.message}`));

    const starters = {
      direct: async () => direct,
      pgbouncer: () => startPgBouncer(work, server.port),
      relay: () => startRelay(work, server.port),
      portcullis: () => startPortcullis(work, server.port),
    };
    const runs = [
      ['simple', 8],
      ['prepared', 8],
      ['simple', 1],
      ['prepared', 1],
    ];
    for (const leg of LEGS) {
      let ep;
      try {
        ep = await starters[leg]();
      } catch (e) {
        const why = e.message.split('\n')[0];
        log(`${leg}: cannot start: ${why}`);
        for (const [mode, clients] of runs) pgbenchRows.push({ leg, mode, clients, error: why });
        bulkRows.push({ leg, error: why });
        if (leg !== 'direct') memRows.push({ leg, error: why });
        continue;
      }
      try {
        for (const [mode, clients] of runs) {
          log(`${leg}: pgbench -S -M ${mode} -c ${clients} for ${DURATION} s`);
          try {
            const r = await pgbench(ep, mode, clients, work, `${leg}-${mode}-${clients}`);
            pgbenchRows.push({ leg, mode, clients, ...r });
            log(`  ${fmt(r.tps)} tps, avg ${r.latAvgMs} ms, p99 ${r.p99Ms.toFixed(3)} ms${r.failed ? `, ${r.failed} failed` : ''}`);
          } catch (e) {
            log(`  failed: ${e.message}`);
            pgbenchRows.push({ leg, mode, clients, error: e.message });
          }
        }
        log(`${leg}: bulk read of ${ROWS} rows x${BULK_RUNS}`);
        try {
          const b = await bulk(ep);
          bulkRows.push({ leg, ...b });
          log(`  SELECT ${b.select.toFixed(2)} s, COPY ${b.copy.toFixed(2)} s; first row ${b.sample}`);
        } catch (e) {
          log(`  failed: ${e.message}`);
          bulkRows.push({ leg, error: e.message });
        }
      } finally {
        await ep.stop();
      }
      if (leg === 'direct') continue;
      // memory: a fresh process of the same proxy, so earlier load does not inflate its heap
      log(`${leg}: RSS with ${IDLE} idle sessions`);
      let fresh;
      try {
        fresh = await starters[leg]();
        const m = await idleMemory(fresh);
        memRows.push({ leg, ...m });
        log(`  ${(m.before / 1024).toFixed(1)} MiB -> ${(m.after / 1024).toFixed(1)} MiB (${m.perSessionKiB.toFixed(1)} KiB/session)`);
      } catch (e) {
        log(`  failed: ${e.message}`);
        memRows.push({ leg, error: e.message.split('\n')[0] });
      } finally {
        await fresh?.stop();
      }
    }
    if (LEGS.includes('portcullis')) {
      const d = bulkRows.find((x) => x.leg === 'direct' && !x.error);
      const p = bulkRows.find((x) => x.leg === 'portcullis' && !x.error);
      if (d && p && d.sample === p.sample) notes.push('**warning: the first bulk row came back through portcullis unmasked** — the masking figures above do not measure masking.');
    }
    const md = report({ pgbenchRows, bulkRows, memRows, info, notes });
    fs.writeFileSync(opt.out, md);
    log(`wrote ${path.relative(process.cwd(), opt.out) || opt.out}`);
  } finally {
    await cleanup();
  }
}

main().catch((e) => {
  console.error(`bench: ${e.stack ?? e}`);
  process.exit(1);
});
