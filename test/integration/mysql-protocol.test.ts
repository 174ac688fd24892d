// MySQL protocol details through the gateway, with a raw client where drivers do not reach: result sets
// for clients with and without CLIENT_DEPRECATE_EOF, cursors and COM_STMT_FETCH, the utility commands,
// long-data parameters, 16 MiB continuation packets, and KILL QUERY translated to the target's thread id.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import mysql from 'mysql2/promise';
import { Cap, Com } from '../../protocols/mysql/codes.js';
import { decodeErr, decodePrepareOk } from '../../protocols/mysql/messages.js';
import { MyReader, MyWriter } from '../../protocols/mysql/packets.js';
import { createMysqlDatabase, mariadbAdmin, MY_ED } from '../harness/mariadb.js';
import { startTestGateway, type TestGateway } from '../harness/gateway.js';
import { MY_LISTEN, myConnection, myTarget, myUser } from '../harness/mysql-fixtures.js';
import { DEFAULT_TEST_CAPS, executeBody, MyWire, textCells, type Pkt } from '../harness/mywire.js';

const my = inject('mariadb');
const DB = 'protocol';
let gw: TestGateway;
let port = 0;

beforeAll(async () => {
  await createMysqlDatabase(my, DB);
  await mariadbAdmin(
    my,
    `CREATE TABLE ${DB}.people (id INT PRIMARY KEY, email VARCHAR(100), note TEXT);
     INSERT INTO ${DB}.people VALUES (1,'alice@example.com','x'),(2,'bob@example.org','card 4111111111111111'),(3,'carol@example.net',NULL);
     CREATE TABLE ${DB}.docs (id INT PRIMARY KEY, body LONGTEXT);
     SET GLOBAL max_allowed_packet = 67108864;`,
  );
  gw = await startTestGateway({
    listen: MY_LISTEN,
    identity: { users: [myUser('alice', 'dev'), myUser('dave', 'dev')] },
    connections: [myConnection('shop', myTarget(my, DB), 'dev', { masking: 'pii' })],
    masking: [{ name: 'pii', columns: [{ match: '*.email', with: 'partial' }], detect: ['email', 'credit_card'], with: 'redact' }],
  });
  port = gw.gateway.ports.mysql!;
});
afterAll(async () => gw?.stop());

async function session(caps = DEFAULT_TEST_CAPS, user = 'alice'): Promise<MyWire> {
  const w = await MyWire.connect(port);
  const ok = await w.login(`${user}#shop`, `${user}-pw`, { caps });
  expect(ok.payload[0], ok.payload[0] === 0xff ? decodeErr(ok.payload, 0, ok.payload.length).message : '').toBe(0);
  return w;
}

/** Each packet of an answer carries the next sequence id after the command's. */
function expectConsecutive(packets: Pkt[], first = 1): void {
  packets.forEach((p, i) => expect(p.seq, `packet ${i}`).toBe((first + i) & 0xff));
}

