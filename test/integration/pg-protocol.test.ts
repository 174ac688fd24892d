// PostgreSQL protocol behaviours real clients rely on, through the gateway (DESIGN "Protocol notes that real
// clients force"): asynchronous messages (NotificationResponse, NoticeResponse) between any two messages,
// FunctionCall refused by default, Flush forwarded at once, Execute with a row limit (PortalSuspended) under
// masking, statement shapes remembered across pipelines, errors and blocks in the middle of a pipeline, and
// credentials that never reach the logs.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { pino } from 'pino';
import { serialize } from 'pg-protocol';
import {
  createDatabase,
  psqlAdmin,
  PG_CLEAR_PASSWORD,
  PG_CLEAR_USER,
  PG_MD5_PASSWORD,
  PG_MD5_USER,
  PG_SCRAM_PASSWORD,
  PG_SCRAM_USER,
  PG_TRUST_USER,
} from '../harness/postgres.js';
import { startTestGateway, testHash, type TestGateway } from '../harness/gateway.js';
import { NO_DROP, pgConnection, pgTarget, testUser } from '../harness/fixtures.js';
import { cells, describeMsgs, errorFields, functionCall, login, notification, rowsOf, types, type Msg, type Raw } from '../harness/pgwire.js';
import { configSchema } from '../../src/config/schema.js';
import { startGateway } from '../../src/gateway.js';
import { SqliteAuditStore } from '../../src/audit/sqlite.js';

let gw: TestGateway;
let db: string;

const REDACTED = '[REDACTED]';

// ---- helpers ----------------------------------------------------------------------------------------------

/** A raw session through the gateway as alice on app-db. */
const viaGateway = (): Promise<Raw> => login(gw.port, serialize.startup({ user: 'alice', database: 'app-db' }), 'alice-pw');

/** A raw session straight to PostgreSQL (trust role, same database): what the target itself answers. */
const direct = (): Promise<Raw> => {
  const server = inject('pg');
  return login(server.port, serialize.startup({ user: PG_TRUST_USER, database: db }));
};

function client(extra: Partial<pg.ClientConfig> = {}): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port: gw.port, user: 'alice', password: 'alice-pw', database: 'app-db', ...extra });
}

async function waitFor(pred: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!pred() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return pred();
}

/** Parse (unnamed) + Bind + Execute, no Describe, no Sync. */
const pbe = (text: string, values: string[] = []): Buffer =>
  Buffer.concat([serialize.parse({ text }), serialize.bind({ values }), serialize.execute({})]);

// ---- setup --------------------------------------------------------------------------------------------

beforeAll(async () => {
  const server = inject('pg');
  db = await createDatabase('pg_protocol');
  await psqlAdmin(
    server,
    `CREATE TABLE secrets (id int PRIMARY KEY, token text, note text);
     INSERT INTO secrets SELECT g, 'tok-' || g || '-plaintext', 'note ' || g FROM generate_series(1, 5) g;
     CREATE TABLE plog (id int);
     CREATE TABLE victim (id int);
     CREATE SEQUENCE fc_seq;
     CREATE FUNCTION noisy(x int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'noisy %', x; RETURN x; END $$;
     GRANT ALL ON ALL TABLES IN SCHEMA public TO ${PG_SCRAM_USER}, ${PG_TRUST_USER};
     GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${PG_SCRAM_USER}, ${PG_TRUST_USER};`,
    db,
  );
  gw = await startTestGateway({
    identity: { users: [testUser('alice', 'dev')] },
    connections: [
      pgConnection('app-db', pgTarget(server, db, PG_SCRAM_USER, PG_SCRAM_PASSWORD), 'dev', {
        // DO blocks are opaque (the default fallback blocks them): the notice tests need them explicitly allowed
        guardrails: ['no-drop', 'allow-do'],
        masking: 'tokens',
      }),
    ],
    guardrails: [
      NO_DROP,
      { name: 'allow-do', when: { statements: ['do'] }, action: 'allow' },
    ],
    // a column rule only (no content detection): every `secrets.token` cell must come back redacted
    masking: [{ name: 'tokens', columns: [{ match: 'secrets.token', with: 'redact' }], with: 'redact' }],
  });
});

