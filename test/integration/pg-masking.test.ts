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

describe('masked cells are counted in the audit', () => {
  it('for rows and for COPY output', async () => {
    const r = await run(
      pgBin('psql'),
      ['-X', `host=127.0.0.1 port=${gw.port} user=alice dbname=app-db sslmode=disable`, '-c', 'SELECT email AS counted_rows FROM contacts', '-c', '\\copy contacts TO STDOUT'],
      { env: { PGPASSWORD: 'alice-pw' }, timeoutMs: 30_000 },
    );
    expect(r.code).toBe(0);
    const events = gw.audit.events(undefined, 100_000);
    const masked = (text: RegExp): number | undefined => {
      const d = events.find((e) => e.kind === 'decision' && text.test(e.text ?? ''));
      return events.find((e) => e.kind === 'complete' && e.sessionId === d?.sessionId && e.commandId === d?.commandId)?.maskedCells;
    };
    expect(masked(/counted_rows/)).toBeGreaterThanOrEqual(2);
    expect(masked(/^COPY\s+contacts\s+TO\s+STDOUT/i)).toBeGreaterThanOrEqual(2);
  });
});

describe('type-valid replacements for non-text columns', () => {
  let gw2: TestGateway;
  beforeAll(async () => {
    const server = inject('pg');
    await psqlAdmin(
      server,
      `CREATE TABLE patients (id int PRIMARY KEY, born date, score int, doc jsonb, ref uuid);
       INSERT INTO patients VALUES (1, '1984-06-02', 77, '{"mail": "hal@corp.example", "n": 1}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
       GRANT ALL ON ALL TABLES IN SCHEMA public TO ${PG_SCRAM_USER};`,
      db,
    );
    gw2 = await startCompatGateway({
      target: pgTarget(server, db, PG_SCRAM_USER, PG_SCRAM_PASSWORD),
      pii: {
        name: 'pii',
        columns: [{ match: 'patients.born', with: 'redact' }, { match: 'patients.score', with: 'redact' }, { match: 'patients.ref', with: 'redact' }],
        detect: ['email'],
        with: 'redact',
      },
    });
  });
  afterAll(async () => {
    await gw2?.stop();
  });

  it('text arrays: masked inside in text format; in binary format a cell with PII becomes NULL (never passed)', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: gw2.port, user: 'alice', password: 'alice-pw', database: 'app-db' });
    await c.connect();
    try {
      const sql = "SELECT ARRAY['ivy@corp.example', 'plain']::text[] AS tags, ARRAY['a', 'b']::text[] AS clean WHERE $1::int = 1";
      const text = await c.query({ text: sql, values: [1] });
      expect(text.rows[0].tags).toHaveLength(2);
      expect(text.rows[0].tags[1]).toBe('plain');
      expect(JSON.stringify(text.rows[0].tags)).not.toContain('ivy@corp.example');
      const bin = await c.query({ text: sql, values: [1], binary: true } as pg.QueryConfig);
      expect(bin.rows[0].tags).toBeNull();
      expect(bin.rows[0].clean).not.toBeNull(); // nothing found: passed as it came
    } finally {
      await c.end();
    }
  });

  for (const binary of [false, true]) {
    it(`keeps masked ints, dates and uuids valid for their type (${binary ? 'binary' : 'text'} format) and JSON valid`, async () => {
      const c = new pg.Client({ host: '127.0.0.1', port: gw2.port, user: 'alice', password: 'alice-pw', database: 'app-db' });
      await c.connect();
      try {
        const q = { text: 'SELECT id, born, score, ref, doc FROM patients WHERE id = $1', values: [1], binary } as pg.QueryConfig;
        const r = await c.query(q);
        const row = r.rows[0];
        expect(row.id).toBe(1);
        // the driver parsed each masked value as its type: not NULL, not the original
        if (binary) {
          expect(Buffer.isBuffer(row.born) || row.born instanceof Date || typeof row.born === 'string').toBe(true);
        } else {
          expect(row.born).toBeInstanceOf(Date);
          expect((row.born as Date).getFullYear()).not.toBe(1984);
          expect(row.score).toBe(0);
        }
        expect(row.score).not.toBe(77);
        expect(row.ref).not.toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
        // binary jsonb is scanned past its version byte; the PII inside is masked, the JSON stays JSON
        const doc = binary ? JSON.parse(String(row.doc).slice(1)) : row.doc;
        expect(doc.n).toBe(1);
        expect(JSON.stringify(doc)).not.toContain('hal@corp.example');
        if (binary) {
          expect((row.born as Buffer | string).length).toBe(4); // date_send: Int32 days
        } else {
          expect(row.ref).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        }
      } finally {
        await c.end();
      }
    });
  }
});
