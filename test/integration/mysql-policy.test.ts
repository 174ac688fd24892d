// Policy and identity on the MySQL path: sql_mode tracked for the lexer (NO_BACKSLASH_ESCAPES, ANSI_QUOTES,
// also when pipelined), unsafe character sets, LOAD DATA LOCAL INFILE per connection, audit events, JWT access
// tokens, own listen ports (the target's version in the greeting), TLS required, and no cleartext password
// from off the host.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { Cap, Com } from '../../protocols/mysql/codes.js';
import { decodeErr, decodeGreeting, encodeHandshakeResponse } from '../../protocols/mysql/messages.js';
import { createMysqlDatabase, freePort, mariadbAdmin } from '../harness/mariadb.js';
import { startTestGateway, type TestGateway } from '../harness/gateway.js';
import { MY_LISTEN, myConnection, myTarget, myUser } from '../harness/mysql-fixtures.js';
import { DEFAULT_TEST_CAPS, MyWire, textCells } from '../harness/mywire.js';

const run = promisify(execFile);
const my = inject('mariadb');
const DB = 'policy';
const ISSUER = 'https://idp.test';
let gw: TestGateway;
let port = 0;
let ownPort = 0;
let pinnedPort = 0;
let tmp = '';
let signingKey: CryptoKey;

const NO_DROP = { name: 'no-drop', when: { statements: ['drop', 'truncate'] }, action: 'block' };

async function cli(user: string, password: string, sql: string, extra: string[] = [], p = port): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await run('mariadb', ['--no-defaults', '-h127.0.0.1', `-P${p}`, `-u${user}`, `-p${password}`, '--batch', ...extra, '-e', sql], { timeout: 20_000 });
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; code?: number };
    return { stdout: err.stdout ?? '', stderr: err.stderr ?? '', code: typeof err.code === 'number' ? err.code : -1 };
  }
}

