// Security review of the MySQL path: attacks on the guardrails (statements the analyser could misread or that
// store SQL to run later), on masking (ways a masked column's value could reach the client unmasked) and on
// the relay itself (pipelining, unknown statement ids). Attacks that are stopped are regression tests; the
// ones it does not stop are `it.fails`: the derived-value cases are a known, documented limit (as on PostgreSQL).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Cap, Com } from '../../protocols/mysql/codes.js';
import { decodeErr, decodePrepareOk, type Err } from '../../protocols/mysql/messages.js';
import { MyWriter } from '../../protocols/mysql/packets.js';
import { createMysqlDatabase, mariadbAdmin } from '../harness/mariadb.js';
import { startTestGateway, type TestGateway } from '../harness/gateway.js';
import { MY_LISTEN, myConnection, myTarget, myUser } from '../harness/mysql-fixtures.js';
import { DEFAULT_TEST_CAPS, MyWire, executeBody, okStatus, textCells, type Pkt } from '../harness/mywire.js';

const my = inject('mariadb');
const DB = 'hardening';
const SECRET = 'Zebra-Hunter-42'; // masked by column name only: no detector recognises it
const EMAIL = 'alice@example.com';
const MULTI = (DEFAULT_TEST_CAPS | Cap.MULTI_STATEMENTS) >>> 0;
let gw: TestGateway;
let port = 0;

beforeAll(async () => {
  await createMysqlDatabase(my, DB);
  await mariadbAdmin(
    my,
    `CREATE TABLE ${DB}.victim (id INT); INSERT INTO ${DB}.victim VALUES (1);
     CREATE TABLE ${DB}.people (id INT PRIMARY KEY, email VARCHAR(100), secret VARCHAR(100) DEFAULT 'Default-Secret-77', UNIQUE KEY (secret));
     INSERT INTO ${DB}.people VALUES (1, '${EMAIL}', '${SECRET}');
     CREATE EVENT ${DB}.e_harmless ON SCHEDULE AT CURRENT_TIMESTAMP + INTERVAL 1 DAY DO SELECT 1;`,
  );
  gw = await startTestGateway({
    listen: MY_LISTEN,
    identity: { users: [myUser('alice', 'dev'), myUser('bob', 'dev')] },
    connections: [myConnection('shop', myTarget(my, DB), 'dev', { guardrails: ['no-drop'], masking: 'pii' })],
    guardrails: [{ name: 'no-drop', when: { statements: ['drop', 'truncate'] }, action: 'block' }],
    masking: [
      {
        name: 'pii',
        columns: [
          { match: '*.email', with: 'partial' },
          { match: '*.secret', with: 'redact' },
        ],
        detect: ['email', 'credit_card'],
        with: 'redact',
      },
    ],
  });
  port = gw.gateway.ports.mysql!;
});
afterAll(async () => {
  await gw?.stop();
});