describe('result sets with and without CLIENT_DEPRECATE_EOF', () => {
  for (const deprecate of [false, true]) {
    it(`text rows, masked, sequence ids consecutive (client ${deprecate ? 'with' : 'without'} DEPRECATE_EOF)`, async () => {
      const w = await session(deprecate ? (DEFAULT_TEST_CAPS | Cap.DEPRECATE_EOF) >>> 0 : DEFAULT_TEST_CAPS);
      try {
        w.command(Com.QUERY, 'SELECT id, email, note FROM people ORDER BY id');
        const r = await w.result(deprecate);
        expect(r.err).toBeUndefined();
        expect(r.columns.map((c) => c.name)).toEqual(['id', 'email', 'note']);
        expect(r.rows.map(textCells)).toEqual([
          ['1', 'a***@example.com', 'x'],
          ['2', 'b***@example.org', 'card [REDACTED]'],
          ['3', 'c***@example.net', null],
        ]);
        expectConsecutive(r.packets);
        // the terminator: OK with the 0xFE header, or a 5-byte EOF
        const last = r.packets[r.packets.length - 1]!.payload;
        expect(last[0]).toBe(0xfe);
        if (!deprecate) expect(last.length).toBe(5);
        // an empty result set still has its terminators
        w.command(Com.QUERY, 'SELECT id FROM people WHERE id < 0');
        const e = await w.result(deprecate);
        expect(e.rows).toEqual([]);
        expectConsecutive(e.packets);
      } finally {
        w.end();
      }
    });

    it(`a cursor: COM_STMT_EXECUTE opens it, COM_STMT_FETCH brings masked binary rows (client ${deprecate ? 'with' : 'without'} DEPRECATE_EOF)`, async () => {
      const caps = deprecate ? (DEFAULT_TEST_CAPS | Cap.DEPRECATE_EOF) >>> 0 : DEFAULT_TEST_CAPS;
      const w = await session(caps);
      try {
        w.command(Com.STMT_PREPARE, 'SELECT id, email FROM people ORDER BY id');
        const prep = await w.read();
        const ok = decodePrepareOk(prep!.payload, 0, prep!.payload.length);
        expect(ok.columns).toBe(2);
        // two column definitions, then an EOF unless deprecated
        for (let i = 0; i < 2 + (deprecate ? 0 : 1); i++) await w.read();
        w.command(Com.STMT_EXECUTE, executeBody(ok.id, true));
        const opened = await w.result(deprecate);
        expect(opened.rows).toEqual([]);
        expect(opened.status & 0x40).toBe(0x40); // SERVER_STATUS_CURSOR_EXISTS
        expectConsecutive(opened.packets);
        w.command(Com.STMT_FETCH, new MyWriter(8).u32(ok.id).u32(10).payload());
        const rows: Buffer[] = [];
        let p: Pkt | null;
        const fetched: Pkt[] = [];
        for (;;) {
          p = await w.read();
          fetched.push(p!);
          if (p!.payload[0] === 0xfe) break;
          rows.push(p!.payload);
        }
        expectConsecutive(fetched);
        expect(rows).toHaveLength(3);
        // binary row: 0x00 · NULL bitmap (1 byte for 2 columns) · int32 id · lenenc email
        const emails = rows.map((r) => {
          const rd = new MyReader().reset(r, 2, r.length);
          rd.u32();
          return rd.lenencString();
        });
        expect(emails).toEqual(['a***@example.com', 'b***@example.org', 'c***@example.net']);
      } finally {
        w.end();
      }
    });
  }
});

describe('utility commands', () => {
  it('COM_PING, COM_INIT_DB, COM_STATISTICS, COM_FIELD_LIST, COM_SET_OPTION, COM_RESET_CONNECTION', async () => {
    const w = await session();
    try {
      w.command(Com.PING);
      expect((await w.read())!.payload[0]).toBe(0x00);
      w.command(Com.INIT_DB, DB);
      expect((await w.read())!.payload[0]).toBe(0x00);
      w.command(Com.STATISTICS);
      expect((await w.read())!.payload.toString()).toMatch(/Uptime: \d+/);
      w.command(Com.FIELD_LIST, Buffer.concat([Buffer.from('people'), Buffer.alloc(1)]));
      const defs: Pkt[] = [];
      for (;;) {
        const p = await w.read();
        defs.push(p!);
        if (p!.payload[0] === 0xfe || p!.payload[0] === 0xff) break;
      }
      expect(defs).toHaveLength(4); // three column definitions and EOF
      expectConsecutive(defs);
      w.command(Com.SET_OPTION, Buffer.from([0, 0])); // MYSQL_OPTION_MULTI_STATEMENTS_ON
      expect([0x00, 0xfe]).toContain((await w.read())!.payload[0]);
      w.command(Com.RESET_CONNECTION);
      expect((await w.read())!.payload[0]).toBe(0x00);
      w.command(Com.QUERY, 'SELECT DATABASE()');
      expect((await w.result(false)).rows.map(textCells)).toEqual([[DB]]);
    } finally {
      w.end();
    }
  });

  it('COM_CHANGE_USER is refused clearly and the session goes on', async () => {
    const w = await session();
    try {
      w.command(Com.CHANGE_USER, Buffer.concat([Buffer.from('root'), Buffer.alloc(2)]));
      const e = await w.read();
      expect(e!.payload[0]).toBe(0xff);
      expect(decodeErr(e!.payload, 0, e!.payload.length).message).toMatch(/COM_CHANGE_USER is not supported/);
      w.command(Com.QUERY, 'SELECT CURRENT_USER()');
      expect((await w.result(false)).rows.map(textCells)[0]![0]).toMatch(/^pc_native@/);
    } finally {
      w.end();
    }
  });

  it('COM_STMT_SEND_LONG_DATA, COM_STMT_RESET and COM_STMT_CLOSE around an execute with a parameter', async () => {
    const w = await session();
    try {
      w.command(Com.STMT_PREPARE, 'SELECT CONCAT(?, "!") AS v');
      const ok = decodePrepareOk((await w.read())!.payload, 0, 12);
      // one parameter definition + EOF, one column definition + EOF
      for (let i = 0; i < 4; i++) await w.read();
      w.command(Com.STMT_SEND_LONG_DATA, new MyWriter(16).u32(ok.id).u16(0).str('hello ').payload());
      w.command(Com.STMT_SEND_LONG_DATA, new MyWriter(16).u32(ok.id).u16(0).str('world').payload());
      // execute: id · flags · iterations · NULL bitmap (1 byte) · new-params-bound · type (VAR_STRING) · no value (long data)
      w.command(Com.STMT_EXECUTE, new MyWriter(16).u32(ok.id).u8(0).u32(1).u8(0).u8(1).u16(0xfd).payload());
      const r = await w.result(false);
      expect(r.err).toBeUndefined();
      const row = r.rows[0]!;
      expect(new MyReader().reset(row, 2, row.length).lenencString()).toBe('hello world!');
      w.command(Com.STMT_RESET, new MyWriter(4).u32(ok.id).payload());
      expect((await w.read())!.payload[0]).toBe(0x00);
      w.command(Com.STMT_CLOSE, new MyWriter(4).u32(ok.id).payload());
      // no answer to COM_STMT_CLOSE: the next command's answer comes next
      w.command(Com.PING);
      expect((await w.read())!.payload[0]).toBe(0x00);
    } finally {
      w.end();
    }
  });
});

