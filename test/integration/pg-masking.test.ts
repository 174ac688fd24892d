// Every result path is masked: RETURNING, and values the target echoes in errors and notices.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createDatabase, pgBin, psqlAdmin, PG_SCRAM_PASSWORD, PG_SCRAM_USER } from '../harness/postgres.js';
import { run } from '../harness/processes.js';
import { pgTarget, startCompatGateway } from '../harness/fixtures.js';
import type { TestGateway } from '../harness/gateway.js';

let gw: TestGateway;
let db: string;

beforeAll(async () => {
  const server = inject('pg');
  db = await createDatabase('pg_masking');
  await psqlAdmin(
    server,
    `CREATE TABLE contacts (id int PRIMARY KEY, email text UNIQUE, note text NOT NULL);
     INSERT INTO contacts VALUES (1, 'carol@corp.example', 'first');
     CREATE FUNCTION shout(t text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'about %', t; END $$;
     GRANT ALL ON ALL TABLES IN SCHEMA public TO ${PG_SCRAM_USER};`,
    db,
  );
  gw = await startCompatGateway({ target: pgTarget(server, db, PG_SCRAM_USER, PG_SCRAM_PASSWORD) });
});

afterAll(async () => {
  await gw?.stop();
});

function client(): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port: gw.port, user: 'alice', password: 'alice-pw', database: 'app-db' });
}

describe('masking beyond plain rows', () => {
  it('masks RETURNING of INSERT and UPDATE', async () => {
    const c = client();
    await c.connect();
    try {
      const ins = await c.query("INSERT INTO contacts VALUES (2, 'dave@corp.example', 'x') RETURNING email, note");
      expect(ins.rows[0].email).not.toBe('dave@corp.example');
      expect(ins.rows[0].email).toMatch(/@corp\.example$/);
      const upd = await c.query("UPDATE contacts SET note = 'mail eve@corp.example' WHERE id = 2 RETURNING note");
      expect(upd.rows[0].note).not.toContain('eve@corp.example');
    } finally {
      await c.end();
    }
    expect(await psqlAdmin(inject('pg'), 'SELECT email FROM contacts WHERE id = 2', db)).toBe('dave@corp.example\n');
  });

  it('masks the values a unique violation and a not-null violation echo in DETAIL', async () => {
    const c = client();
    await c.connect();
    try {
      const dup = await c.query("INSERT INTO contacts VALUES (3, 'carol@corp.example', 'dup')").catch((e: unknown) => e as pg.DatabaseError);
      expect(dup).toMatchObject({ code: '23505' });
      const detail = (dup as pg.DatabaseError).detail ?? '';
      expect(detail).toMatch(/^Key \(email\)=\(/);
      expect(detail).not.toContain('carol@corp.example');
      const nn = await c.query("INSERT INTO contacts (id, email) VALUES (4, 'frank@corp.example')").catch((e: unknown) => e as pg.DatabaseError);
      expect(nn).toMatchObject({ code: '23502' });
      expect((nn as pg.DatabaseError).detail ?? '').not.toContain('frank@corp.example');
    } finally {
      await c.end();
    }
  });

  it('masks values in notices (psql prints the masked NOTICE)', async () => {
    const r = await run(pgBin('psql'), ['-X', `host=127.0.0.1 port=${gw.port} user=alice dbname=app-db sslmode=disable`, '-c', "SELECT shout('grace@corp.example')"], {
      env: { PGPASSWORD: 'alice-pw' },
      timeoutMs: 30_000,
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/NOTICE:\s+about /);
    expect(r.stderr).not.toContain('grace@corp.example');
  });
});
