// Attacks found in an adversarial review of the PostgreSQL data path, each asserting the secure behaviour.
// Guardrails: no-drop, where-required (the compat gateway); masking profiles below.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { createDatabase, psqlAdmin, PG_SCRAM_PASSWORD, PG_SCRAM_USER } from '../harness/postgres.js';
import { pgConnection, pgTarget, startCompatGateway } from '../harness/fixtures.js';
import type { TestGateway } from '../harness/gateway.js';
import { describeMsgs, login, startup, type Raw } from '../harness/pgwire.js';

let gw: TestGateway;
let db: string;

beforeAll(async () => {
  const server = inject('pg');
  db = await createDatabase('pg_review_bypass');
  await psqlAdmin(
    server,
    `CREATE TABLE victim1 (id int); CREATE TABLE victim2 (id int); CREATE TABLE victim3 (id int); INSERT INTO victim3 VALUES (1), (2);
     CREATE TABLE trig (id int);
     CREATE TABLE contacts (id int PRIMARY KEY, email text, note text);
     INSERT INTO contacts VALUES (1, 'carol@corp.example', 'secret-note-42');
     GRANT ALL ON ALL TABLES IN SCHEMA public TO ${PG_SCRAM_USER}; GRANT CREATE ON SCHEMA public TO ${PG_SCRAM_USER};
     ALTER TABLE victim1 OWNER TO ${PG_SCRAM_USER}; ALTER TABLE victim2 OWNER TO ${PG_SCRAM_USER}; ALTER TABLE victim3 OWNER TO ${PG_SCRAM_USER}; ALTER TABLE trig OWNER TO ${PG_SCRAM_USER};`,
    db,
  );
  const target = pgTarget(server, db, PG_SCRAM_USER, PG_SCRAM_PASSWORD);
  gw = await startCompatGateway({
    target,
    connections: [pgConnection('notes-db', target, 'dev', { guardrails: ['no-drop'], masking: 'notes' })],
    masking: [{ name: 'notes', columns: [{ match: '*.note', with: 'redact' }], detect: [], with: 'redact' }],
  });
});

afterAll(async () => {
  await gw?.stop();
});

const exists = async (t: string): Promise<boolean> =>
  (await psqlAdmin(inject('pg'), `SELECT count(*) FROM pg_class WHERE relname = '${t}'`, db)).trim() === '1';

function rawLogin(dbname = 'app-db'): Promise<Raw> {
  return login(gw.port, startup({ user: 'alice', database: dbname }), 'alice-pw');
}

describe('guardrail bypasses', () => {
  it('a SET standard_conforming_strings=off pipelined ahead of a query cannot hide a DROP in it', async () => {
    const r = await rawLogin();
    try {
      // gateway lexes Q2 with scs=on: one SELECT of two strings; the target (scs=off) sees SELECT …; DROP TABLE victim1
      r.write(serialize.query('SET standard_conforming_strings = off'), serialize.query("SELECT 'a\\', '; DROP TABLE victim1; --'"));
      const msgs = [...(await r.until('Z')), ...(await r.until('Z'))];
      console.log('SCS', describeMsgs(msgs));
    } finally {
      r.destroy();
    }
    expect(await exists('victim1')).toBe(true);
  });

  it('a string-bodied SQL function (whose DROP no rule can see) is opaque and takes the fallback', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: gw.port, user: 'alice', password: 'alice-pw', database: 'app-db' });
    await c.connect();
    try {
      console.log('FN', await c.query("CREATE FUNCTION review_f() RETURNS void LANGUAGE sql AS $$ DROP TABLE victim2 $$").then(()=>'ok',(e)=>e.message));
      console.log('FN2', await c.query('SELECT review_f()').then(()=>'ok',(e)=>e.message));
    } finally {
      await c.end();
    }
    expect(await exists('victim2')).toBe(true);
  });

  it('CREATE RULE … DO ALSO DELETE (actions run later, unseen) is opaque and takes the fallback', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: gw.port, user: 'alice', password: 'alice-pw', database: 'app-db' });
    await c.connect();
    try {
      console.log('RULE', await c.query('CREATE RULE review_r AS ON INSERT TO trig DO ALSO DELETE FROM victim3').then(()=>'ok',(e)=>e.message));
      await c.query('INSERT INTO trig VALUES (1)').catch(() => undefined);
    } finally {
      await c.end();
    }
    expect((await psqlAdmin(inject('pg'), 'SELECT count(*) FROM victim3', db)).trim()).toBe('2');
  });
});

describe('masking bypasses', () => {
  it('a rejected re-Parse of a named statement does not change what the gateway thinks it is (COPY still masked)', async () => {
    const r = await rawLogin('notes-db');
    let msgs;
    try {
      r.write(serialize.parse({ name: 's1', text: 'COPY contacts TO STDOUT' }), serialize.sync());
      await r.until('Z');
      // target: "prepared statement s1 already exists"; the gateway now believes s1 is SELECT 1
      r.write(serialize.parse({ name: 's1', text: 'SELECT 1' }), serialize.sync());
      await r.until('Z');
      r.write(serialize.bind({ statement: 's1' }), serialize.execute({}), serialize.sync());
      msgs = await r.until('Z');
    } finally {
      r.destroy();
    }
    const data = msgs.filter((m) => m.type === 'd').map((m) => m.body.toString('utf8')).join('');
    expect(data).not.toContain('secret-note-42');
  });

  it('an error quoting the value of a column-rule-masked column is redacted (invalid input syntax)', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: gw.port, user: 'alice', password: 'alice-pw', database: 'notes-db' });
    await c.connect();
    let msg = '';
    try {
      const plain = await c.query('SELECT note FROM contacts');
      expect(plain.rows[0].note).not.toBe('secret-note-42'); // the rule works on plain rows
      msg = await c.query('SELECT note::int FROM contacts').then(() => '', (e: Error) => e.message);
    } finally {
      await c.end();
    }
    expect(msg).not.toContain('secret-note-42');
  });
});

describe('availability', () => {
  it('a deeply nested query is refused by the fallback (its analysis is bounded, the target never sees it)', async () => {
    const n = 20000;
    const evil = 'SELECT * FROM ' + '(SELECT * FROM '.repeat(n) + 'contacts' + ') x'.repeat(n);
    const a = await rawLogin();
    let answer: Awaited<ReturnType<Raw['until']>>;
    try {
      a.write(serialize.query(evil));
      answer = await a.until('Z', 120_000);
    } finally {
      a.destroy();
    }
    // refused by the fallback (the analysis gives up on the nesting), never sent to the target
    const err = answer.find((m) => m.type === 'E');
    expect(err?.body.toString('latin1')).toMatch(/42501/);
  }, 120_000);
});
