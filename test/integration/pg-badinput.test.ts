// Malformed client input to the PostgreSQL listener (DESIGN "Errors": malformed client protocol → 08P01, then
// close; "Fuzz/property": the gateway answers with a protocol error and keeps serving other sessions).
// Each case checks what the bad client got, then that a normal psql session on the same gateway still works.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { createDatabase, pgBin, PG_MD5_PASSWORD, PG_MD5_USER } from '../harness/postgres.js';
import { run } from '../harness/processes.js';
import { startTestGateway, type TestGateway } from '../harness/gateway.js';
import { pgConnection, pgTarget, testUser } from '../harness/fixtures.js';
import { errorFields, frame, login, Raw, startup } from '../harness/pgwire.js';

let gw: TestGateway;
let db: string;
/** a session opened before the abuse starts and used after it: the gateway must keep serving it */
let bystander: pg.Client;

// ---- helpers ----------------------------------------------------------------------------------------

/** A raw session logged in to app-db as alice (cleartext password, loopback). */
const loggedIn = (): Promise<Raw> => login(gw.port, startup({ user: 'alice', database: 'app-db' }), 'alice-pw');

/** What the gateway must do with malformed input: ErrorResponse 08P01 (FATAL), then close. */
async function expectProtocolErrorAndClose(r: Raw, timeoutMs = 10_000): Promise<Record<string, string>> {
  const msgs = await r.drainUntilClosed(timeoutMs);
  const errs = msgs.filter((m) => m.type === 'E');
  expect(errs.length, `messages: ${msgs.map((m) => m.type).join('')}`).toBeGreaterThan(0);
  const f = errorFields(errs[errs.length - 1]!.body);
  expect(f.C, f.M).toBe('08P01');
  expect(f.S).toBe('FATAL');
  expect(r.closed).toBe(true);
  return f;
}

function psql(args: string[]) {
  return run(pgBin('psql'), ['-X', '-v', 'ON_ERROR_STOP=1', `host=127.0.0.1 port=${gw.port} user=alice dbname=app-db sslmode=disable`, ...args], {
    env: { PGPASSWORD: 'alice-pw', PGCONNECT_TIMEOUT: '10', PGOPTIONS: '' },
    timeoutMs: 30_000,
  });
}

/** A fresh psql session works and the pre-existing bystander session still answers. */
async function stillServes(): Promise<void> {
  const n = Math.floor(Math.random() * 1e6);
  const r = await psql(['-At', '-c', `SELECT ${n}`]);
  expect(r.stderr).toBe('');
  expect(r.stdout).toBe(`${n}\n`);
  expect((await bystander.query('SELECT $1::int AS n', [n])).rows[0].n).toBe(n);
}

async function waitFor(pred: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!pred() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return pred();
}

// ---- setup --------------------------------------------------------------------------------------------

/** A short startup deadline (the default is 15 s) so the tests of it run in every CI run. */
const STARTUP_DEADLINE_MS = 3000;

beforeAll(async () => {
  const server = inject('pg');
  db = await createDatabase('pg_badinput');
  gw = await startTestGateway({
    identity: { users: [testUser('alice', 'dba')] },
    connections: [pgConnection('app-db', pgTarget(server, db, PG_MD5_USER, PG_MD5_PASSWORD), 'dba')],
  }, { startupDeadlineMs: STARTUP_DEADLINE_MS });
  bystander = new pg.Client({ host: '127.0.0.1', port: gw.port, user: 'alice', password: 'alice-pw', database: 'app-db' });
  await bystander.connect();
});

afterAll(async () => {
  await bystander?.end().catch(() => undefined);
  await gw?.stop();
});

// ---- before startup -------------------------------------------------------------------------------------

