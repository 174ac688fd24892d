// pgbench through the gateway to a real PostgreSQL: the select-only script in the three query modes
// (simple, extended, prepared) with 4 concurrent clients, and the default TPC-B-like script (UPDATE … WHERE,
// INSERT, BEGIN/END) with guardrails and masking on. Each run must finish with 0 failed transactions and a
// positive tps; the TPC-B run's effects are checked on the server, the prepared run's executions in the audit.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, pgBin, psqlAdmin, PG_SCRAM_PASSWORD, PG_SCRAM_USER, PG_SUPERUSER } from '../harness/postgres.js';
import { run, type RunResult } from '../harness/processes.js';
import type { TestGateway } from '../harness/gateway.js';
import { pgTarget, startCompatGateway } from '../harness/fixtures.js';

let gw: TestGateway;
let db: string;

/** No PG* variable of the caller leaks into pgbench. */
function pgEnv(extra: Record<string, string>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const k of Object.keys(process.env)) if (k.startsWith('PG')) env[k] = undefined;
  return { ...env, LC_ALL: 'C.UTF-8', PGCONNECT_TIMEOUT: '10', ...extra };
}

interface BenchResult {
  run: RunResult;
  processed: number;
  failed: number;
  tps: number;
}

/** pgbench through the gateway as alice, dbname = the connection name. */
async function bench(args: string[]): Promise<BenchResult> {
  const r = await run(pgBin('pgbench'), ['-h', '127.0.0.1', '-p', String(gw.port), '-U', 'alice', ...args, 'app-db'], {
    env: pgEnv({ PGPASSWORD: 'alice-pw', PGSSLMODE: 'disable' }),
    timeoutMs: 45_000,
  });
  const num = (re: RegExp): number => {
    const m = re.exec(r.stdout);
    return m ? Number(m[1]) : NaN;
  };
  return {
    run: r,
    processed: num(/number of transactions actually processed: (\d+)/),
    // pgbench 15 prints "number of failed transactions: 0 (0.000%)"; older versions do not count failures
    failed: /number of failed transactions/.test(r.stdout) ? num(/number of failed transactions: (\d+)/) : 0,
    tps: num(/tps = ([\d.]+)/),
  };
}

function expectClean(b: BenchResult, label: string): void {
  const why = `${label}\nstdout:\n${b.run.stdout}\nstderr:\n${b.run.stderr}`;
  expect(b.run.timedOut, why).toBe(false);
  expect(b.run.code, why).toBe(0);
  expect(b.run.stderr, why).not.toMatch(/error|abort|FATAL/i);
  expect(b.failed, why).toBe(0);
  expect(b.processed, why).toBeGreaterThan(0);
  expect(b.tps, why).toBeGreaterThan(0);
}

function lastEventId(): number {
  gw.audit.flush();
  const all = gw.audit.events(undefined, 10_000_000);
  return all.length ? all[all.length - 1]!.id : 0;
}

beforeAll(async () => {
  const pg = inject('pg');
  db = await createDatabase('pg_pgbench');
  // initialise directly on the server, as the superuser (not through the gateway)
  const init = await run(pgBin('pgbench'), ['-i', '-s', '1', '-q', '-h', pg.dir, '-p', String(pg.port), '-U', PG_SUPERUSER, db], {
    env: pgEnv({}),
    timeoutMs: 120_000,
  });
  if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
  await psqlAdmin(pg, `GRANT ALL ON ALL TABLES IN SCHEMA public TO ${PG_SCRAM_USER};`, db);
  gw = await startCompatGateway({
    group: 'bench',
    // SCRAM-SHA-256 upstream for every one of pgbench's connections
    target: pgTarget(pg, db, PG_SCRAM_USER, PG_SCRAM_PASSWORD),
  });
});

afterAll(async () => {
  await gw?.stop();
});

describe('pgbench through the gateway', () => {
  for (const mode of ['simple', 'extended'] as const) {
    it(`select-only, -M ${mode}, 4 clients / 2 threads: 0 failed transactions, positive tps`, async () => {
      const b = await bench(['-n', '-S', '-T', '3', '-c', '4', '-j', '2', '-M', mode]);
      expectClean(b, `-M ${mode}`);
      expect(b.run.stdout).toMatch(new RegExp(`query mode: ${mode}`));
      expect(b.run.stdout).toMatch(/number of clients: 4/);
    });
  }

  it('select-only, -M prepared: 0 failed, positive tps, and the audit holds the executions', async () => {
    const before = lastEventId();
    const b = await bench(['-n', '-S', '-T', '3', '-c', '4', '-j', '2', '-M', 'prepared']);
    expectClean(b, '-M prepared');
    expect(b.run.stdout).toMatch(/query mode: prepared/);
    gw.audit.flush();
    const events = gw.audit.events(undefined, 10_000_000).filter((e) => e.id > before);
    const isSelect = (t?: string) => /SELECT abalance FROM pgbench_accounts WHERE aid = \$1/.test(t ?? '');
    const executes = events.filter((e) => e.kind === 'complete' && e.via === 'execute' && isSelect(e.text));
    // one Execute per transaction (named statements: Bind/Execute only, no Parse per transaction)
    expect(executes.length).toBeGreaterThanOrEqual(b.processed);
    expect(executes.every((e) => e.user === 'alice' && e.connection === 'app-db' && e.rows === 1 && !e.error)).toBe(true);
    // the statement was decided when it was prepared, once per client connection, not per execution
    const prepares = events.filter((e) => e.kind === 'decision' && isSelect(e.text));
    expect(prepares.length).toBeGreaterThanOrEqual(1);
    expect(prepares.length).toBeLessThanOrEqual(4);
    expect(prepares.every((e) => e.decision === 'allow')).toBe(true);
    // four client sessions (plus pgbench's own connection to read the scale) in this run
    expect(new Set(executes.map((e) => e.sessionId)).size).toBe(4);
  });

  it('default TPC-B-like script (UPDATE … WHERE, INSERT) passes the guardrails; its writes reach the server', async () => {
    const pg = inject('pg');
    const historyBefore = Number(await psqlAdmin(pg, 'SELECT count(*) FROM pgbench_history', db));
    const b = await bench(['-n', '-T', '3', '-c', '2']);
    expectClean(b, 'tpcb-like');
    expect(b.run.stdout).toMatch(/TPC-B \(sort of\)/);
    // every transaction inserted exactly one history row and moved the same delta into the three balances
    // (all balances start at 0 after pgbench -i, and this is the only run that writes)
    const history = Number(await psqlAdmin(pg, 'SELECT count(*) FROM pgbench_history', db));
    expect(history - historyBefore).toBe(b.processed);
    const sums = (await psqlAdmin(
      pg,
      `SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(tbalance) FROM pgbench_tellers),
              (SELECT sum(bbalance) FROM pgbench_branches), (SELECT sum(delta) FROM pgbench_history)`,
      db,
    )).trim().split('|');
    expect(new Set(sums).size, sums.join(' ')).toBe(1);
    // and nothing was blocked along the way
    gw.audit.flush();
    expect(gw.audit.events(undefined, 10_000_000).filter((e) => e.decision === 'block')).toEqual([]);
  });
});
