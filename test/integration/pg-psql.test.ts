// psql through the gateway to a real PostgreSQL: masking, blocking, TLS, COPY, errors.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { createDatabase, pgBin, psqlAdmin, PG_MD5_PASSWORD, PG_MD5_USER } from '../harness/postgres.js';
import { run } from '../harness/processes.js';
import type { TestGateway } from '../harness/gateway.js';
import { PII_MASKING, pgTarget, startCompatGateway, testUser } from '../harness/fixtures.js';

let gw: TestGateway;
let db: string;

function psql(args: string[], opts: { password?: string; input?: string; env?: Record<string, string> } = {}) {
  return run(pgBin('psql'), ['-X', '-v', 'ON_ERROR_STOP=1', ...args], {
    env: { PGPASSWORD: opts.password ?? 'alice-pw', PGCONNECT_TIMEOUT: '10', ...opts.env },
    input: opts.input,
    timeoutMs: 30_000,
  });
}

function dsn(extra = ''): string {
  return `host=127.0.0.1 port=${gw.port} user=alice dbname=app-db sslmode=disable ${extra}`;
}

beforeAll(async () => {
  const pg = inject('pg');
  db = await createDatabase('pg_psql');
  await psqlAdmin(
    pg,
    `CREATE TABLE users (id int PRIMARY KEY, email text, ssn text, note text);
     INSERT INTO users VALUES (1, 'alice@example.com', '123-45-6789', 'card 4111 1111 1111 1111 on file'),
                              (2, 'bob@example.org', '987-65-4321', 'nothing here');
     CREATE TABLE drop_log (id int);
     GRANT ALL ON ALL TABLES IN SCHEMA public TO ${PG_MD5_USER};`,
    db,
  );
  gw = await startCompatGateway({
    group: 'dba',
    users: [testUser('bob', 'dev')],
    target: pgTarget(pg, db, PG_MD5_USER, PG_MD5_PASSWORD),
    // the pii profile plus a column rule for users.ssn
    pii: { ...PII_MASKING, columns: [...PII_MASKING.columns, { match: 'users.ssn', with: 'redact' }] },
  });
});

afterAll(async () => {
  await gw?.stop();
});

