// pgjdbc (the PostgreSQL JDBC driver) through the gateway to a real PostgreSQL: server-side prepared
// statements re-executed without Describe, batches, cursor fetch (PortalSuspended), binary transfer,
// blocked statements. The driver runs in a small Java program (clients/JdbcProbe.java) that prints
// one JSON object per line.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDatabase, psqlAdmin, PG_CLEAR_PASSWORD, PG_CLEAR_USER } from '../harness/postgres.js';
import { runOk } from '../harness/processes.js';
import type { TestGateway } from '../harness/gateway.js';
import { pgTarget, startCompatGateway } from '../harness/fixtures.js';
import { expectDone, expectNote, of, runProbe, type ProbeResult } from '../harness/probe.js';

const JDBC_JAR = '/usr/share/java/postgresql.jar';
const PROBE_SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), 'clients', 'JdbcProbe.java');
const ROWS = 150;

let gw: TestGateway;
let db: string;
let classes: string;

function url(extra = ''): string {
  return `jdbc:postgresql://127.0.0.1:${gw.port}/app-db?sslmode=disable&prepareThreshold=1${extra}`;
}

function probe(scenario: string, opts: { urlExtra?: string; password?: string } = {}): Promise<ProbeResult> {
  return runProbe(`JdbcProbe ${scenario}`, 'java', ['-cp', `${classes}:${JDBC_JAR}`, 'JdbcProbe', url(opts.urlExtra), 'alice', opts.password ?? 'alice-pw', scenario], {
    timeoutMs: 60_000,
  });
}

/** people.email under the `*.email` column rule with `partial`: first letter, ***, the domain. */
function expectMaskedEmail(email: unknown, domain = 'corp.example', first = 'u'): void {
  expect(typeof email).toBe('string');
  expect(email).not.toMatch(/^[a-z]+\d+@/);
  expect(email).toBe(`${first}***@${domain}`);
}
function bornOf(id: number): string {
  const d = new Date(Date.UTC(2000, 0, 1) + id * 86_400_000);
  return d.toISOString().slice(0, 10);
}

beforeAll(async () => {
  const pg = inject('pg');
  classes = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-jdbc-'));
  const compiled = runOk('javac', ['-cp', JDBC_JAR, '-d', classes, PROBE_SRC], { timeoutMs: 120_000 });
  db = await createDatabase('pg_jdbc');
  await psqlAdmin(
    pg,
    `CREATE TABLE people (id int PRIMARY KEY, email text, note text, score float8, born date, amount numeric(10,2));
     INSERT INTO people
       SELECT g, 'user' || g || '@corp.example',
              CASE WHEN g % 10 = 0 THEN 'card 4111 1111 1111 1111 on file' ELSE 'note ' || g END,
              g * 1.5, DATE '2000-01-01' + g, g * 10.25
       FROM generate_series(1, ${ROWS}) g;
     CREATE TABLE batch_items (id int PRIMARY KEY, email text, note text);
     GRANT ALL ON ALL TABLES IN SCHEMA public TO ${PG_CLEAR_USER};`,
    db,
  );
  gw = await startCompatGateway({
    // cleartext password auth upstream (pg_hba `password` for clear_user)
    target: pgTarget(pg, db, PG_CLEAR_USER, PG_CLEAR_PASSWORD),
  });
  await compiled;
}, 180_000);

afterAll(async () => {
  await gw?.stop();
  if (classes) fs.rmSync(classes, { recursive: true, force: true });
});