afterAll(async () => {
  await gw?.stop();
});

// ---- asynchronous messages ----------------------------------------------------------------------------------

describe('NotificationResponse and NoticeResponse', () => {
  it('LISTEN/NOTIFY: NOTIFY and pg_notify() from another gateway session reach the listener', async () => {
    const listener = client();
    const notifier = client();
    await listener.connect();
    await notifier.connect();
    try {
      const got: pg.Notification[] = [];
      listener.on('notification', (n) => got.push(n));
      await listener.query('LISTEN ch');
      await notifier.query("NOTIFY ch, 'hello'");
      await notifier.query("SELECT pg_notify('ch', 'x')");
      expect(await waitFor(() => got.length >= 2, 5000), `got ${JSON.stringify(got)}`).toBe(true);
      expect(got.map((n) => [n.channel, n.payload])).toEqual([
        ['ch', 'hello'],
        ['ch', 'x'],
      ]);
      // the listener's session still works, and a notification to its own channel from itself arrives too
      const self = await listener.query("SELECT pg_notify('ch', 'self') AS r, 7 AS n");
      expect(self.rows[0].n).toBe(7);
      expect(await waitFor(() => got.length >= 3, 5000)).toBe(true);
      expect(got[2]).toMatchObject({ channel: 'ch', payload: 'self' });
    } finally {
      await listener.end();
      await notifier.end();
    }
  });

  it('a NotificationResponse arriving in the middle of a masked result is relayed in place, as the target sends it', async () => {
    // The listener runs a slow extended-protocol query; the notification is committed meanwhile and the target
    // delivers it inside that query's response (before ReadyForQuery). Compare with PostgreSQL itself.
    const script = async (r: Raw, notify: () => Promise<unknown>): Promise<Msg[]> => {
      r.write(serialize.query('LISTEN mid'));
      expect(types(await r.until('Z'))).toBe('CZ');
      r.write(
        serialize.parse({ text: 'SELECT pg_sleep(1)::text AS s, token, id FROM secrets WHERE id = $1' }),
        serialize.bind({ values: ['2'] }),
        serialize.describe({ type: 'P' }),
        serialize.execute({}),
        serialize.sync(),
      );
      await new Promise((res) => setTimeout(res, 150));
      await notify();
      return r.until('Z', 10_000);
    };
    const notifier = client();
    await notifier.connect();
    try {
      const d = await direct();
      const want = await script(d, () => notifier.query("NOTIFY mid, 'between'"));
      d.destroy();
      const g = await viaGateway();
      const got = await script(g, () => notifier.query("NOTIFY mid, 'between'"));
      g.destroy();
      expect(types(got), describeMsgs(got)).toBe(types(want));
      expect(types(got)).toMatch(/^12TD.*A.*Z$/);
      const a = got.find((m) => m.type === 'A')!;
      expect(notification(a.body)).toMatchObject({ channel: 'mid', payload: 'between' });
      const rows = rowsOf(got);
      expect(rows).toEqual([['', REDACTED, '2']]);
    } finally {
      await notifier.end();
    }
  });

  it('a notification reaches a listener sitting idle (nothing sent after LISTEN)', async () => {
    const r = await viaGateway();
    const notifier = client();
    await notifier.connect();
    try {
      r.write(serialize.query('LISTEN idle_ch'));
      expect(types(await r.until('Z'))).toBe('CZ');
      expect(await r.within(300)).toEqual([]);
      await notifier.query("NOTIFY idle_ch, 'wake up'");
      const m = await r.msg(5000);
      expect(m?.type).toBe('A');
      expect(notification(m!.body)).toMatchObject({ channel: 'idle_ch', payload: 'wake up' });
      await notifier.query("SELECT pg_notify('idle_ch', 'again')");
      const m2 = await r.msg(5000);
      expect(m2?.type).toBe('A');
      expect(notification(m2!.body).payload).toBe('again');
      // and the pg driver sees it the same way while idle
      const listener = client();
      await listener.connect();
      const got: pg.Notification[] = [];
      listener.on('notification', (n) => got.push(n));
      await listener.query('LISTEN idle_ch');
      await new Promise((res) => setTimeout(res, 200));
      await notifier.query("NOTIFY idle_ch, 'driver'");
      expect(await waitFor(() => got.some((n) => n.payload === 'driver'), 5000)).toBe(true);
      await listener.end();
    } finally {
      r.destroy();
      await notifier.end();
    }
  });

  it("RAISE NOTICE / RAISE WARNING fire the pg client's notice event", async () => {
    const c = client();
    await c.connect();
    try {
      const notices: { severity?: string; message?: string }[] = [];
      c.on('notice', (n) => notices.push(n));
      await c.query("DO $$ BEGIN RAISE NOTICE 'n1'; END $$");
      await c.query("DO $$ BEGIN RAISE WARNING 'w1'; END $$");
      expect(await waitFor(() => notices.length >= 2, 2000)).toBe(true);
      expect(notices.map((n) => [n.severity, n.message])).toEqual([
        ['NOTICE', 'n1'],
        ['WARNING', 'w1'],
      ]);
    } finally {
      await c.end();
    }
  });

  it('NoticeResponses interleaved with masked DataRows (extended protocol) arrive, rows still masked', async () => {
    const c = client();
    await c.connect();
    try {
      const notices: string[] = [];
      c.on('notice', (n) => notices.push(n.message ?? ''));
      const r = await c.query('SELECT id, token, noisy(id) AS n FROM secrets WHERE id <= $1 ORDER BY id', [3]);
      expect(r.rows.map((x) => [x.id, x.token, x.n])).toEqual([
        [1, REDACTED, 1],
        [2, REDACTED, 2],
        [3, REDACTED, 3],
      ]);
      expect(notices).toEqual(['noisy 1', 'noisy 2', 'noisy 3']);
    } finally {
      await c.end();
    }
  });
});