async function victimExists(): Promise<boolean> {
  const out = await mariadbAdmin(my, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='${DB}' AND TABLE_NAME='victim'`);
  return out.trim() === '1';
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-mypolicy-'));
  await createMysqlDatabase(my, DB);
  await mariadbAdmin(my, `CREATE TABLE ${DB}.victim (id INT); CREATE TABLE ${DB}.people (id INT, email VARCHAR(100)); INSERT INTO ${DB}.people VALUES (1, 'alice@example.com');`);
  const pair = await generateKeyPair('RS256', { extractable: true });
  signingKey = pair.privateKey;
  const jwks = path.join(tmp, 'jwks.json');
  fs.writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] }));
  ownPort = await freePort();
  pinnedPort = await freePort();
  gw = await startTestGateway({
    listen: MY_LISTEN,
    identity: {
      users: [myUser('alice', 'dev'), myUser('carol', 'dev', false)],
      tokens: [{ issuer: ISSUER, audience: 'portcullis', jwksFile: jwks }],
    },
    connections: [
      myConnection('shop', myTarget(my, DB), 'dev', { guardrails: ['no-drop'], masking: 'pii' }),
      myConnection('loader', myTarget(my, DB), 'dev', { localInfile: true }),
      myConnection('tok', myTarget(my, DB), 'tok-group'),
      myConnection('own', myTarget(my, DB), 'dev', { listen: { host: '127.0.0.1', port: ownPort } }),
      myConnection('pinned', myTarget(my, DB), 'dev', { listen: { host: '127.0.0.1', port: pinnedPort, tls: 'require' }, serverVersion: '5.7.99-custom' }),
    ],
    guardrails: [NO_DROP],
    masking: [{ name: 'pii', columns: [{ match: '*.email', with: 'partial' }], with: 'redact' }],
  });
  port = gw.gateway.ports.mysql!;
});
afterAll(async () => {
  await gw?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('sql_mode is read as the target reads it', () => {
  it('NO_BACKSLASH_ESCAPES: a backslash no longer escapes the quote that hides a DROP', async () => {
    const evasion = "SELECT 'a\\'; DROP TABLE victim; -- '";
    const r = await cli('alice#shop', 'alice-pw', `SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 1; ${evasion}`);
    expect(r.stderr).toMatch(/ERROR 1142.*no-drop/);
    expect(await victimExists()).toBe(true);
  });

  it('ANSI_QUOTES: a double-quoted "string" becomes an identifier and the DROP after it is seen', async () => {
    // one COM_QUERY (the mariadb CLI would split the text at the semicolons itself)
    const w = await MyWire.connect(port);
    try {
      const ok = await w.login('alice#shop', 'alice-pw', { caps: (DEFAULT_TEST_CAPS | Cap.MULTI_STATEMENTS) >>> 0 });
      expect(ok.payload[0]).toBe(0);
      w.command(Com.QUERY, "SET SESSION sql_mode = 'ANSI_QUOTES'");
      expect((await w.read())!.payload[0]).toBe(0x00);
      w.command(Com.QUERY, 'SELECT "\\"; DROP TABLE victim; -- "');
      const e = await w.read();
      expect(decodeErr(e!.payload, 0, e!.payload.length)).toMatchObject({ code: 1142, message: expect.stringContaining('no-drop') });
      // without ANSI_QUOTES the same text is one harmless string
      w.command(Com.QUERY, "SET SESSION sql_mode = ''");
      expect((await w.read())!.payload[0]).toBe(0x00);
      w.command(Com.QUERY, 'SELECT "\\"; DROP TABLE victim; -- "');
      const r = await w.result(false);
      expect(r.err).toBeUndefined();
    } finally {
      w.end();
    }
    expect(await victimExists()).toBe(true);
  });

  it('a SET sql_mode pipelined ahead of the evasion (not yet answered) is judged under every reading', async () => {
    const w = await MyWire.connect(port);
    try {
      const ok = await w.login('alice#shop', 'alice-pw', { caps: (DEFAULT_TEST_CAPS | Cap.MULTI_STATEMENTS) >>> 0 });
      expect(ok.payload[0]).toBe(0);
      // both commands in one write: the second is judged before the target answered the first
      const q1 = Buffer.concat([Buffer.from([Com.QUERY]), Buffer.from("SET sql_mode = 'NO_BACKSLASH_ESCAPES'")]);
      const q2 = Buffer.concat([Buffer.from([Com.QUERY]), Buffer.from("SELECT 'x\\'; DROP TABLE victim; -- '")]);
      const frame = (b: Buffer) => Buffer.concat([Buffer.from([b.length & 0xff, (b.length >> 8) & 0xff, b.length >> 16, 0]), b]);
      w.raw(Buffer.concat([frame(q1), frame(q2)]));
      expect((await w.read())!.payload[0]).toBe(0x00);
      const e = await w.read();
      expect(e!.payload[0]).toBe(0xff);
      expect(decodeErr(e!.payload, 0, e!.payload.length).code).toBe(1142);
    } finally {
      w.end();
    }
    expect(await victimExists()).toBe(true);
  });

  it('the same text is allowed when the mode makes it harmless', async () => {
    const r = await cli('alice#shop', 'alice-pw', "SELECT 'a\\'; DROP TABLE victim; -- ' AS s");
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain("a'; DROP TABLE victim; -- ");
  });
});

describe('character sets', () => {
  it('SET NAMES gbk and SET character_set_client = sjis are refused', async () => {
    for (const sql of ['SET NAMES gbk', 'SET character_set_client = sjis', "SET CHARACTER SET 'big5'"]) {
      const r = await cli('alice#shop', 'alice-pw', sql);
      expect(r.stderr, sql).toMatch(/ERROR 1142.*character set/);
    }
    expect((await cli('alice#shop', 'alice-pw', 'SET NAMES utf8mb4; SELECT 1')).stderr).toBe('');
  });

  it('a character set may only be named literally: variables, expressions, numbers and subqueries are refused', async () => {
    for (const sql of ["SET @c = 'sjis'; SET character_set_client = @c", "SET character_set_client = CONCAT('sj', 'is')", 'SET character_set_client = 13', "SET @@session.character_set_client = (SELECT 'gbk')"]) {
      const r = await cli('alice#shop', 'alice-pw', sql);
      expect(r.stderr, sql).toMatch(/ERROR 1142.*character_set_client may only be set to a character set named literally/);
    }
    const ok = await cli('alice#shop', 'alice-pw', "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_general_ci'; SELECT @@character_set_client AS cs");
    expect(ok.stdout).toBe('cs\nutf8mb4\n');
  });

  it('a handshake asking for gbk is refused', async () => {
    const w = await MyWire.connect(port);
    try {
      const g = decodeGreeting((await w.read())!.payload);
      w.send(1, encodeHandshakeResponse({ caps: DEFAULT_TEST_CAPS, maxPacket: 1 << 24, charset: 28, user: 'alice#shop', authResponse: Buffer.alloc(0), plugin: 'mysql_native_password' }));
      const e = await w.read();
      expect(g.version).toMatch(/^8\.0\./);
      expect(decodeErr(e!.payload, 0, e!.payload.length)).toMatchObject({ code: 1115, message: expect.stringContaining('gbk') });
    } finally {
      w.end();
    }
  });
});

describe('the database named at login', () => {
  it('is judged like USE: a rule on `use` refuses the login with 1142', async () => {
    const g = await startTestGateway({
      listen: MY_LISTEN,
      identity: { users: [myUser('alice', 'dev')] },
      connections: [myConnection('shop', myTarget(my, DB), 'dev', { guardrails: ['no-use-mysql'] })],
      guardrails: [{ name: 'no-use-mysql', when: { statements: ['use'], pattern: '\\bmysql\\b' }, action: 'block' }],
    });
    try {
      const p = g.gateway.ports.mysql!;
      expect((await cli('alice#shop', 'alice-pw', 'SELECT 1', ['-Dmysql'], p)).stderr).toMatch(/ERROR 1142.*no-use-mysql/);
      expect((await cli('alice#shop', 'alice-pw', 'SELECT DATABASE() AS d', [`-D${DB}`], p)).stdout).toBe(`d\n${DB}\n`);
    } finally {
      await g.stop();
    }
  });
});

describe('LOAD DATA LOCAL INFILE', () => {
  it('is refused on a connection that does not allow it, and works on one that does', async () => {
    const file = path.join(tmp, 'rows.tsv');
    fs.writeFileSync(file, '10\n11\n12\n');
    const sql = `LOAD DATA LOCAL INFILE '${file}' INTO TABLE victim`;
    const refused = await cli('alice#shop', 'alice-pw', sql, ['--local-infile=1']);
    expect(refused.stderr).toMatch(/ERROR 1142.*local-infile/);
    const loaded = await cli('alice#loader', 'alice-pw', `${sql}; SELECT COUNT(*) AS n FROM victim`, ['--local-infile=1']);
    expect(loaded.stderr).toBe('');
    expect(loaded.stdout).toBe('n\n3\n');
  });
});

describe('audit', () => {
  it('records the session, each decision and each completion with masked cells', async () => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'alice#shop', password: 'alice-pw' });
    let target = '';
    try {
      await c.query('SELECT email FROM people');
      await c.execute('SELECT email FROM people WHERE id = ?', [1]);
      await expect(c.query('TRUNCATE victim')).rejects.toMatchObject({ errno: 1142 });
      const [rows] = (await c.query('SELECT CONNECTION_ID() AS id')) as unknown as [Array<{ id: number }>];
      target = String(rows[0]!.id);
    } finally {
      await c.end();
    }
    await new Promise((r) => setTimeout(r, 200));
    gw.audit.flush();
    const session = gw.audit.listSessions(100).find((s) => s.protocol === 'mysql' && s.user === 'alice' && s.connection === 'shop' && s.endedAt);
    expect(session).toBeDefined();
    const events = gw.audit.events(undefined, 10_000).filter((e) => e.sessionId === session!.id || e.text === 'SELECT CONNECTION_ID() AS id');
    const mine = events.filter((e) => e.sessionId === events.find((x) => x.text === 'SELECT CONNECTION_ID() AS id')!.sessionId);
    const decisions = mine.filter((e) => e.kind === 'decision').map((e) => [e.via, e.text, e.decision, e.rule]);
    expect(decisions).toEqual([
      ['query', 'SELECT email FROM people', 'allow', undefined],
      ['prepare', 'SELECT email FROM people WHERE id = ?', 'allow', undefined],
      ['query', 'TRUNCATE victim', 'block', 'no-drop'],
      ['query', 'SELECT CONNECTION_ID() AS id', 'allow', undefined],
    ]);
    const completions = mine.filter((e) => e.kind === 'complete');
    expect(completions.find((e) => e.via === 'query')).toMatchObject({ rows: 1, maskedCells: 1 });
    expect(completions.find((e) => e.via === 'execute')).toMatchObject({ rows: 1, maskedCells: 1, text: 'SELECT email FROM people WHERE id = ?' });
    expect(target).not.toBe('');
  });
});

describe('JWT access tokens', () => {
  it('log in through mysql_clear_password; the token user must match', async () => {
    const token = await new SignJWT({ groups: ['tok-group'] })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience('portcullis')
      .setSubject('tina')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(signingKey);
    const ok = await cli('tina#tok', token, 'SELECT 7 AS n', ['--skip-ssl']);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toBe('n\n7\n');
    const wrong = await cli('tom#tok', token, 'SELECT 7', ['--skip-ssl']);
    expect(wrong.stderr).toMatch(/ERROR 1045/);
  });
});

describe('own listen ports', () => {
  it("announce the target's version, take USER without #CONNECTION, and refuse a suffix", async () => {
    const w = await MyWire.connect(ownPort);
    const g = decodeGreeting((await w.read())!.payload);
    w.end();
    expect(g.version).toMatch(/MariaDB/);
    expect((await cli('alice', 'alice-pw', 'SELECT DATABASE() AS d', [], ownPort)).stdout).toBe(`d\n${DB}\n`);
    expect((await cli('alice#shop', 'alice-pw', 'SELECT 1', [], ownPort)).stderr).toMatch(/ERROR 1049/);
  });

  it('serverVersion overrides the greeting; tls: require refuses a client without TLS before authentication', async () => {
    const w = await MyWire.connect(pinnedPort);
    const g = decodeGreeting((await w.read())!.payload);
    w.end();
    expect(g.version).toBe('5.7.99-custom');
    expect((await cli('alice', 'alice-pw', 'SELECT 1', ['--skip-ssl'], pinnedPort)).stderr).toMatch(/ERROR 1044.*TLS/);
    expect((await cli('alice', 'alice-pw', 'SELECT 3 AS n', ['--ssl'], pinnedPort)).stdout).toBe('n\n3\n');
  });
});

const outsideAddress = Object.values(os.networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal && !a.address.startsWith('127.'))?.address;

describe('cleartext passwords off the host', () => {
  let any: TestGateway;
  beforeAll(async () => {
    any = await startTestGateway({
      listen: { mysql: { host: '0.0.0.0', port: 0 } },
      identity: { users: [myUser('alice', 'dev'), myUser('carol', 'dev', false)] },
      connections: [myConnection('shop', myTarget(my, DB), 'dev')],
    });
  });
  afterAll(async () => any?.stop());

  it.skipIf(!outsideAddress /* host has no non-loopback IPv4 address */)('are refused before the switch to mysql_clear_password; native scrambles and TLS are fine', async () => {
    const p = any.gateway.ports.mysql!;
    const w = await MyWire.connect(p, outsideAddress);
    try {
      const g = decodeGreeting((await w.read())!.payload);
      w.send(1, encodeHandshakeResponse({ caps: DEFAULT_TEST_CAPS, maxPacket: 1 << 24, charset: 45, user: 'carol#shop', authResponse: Buffer.alloc(20, 1), plugin: 'mysql_native_password' }));
      const e = await w.read();
      // an ERR, not an AuthSwitch asking for the password
      expect(e!.payload[0]).toBe(0xff);
      expect(decodeErr(e!.payload, 0, e!.payload.length)).toMatchObject({ code: 1044, message: expect.stringContaining('TLS') });
      expect(g.nonce).toHaveLength(20);
    } finally {
      w.end();
    }
    const native = await run('mariadb', ['--no-defaults', `-h${outsideAddress}`, `-P${p}`, '-ualice#shop', '-palice-pw', '--skip-ssl', '-e', 'SELECT 1']);
    expect(native.stderr).toBe('');
    const tls = await run('mariadb', ['--no-defaults', `-h${outsideAddress}`, `-P${p}`, '-ucarol#shop', '-pcarol-pw', '--ssl', '-e', 'SELECT 1']);
    expect(tls.stderr).toBe('');
  });
});

describe('textCells helper', () => {
  it('reads NULL and strings', () => {
    expect(textCells(Buffer.from([1, 0x61, 0xfb]))).toEqual(['a', null]);
  });
});