describe('16 MiB packets', () => {
  it('a query larger than one packet (client continuation) and a row larger than one packet, masked', async () => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'alice#shop', password: 'alice-pw', database: DB });
    try {
      const big = 'a'.repeat(17 * 1024 * 1024);
      const doc = `${big} mail me: someone@example.com`;
      await c.query('INSERT INTO docs VALUES (1, ?)', [doc]);
      const [len] = await c.query('SELECT LENGTH(body) AS n FROM docs WHERE id = 1');
      expect(len).toEqual([{ n: doc.length }]);
      const [rows] = (await c.query('SELECT body FROM docs WHERE id = 1')) as unknown as [Array<{ body: string }>];
      expect(rows[0]!.body.length).toBeGreaterThan(big.length);
      expect(rows[0]!.body.startsWith(big)).toBe(true);
      expect(rows[0]!.body).not.toContain('someone@example.com');
      expect(rows[0]!.body.endsWith('[REDACTED]')).toBe(true);
      const [ex] = (await c.execute('SELECT body FROM docs WHERE id = ?', [1])) as unknown as [Array<{ body: string }>];
      expect(ex[0]!.body).toBe(rows[0]!.body);
    } finally {
      await c.end();
    }
  }, 60_000);

  it("a message past the target's max_allowed_packet is refused as it arrives, not buffered whole", async () => {
    const w = await session();
    try {
      w.command(Com.QUERY, 'SELECT 1');
      await w.result(false); // the login probe (sql_mode, max_allowed_packet) has been answered by now
      const size = 64 * 1024 * 1024 + 64 * 1024; // max_allowed_packet is 64 MiB here (beforeAll)
      const chunk = Buffer.alloc(0xffffff, 0x20);
      // a COM_QUERY of `size` bytes in 16 MiB packets; the gateway must answer before the last one
      let sent = 0;
      let seq = 0;
      while (sent <= size && !w.closed) {
        const h = Buffer.from([0xff, 0xff, 0xff, seq++]);
        w.raw(Buffer.concat([h, sent === 0 ? Buffer.concat([Buffer.from([Com.QUERY]), chunk.subarray(1)]) : chunk]));
        sent += 0xffffff;
        await new Promise((r) => setImmediate(r));
      }
      const e = await w.read(10_000);
      expect(e!.payload[0]).toBe(0xff);
      expect(decodeErr(e!.payload, 0, e!.payload.length)).toMatchObject({ code: 1047, state: '08S01', message: expect.stringContaining('max_allowed_packet') });
      expect(await w.closedWithin(5000)).toEqual([]);
    } finally {
      w.end();
    }
  }, 60_000);

  it('backpressure: a client that stops reading stops the target, instead of the gateway buffering the result', async () => {
    const w = await session();
    try {
      // about 200 MB of rows
      w.command(Com.QUERY, "SELECT seq, REPEAT('x', 1000) AS pad FROM seq_1_to_200000");
      w.sock.pause();
      await new Promise((r) => setTimeout(r, 300));
      const before = process.memoryUsage().arrayBuffers;
      await new Promise((r) => setTimeout(r, 1500));
      const grown = process.memoryUsage().arrayBuffers - before;
      // the gateway runs in this process: without backpressure it would hold most of the 200 MB by now
      expect(grown).toBeLessThan(32 * 1024 * 1024);
      w.sock.resume();
      const r = await w.result(false);
      expect(r.rows).toHaveLength(200_000);
      expect(textCells(r.rows[199_999]!)[0]).toBe('200000');
    } finally {
      w.end();
    }
  }, 60_000);

  it('a large result streams through with every row intact', async () => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'alice#shop', password: 'alice-pw', database: DB });
    try {
      const [rows] = (await c.query(
        "SELECT seq, CONCAT('user', seq, '@example.com') AS email FROM seq_1_to_200000",
      )) as unknown as [Array<{ seq: number; email: string }>];
      expect(rows).toHaveLength(200_000);
      expect(rows[199_999]).toEqual({ seq: 200_000, email: 'u***@example.com' });
    } finally {
      await c.end();
    }
  }, 60_000);
});