// ---- FunctionCall -------------------------------------------------------------------------------------------

describe('FunctionCall', () => {
  it('is refused by default with 42501, then ReadyForQuery; the session stays usable; audited as a block', async () => {
    const r = await viaGateway();
    try {
      r.write(serialize.query("SELECT 'pg_catalog.abs(int4)'::regprocedure::oid, 'pg_catalog.nextval(regclass)'::regprocedure::oid, 'fc_seq'::regclass::oid"));
      const lookup = await r.until('ZE');
      expect(types(lookup)).toBe('TDCZ');
      const [absOid, nextvalOid, seqOid] = rowsOf(lookup)[0]!.map(Number) as [number, number, number];
      expect(absOid).toBeGreaterThan(0);

      r.write(functionCall(absOid, [-42]));
      const refused = await r.until('Z');
      expect(types(refused), describeMsgs(refused)).toBe('EZ');
      const f = errorFields(refused[0]!.body);
      expect(f.C).toBe('42501');
      expect(`${f.M} ${f.H ?? ''}`).toMatch(/function-call|FunctionCall/);
      expect(refused[1]!.body.toString('latin1')).toBe('I');

      // a function with a side effect is not run either
      r.write(functionCall(nextvalOid, [seqOid]));
      const refused2 = await r.until('Z');
      expect(types(refused2)).toBe('EZ');
      expect(errorFields(refused2[0]!.body).C).toBe('42501');

      r.write(serialize.query('SELECT 40 + 2 AS n'));
      const after = await r.until('ZE');
      expect(types(after)).toBe('TDCZ');
      expect(rowsOf(after)).toEqual([['42']]);
    } finally {
      r.destroy();
    }
    expect((await psqlAdmin(inject('pg'), 'SELECT is_called FROM fc_seq', db)).trim()).toBe('f');
    gw.audit.flush();
    const blocks = gw.audit.events(undefined, 100_000).filter((e) => e.via === 'function-call');
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const e of blocks.filter((x) => x.kind === 'decision')) {
      expect(e).toMatchObject({ decision: 'block', rule: 'function-call', user: 'alice', connection: 'app-db' });
    }
  });
});