describe('pgjdbc through the gateway', () => {
  it('server-side prepared statements (prepareThreshold=1) re-executed 10+ times stay masked', async () => {
    const r = await probe('prepared');
    expectDone(r);
    const rows = of(r, 'row');
    expect(rows.map((l) => l.id)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    for (const row of rows) {
      const id = row.id as number;
      expect(row.iter).toBe(id);
      expectMaskedEmail(row.email);
      expectNote(id, row.note);
      expect(row.score).toBe(id * 1.5);
    }
    expect(of(r, 'exec').every((l) => l.serverPrepare === true)).toBe(true);
    // the multi-row statement, e-mail under an alias: 10 executions × 3 rows, all masked
    const range = of(r, 'range');
    expect(of(r, 'rangeCount').map((l) => l.n)).toEqual(Array(10).fill(3));
    expect(range).toHaveLength(30);
    for (const [k, row] of range.entries()) {
      const i = Math.floor(k / 3);
      expect(row.id).toBe(20 + i * 3 + (k % 3));
      expectMaskedEmail(row.email);
    }
    // pgjdbc really used named server-side statements on the target
    const named = of(r, 'serverStatement');
    expect(named.some((l) => /^S_\d+$/.test(String(l.name)) && String(l.statement).includes('FROM people WHERE id = $1'))).toBe(true);
    expect(r.stdout).not.toMatch(/user\d+@corp\.example/);
    expect(r.stdout).not.toContain('4111 1111 1111 1111');
  });

  it('batches of inserts (PreparedStatement and Statement) run; a batch with a blocked statement leaves nothing', async () => {
    const pg = inject('pg');
    const r = await probe('batch');
    expectDone(r);
    expect(of(r, 'preparedBatch')[0]?.counts).toBe(Array(50).fill('1').join(','));
    expect(of(r, 'statementBatch')[0]?.counts).toBe('1,1,5');
    expect(of(r, 'blockedBatch')).toHaveLength(0);
    const err = of(r, 'blockedBatchError')[0];
    expect(err, JSON.stringify(r.lines.slice(0, 5))).toBeDefined();
    expect([err?.sqlstate, err?.nextSqlstate]).toContain('42501');
    expect(`${err?.message} ${err?.nextMessage}`).toMatch(/where-required/);
    expect(of(r, 'count')[0]).toMatchObject({ n: 52, updated: 5 });
    const rows = of(r, 'row');
    expect(rows).toHaveLength(52);
    for (const row of rows) {
      expectMaskedEmail(row.email, 'batch.example', (row.id as number) > 1000 ? 's' : 'b');
    }
    expect(r.stdout).not.toMatch(/(batch|stmt)\d+@batch\.example/);
    // on the server: the real values were stored, the blocked batch left no trace, the DELETE never ran
    expect(await psqlAdmin(pg, 'SELECT count(*) FROM batch_items', db)).toBe('52\n');
    expect(await psqlAdmin(pg, "SELECT email FROM batch_items WHERE id IN (1, 1002) ORDER BY id", db)).toBe(
      'batch1@batch.example\nstmt1002@batch.example\n',
    );
    expect(await psqlAdmin(pg, 'SELECT count(*) FROM batch_items WHERE id IN (2001, 2002)', db)).toBe('0\n');
  });

  it('setFetchSize(10) in a transaction: Execute with a row limit, PortalSuspended, every row masked', async () => {
    const r = await probe('fetch');
    expectDone(r);
    expect(of(r, 'count').map((l) => [l.round, l.n])).toEqual([
      [1, ROWS],
      [2, ROWS],
      [3, ROWS],
    ]);
    for (const round of [1, 2, 3]) {
      const rows = of(r, 'row').filter((l) => l.round === round);
      expect(rows.map((l) => l.id)).toEqual(Array.from({ length: ROWS }, (_, i) => i + 1));
      for (const row of rows) {
        expectMaskedEmail(row.email);
        if (round !== 3) expectNote(row.id as number, row.note);
      }
    }
    expect(r.stdout).not.toMatch(/user\d+@corp\.example/);
    expect(r.stdout).not.toContain('4111 1111 1111 1111');
    // the gateway saw the portal executed in pieces of 10 rows (PortalSuspended), not in one go
    gw.audit.flush();
    const execs = gw.audit
      .events(undefined, 100_000)
      .filter((e) => e.kind === 'complete' && e.via === 'execute' && e.text?.includes('FROM people WHERE id > $1'));
    expect(execs.filter((e) => e.rows === 10).length).toBeGreaterThanOrEqual(2 * (ROWS / 10 - 1));
  });

  it('blocks DROP/TRUNCATE/unqualified DELETE and UPDATE via PreparedStatement and Statement with 42501; nothing ran', async () => {
    const pg = inject('pg');
    const r = await probe('blocked');
    expectDone(r);
    const blocked = Object.fromEntries(of(r, 'blocked').map((l) => [l.label, l]));
    const expected: Record<string, string> = {
      'prepared-drop': 'no-drop',
      'statement-drop': 'no-drop',
      'prepared-delete': 'where-required',
      'statement-truncate': 'no-drop',
      'prepared-update': 'where-required',
      'tx-drop': 'no-drop',
    };
    for (const [label, rule] of Object.entries(expected)) {
      expect(blocked[label], label).toMatchObject({ raised: true, sqlstate: '42501' });
      expect(blocked[label]?.message, label).toMatch(new RegExp(rule));
    }
    expect(of(r, 'afterBlock')[0]?.n).toBe(ROWS);
    // in a transaction: the insert succeeded, the block aborted the transaction (25P02 next), rollback undid it
    expect(of(r, 'txInsert')[0]?.n).toBe(1);
    expect(of(r, 'txAfterBlock')[0]).toMatchObject({ ok: false, sqlstate: '25P02' });
    expect(of(r, 'afterRollback')[0]?.n).toBe(0);
    // on the server: the table is there with every row and every real e-mail
    expect(await psqlAdmin(pg, `SELECT count(*) FROM people`, db)).toBe(`${ROWS}\n`);
    expect(await psqlAdmin(pg, `SELECT count(*) FROM people WHERE email = 'user' || id || '@corp.example'`, db)).toBe(`${ROWS}\n`);
    expect(await psqlAdmin(pg, 'SELECT count(*) FROM batch_items WHERE id = 3001', db)).toBe('0\n');
  });

  it('binaryTransfer=true: binary numbers, dates and numerics are intact and e-mails masked', async () => {
    const r = await probe('binary', { urlExtra: '&binaryTransfer=true' });
    expectDone(r);
    checkBinary(r);
  });

  it('binaryTransfer with text columns in binary too (binaryTransferEnable=25,1043): still masked', async () => {
    const r = await probe('binary', { urlExtra: '&binaryTransfer=true&binaryTransferEnable=25,1043' });
    expectDone(r);
    checkBinary(r);
  });

  it('a wrong password is refused with 28P01', async () => {
    const r = await probe('prepared', { password: 'wrong' });
    expect(r.code).toBe(1);
    expect(of(r, 'fatal')[0]?.sqlstate).toBe('28P01');
  });
});

function checkBinary(r: ProbeResult): void {
  const rows = of(r, 'row');
  expect(rows.map((l) => l.id)).toEqual(Array.from({ length: 10 }, (_, i) => (i + 1) * 10));
  for (const row of rows) {
    const id = row.id as number;
    expectMaskedEmail(row.email);
    expectNote(id, row.note);
    expect(row.score).toBe(id * 1.5);
    expect(row.born).toBe(bornOf(id));
    expect(row.amount).toBe((id * 10.25).toFixed(2));
  }
  expect(of(r, 'fetchCount').map((l) => l.n)).toEqual([45, 45]);
  const fetched = of(r, 'fetchRow');
  expect(fetched).toHaveLength(90);
  for (const [k, row] of fetched.entries()) {
    expect(row.id).toBe((k % 45) + 1);
    expectMaskedEmail(row.email);
    expect(row.score).toBe((row.id as number) * 1.5);
  }
  expect(r.stdout).not.toMatch(/user\d+@corp\.example/);
  expect(r.stdout).not.toContain('4111 1111 1111 1111');
}