describe('KILL QUERY', () => {
  it("is translated from the gateway's connection id to the target's for the same user", async () => {
    const a = await session();
    const b = await session();
    try {
      const gatewayId = a.greeting.connectionId;
      a.command(Com.QUERY, 'SELECT SLEEP(20) AS s');
      const started = Date.now();
      await new Promise((r) => setTimeout(r, 300));
      b.command(Com.QUERY, `KILL QUERY ${gatewayId}`);
      const k = await b.read();
      expect(k!.payload[0], k!.payload[0] === 0xff ? decodeErr(k!.payload, 0, k!.payload.length).message : '').toBe(0x00);
      const r = await a.result(false);
      // MariaDB ends the interrupted statement with ER_QUERY_INTERRUPTED (MySQL: SLEEP() returns 1)
      if (r.err) expect(r.err.code).toBe(1317);
      else expect(r.rows.map(textCells)).toEqual([['1']]);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      a.end();
      b.end();
    }
  }, 30_000);

  it("is not translated for another user's session", async () => {
    const a = await session();
    const d = await session(DEFAULT_TEST_CAPS, 'dave');
    try {
      d.command(Com.QUERY, 'SELECT CONNECTION_ID()');
      const dTarget = Number(textCells((await d.result(false)).rows[0]!)[0]);
      a.command(Com.QUERY, `KILL QUERY ${d.greeting.connectionId}`);
      const k = await a.read();
      // the gateway id means nothing to the target (or another thread): never dave's target thread by translation
      if (d.greeting.connectionId !== dTarget) expect(k!.payload[0]).toBe(0xff);
      d.command(Com.PING);
      expect((await d.read())!.payload[0]).toBe(0x00);
    } finally {
      a.end();
      d.end();
    }
  });
});

describe('the upstream leg', () => {
  let up: TestGateway;
  beforeAll(async () => {
    expect(my.caFile).toBeDefined();
    up = await startTestGateway({
      listen: MY_LISTEN,
      identity: { users: [myUser('alice', 'dev')] },
      connections: [
        myConnection('tls-req', myTarget(my, DB, { tls: 'require' }), 'dev'),
        myConnection('tls-full', myTarget(my, DB, { tls: 'verify-full', ca: my.caFile }), 'dev'),
        myConnection('tls-wrongca', myTarget(my, DB, { tls: 'verify-full', ca: `${my.dir}/server.crt`, host: 'localhost' }), 'dev'),
        myConnection('badcreds', myTarget(my, DB, { password: 'not-the-password' }), 'dev'),
        myConnection('ed', myTarget(my, DB, { user: MY_ED.user, password: MY_ED.password }), 'dev'),
      ],
    });
  });
  afterAll(async () => up?.stop());

  for (const conn of ['tls-req', 'tls-full']) {
    it(`target.tls ${conn === 'tls-req' ? 'require' : 'verify-full'}: the gateway's session to the target is encrypted`, async () => {
      const c = await mysql.createConnection({ host: '127.0.0.1', port: up.gateway.ports.mysql!, user: `alice#${conn}`, password: 'alice-pw' });
      try {
        const [rows] = (await c.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")) as unknown as [Array<{ Value: string }>];
        expect(rows[0]!.Value).not.toBe('');
      } finally {
        await c.end();
      }
    });
  }

  it.runIf(my.ed25519 /* only when the server could install the auth_ed25519 plugin */)('an account using MariaDB ed25519 is refused with a clear message', async () => {
    await expect(mysql.createConnection({ host: '127.0.0.1', port: up.gateway.ports.mysql!, user: 'alice#ed', password: 'alice-pw' })).rejects.toMatchObject({
      errno: 1429,
      message: expect.stringContaining('client_ed25519, which portcullis does not support'),
    });
  });

  it('a target that refuses the gateway, or whose certificate does not verify, is error 1429 naming the connection', async () => {
    for (const conn of ['badcreds', 'tls-wrongca']) {
      await expect(mysql.createConnection({ host: '127.0.0.1', port: up.gateway.ports.mysql!, user: `alice#${conn}`, password: 'alice-pw' })).rejects.toMatchObject({
        errno: 1429,
        message: expect.stringContaining(conn),
      });
    }
  });
});