// ---- extended protocol -------------------------------------------------------------------------------------

describe('extended protocol', () => {
  it.each([
    ['with Describe', true],
    ['without Describe (the gateway asks for the shape itself)', false],
  ])('Flush without Sync is forwarded at once (%s)', async (_name, describes) => {
    const r = await viaGateway();
    try {
      r.write(
        serialize.parse({ text: 'SELECT 1 AS one, token FROM secrets WHERE id = 1' }),
        serialize.bind({}),
        ...(describes ? [serialize.describe({ type: 'P' })] : []),
        serialize.execute({}),
        serialize.flush(),
      );
      const got = await r.until('CE', 2000);
      expect(types(got), describeMsgs(got)).toBe(describes ? '12TDC' : '12DC');
      expect(rowsOf(got)).toEqual([['1', REDACTED]]);
      // no ReadyForQuery before the Sync
      expect(await r.within(200)).toEqual([]);
      r.write(serialize.sync());
      const z = await r.until('Z', 2000);
      expect(types(z)).toBe('Z');
    } finally {
      r.destroy();
    }
  });

  it.each([
    ['a named portal, with Describe', 'cur', true],
    ['a named portal, without Describe', 'cur', false],
    ['the unnamed portal, with Describe', '', true],
    ['the unnamed portal, without Describe', '', false],
  ])('Execute with a row limit inside BEGIN (%s): PortalSuspended, then the rest, every row masked', async (_name, portal, describes) => {
    // A portal lives until the end of its transaction (the unnamed one also until the next Bind to it), so
    // inside BEGIN it survives Sync and may be executed again in a later pipeline.
    const script = async (r: Raw): Promise<[Msg[], Msg[]]> => {
      r.write(serialize.query('BEGIN'));
      expect(types(await r.until('Z'))).toBe('CZ');
      r.write(
        serialize.parse({ text: 'SELECT id, token, note FROM secrets ORDER BY id' }),
        serialize.bind({ portal }),
        ...(describes ? [serialize.describe({ type: 'P', name: portal })] : []),
        serialize.execute({ portal, rows: 2 }),
        serialize.sync(),
      );
      const first = await r.until('ZE');
      r.write(serialize.execute({ portal, rows: 0 }), serialize.sync());
      const rest = await r.until('ZE');
      return [first, rest];
    };
    // what PostgreSQL itself answers
    const d = await direct();
    const [dFirst, dRest] = await script(d);
    d.destroy();
    expect(types(dFirst) + '|' + types(dRest)).toBe(`${describes ? '12TDDsZ' : '12DDsZ'}|DDDCZ`);

    const r = await viaGateway();
    try {
      const [first, rest] = await script(r);
      expect(types(first), describeMsgs(first)).toBe(describes ? '12TDDsZ' : '12DDsZ');
      expect(first[first.length - 1]!.body.toString('latin1')).toBe('T'); // still in the transaction
      expect(types(rest), describeMsgs(rest)).toBe('DDDCZ');
      expect(rest.find((m) => m.type === 'C')!.body.toString('utf8')).toBe('SELECT 3\0');
      expect([...rowsOf(first), ...rowsOf(rest)]).toEqual([1, 2, 3, 4, 5].map((i) => [String(i), REDACTED, `note ${i}`]));
      expect(Buffer.concat(r.received).includes('plaintext')).toBe(false);
      r.write(serialize.query('COMMIT'));
      expect(types(await r.until('Z'))).toBe('CZ');
    } finally {
      r.destroy();
    }
  });

  it('Execute with a row limit then Flush, and the rest in the same implicit transaction (no BEGIN): every row masked', async () => {
    const r = await viaGateway();
    try {
      r.write(
        serialize.parse({ text: 'SELECT id, token FROM secrets ORDER BY id' }),
        serialize.bind({}),
        serialize.execute({ rows: 2 }),
        serialize.flush(),
      );
      const first = await r.until('sE', 2000);
      expect(types(first), describeMsgs(first)).toBe('12DDs');
      r.write(serialize.execute({ rows: 2 }), serialize.flush());
      const second = await r.until('sE', 2000);
      expect(types(second), describeMsgs(second)).toBe('DDs');
      r.write(serialize.execute({}), serialize.sync());
      const rest = await r.until('ZE');
      expect(types(rest), describeMsgs(rest)).toBe('DCZ');
      expect([...rowsOf(first), ...rowsOf(second), ...rowsOf(rest)]).toEqual([1, 2, 3, 4, 5].map((i) => [String(i), REDACTED]));
    } finally {
      r.destroy();
    }
  });

  it('a named statement described once is executed later by Bind/Execute alone: rows masked (text and binary)', async () => {
    const r = await viaGateway();
    try {
      r.write(
        serialize.parse({ name: 'shape1', text: 'SELECT id, token FROM secrets WHERE id <= $1 ORDER BY id', types: [23] }),
        serialize.describe({ type: 'S', name: 'shape1' }),
        serialize.sync(),
      );
      expect(types(await r.until('ZE'))).toBe('1tTZ');
      // later pipelines: no Parse, no Describe
      r.write(serialize.bind({ statement: 'shape1', values: ['3'] }), serialize.execute({}), serialize.sync());
      const text = await r.until('ZE');
      expect(types(text), describeMsgs(text)).toBe('2DDDCZ');
      expect(rowsOf(text)).toEqual([
        ['1', REDACTED],
        ['2', REDACTED],
        ['3', REDACTED],
      ]);
      r.write(serialize.bind({ statement: 'shape1', values: ['2'], binary: true }), serialize.execute({}), serialize.sync());
      const bin = await r.until('ZE');
      expect(types(bin), describeMsgs(bin)).toBe('2DDCZ');
      const binRows = bin.filter((m) => m.type === 'D').map((m) => cells(m.body));
      expect(binRows.map((c) => c[0]!.readInt32BE(0))).toEqual([1, 2]);
      expect(binRows.map((c) => c[1]!.toString('utf8'))).toEqual([REDACTED, REDACTED]);
      // twice in one pipeline, with a named portal
      r.write(
        serialize.bind({ portal: 'p1', statement: 'shape1', values: ['1'] }),
        serialize.execute({ portal: 'p1' }),
        serialize.bind({ portal: 'p2', statement: 'shape1', values: ['2'] }),
        serialize.execute({ portal: 'p2' }),
        serialize.sync(),
      );
      const twice = await r.until('ZE');
      expect(types(twice), describeMsgs(twice)).toBe('2DC2DDCZ');
      expect(rowsOf(twice).every((row) => row[1] === REDACTED)).toBe(true);
      expect(Buffer.concat(r.received).includes('plaintext')).toBe(false);
    } finally {
      r.destroy();
    }
  });

  it('an error in the middle of a pipeline: the rest is skipped until Sync, ReadyForQuery comes, the next query works', async () => {
    const r = await viaGateway();
    try {
      // 1/(id - id) fails in Execute (a literal 1/0 is folded by the planner and fails in Bind: see the next test)
      r.write(
        pbe('SELECT 1 AS a'),
        pbe('SELECT 1/(id - id) AS b FROM secrets WHERE id = 1'),
        pbe("SELECT 'after' AS c"),
        pbe('SELECT token FROM secrets WHERE id = 1'),
        serialize.sync(),
      );
      const got = await r.until('Z', 5000);
      expect(types(got), describeMsgs(got)).toBe('12DC12EZ');
      expect(errorFields(got.find((m) => m.type === 'E')!.body).C).toBe('22012');
      expect(rowsOf(got)).toEqual([['1']]);
      expect(got[got.length - 1]!.body.toString('latin1')).toBe('I');
      expect(await r.within(200)).toEqual([]);
      r.write(serialize.query('SELECT 3 AS n'));
      const next = await r.until('ZE');
      expect(types(next)).toBe('TDCZ');
      expect(rowsOf(next)).toEqual([['3']]);
      // the extended protocol works again as well, with masking
      r.write(pbe('SELECT token FROM secrets WHERE id = 4'), serialize.sync());
      const ext = await r.until('ZE');
      expect(types(ext), describeMsgs(ext)).toBe('12DCZ');
      expect(rowsOf(ext)).toEqual([[REDACTED]]);
    } finally {
      r.destroy();
    }
  });

  it('SELECT 1/0 between two good queries in one pipeline: the client sees what the target itself answers', async () => {
    const pipeline = Buffer.concat([pbe('SELECT 1 AS a'), pbe('SELECT 1/0 AS b'), pbe("SELECT 'after' AS c"), serialize.sync(), serialize.query('SELECT 4 AS n')]);
    const d = await direct();
    d.write(pipeline);
    const want = [...(await d.until('Z')), ...(await d.until('Z'))];
    d.destroy();
    const g = await viaGateway();
    try {
      g.write(pipeline);
      const got = [...(await g.until('Z')), ...(await g.until('Z'))];
      expect(types(got), describeMsgs(got)).toBe(types(want));
      expect(types(got)).toMatch(/^12DC.*EZTDCZ$/);
      expect(errorFields(got.find((m) => m.type === 'E')!.body).C).toBe('22012');
      expect(rowsOf(got)).toEqual([['1'], ['4']]);
    } finally {
      g.destroy();
    }
  });

  it('a blocked Parse in the middle of a pipeline: 42501 naming the rule replaces the error, nothing after it runs', async () => {
    const server = inject('pg');
    await psqlAdmin(server, 'DELETE FROM plog', db);
    const r = await viaGateway();
    try {
      r.write(
        pbe('INSERT INTO plog VALUES (1)'),
        pbe('DROP TABLE victim'),
        pbe('INSERT INTO plog VALUES (2)'),
        pbe('SELECT 3 AS n'),
        serialize.sync(),
      );
      const got = await r.until('Z', 5000);
      expect(types(got), describeMsgs(got)).toBe('12CEZ');
      const f = errorFields(got.find((m) => m.type === 'E')!.body);
      expect(f.C).toBe('42501');
      expect(`${f.M} ${f.H ?? ''}`).toMatch(/no-drop/);
      expect(f.M).not.toMatch(/portcullis_blocked_statement|syntax/);
      expect(got[got.length - 1]!.body.toString('latin1')).toBe('I');
      expect(await r.within(200)).toEqual([]);
      r.write(serialize.query('SELECT 5 AS n'));
      const next = await r.until('ZE');
      expect(rowsOf(next)).toEqual([['5']]);
    } finally {
      r.destroy();
    }
    // the target: the table survives, the INSERT after the blocked statement never ran, and the one before it was
    // rolled back with the implicit transaction the error aborted (the client saw that error too)
    expect((await psqlAdmin(server, "SELECT to_regclass('public.victim') IS NOT NULL", db)).trim()).toBe('t');
    expect((await psqlAdmin(server, 'SELECT count(*) FROM plog WHERE id = 2', db)).trim()).toBe('0');
    expect((await psqlAdmin(server, 'SELECT count(*) FROM plog', db)).trim()).toBe('0');
    gw.audit.flush();
    const ev = gw.audit.events(undefined, 100_000).filter((e) => e.kind === 'decision' && e.text === 'DROP TABLE victim');
    expect(ev.map((e) => [e.decision, e.rule])).toEqual([['block', 'no-drop']]);
  });
});

