// psycopg2 (libpq underneath) through the gateway to a real PostgreSQL: named server-side cursors
// (DECLARE/FETCH/MOVE), COPY TO STDOUT masked and COPY FROM STDIN, parameterised queries, and blocked
// statements raising InsufficientPrivilege with the connection usable after rollback(). The driver runs
// in clients/psycopg2_probe.py (system python, which has python3-psycopg2), one JSON object per line.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDatabase, psqlAdmin, PG_TRUST_USER } from '../harness/postgres.js';
import type { TestGateway } from '../harness/gateway.js';
import { pgConnection, pgTarget, startCompatGateway } from '../harness/fixtures.js';
import { expectDone, expectNote, of, runProbe, type ProbeResult } from '../harness/probe.js';

const PYTHON = '/usr/bin/python3';
const PROBE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'clients', 'psycopg2_probe.py');
const ROWS = 120;

let gw: TestGateway;
let db: string;

function dsn(password = 'alice-pw', connection = 'app-db'): string {
  return `host=127.0.0.1 port=${gw.port} user=alice dbname=${connection} sslmode=disable password=${password} connect_timeout=10`;
}

function probe(scenario: string, password?: string, connection?: string): Promise<ProbeResult> {
  return runProbe(`psycopg2_probe ${scenario}`, PYTHON, [PROBE, dsn(password, connection), scenario], {
    // no PG* variables or another python's site-packages leak in
    env: { PYTHONPATH: undefined, PYTHONHOME: undefined, PGPASSWORD: undefined, PGSSLMODE: undefined, PGOPTIONS: undefined },
    timeoutMs: 60_000,
  });
}

/** `*.email` with `partial`: first letter, ***, the domain. */
function expectMaskedEmail(email: unknown, domain = 'corp.example', first = 'u'): void {
  expect(email).toBe(`${first}***@${domain}`);
}

beforeAll(async () => {
  const pg = inject('pg');
  db = await createDatabase('pg_psycopg2');
  await psqlAdmin(
    pg,
    `CREATE TABLE people (id int PRIMARY KEY, email text, note text);
     INSERT INTO people
       SELECT g, 'user' || g || '@corp.example', CASE WHEN g % 10 = 0 THEN 'card 4111 1111 1111 1111 on file' ELSE 'note ' || g END
       FROM generate_series(1, ${ROWS}) g;
     CREATE TABLE copy_in (id int PRIMARY KEY, email text, note text);
     CREATE TABLE params (id int, label text, email text);
     GRANT ALL ON ALL TABLES IN SCHEMA public TO ${PG_TRUST_USER};`,
    db,
  );
  gw = await startCompatGateway({
    // trust upstream: the gateway sends no password at all
    target: pgTarget(pg, db, PG_TRUST_USER),
    // same target, a profile with column rules only (no content detection): the column rule alone must hold
    connections: [pgConnection('cols-db', pgTarget(pg, db, PG_TRUST_USER), 'dev', { masking: 'columns-only' })],
    masking: [{ name: 'columns-only', columns: [{ match: '*.email', with: 'redact' }], with: 'redact' }],
  });
});

afterAll(async () => {
  await gw?.stop();
});

