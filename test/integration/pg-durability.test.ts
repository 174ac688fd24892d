// Audit durability and graceful shutdown of the real CLI (DESIGN "Audit durability"): every answered query has
// its decision and completion events in the SQLite store even after `kill -9`; on SIGTERM a running query
// completes and the process exits 0 within the grace period.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { createDatabase, pgBin, psqlAdmin, PG_MD5_PASSWORD, PG_MD5_USER } from '../harness/postgres.js';
import { run, runOk } from '../harness/processes.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PASSWORD = 'durable-Pw-1';
const N = 50;

let tmp: string;
let db: string;
let passwordHash: string;
const children = new Set<ChildProcess>();

interface Cli {
  child: ChildProcess;
  port: number;
  dataDir: string;
  stdout: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function writeConfig(name: string): { file: string; dataDir: string } {
  const pg = inject('pg');
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  const dataDir = path.join(dir, 'data');
  const yaml = [
    `dataDir: ${JSON.stringify(dataDir)}`,
    'logLevel: info',
    'listen:',
    '  postgres: { host: 127.0.0.1, port: 0 }',
    'identity:',
    '  users:',
    '    - name: alice',
    '      groups: [dba]',
    `      password: { hash: ${JSON.stringify(passwordHash)} }`,
    'connections:',
    '  - name: app-db',
    '    protocol: postgres',
    '    target:',
    `      host: ${pg.host}`,
    `      port: ${pg.port}`,
    `      database: ${db}`,
    `      user: ${PG_MD5_USER}`,
    `      password: ${JSON.stringify(PG_MD5_PASSWORD)}`,
    '      tls: disable',
    '    allow: [dba]',
    '',
  ].join('\n');
  const file = path.join(dir, 'portcullis.yaml');
  fs.writeFileSync(file, yaml);
  return { file, dataDir };
}

/** `node bin/portcullis start -c FILE`; resolves once the postgres listener logged its port. */
async function startCli(cfg: { file: string; dataDir: string }): Promise<Cli> {
  const { file, dataDir } = cfg;
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/portcullis'), 'start', '-c', file], {
    cwd: path.dirname(file),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start in 30 s\nstdout:\n${out}\nstderr:\n${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const rec = JSON.parse(line) as { msg?: string; port?: number; connection?: string };
          if (rec.msg === 'postgres listener ready' && !rec.connection && rec.port) {
            clearTimeout(timer);
            resolve(rec.port);
          }
        } catch {
          /* partial line */
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited early (${code ?? signal})\nstdout:\n${out}\nstderr:\n${err}`));
    });
  });
  return { child, port, dataDir, stdout: () => out, exited };
}

function psql(port: number, sql: string) {
  return run(pgBin('psql'), ['-X', '-v', 'ON_ERROR_STOP=1', `host=127.0.0.1 port=${port} user=alice dbname=app-db sslmode=disable`, '-At', '-c', sql], {
    env: { PGPASSWORD: PASSWORD, PGCONNECT_TIMEOUT: '10', PGOPTIONS: '' },
    timeoutMs: 30_000,
  });
}

interface EventRow {
  session_id: string;
  command_id: number | null;
  kind: string;
  text: string | null;
  decision: string | null;
  rows: number | null;
  error: string | null;
}

function readEvents(dataDir: string): EventRow[] {
  const file = path.join(dataDir, 'portcullis.db');
  expect(fs.existsSync(file)).toBe(true);
  const sqlite = new Database(file);
  try {
    return sqlite.prepare('SELECT session_id, command_id, kind, text, decision, rows, error FROM events ORDER BY id').all() as EventRow[];
  } finally {
    sqlite.close();
  }
}

beforeAll(async () => {
  if (!fs.existsSync(path.join(ROOT, 'dist/src/cli/main.js'))) {
    await runOk('npx', ['tsc', '-p', '.'], { cwd: ROOT, timeoutMs: 300_000 });
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-durability-'));
  db = await createDatabase('pg_durability');
  passwordHash = (await runOk(process.execPath, [path.join(ROOT, 'bin/portcullis'), 'users', 'hash'], { input: `${PASSWORD}\n`, cwd: ROOT })).trim();
  expect(passwordHash).not.toContain('\n');
  expect(passwordHash.length).toBeGreaterThan(20);
}, 300_000);

afterAll(async () => {
  for (const c of children) {
    c.kill('SIGKILL');
    await new Promise((r) => c.once('exit', r));
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('audit durability (real CLI process)', () => {
  it(`every answered query of ${N} survives kill -9 with its decision and completion events`, async () => {
    const cfg = writeConfig('kill9');
    const cli = await startCli(cfg);
    const answered: string[] = [];
    for (let i = 1; i <= N; i++) {
      const n = 7000 + i;
      const sql = `SELECT ${n}`;
      const r = await psql(cli.port, sql);
      expect(r.stderr, sql).toBe('');
      expect(r.stdout, sql).toBe(`${n}\n`);
      answered.push(sql);
    }
    // no graceful anything: the process dies right after the last answer
    cli.child.kill('SIGKILL');
    const exit = await cli.exited;
    expect(exit.signal).toBe('SIGKILL');

    // What a killed gateway left behind is recovered by the store itself when the gateway starts again (the
    // store may keep its durability point beside the database file, e.g. a spool replayed on open). Restart
    // the real CLI on the same dataDir, stop it gracefully, then read the SQLite file.
    const again = await startCli(cfg);
    // (the SIGTERM handler is installed just after the listener logs that it is ready)
    await new Promise((r) => setTimeout(r, 500));
    again.child.kill('SIGTERM');
    expect(await again.exited).toEqual({ code: 0, signal: null });

    const events = readEvents(cli.dataDir);
    const missing: string[] = [];
    for (const sql of answered) {
      const decision = events.find((e) => e.kind === 'decision' && e.text === sql);
      if (!decision) {
        missing.push(`${sql}: no decision event`);
        continue;
      }
      if (decision.decision !== 'allow') missing.push(`${sql}: decision ${decision.decision}`);
      const complete = events.find(
        (e) => e.kind === 'complete' && e.session_id === decision.session_id && e.command_id === decision.command_id,
      );
      if (!complete) missing.push(`${sql}: no completion event`);
      else if (complete.rows !== 1 || complete.error) missing.push(`${sql}: completion rows=${complete.rows} error=${complete.error}`);
    }
    expect(missing).toEqual([]);
    // one session per psql run, each with its own decision
    expect(new Set(events.filter((e) => e.kind === 'decision').map((e) => e.session_id)).size).toBeGreaterThanOrEqual(N);

    // the hash chain came through the kill and the spool replay intact
    const verify = await run(process.execPath, [path.join(ROOT, 'bin/portcullis'), 'audit', 'verify', '-c', cfg.file], {
      cwd: path.dirname(cfg.file),
      timeoutMs: 30_000,
    });
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
    const intact = /^audit chain intact: (\d+) entries \(0 before the chain\)\n$/.exec(verify.stdout);
    expect(intact, verify.stdout).not.toBeNull();
    // per psql run a session start, a decision, a completion and (but perhaps for the last one, killed) an end
    expect(Number(intact![1])).toBeGreaterThanOrEqual(4 * N - 1);
  }, 120_000);
});

describe('graceful shutdown (real CLI process)', () => {
  it('SIGTERM lets a running SELECT pg_sleep(2) finish and exits 0 within ~6 s', async () => {
    const cli = await startCli(writeConfig('sigterm'));
    const sql = "SELECT 'slept' FROM pg_sleep(2)";
    const query = psql(cli.port, sql);
    // wait until the target is actually running it
    const pg = inject('pg');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const active = await psqlAdmin(
        pg,
        `SELECT count(*) FROM pg_stat_activity WHERE query = '${sql.replace(/'/g, "''")}' AND state = 'active'`,
        'postgres',
      );
      if (active.trim() === '1') break;
      if (Date.now() > deadline) throw new Error('the query never reached the target');
      await new Promise((r) => setTimeout(r, 50));
    }
    const signalled = Date.now();
    cli.child.kill('SIGTERM');

    const r = await query;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('slept\n');
    // The session is ended right after its answer (57P01, as PostgreSQL's own fast shutdown does); libpq may
    // print that as a notice. Nothing else may show up: the query itself did not fail.
    expect(r.stderr.replace(/^FATAL: +terminating connection: the gateway is shutting down\n/, '')).toBe('');

    const exit = await Promise.race([
      cli.exited,
      new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 8_000)),
    ]);
    expect(exit).not.toBe('timeout');
    const elapsed = Date.now() - signalled;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(elapsed).toBeLessThan(6_500);

    // and the query that finished during the drain is in the audit
    const events = readEvents(cli.dataDir);
    const decision = events.find((e) => e.kind === 'decision' && e.text === sql);
    expect(decision?.decision).toBe('allow');
    expect(events.some((e) => e.kind === 'complete' && e.session_id === decision?.session_id && e.command_id === decision?.command_id)).toBe(true);
  }, 60_000);
});