// ---- secrets and logs -----------------------------------------------------------------------------------------

describe('secrets never reach the logs', () => {
  it('trace-level logs of logins (good and bad), queries and three upstream auth methods hold no password', async () => {
    const server = inject('pg');
    const clientPw = 'Cl1ent-Pw-7f3a9q';
    const wrongPw = 'Wr0ng-Pw-k2m8zz';
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString('utf8'));
        cb();
      },
    });
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-gw-'));
    const target = (user: string, password: string) => ({ host: server.host, port: server.port, database: db, user, password, tls: 'disable' });
    const config = configSchema.parse({
      dataDir,
      listen: { postgres: { host: '127.0.0.1', port: 0 } },
      identity: { users: [{ name: 'carol', groups: ['dev'], password: { hash: testHash(clientPw) } }] },
      connections: [
        { name: 'clear-db', protocol: 'postgres', target: target(PG_CLEAR_USER, PG_CLEAR_PASSWORD), allow: ['dev'] },
        { name: 'md5-db', protocol: 'postgres', target: target(PG_MD5_USER, PG_MD5_PASSWORD), allow: ['dev'] },
        { name: 'scram-db', protocol: 'postgres', target: target(PG_SCRAM_USER, PG_SCRAM_PASSWORD), allow: ['dev'], masking: 'tokens' },
      ],
      masking: [{ name: 'tokens', columns: [{ match: 'secrets.token', with: 'redact' }] }],
    });
    const audit = new SqliteAuditStore(path.join(dataDir, 'portcullis.db'));
    const gateway = await startGateway(config, { logger: pino({ level: 'trace' }, sink), audit });
    try {
      const port = gateway.ports.postgres!;
      for (const database of ['clear-db', 'md5-db', 'scram-db']) {
        const c = new pg.Client({ host: '127.0.0.1', port, user: 'carol', password: clientPw, database });
        await c.connect();
        const r = await c.query('SELECT current_user AS u, $1::text AS echo', ['hi']);
        expect(r.rows[0].echo).toBe('hi');
        await c.end();
      }
      const bad = new pg.Client({ host: '127.0.0.1', port, user: 'carol', password: wrongPw, database: 'clear-db' });
      await expect(bad.connect()).rejects.toMatchObject({ code: '28P01' });
      await bad.end().catch(() => undefined);
      // and once with the password in the user#connection form over a raw socket
      const raw = await login(port, serialize.startup({ user: 'carol#scram-db', database: db }), clientPw);
      raw.write(serialize.query('SELECT 1'));
      await raw.until('Z');
      raw.destroy();
      expect(await waitFor(() => gateway.sessions() === 0, 5000)).toBe(true);
    } finally {
      await gateway.close(500);
      audit.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
    const log = lines.join('');
    // the capture works and holds the events we caused
    expect(log.match(/session started/g)?.length ?? 0).toBeGreaterThanOrEqual(4);
    expect(log).toMatch(/authentication failed/);
    expect(log).toMatch(/client →/);
    const md5 = (pw: string, user: string) => createHash('md5').update(pw + user).digest('hex');
    const forbidden: Record<string, string> = {
      'client password': clientPw,
      'wrong password': wrongPw,
      'target password (cleartext role)': PG_CLEAR_PASSWORD,
      'target password (md5 role)': PG_MD5_PASSWORD,
      'target password (scram role)': PG_SCRAM_PASSWORD,
      'md5 hash sent upstream': md5(PG_MD5_PASSWORD, PG_MD5_USER),
    };
    for (const [what, secret] of Object.entries(forbidden)) {
      expect(log.includes(secret), `${what} found in the log`).toBe(false);
    }
  });
});