describe('psycopg2 through the gateway', () => {
  it('named (server-side) cursors: DECLARE/FETCH with itersize, fetchmany, scroll — every row masked', async () => {
    const r = await probe('named_cursor');
    expectDone(r);
    const iter = of(r, 'row').filter((l) => l.mode === 'iter');
    expect(of(r, 'count').find((l) => l.mode === 'iter')?.n).toBe(ROWS);
    expect(iter.map((l) => l.id)).toEqual(Array.from({ length: ROWS }, (_, i) => i + 1));
    for (const row of iter) {
      expectMaskedEmail(row.email);
      expectNote(row.id as number, row.note);
    }
    const many = of(r, 'row').filter((l) => l.mode === 'fetchmany');
    const manyCount = of(r, 'count').find((l) => l.mode === 'fetchmany');
    expect(manyCount?.n).toBe(ROWS - 20);
    expect(manyCount?.batches).toEqual([13, 13, 13, 13, 13, 13, 13, 9]);
    expect(many.map((l) => l.id)).toEqual(Array.from({ length: ROWS - 20 }, (_, i) => i + 21));
    for (const row of many) expectMaskedEmail(row.email);
    expect(of(r, 'scroll')[0]).toMatchObject({ id: 6, email: 'u***@corp.example' });
    expect(r.stdout).not.toMatch(/user\d+@corp\.example/);
    expect(r.stdout).not.toContain('4111 1111 1111 1111');
    // the cursor statements went through the gateway as commands of their own
    gw.audit.flush();
    const texts = gw.audit.events(undefined, 100_000).filter((e) => e.kind === 'decision').map((e) => e.text ?? '');
    expect(texts.some((t) => /^DECLARE "c" CURSOR/i.test(t))).toBe(true);
    expect(texts.some((t) => /^FETCH FORWARD 7 FROM "c"/i.test(t))).toBe(true);
    expect(texts.some((t) => /^FETCH FORWARD 13 FROM "c2"/i.test(t))).toBe(true);
  });

  it('copy_expert: COPY … TO STDOUT is masked (table, column list, query); COPY FROM STDIN loads rows', async () => {
    const pg = inject('pg');
    const r = await probe('copy');
    expectDone(r);
    // CSV with header: header intact, e-mails masked, cards redacted, everything else as stored
    const csv = String(of(r, 'copyOut')[0]?.text).split('\n').filter(Boolean);
    expect.soft(csv[0], 'CSV header line').toBe('id,email,note');
    expect(csv).toHaveLength(ROWS + 1);
    for (const [k, line] of csv.slice(1).entries()) {
      const id = k + 1;
      const [cid, email, ...rest] = line.split(',');
      expect(Number(cid)).toBe(id);
      expectMaskedEmail(email);
      expectNote(id, rest.join(','));
    }
    // text format with a column list
    const cols = String(of(r, 'copyOutColumns')[0]?.text).split('\n').filter(Boolean);
    expect(cols).toHaveLength(ROWS);
    for (const [k, line] of cols.entries()) expect(line).toBe(`${k + 1}\tu***@corp.example`);
    // COPY (query): no table behind the columns; content detection still catches e-mails and cards
    const q = String(of(r, 'copyOutQuery')[0]?.text).split('\n').filter(Boolean);
    expect(q).toHaveLength(10);
    expect(q.map((l) => Number(l.split(',')[0]))).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(q[1]).toMatch(/^2,[^,]*,note 2$/);
    expect(r.stdout).not.toMatch(/user\d+@corp\.example/);
    expect(r.stdout).not.toContain('4111 1111 1111 1111');
    // COPY FROM STDIN: 250 text rows plus 2 CSV rows
    expect(of(r, 'copyIn')[0]?.rowcount).toBe(250);
    expect(of(r, 'copyInCsv')[0]?.rowcount).toBe(2);
    expect(of(r, 'copyInCount')[0]).toMatchObject({ n: 252, min: 1, max: 1002 });
    const loaded = of(r, 'row');
    expect(loaded).toEqual([
      { kind: 'row', id: 7, email: 'c***@load.example', note: 'loaded row 7' },
      { kind: 'row', id: 1001, email: 'c***@load.example', note: 'with, comma' },
    ]);
    // on the server the real values arrived
    expect(await psqlAdmin(pg, 'SELECT count(*) FROM copy_in', db)).toBe('252\n');
    expect(await psqlAdmin(pg, 'SELECT email, note FROM copy_in WHERE id IN (250, 1001) ORDER BY id', db)).toBe(
      'copied250@load.example|loaded row 250\ncsv1001@load.example|with, comma\n',
    );
  });

  it('copy_expert with COPY options (DELIMITER, text HEADER): rows split as the server wrote them, still masked', async () => {
    const r = await probe('copy_options');
    expectDone(r);
    const text = (label: string) => String(of(r, 'copyOption').find((l) => l.label === label)?.text).split('\n').filter(Boolean);
    // soft assertions: each variant is reported even when an earlier one fails
    const pipe = text('textPipe');
    expect.soft(pipe, 'DELIMITER | (text)').toEqual(Array.from({ length: ROWS }, (_, i) => `${i + 1}|u***@corp.example`));
    const semi = text('csvSemicolon');
    expect.soft(semi, "DELIMITER ';' (csv)").toEqual(
      Array.from({ length: ROWS }, (_, i) => `${i + 1};u***@corp.example;${i % 10 === 9 ? 'card [REDACTED] on file' : `note ${i + 1}`}`),
    );
    const header = text('textHeader');
    expect.soft(header, 'HEADER (text)').toEqual(['id\temail', ...Array.from({ length: ROWS }, (_, i) => `${i + 1}\tu***@corp.example`)]);
    expect(r.stdout).not.toMatch(/user\d+@corp\.example/);
    expect(r.stdout).not.toContain('4111 1111 1111 1111');
  });

  it('COPY with a custom DELIMITER under a column-rule-only profile: the e-mail column is still masked', async () => {
    const r = await probe('copy_options', undefined, 'cols-db');
    expectDone(r);
    const text = (label: string) => String(of(r, 'copyOption').find((l) => l.label === label)?.text).split('\n').filter(Boolean);
    expect.soft(text('textPipe'), 'DELIMITER | (text)').toEqual(Array.from({ length: ROWS }, (_, i) => `${i + 1}|[REDACTED]`));
    expect.soft(text('csvSemicolon'), "DELIMITER ';' (csv)").toEqual(
      Array.from({ length: ROWS }, (_, i) => `${i + 1};[REDACTED];${i % 10 === 9 ? 'card 4111 1111 1111 1111 on file' : `note ${i + 1}`}`),
    );
    expect(r.stdout).not.toMatch(/user\d+@corp\.example/);
  });

  it('parameterised queries: values are literals (even ones that read like DROP/DELETE), results correct and masked', async () => {
    const pg = inject('pg');
    const r = await probe('params');
    expectDone(r);
    const byId = of(r, 'byId')[0];
    expect(byId).toMatchObject({ id: 5, note: 'note 5' });
    expectMaskedEmail(byId?.email);
    expect(of(r, 'anyIds')[0]?.ids).toEqual([3, 30, 33]);
    expect(of(r, 'named')[0]).toMatchObject({ s: 42, t: "it's" });
    expect(of(r, 'executemany')[0]?.rowcount).toBe(3);
    const stored = of(r, 'param');
    expect(stored.map((l) => l.label)).toEqual([
      "x'; DROP TABLE people; --",
      'DELETE FROM people',
      'back\\slash \'quote\' "dq" $$dollar$$ /* c */ -- d',
    ]);
    expect(stored.map((l) => l.email)).toEqual(['a***@params.example', 'b***@params.example', 'c***@params.example']);
    expect(of(r, 'update')[0]?.rowcount).toBe(1);
    expect(await psqlAdmin(pg, 'SELECT id, label, email FROM params ORDER BY id', db)).toBe(
      `1|x'; DROP TABLE people; --|a@params.example\n2|updated|b@params.example\n3|back\\slash 'quote' "dq" $$dollar$$ /* c */ -- d|c@params.example\n`,
    );
    expect(await psqlAdmin(pg, 'SELECT count(*) FROM people', db)).toBe(`${ROWS}\n`);
  });

  it('blocked statements raise InsufficientPrivilege (42501); after rollback() the connection is usable; nothing ran', async () => {
    const pg = inject('pg');
    const r = await probe('blocked');
    expectDone(r);
    const blocked = Object.fromEntries(of(r, 'blocked').map((l) => [l.label, l]));
    const rules: Record<string, string> = {
      drop: 'no-drop',
      truncate: 'no-drop',
      delete: 'where-required',
      update: 'where-required',
      'autocommit-drop': 'no-drop',
    };
    for (const [label, rule] of Object.entries(rules)) {
      expect(blocked[label], label).toMatchObject({ raised: true, cls: 'InsufficientPrivilege', pgcode: '42501' });
      expect(blocked[label]?.message, label).toMatch(new RegExp(rule));
    }
    for (const label of ['drop', 'truncate', 'delete', 'update']) {
      // psycopg2 sees the transaction in error (TRANSACTION_STATUS_INERROR = 3), and so does the target
      expect(blocked[label]?.status, label).toBe(3);
      expect(of(r, 'afterBlock').find((l) => l.label === label)).toMatchObject({ aborted: true, pgcode: '25P02' });
      expect(of(r, 'afterRollback').find((l) => l.label === label)?.n).toBe(ROWS);
    }
    // the inserts made before each blocked statement were rolled back with it
    expect(of(r, 'leftovers')[0]?.n).toBe(0);
    const after = of(r, 'autocommitAfter')[0];
    expect(after?.id).toBe(1);
    expectMaskedEmail(after?.email);
    // on the server: the table is intact, no e-mail was overwritten, no insert survived
    expect(await psqlAdmin(pg, 'SELECT count(*) FROM people', db)).toBe(`${ROWS}\n`);
    expect(await psqlAdmin(pg, "SELECT count(*) FROM people WHERE email = 'user' || id || '@corp.example'", db)).toBe(`${ROWS}\n`);
    expect(await psqlAdmin(pg, 'SELECT count(*) FROM params WHERE id >= 9000', db)).toBe('0\n');
  });

  it('a wrong password is refused at connect', async () => {
    const r = await probe('params', 'wrong');
    expect(r.code).toBe(1);
    expect(of(r, 'fatal')[0]?.message).toMatch(/password authentication failed/);
  });
});