async function victimExists(): Promise<boolean> {
  const out = await mariadbAdmin(my, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='${DB}' AND TABLE_NAME='victim'`);
  return out.trim() === '1';
}

async function session(user = 'alice', caps = MULTI): Promise<MyWire> {
  const w = await MyWire.connect(port);
  const ok = await w.login(`${user}#shop`, `${user}-pw`, { caps });
  if (ok.payload[0] !== 0) throw new Error(`login failed: ${decodeErr(ok.payload, 0, ok.payload.length).message}`);
  return w;
}

interface Answer {
  err?: Err;
  sets: (string | null)[][][];
  /** every payload of the answer, for "does the plaintext appear anywhere" checks */
  raw: Buffer;
}

/** Every result of one command (all result sets of a multi-statement or CALL), the client without DEPRECATE_EOF. */
async function answer(w: MyWire): Promise<Answer> {
  const sets: (string | null)[][][] = [];
  const raws: Buffer[] = [];
  for (;;) {
    const r = await w.result(false);
    for (const p of r.packets) raws.push(p.payload);
    if (r.err) return { err: r.err, sets, raw: Buffer.concat(raws) };
    sets.push(r.rows.map(textCells));
    const status = r.ok ? okStatus(r.ok.payload) : r.status;
    if (!(status & 0x08)) return { sets, raw: Buffer.concat(raws) };
  }
}

async function q(w: MyWire, sql: string): Promise<Answer> {
  w.command(Com.QUERY, sql);
  return answer(w);
}

function frame(seq: number, b: Buffer): Buffer {
  return Buffer.concat([Buffer.from([b.length & 0xff, (b.length >> 8) & 0xff, b.length >> 16, seq]), b]);
}

// ------------------------------------------------------------------------------------------------------------

describe('guardrails: statements that hide a DROP (regressions: all blocked)', () => {
  const hidden = [
    '/*!50000 DROP TABLE victim */',
    '/*M!100000 DROP TABLE victim */',
    '/*!DROP*/ TABLE victim',
    'SELECT 1 /*! ; DROP TABLE victim */',
    'SELECT 1 /*M!999999 ; DROP TABLE victim */', // a version the server skips is still judged
    'SELECT 1 --1; DROP TABLE victim', // `--1` is minus minus one in MySQL, not a comment
    'SELECT 1 /* /* */ ; DROP TABLE victim; /* */', // MySQL comments do not nest
    'SELECT `a\\`; DROP TABLE victim; -- `', // no backslash escapes inside backticks
    "SELECT 'x' /*!40101 ' */; DROP TABLE victim; -- '",
    'BEGIN NOT ATOMIC DROP TABLE victim; END',
    'BEGIN DROP TABLE victim; END', // an sql_mode=ORACLE anonymous block
    "EXECUTE IMMEDIATE 'DROP TABLE victim'",
    "PREPARE s FROM 'DROP TABLE victim'",
    "SET @q = 'DROP TABLE victim'; PREPARE s FROM @q; EXECUTE s",
    'CREATE PROCEDURE p_drop() DROP TABLE victim',
    'CREATE PROCEDURE p_drop2() l: BEGIN IF 1 THEN DROP TABLE victim; END IF; END',
    'CREATE FUNCTION f_drop() RETURNS INT BEGIN TRUNCATE victim; RETURN 1; END',
    'CREATE EVENT e_drop ON SCHEDULE AT CURRENT_TIMESTAMP DO DROP TABLE victim',
    'CREATE EVENT e_drop2 ON SCHEDULE AT CURRENT_TIMESTAMP DO BEGIN TRUNCATE victim; END',
    'CREATE TRIGGER t_drop BEFORE INSERT ON people FOR EACH ROW BEGIN TRUNCATE victim; END',
    "ALTER EVENT e_harmless DO BEGIN DROP TABLE victim; END",
    'SET STATEMENT max_statement_time=10 FOR DROP TABLE victim',
    "SET sql_mode='NO_BACKSLASH_ESCAPES'; SELECT 'a\\'; DROP TABLE victim; -- '",
    "SET @@session.`sql_mode`=CONCAT('NO_BACKSLASH', '_ESCAPES'); SELECT 'a\\'; DROP TABLE victim; -- '",
    "SET sql_mode='ANSI'; SELECT \"\\\"; DROP TABLE victim; -- \"",
    'XA START 0x01; DROP TABLE victim',
    'CALL anything()', // opaque: the connection fallback (block)
  ];

  it('as one COM_QUERY each (multi-statements on): 1142 and the table survives', async () => {
    const w = await session();
    try {
      for (const sql of hidden) {
        const r = await q(w, sql);
        expect(r.err?.code, sql).toBe(1142);
      }
      // the session still works after all the refusals
      expect((await q(w, 'SELECT 1')).sets).toEqual([[['1']]]);
    } finally {
      w.end();
    }
    expect(await victimExists()).toBe(true);
  });

  it('as COM_STMT_PREPARE each: 1142 and the table survives', async () => {
    const w = await session();
    try {
      for (const sql of ['/*!50000 DROP TABLE victim */', 'SELECT 1 --1; DROP TABLE victim', "EXECUTE IMMEDIATE 'DROP TABLE victim'", 'BEGIN NOT ATOMIC DROP TABLE victim; END']) {
        w.command(Com.STMT_PREPARE, sql);
        const p = await w.read();
        expect(p!.payload[0], sql).toBe(0xff);
        expect(decodeErr(p!.payload, 0, p!.payload.length).code, sql).toBe(1142);
      }
    } finally {
      w.end();
    }
    expect(await victimExists()).toBe(true);
  });

  it('a COM_STMT_PREPARE of SET sql_mode, executed pipelined with the evasion behind it, does not hide the DROP', async () => {
    const w = await session();
    try {
      w.command(Com.STMT_PREPARE, "SET sql_mode = 'NO_BACKSLASH_ESCAPES'");
      const prep = await w.read();
      const ok = decodePrepareOk(prep!.payload, 0, prep!.payload.length);
      const exec = Buffer.concat([Buffer.from([Com.STMT_EXECUTE]), executeBody(ok.id, false)]);
      const evasion = Buffer.concat([Buffer.from([Com.QUERY]), Buffer.from("SELECT 'x\\'; DROP TABLE victim; -- '")]);
      w.raw(Buffer.concat([frame(0, exec), frame(0, evasion)]));
      expect((await w.read())!.payload[0]).toBe(0x00);
      const e = await w.read();
      expect(e!.payload[0]).toBe(0xff);
      expect(decodeErr(e!.payload, 0, e!.payload.length).code).toBe(1142);
    } finally {
      w.end();
    }
    expect(await victimExists()).toBe(true);
  });

  // FIXED (was high): ALTER EVENT … DO <statement> is classified as plain `alter` DDL and its body is never
  // analysed (CREATE EVENT … DO DROP is, and is blocked). Sent: `ALTER EVENT e_harmless ON SCHEDULE AT
  // CURRENT_TIMESTAMP + INTERVAL 1 DAY DO DROP TABLE victim` → OK from the target; information_schema.EVENTS
  // then holds EVENT_DEFINITION = 'DROP TABLE victim', which the event scheduler runs as the event's definer,
  // outside any guardrail, when the schedule fires. Same for a TRUNCATE body.
  it('ALTER EVENT … DO DROP TABLE is blocked like CREATE EVENT … DO DROP TABLE', async () => {
    const w = await session();
    let r: Answer;
    try {
      r = await q(w, 'ALTER EVENT e_harmless ON SCHEDULE AT CURRENT_TIMESTAMP + INTERVAL 1 DAY DO DROP TABLE victim');
    } finally {
      w.end();
    }
    const body = await mariadbAdmin(my, `SELECT EVENT_DEFINITION FROM information_schema.EVENTS WHERE EVENT_SCHEMA='${DB}' AND EVENT_NAME='e_harmless'`);
    // put the harmless body back whatever happened (the scheduler is off in this run, so nothing fired)
    await mariadbAdmin(my, `ALTER EVENT ${DB}.e_harmless DO SELECT 1`);
    expect(body.trim()).not.toMatch(/DROP/i);
    expect(r.err?.code).toBe(1142);
  });

  // FIXED (was medium): SQL stored in a server variable runs later, outside the gateway: `SET GLOBAL
  // init_connect = 'DROP TABLE hardening.victim'` is allowed (verb `set`), and MariaDB then runs that text
  // at the login of every account without SUPER/CONNECTION ADMIN — the PG equivalent of a function or rule
  // body, which the PG side refuses as opaque. (The target account here has SUPER, so the value is restored
  // at once; nothing runs in this test.)
  it('SET GLOBAL init_connect with a DROP in it is not forwarded', async () => {
    const before = (await mariadbAdmin(my, 'SELECT @@GLOBAL.init_connect')).trim();
    const w = await session();
    let r: Answer;
    try {
      r = await q(w, `SET GLOBAL init_connect = 'DROP TABLE ${DB}.victim'`);
    } finally {
      w.end();
      await mariadbAdmin(my, `SET GLOBAL init_connect = '${before.replace(/'/g, "''")}'`);
    }
    expect(r.err?.code).toBe(1142);
  });
});

describe('KILL', () => {
  // FIXED (was high on shared target accounts): `KILL n` whose n is not a connection id the gateway handed to
  // the same user is forwarded untranslated, i.e. as the TARGET's thread id. Every gateway session runs on the
  // same target account, so the target accepts it: alice sends `KILL <bob's target thread id>` (visible to
  // her through SHOW PROCESSLIST, or simply guessed: thread ids are small, sequential integers) and bob's
  // session dies: his next command gets ERR "portcullis: lost the connection to the target". (The target id is
  // what `SELECT CONNECTION_ID()` returns through the gateway.) COM_PROCESS_KILL takes the same path.
  it("alice cannot kill bob's session through the gateway", async () => {
    const alice = await session('alice');
    const bob = await session('bob');
    try {
      const me = await q(bob, 'SELECT CONNECTION_ID()');
      const bobTarget = me.sets[0]![0]![0]!; // the target's id of bob's upstream session
      const k = await q(alice, `KILL ${bobTarget}`);
      // safe: bob's session keeps working, and alice was refused (not an id the gateway gave her)
      bob.command(Com.QUERY, 'SELECT 1');
      const after = await bob.read(3000);
      expect(after && after.payload[0] === 0xff ? decodeErr(after.payload, 0, after.payload.length).message : 'no error').toBe('no error');
      expect(k.err?.code).toBe(1142);
    } finally {
      alice.end();
      bob.end();
    }
  });

  it("CONNECTION_ID() through the gateway is the target's id, which is what an untranslated KILL uses", async () => {
    const w = await session();
    try {
      const id = Number((await q(w, 'SELECT CONNECTION_ID()')).sets[0]![0]![0]);
      expect(id).not.toBe(w.greeting.connectionId);
    } finally {
      w.end();
    }
  });
});

// ------------------------------------------------------------------------------------------------------------

describe('masking: the plaintext never reaches the client (regressions)', () => {
  const leaks = (r: Answer): boolean => r.raw.includes(Buffer.from(SECRET)) || r.raw.includes(Buffer.from(EMAIL));

  it('text rows, aliases, multi-statement result sets, view and derived table', async () => {
    const w = await session();
    try {
      for (const sql of [
        'SELECT email, secret FROM people',
        'SELECT email AS x, secret AS y FROM people',
        'SELECT 1; SELECT secret FROM people; SELECT email FROM people',
        'SELECT CONCAT(email) FROM people', // content detection (email)
        'SELECT JSON_OBJECT("e", email) FROM people',
        'SELECT GROUP_CONCAT(email) FROM people',
      ]) {
        const r = await q(w, sql);
        expect(r.err, sql).toBeUndefined();
        expect(leaks(r), sql).toBe(false);
      }
    } finally {
      w.end();
    }
  });

  it('HANDLER … READ rows are masked', async () => {
    const w = await session();
    try {
      expect((await q(w, 'HANDLER people OPEN')).err).toBeUndefined();
      const r = await q(w, 'HANDLER people READ FIRST');
      expect(r.err).toBeUndefined();
      expect(r.sets[0]!.length).toBe(1);
      expect(leaks(r)).toBe(false);
      await q(w, 'HANDLER people CLOSE');
    } finally {
      w.end();
    }
  });

  it('character_set_results = binary does not stop masking', async () => {
    const w = await session();
    try {
      const r = await q(w, 'SET character_set_results = binary; SELECT email, secret FROM people');
      expect(r.err).toBeUndefined();
      expect(leaks(r)).toBe(false);
    } finally {
      w.end();
    }
  });

  it('binary rows of a prepared statement and cursor fetches are masked', async () => {
    const w = await session();
    try {
      w.command(Com.STMT_PREPARE, 'SELECT id, email, secret FROM people');
      const prep = await w.read();
      const ok = decodePrepareOk(prep!.payload, 0, prep!.payload.length);
      for (let i = 0; i < 4; i++) await w.read(); // 3 definitions + EOF
      w.command(Com.STMT_EXECUTE, executeBody(ok.id, false));
      const r1 = await w.result(false);
      expect(Buffer.concat(r1.rows).includes(Buffer.from(SECRET))).toBe(false);
      expect(Buffer.concat(r1.rows).includes(Buffer.from(EMAIL))).toBe(false);
      w.command(Com.STMT_EXECUTE, executeBody(ok.id, true));
      await w.result(false);
      w.command(Com.STMT_FETCH, new MyWriter(8).u32(ok.id).u32(10).payload());
      const fetched: Pkt[] = [];
      for (;;) {
        const p = await w.read();
        fetched.push(p!);
        if (p!.payload[0] === 0xfe || p!.payload[0] === 0xff) break;
      }
      const all = Buffer.concat(fetched.map((p) => p.payload));
      expect(all.includes(Buffer.from(SECRET))).toBe(false);
      expect(all.includes(Buffer.from(EMAIL))).toBe(false);
    } finally {
      w.end();
    }
  });

  it('a duplicate-key error does not echo the masked value', async () => {
    const w = await session();
    try {
      const r = await q(w, "INSERT INTO people (id, email, secret) SELECT 99, 'x@y.example', secret FROM people WHERE id = 1");
      expect(r.err?.code).toBe(1062);
      expect(r.err!.message).not.toContain(SECRET);
    } finally {
      w.end();
    }
  });

  it('an email is redacted from a warning text by content detection', async () => {
    const w = await session();
    try {
      await q(w, 'SELECT CAST(email AS SIGNED) FROM people');
      const r = await q(w, 'SHOW WARNINGS');
      expect(r.err).toBeUndefined();
      expect(r.raw.includes(Buffer.from(EMAIL))).toBe(false);
    } finally {
      w.end();
    }
  });
});

describe('masking: leaks', () => {
  // FIXED (was high): the same text that is redacted in an ERR packet ("Truncated incorrect INTEGER value:
  // '…'") is passed verbatim as a SHOW WARNINGS row. Sent: `SELECT CAST(secret AS SIGNED) FROM people` (the
  // result column is an expression, masked value 0 either way), then `SHOW WARNINGS` → row
  // ['Warning', '1292', "Truncated incorrect INTEGER value: 'Zebra-Hunter-42'"]. A WHERE clause is enough
  // (`SELECT id FROM people WHERE secret = 0`): the value never appears in a result column at all.
  // GET DIAGNOSTICS … MESSAGE_TEXT into a variable is a second route.
  it('SHOW WARNINGS does not echo a masked column value', async () => {
    const w = await session();
    try {
      await q(w, 'SELECT id FROM people WHERE secret = 0');
      const r = await q(w, 'SHOW WARNINGS');
      expect(r.err).toBeUndefined();
      expect(r.sets[0]!.length).toBeGreaterThan(0);
      expect(r.raw.includes(Buffer.from(SECRET))).toBe(false);
    } finally {
      w.end();
    }
  });

  // FIXED (was high): error-based exfiltration. ERR texts are only redacted for a few quoting patterns
  // (Duplicate entry/value/entry '…'); MariaDB's XPATH error quotes the value too. Sent:
  // `SELECT EXTRACTVALUE(1, CONCAT(0x3a, (SELECT secret FROM people WHERE id = 1)))` → ERR 1105
  // "XPATH syntax error: ':Zebra-Hunter-42'" (UPDATEXML does the same). Any value not recognised by a
  // detector goes out in the clear this way, 32 characters at a time (SUBSTRING for the rest).
  it('an XPATH error does not echo a masked column value', async () => {
    const w = await session();
    try {
      const r = await q(w, 'SELECT EXTRACTVALUE(1, CONCAT(0x3a, (SELECT secret FROM people WHERE id = 1)))');
      expect(r.err).toBeDefined();
      expect(r.err!.message).not.toContain(SECRET);
    } finally {
      w.end();
    }
  });

  // KNOWN LIMIT, documented in the README (medium; the "derived values are best effort" class, but no transformation of the value is
  // needed): a column masked by name only loses its origin through a user variable, a scalar subquery or a
  // UNION whose first branch is not the masked column. The value comes back verbatim:
  //   SELECT secret INTO @s FROM people WHERE id = 1; SELECT @s        → 'Zebra-Hunter-42'
  //   SELECT (SELECT secret FROM people WHERE id = 1) AS v             → 'Zebra-Hunter-42'
  //   SELECT 'x' AS v UNION ALL SELECT secret FROM people              → 'x', 'Zebra-Hunter-42'
  //   SELECT y FROM (SELECT secret AS y FROM people) d                  → 'Zebra-Hunter-42'
  //   WITH c AS (SELECT secret AS z FROM people) SELECT z FROM c        → 'Zebra-Hunter-42'
  for (const sql of [
    'SELECT y FROM (SELECT secret AS y FROM people) d',
    'WITH c AS (SELECT secret AS z FROM people) SELECT z FROM c',
    'SELECT secret INTO @s FROM people WHERE id = 1; SELECT @s',
    'SELECT (SELECT secret FROM people WHERE id = 1) AS v',
    "SELECT 'x' AS v UNION ALL SELECT secret FROM people",
  ]) {
    it.fails(`no verbatim leak: ${sql}`, async () => {
      const w = await session();
      try {
        const r = await q(w, sql);
        expect(r.err).toBeUndefined();
        expect(r.raw.includes(Buffer.from(SECRET))).toBe(false);
      } finally {
        w.end();
      }
    });
  }

  // FIXED (was low): COM_FIELD_LIST is neither judged nor audited, and its column definitions carry each
  // column's DEFAULT value unmasked: `secret … DEFAULT 'Default-Secret-77'` comes back in the definition of
  // the masked column `secret`.
  it('COM_FIELD_LIST does not return the default of a masked column', async () => {
    const w = await session();
    try {
      w.command(Com.FIELD_LIST, Buffer.concat([Buffer.from('people'), Buffer.alloc(1)]));
      const got: Buffer[] = [];
      for (;;) {
        const p = await w.read();
        got.push(p!.payload);
        if (p!.payload[0] === 0xfe || p!.payload[0] === 0xff) break;
      }
      expect(Buffer.concat(got).includes(Buffer.from('Default-Secret-77'))).toBe(false);
    } finally {
      w.end();
    }
  });
});

// ------------------------------------------------------------------------------------------------------------

describe('relay robustness (regressions)', () => {
  it('300 commands pipelined in one write are answered in order, with blocked ones in their place', async () => {
    const w = await session();
    try {
      const parts: Buffer[] = [];
      for (let i = 0; i < 300; i++) {
        const sql = i % 7 === 3 ? 'DROP TABLE victim' : `SELECT ${i}`;
        parts.push(frame(0, Buffer.concat([Buffer.from([Com.QUERY]), Buffer.from(sql)])));
      }
      w.raw(Buffer.concat(parts));
      for (let i = 0; i < 300; i++) {
        const r = await answer(w);
        if (i % 7 === 3) expect(r.err?.code, String(i)).toBe(1142);
        else expect(r.sets, String(i)).toEqual([[[String(i)]]]);
      }
    } finally {
      w.end();
    }
    expect(await victimExists()).toBe(true);
  });

  it('COM_STMT_EXECUTE / COM_STMT_FETCH with ids never prepared, closed, or 0xFFFFFFFF before any prepare', async () => {
    const w = await session();
    try {
      w.command(Com.STMT_EXECUTE, executeBody(0xffffffff, false));
      expect((await w.read())!.payload[0]).toBe(0xff);
      w.command(Com.STMT_EXECUTE, executeBody(12345, true));
      expect((await w.read())!.payload[0]).toBe(0xff);
      w.command(Com.STMT_FETCH, new MyWriter(8).u32(12345).u32(10).payload());
      expect((await w.read())!.payload[0]).toBe(0xff);
      // a closed statement's cursor cannot be fetched unmasked
      w.command(Com.STMT_PREPARE, 'SELECT secret FROM people');
      const prep = await w.read();
      const ok = decodePrepareOk(prep!.payload, 0, prep!.payload.length);
      for (let i = 0; i < 2; i++) await w.read();
      w.command(Com.STMT_EXECUTE, executeBody(ok.id, true));
      await w.result(false);
      w.command(Com.STMT_CLOSE, new MyWriter(4).u32(ok.id).payload());
      w.command(Com.STMT_FETCH, new MyWriter(8).u32(ok.id).u32(10).payload());
      const f = await w.read();
      expect(f!.payload.includes(Buffer.from(SECRET))).toBe(false);
      expect((await q(w, 'SELECT 7')).sets).toEqual([[['7']]]);
    } finally {
      w.end();
    }
  });

  it('a 2 MiB cell of a masked column is masked, and the session stays in step', async () => {
    const w = await session();
    try {
      const big = `${'x'.repeat(2 * 1024 * 1024)}@example.com`;
      const r = await q(w, `SELECT CONCAT(REPEAT('x', ${2 * 1024 * 1024}), '@example.com') AS email`);
      expect(r.err).toBeUndefined();
      expect(r.raw.includes(Buffer.from(big))).toBe(false);
      expect((await q(w, 'SELECT 8')).sets).toEqual([[['8']]]);
    } finally {
      w.end();
    }
  });

  it('COM_SET_OPTION turning multi-statements on mid-session does not let a second statement skip the policy', async () => {
    const w = await session('alice', DEFAULT_TEST_CAPS);
    try {
      w.command(Com.SET_OPTION, new MyWriter(2).u16(0).payload()); // MYSQL_OPTION_MULTI_STATEMENTS_ON
      await w.read();
      const r = await q(w, 'SELECT 1; DROP TABLE victim');
      expect(r.err?.code).toBe(1142);
    } finally {
      w.end();
    }
    expect(await victimExists()).toBe(true);
  });
});