describe('garbage before or instead of a StartupMessage', () => {
  it('an HTTP request gets 08P01 and a close', async () => {
    const r = await Raw.connect(gw.port);
    r.write(Buffer.from('GET / HTTP/1.1\r\nHost: gateway\r\nUser-Agent: curl/8\r\n\r\n'));
    await expectProtocolErrorAndClose(r);
    await stillServes();
  });

  it.each([
    ['2 GiB', 0x7fffffff],
    ['negative', -1],
    ['INT32_MIN', -0x80000000],
    ['7', 7],
    ['0', 0],
    ['10,001 (over the startup cap)', 10_001],
  ])('a startup length of %s gets 08P01 and a close', async (_name, len) => {
    const r = await Raw.connect(gw.port);
    const b = Buffer.alloc(8);
    b.writeInt32BE(len, 0);
    b.writeInt32BE(196608, 4);
    r.write(b);
    await expectProtocolErrorAndClose(r);
    await stillServes();
  });

  it('a StartupMessage without a user gets 08P01', async () => {
    const r = await Raw.connect(gw.port);
    r.write(startup({ database: 'app-db' }));
    await expectProtocolErrorAndClose(r);
    await stillServes();
  });

  it('an unterminated StartupMessage (no final NUL) gets 08P01', async () => {
    const r = await Raw.connect(gw.port);
    const s = startup({ user: 'alice', database: 'app-db' });
    const cut = Buffer.from(s.subarray(0, s.length - 1));
    cut.writeInt32BE(cut.length, 0);
    r.write(cut);
    await expectProtocolErrorAndClose(r);
    await stillServes();
  });

  it('an unsupported protocol version is refused and closed', async () => {
    const r = await Raw.connect(gw.port);
    r.write(startup({ user: 'alice', database: 'app-db' }, 2 << 16));
    const msgs = await r.drainUntilClosed();
    expect(msgs.map((m) => m.type)).toEqual(['E']);
    expect(errorFields(msgs[0]!.body).C).toMatch(/^(0A000|08P01)$/);
    await stillServes();
  });

  it('bytes sent after SSLRequest before the answer (CVE-2021-23214) get 08P01, never a TLS upgrade', async () => {
    const r = await Raw.connect(gw.port);
    r.write(Buffer.concat([serialize.requestSsl(), startup({ user: 'alice', database: 'app-db' })]));
    await expectProtocolErrorAndClose(r);
    await stillServes();
  });

  it('a CancelRequest with an unknown key is dropped and closed', async () => {
    const r = await Raw.connect(gw.port);
    r.write(serialize.cancel(12345, 67890));
    expect(await r.drainUntilClosed()).toEqual([]);
    await stillServes();
  });

  it('a non-password message where the password belongs gets 08P01', async () => {
    const r = await Raw.connect(gw.port);
    r.write(startup({ user: 'alice', database: 'app-db' }));
    expect((await r.msg())?.type).toBe('R');
    r.write(serialize.query('SELECT 1'));
    await expectProtocolErrorAndClose(r);
    await stillServes();
  });

  it('a password message claiming 2 GiB gets 08P01', async () => {
    const r = await Raw.connect(gw.port);
    r.write(startup({ user: 'alice', database: 'app-db' }));
    expect((await r.msg())?.type).toBe('R');
    r.write(frame('p', Buffer.from('alice-pw\0'), 0x7fffffff));
    await expectProtocolErrorAndClose(r);
    await stillServes();
  });

  it('a client that connects and sends nothing does not hold up anyone else', async () => {
    const silent = await Promise.all(Array.from({ length: 20 }, () => Raw.connect(gw.port)));
    try {
      await stillServes();
      expect(silent.every((s) => !s.closed)).toBe(true);
    } finally {
      for (const s of silent) s.destroy();
    }
  });

  it(
    'a silent client is closed after the startup deadline with 08P01',
    async () => {
      const r = await Raw.connect(gw.port);
      const started = Date.now();
      const msgs = await r.drainUntilClosed(25_000);
      // closed by the deadline, not at once
      expect(Date.now() - started).toBeGreaterThanOrEqual(STARTUP_DEADLINE_MS - 100);
      const errs = msgs.filter((m) => m.type === 'E');
      expect(errs.length).toBe(1);
      expect(errorFields(errs[0]!.body).C).toBe('08P01');
      await stillServes();
    },
    40_000,
  );

  it(
    'clients that go silent inside the TLS handshake (after SSLRequest, or a direct-TLS first byte) are closed by the startup deadline too',
    async () => {
      const afterS = await Raw.connect(gw.port);
      afterS.write(serialize.requestSsl());
      const direct = await Raw.connect(gw.port);
      direct.write(Buffer.from([0x16, 0x03, 0x01])); // the start of a TLS record, then nothing
      const started = Date.now();
      const [a, b] = await Promise.all([afterS.waitClosed(25_000), direct.waitClosed(25_000)]);
      afterS.destroy();
      direct.destroy();
      expect({ afterSslRequest: a, directTls: b, within25s: Date.now() - started < 25_000 }).toEqual({ afterSslRequest: true, directTls: true, within25s: true });
      await stillServes();
    },
    40_000,
  );
});

// ---- after login -------------------------------------------------------------------------------------------

