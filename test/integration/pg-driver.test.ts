// The `pg` driver through the gateway: extended protocol, binary results, pipelining, cancel.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import net from 'node:net';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { createDatabase, psqlAdmin, PG_SCRAM_PASSWORD, PG_SCRAM_USER } from '../harness/postgres.js';
import { startTestGateway, type TestGateway } from '../harness/gateway.js';
import { NO_DROP, pgConnection, pgTarget, testUser } from '../harness/fixtures.js';
import { login, types, type Msg } from '../harness/pgwire.js';

let gw: TestGateway;
let db: string;

function client(extra: Partial<pg.ClientConfig> = {}): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port: gw.port, user: 'alice', password: 'alice-pw', database: 'app-db', ...extra });
}

beforeAll(async () => {
  const server = inject('pg');
  db = await createDatabase('pg_driver');
  await psqlAdmin(
    server,
    `CREATE TABLE people (id int PRIMARY KEY, email varchar(100), age int, bio text);
     INSERT INTO people SELECT g, 'user' || g || '@corp.example', 20 + g % 50, 'bio ' || g FROM generate_series(1, 500) g;
     GRANT ALL ON ALL TABLES IN SCHEMA public TO ${PG_SCRAM_USER};`,
    db,
  );
  gw = await startTestGateway({
    identity: { users: [testUser('alice', 'dev')] },
    connections: [pgConnection('app-db', pgTarget(server, db, PG_SCRAM_USER, PG_SCRAM_PASSWORD), 'dev', { guardrails: ['no-drop'], masking: 'pii' })],
    guardrails: [NO_DROP],
    masking: [{ name: 'pii', columns: [{ match: 'people.email', with: 'redact' }], detect: ['email'], with: 'redact' }],
  });
});

afterAll(async () => {
  await gw?.stop();
});

describe('pg driver through the gateway (SCRAM upstream)', () => {
  it('runs parameterised queries and masks by column in the extended protocol', async () => {
    const c = client();
    await c.connect();
    try {
      const r = await c.query('SELECT id, email, age FROM people WHERE id = $1', [7]);
      expect(r.rows).toHaveLength(1);
      expect(r.rows[0].id).toBe(7);
      expect(r.rows[0].age).toBe(27);
      expect(r.rows[0].email).not.toContain('user7@corp.example');
      // a named (prepared) statement re-executed without Describe still masks
      for (let i = 0; i < 3; i++) {
        const n = await c.query({ name: 'by-id', text: 'SELECT email AS mail, bio FROM people WHERE id = $1', values: [i + 1] });
        expect(n.rows[0].mail).not.toMatch(/@corp\.example/);
        expect(n.rows[0].bio).toBe(`bio ${i + 1}`);
      }
    } finally {
      await c.end();
    }
  });

  it('masks binary-format results and keeps non-text columns valid', async () => {
    const c = client();
    await c.connect();
    try {
      // `binary` is a pg option its type definitions do not list
      const q = { text: 'SELECT id, email, bio FROM people WHERE id < $1 ORDER BY id', values: [4], binary: true } as pg.QueryConfig;
      const r = await c.query(q);
      expect(r.rows).toHaveLength(3);
      expect(r.rows[0].id).toBe(1);
      for (const row of r.rows) expect(String(row.email)).not.toMatch(/@corp\.example/);
      expect(r.rows[2].bio).toBe('bio 3');
    } finally {
      await c.end();
    }
  });

  it('blocks a Parse naming the rule; the transaction is aborted on both sides', async () => {
    const c = client();
    await c.connect();
    try {
      await c.query('BEGIN');
      await c.query('INSERT INTO people (id, email) VALUES ($1, $2)', [9001, 'x@y.z']);
      await expect(c.query('DROP TABLE people')).rejects.toMatchObject({ code: '42501', message: expect.stringMatching(/no-drop|DROP/) });
      await expect(c.query({ text: 'DROP TABLE people', values: [] })).rejects.toMatchObject({ code: expect.any(String) });
      await c.query('ROLLBACK');
      const r = await c.query('SELECT count(*)::int AS n FROM people WHERE id = $1', [9001]);
      expect(r.rows[0].n).toBe(0);
    } finally {
      await c.end();
    }
  });

  it('25 queries pipelined on one connection (one write, one Sync each)', async () => {
    const r = await login(gw.port, serialize.startup({ user: 'alice', database: 'app-db' }), 'alice-pw');
    const afterLogin = r.received.length;
    const batch: Buffer[] = [];
    for (let i = 1; i <= 25; i++) {
      batch.push(serialize.parse({ text: 'SELECT id, email FROM people WHERE id = $1', types: [] }));
      batch.push(serialize.bind({ values: [String(i)] }));
      batch.push(serialize.describe({ type: 'P' }));
      batch.push(serialize.execute({}));
      batch.push(serialize.sync());
    }
    r.write(Buffer.concat(batch));
    const got: Msg[] = [];
    const deadline = Date.now() + 10_000;
    while (got.filter((m) => m.type === 'Z').length < 25) {
      const m = await r.next(Math.max(0, deadline - Date.now()));
      if (m === null || m === 'timeout') {
        throw new Error(`timed out waiting: got ${got.length} frames: ${types(got)} ${got.filter((f) => f.type === 'E').map((f) => f.body.toString('latin1')).join(' | ')}`);
      }
      got.push(m);
    }
    const all = Buffer.concat(r.received.slice(afterLogin));
    const rows = got.filter((m) => m.type === 'D');
    expect(rows).toHaveLength(25);
    expect(all.includes(Buffer.from('@corp.example'))).toBe(false);
    expect(all.includes(Buffer.from('user13'))).toBe(false);
    r.sock.end(serialize.end());
  });

  it('cancels a running query through the gateway-issued key', async () => {
    const c = client();
    await c.connect();
    try {
      const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
      const running = c.query('SELECT pg_sleep(20)');
      await new Promise((r) => setTimeout(r, 300));
      const cancel = net.connect(gw.port, '127.0.0.1');
      const msg = Buffer.alloc(16);
      msg.writeInt32BE(16, 0);
      msg.writeInt32BE(80877102, 4);
      msg.writeInt32BE(processID, 8);
      msg.writeInt32BE(secretKey, 12);
      cancel.end(msg);
      const t0 = Date.now();
      await expect(running).rejects.toMatchObject({ code: '57014' });
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      await c.end();
    }
  });

  it('keeps serving other sessions after a client sends garbage', async () => {
    const bad = net.connect(gw.port, '127.0.0.1');
    const got: Buffer[] = [];
    bad.on('data', (d) => got.push(d));
    bad.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await new Promise((r) => bad.once('close', r));
    const c = client();
    await c.connect();
    const r = await c.query('SELECT 1 AS one');
    expect(r.rows[0].one).toBe(1);
    await c.end();
  });
});