describe('psql through the gateway', () => {
  it('masks an e-mail column (also under an alias) and a card number found in free text', async () => {
    const r = await psql([dsn(), '-At', '-c', 'SELECT id, email, ssn, note FROM users ORDER BY id']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('alice@example.com');
    expect(r.stdout).not.toContain('123-45-6789');
    expect(r.stdout).not.toContain('4111 1111 1111 1111');
    expect(r.stdout).toContain('nothing here');
    const alias = await psql([dsn(), '-At', '-c', 'SELECT email AS e FROM users WHERE id = 1']);
    expect(alias.stdout.trim()).not.toBe('alice@example.com');
    expect(alias.stdout).toMatch(/@example\.com/);
  });

  it('blocks DROP TABLE with SQLSTATE 42501 naming the rule, and the table survives', async () => {
    const r = await psql([dsn(), '-c', 'DROP TABLE users'], { env: { PGOPTIONS: '' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no-drop/);
    expect(await psqlAdmin(inject('pg'), 'SELECT count(*) FROM users', db)).toBe('2\n');
    const verbose = await psql([dsn(), '-v', 'VERBOSITY=verbose', '-c', 'drop table users']);
    expect(verbose.stderr).toMatch(/42501/);
  });

  it('does not block look-alikes: a DROP in a string, a table named drop_log', async () => {
    const r = await psql([dsn(), '-At', '-c', "SELECT 'DROP TABLE users'", '-c', 'SELECT count(*) FROM drop_log']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('DROP TABLE users\n0\n');
    // a string ending in a backslash is fine while standard_conforming_strings is on and no change is pending
    const bs = await psql([dsn(), '-At', '-c', "SELECT 'C:\\temp\\'"]);
    expect(bs.stderr).toBe('');
    expect(bs.stdout).toBe('C:\\temp\\\n');
  });

  it('a blocked statement inside a transaction aborts it, as the client saw', async () => {
    const r = await psql([dsn(), '-v', 'ON_ERROR_STOP=0'], {
      input: "BEGIN;\nINSERT INTO drop_log VALUES (42);\nDELETE FROM drop_log;\nCOMMIT;\nSELECT count(*) FROM drop_log WHERE id = 42;\n",
    });
    expect(r.stderr).toMatch(/where-required/);
    expect(r.stdout).toMatch(/ROLLBACK/);
    expect(await psqlAdmin(inject('pg'), 'SELECT count(*) FROM drop_log WHERE id = 42', db)).toBe('0\n');
  });

  it('blocks a stacked statement in a multi-statement query; runs an allowed one', async () => {
    const blocked = await psql([dsn(), '-c', 'SELECT 1; DROP TABLE users']);
    expect(blocked.code).not.toBe(0);
    expect(blocked.stderr).toMatch(/no-drop/);
    const ok = await psql([dsn(), '-At', '-c', 'SELECT 1; SELECT 2']);
    expect(ok.stdout).toBe('1\n2\n');
  });

  it('works over TLS (sslmode=require) and with the user#connection form', async () => {
    const r = await psql([`host=127.0.0.1 port=${gw.port} user=alice#app-db dbname=${db} sslmode=require`, '-At', '-c', 'SHOW ssl']);
    // SHOW ssl is answered by the target (which has no TLS); what matters is that the gateway leg used TLS:
    expect(r.code).toBe(0);
    const sessions = gw.audit.listSessions(50);
    expect(sessions.some((s) => s.tls && s.database === db)).toBe(true);
  });

  it('\\copy out is masked, \\copy in works', async () => {
    const out = path.join(gw.dataDir, 'users.csv');
    const r = await psql([dsn(), '-c', `\\copy users TO '${out}' WITH (FORMAT csv)`]);
    expect(r.code).toBe(0);
    const text = fs.readFileSync(out, 'utf8');
    expect(text).not.toContain('alice@example.com');
    expect(text).not.toContain('123-45-6789');
    expect(text).toContain('nothing here');
    const txt = await psql([dsn(), '-c', `\\copy users TO STDOUT`]);
    expect(txt.stdout).not.toContain('alice@example.com');
    expect(txt.stdout.split('\n').filter(Boolean)).toHaveLength(2);
    const inFile = path.join(gw.dataDir, 'in.txt');
    fs.writeFileSync(inFile, '100\n101\n102\n');
    const cin = await psql([dsn(), '-c', `\\copy drop_log FROM '${inFile}'`]);
    expect(cin.code).toBe(0);
    expect(cin.stdout).toMatch(/COPY 3/);
  });

  it('refuses a wrong password with 28P01 and a user not on the allow list with 28000', async () => {
    const bad = await psql([dsn(), '-c', 'SELECT 1'], { password: 'nope' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/password authentication failed/);
    const bob = await psql([`host=127.0.0.1 port=${gw.port} user=bob dbname=app-db sslmode=disable`, '-c', 'SELECT 1'], { password: 'bob-pw' });
    expect(bob.code).toBe(2);
    expect(bob.stderr).toMatch(/not allowed on connection "app-db"/);
  });

  it('refuses an unknown connection with 3D000', async () => {
    const r = await psql([`host=127.0.0.1 port=${gw.port} user=alice dbname=nope sslmode=disable`, '-c', 'SELECT 1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/connection "nope" does not exist/);
  });

  it('records sessions and commands in the audit store', async () => {
    await psql([dsn(), '-c', 'SELECT 42 AS audited']);
    gw.audit.flush();
    const events = gw.audit.events(undefined, 10_000);
    const decision = events.find((e) => e.kind === 'decision' && e.text === 'SELECT 42 AS audited');
    expect(decision?.decision).toBe('allow');
    expect(decision?.user).toBe('alice');
    const complete = events.find((e) => e.kind === 'complete' && e.commandId === decision?.commandId && e.sessionId === decision?.sessionId);
    expect(complete?.rows).toBe(1);
    const blocked = events.find((e) => e.decision === 'block' && e.rule === 'no-drop');
    expect(blocked?.text).toMatch(/drop table users/i);
  });
});