describe('malformed frames after login', () => {
  it('a frame claiming 2 GiB (0x7fffffff) gets 08P01 and a close', async () => {
    const r = await loggedIn();
    r.write(frame('Q', Buffer.from('SELECT 1\0'), 0x7fffffff));
    await expectProtocolErrorAndClose(r);
    await stillServes();
  });

  it('a frame with a length below 4 gets 08P01 and a close', async () => {
    const r = await loggedIn();
    r.write(frame('Q', Buffer.alloc(0), 3));
    await expectProtocolErrorAndClose(r);
    await stillServes();
  });

  it('a truncated frame and then a close ends the session cleanly', async () => {
    const before = gw.gateway.sessions();
    const r = await loggedIn();
    expect(await waitFor(() => gw.gateway.sessions() === before + 1, 5000)).toBe(true);
    r.write(frame('Q', Buffer.from('SELECT 1'), 100)); // 100 declared, 8 sent
    r.sock.end();
    expect(await r.waitClosed(5000)).toBe(true);
    expect(await waitFor(() => gw.gateway.sessions() === before, 5000)).toBe(true);
    await stillServes();
  });

  it('an unknown message code gets 08P01 and a close', async () => {
    const r = await loggedIn();
    r.write(frame('z', Buffer.alloc(0)));
    await expectProtocolErrorAndClose(r);
    await stillServes();
  });

  it('a backend-only message code from the client (\'T\' RowDescription) gets 08P01', async () => {
    const r = await loggedIn();
    r.write(frame('T', Buffer.from([0, 0])));
    await expectProtocolErrorAndClose(r);
    await stillServes();
  });

  it('a Bind whose parameter count exceeds its bytes gets 08P01 and is never executed', async () => {
    const r = await loggedIn();
    r.write(serialize.parse({ text: 'SELECT $1::int' }));
    // portal "" · statement "" · 0 formats · 5 parameters · (nothing)
    r.write(frame('B', Buffer.from([0, 0, 0, 0, 0, 5])));
    r.write(serialize.sync());
    const f = await expectProtocolErrorAndClose(r);
    expect(f.M).toMatch(/malformed|short|invalid/i);
    await stillServes();
  });

  it('a Bind whose parameter length runs past the message gets 08P01', async () => {
    const r = await loggedIn();
    const body = Buffer.from([0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xf0, 0x41, 0, 0]);
    r.write(Buffer.concat([serialize.parse({ text: 'SELECT $1' }), frame('B', body), serialize.sync()]));
    await expectProtocolErrorAndClose(r);
    await stillServes();
  });

  it.each([
    ['Query without its NUL', frame('Q', Buffer.from('SELECT 1'))],
    ['Parse without the query string', frame('P', Buffer.from([0]))],
    ['Execute with no fields', frame('E', Buffer.alloc(0))],
    ['Describe with a bad target kind', frame('D', Buffer.from('X\0'))],
    ['Close with no fields', frame('C', Buffer.alloc(0))],
    ['Bind with a negative format count', frame('B', Buffer.from([0, 0, 0xff, 0xff]))],
  ])('%s gets 08P01', async (_name, bad) => {
    const r = await loggedIn();
    r.write(Buffer.concat([bad, serialize.sync()]));
    await expectProtocolErrorAndClose(r);
    await stillServes();
  });

  it('a valid query sent one byte at a time still works', async () => {
    const r = await loggedIn();
    try {
      const q = serialize.query('SELECT 40 + 2');
      for (const byte of q) {
        r.write(Buffer.from([byte]));
        await new Promise((res) => setTimeout(res, 2));
      }
      const msgs = await r.until('ZE');
      const row = msgs.find((m) => m.type === 'D');
      expect(row?.body.toString('utf8', 6)).toBe('42');
      expect(msgs[msgs.length - 1]?.type).toBe('Z');
    } finally {
      r.destroy();
    }
  });
});

// ---- at scale ------------------------------------------------------------------------------------------------

describe('many bad clients at once', () => {
  it('200 concurrent connections sending garbage are all closed; then a good session works', async () => {
    const patterns = (i: number): Buffer => {
      switch (i % 5) {
        case 0:
          return Buffer.from(`GET /${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
        case 1:
          return Buffer.alloc(64, 0xff);
        case 2:
          return Buffer.from([0, 0, 0, 7, 0, 3, 0, 0]);
        case 3:
          return Buffer.concat([Buffer.from([0x7f]), randomBytes(200)]);
        default:
          return Buffer.from('\x00\x00\x00\x10\x00\x03\x00\x00user\x00a'); // a startup cut short, then EOF
      }
    };
    const conns = await Promise.all(Array.from({ length: 200 }, () => Raw.connect(gw.port)));
    conns.forEach((c, i) => {
      c.write(patterns(i));
      c.sock.end();
    });
    const closed = await Promise.all(conns.map((c) => c.waitClosed(15_000)));
    expect(closed.filter((x) => !x).length).toBe(0);
    await stillServes();
  });

  it('30 logged-in sessions sending unknown messages at once each get 08P01; the rest keep working', async () => {
    const before = gw.gateway.sessions();
    const sessions = await Promise.all(Array.from({ length: 30 }, () => loggedIn()));
    for (const s of sessions) s.write(frame('\x01', Buffer.from('junk')));
    const results = await Promise.all(sessions.map((s) => s.drainUntilClosed(10_000)));
    for (const msgs of results) {
      const e = msgs.find((m) => m.type === 'E');
      expect(e && errorFields(e.body).C).toBe('08P01');
    }
    expect(await waitFor(() => gw.gateway.sessions() === before, 5000)).toBe(true);
    await stillServes();
  });
});
