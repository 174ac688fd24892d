// Authentication on both legs of the PostgreSQL gateway: upstream methods and TLS, unreachable targets,
// JWT access tokens, the SCRAM listener mode, a connection's own port, client-side TLS (SSLRequest and
// direct TLS), GSSENCRequest, protocol 3.2 negotiation and startup-parameter vetting.
// Real psql where a real client can do it; the pg driver to read SQLSTATEs of refused logins (psql does not
// print them); raw sockets where only raw bytes can.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import {
  createDatabase,
  freePort,
  pgBin,
  PG_APP_DB,
  PG_CLEAR_PASSWORD,
  PG_CLEAR_USER,
  PG_MD5_PASSWORD,
  PG_MD5_USER,
  PG_SCRAM_PASSWORD,
  PG_SCRAM_USER,
  PG_TRUST_USER,
  psqlAdmin,
} from '../harness/postgres.js';
import { run, runOk } from '../harness/processes.js';
import { startTestGateway, testHash, type TestGateway } from '../harness/gateway.js';
import { authCode, connectTls, errorFields, frame, Raw, rawQuery, startup, startupError, tryLogin, untyped, type Msg } from '../harness/pgwire.js';

const ISSUER = 'https://idp.portcullis.test';
const BAD_TARGET_PASSWORD = 'Wr0ng-target-S3cret-7781';

let gw: TestGateway; // default: tls prefer, clientAuth password, tokens configured
let gwScram: TestGateway; // listen.postgres.clientAuth: scram
let gwTls: TestGateway; // tls.mode: require
let gwAny: TestGateway; // listens on :: (every address), tls prefer
let db: string;
let jwksServer: http.Server;
let forwarder: net.Server; // 127.0.0.2:* → the TLS server (an address its certificate does not name)
let tmp: string;
let signingKey: CryptoKey;
let otherKey: CryptoKey;

// ---- helpers ----------------------------------------------------------------------------------------

function psql(dsn: string, args: string[], opts: { password?: string; env?: Record<string, string> } = {}) {
  return run(pgBin('psql'), ['-X', '-v', 'ON_ERROR_STOP=1', dsn, ...args], {
    env: { PGPASSWORD: opts.password ?? 'alice-pw', PGCONNECT_TIMEOUT: '10', PGOPTIONS: '', PGSSLMODE: undefined, ...opts.env },
    timeoutMs: 30_000,
  });
}

function dsn(connection: string, opts: { user?: string; port?: number; extra?: string } = {}): string {
  const user = opts.user ?? 'alice';
  const dbPart = connection ? ` dbname=${connection}` : '';
  return `host=127.0.0.1 port=${opts.port ?? gw.port} user=${user}${dbPart} sslmode=disable ${opts.extra ?? ''}`;
}

/** Connects with the pg driver; returns the refusal (SQLSTATE and message) or null when it logged in. */
async function pgRefusal(cfg: pg.ClientConfig): Promise<{ code?: string; message: string } | null> {
  const c = new pg.Client({ host: '127.0.0.1', connectionTimeoutMillis: 15_000, ...cfg });
  c.on('error', () => undefined);
  try {
    await c.connect();
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { code: e.code, message: e.message };
  }
  await c.end().catch(() => undefined);
  return null;
}

async function signToken(o: { sub?: string; groups?: unknown; aud?: string; exp?: number | string; iat?: number; key?: CryptoKey; kid?: string } = {}): Promise<string> {
  const t = new SignJWT({ groups: o.groups ?? ['tok-group'] })
    .setProtectedHeader({ alg: 'RS256', kid: o.kid ?? 'k1', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(o.aud ?? 'portcullis')
    .setSubject(o.sub ?? 'carol')
    .setExpirationTime(o.exp ?? '10m');
  if (o.iat !== undefined) t.setIssuedAt(o.iat);
  else t.setIssuedAt();
  return t.sign(o.key ?? signingKey);
}

// ---- setup --------------------------------------------------------------------------------------------

beforeAll(async () => {
  const plain = inject('pg');
  const ssl = inject('pgSsl');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-auth-'));
  db = await createDatabase('pg_auth');

  // An unrelated CA: verify-full against it must fail.
  const otherCa = path.join(tmp, 'other-ca.crt');
  await runOk('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=unrelated CA', '-keyout', path.join(tmp, 'other-ca.key'), '-out', otherCa, '-days', '2'], { env: { OPENSSL_CONF: '/dev/null' } });

  // 127.0.0.2 reaches the TLS server too, but its certificate names only localhost and 127.0.0.1.
  forwarder = net.createServer((c) => {
    const u = net.connect({ host: ssl.host, port: ssl.port });
    c.pipe(u);
    u.pipe(c);
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
    c.on('close', () => u.destroy());
    u.on('close', () => c.destroy());
  });
  await new Promise<void>((resolve) => forwarder.listen(0, '127.0.0.2', resolve));
  const fwdPort = (forwarder.address() as net.AddressInfo).port;

  // JWKS over HTTP on loopback
  const pair = await generateKeyPair('RS256', { extractable: true });
  signingKey = pair.privateKey;
  otherKey = (await generateKeyPair('RS256')).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  jwksServer = http.createServer((req, res) => {
    if (req.url === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const jwksPort = (jwksServer.address() as net.AddressInfo).port;

  const closedPort = await freePort();
  const pgTarget = (user: string, password: string | undefined, extra: Record<string, unknown> = {}) => ({
    host: plain.host,
    port: plain.port,
    database: db,
    user,
    ...(password !== undefined ? { password } : {}),
    tls: 'disable',
    ...extra,
  });
  const sslTarget = (host: string, tlsMode: string, extra: Record<string, unknown> = {}) => ({
    host,
    port: ssl.port,
    database: PG_APP_DB,
    user: PG_MD5_USER,
    password: PG_MD5_PASSWORD,
    tls: tlsMode,
    ...extra,
  });
  const conn = (name: string, target: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    name,
    protocol: 'postgres',
    target,
    allow: ['dba'],
    ...extra,
  });
  const users = [
    { name: 'alice', groups: ['dba'], password: { hash: testHash('alice-pw') } },
    { name: 'bob', groups: ['dev'], password: { hash: testHash('bob-pw') } },
  ];

  gw = await startTestGateway({
    identity: {
      users,
      tokens: [{ issuer: ISSUER, audience: 'portcullis', jwks: `http://127.0.0.1:${jwksPort}/jwks`, userClaim: 'sub', groupsClaim: 'groups' }],
    },
    connections: [
      conn('trust-db', pgTarget(PG_TRUST_USER, undefined)),
      conn('md5-db', pgTarget(PG_MD5_USER, PG_MD5_PASSWORD), { guardrails: ['no-drop'] }),
      conn('scram-db', pgTarget(PG_SCRAM_USER, PG_SCRAM_PASSWORD)),
      conn('clear-db', pgTarget(PG_CLEAR_USER, PG_CLEAR_PASSWORD)),
      conn('badpw-md5', pgTarget(PG_MD5_USER, BAD_TARGET_PASSWORD)),
      conn('badpw-scram', pgTarget(PG_SCRAM_USER, BAD_TARGET_PASSWORD)),
      conn('badpw-clear', pgTarget(PG_CLEAR_USER, BAD_TARGET_PASSWORD)),
      conn('nopw-md5', pgTarget(PG_MD5_USER, undefined)),
      conn('ssl-verify', sslTarget('localhost', 'verify-full', { ca: ssl.caFile })),
      conn('ssl-verify-ip', sslTarget('127.0.0.1', 'verify-full', { ca: ssl.caFile })),
      conn('ssl-mismatch', { ...sslTarget('127.0.0.2', 'verify-full', { ca: ssl.caFile }), port: fwdPort }),
      conn('ssl-fwd-require', { ...sslTarget('127.0.0.2', 'require'), port: fwdPort }),
      conn('ssl-wrong-ca', sslTarget('localhost', 'verify-full', { ca: otherCa })),
      conn('ssl-require', sslTarget('127.0.0.1', 'require')),
      conn('ssl-prefer', sslTarget('127.0.0.1', 'prefer')),
      conn('plain-require', pgTarget(PG_MD5_USER, PG_MD5_PASSWORD, { tls: 'require' })),
      conn('plain-verify', pgTarget(PG_MD5_USER, PG_MD5_PASSWORD, { tls: 'verify-full', ca: ssl.caFile })),
      conn('down-db', { host: '127.0.0.1', port: closedPort, database: db, user: PG_MD5_USER, password: PG_MD5_PASSWORD, tls: 'disable' }),
      conn('tok-db', pgTarget(PG_MD5_USER, PG_MD5_PASSWORD), { allow: ['tok-group'] }),
      conn('own-db', pgTarget(PG_MD5_USER, PG_MD5_PASSWORD), { listen: { host: '127.0.0.1', port: 0 } }),
    ],
    guardrails: [{ name: 'no-drop', when: { statements: ['drop', 'truncate'] }, action: 'block' }],
  });
  await psqlAdmin(
    plain,
    `CREATE TABLE victim (id int); ALTER TABLE victim OWNER TO ${PG_MD5_USER};
     CREATE TABLE victim_scs (id int); ALTER TABLE victim_scs OWNER TO ${PG_MD5_USER};`,
    db,
  );

  gwScram = await startTestGateway({
    listen: { postgres: { host: '127.0.0.1', port: 0, clientAuth: 'scram' } },
    identity: { users },
    connections: [conn('md5-db', pgTarget(PG_MD5_USER, PG_MD5_PASSWORD))],
  });

  gwTls = await startTestGateway({
    tls: { mode: 'require' },
    identity: { users },
    connections: [conn('md5-db', pgTarget(PG_MD5_USER, PG_MD5_PASSWORD))],
  });

  gwAny = await startTestGateway({
    listen: { postgres: { host: '::', port: 0 } },
    identity: { users },
    connections: [conn('md5-db', pgTarget(PG_MD5_USER, PG_MD5_PASSWORD))],
  });
});

afterAll(async () => {
  await gw?.stop();
  await gwScram?.stop();
  await gwTls?.stop();
  await gwAny?.stop();
  await new Promise<void>((resolve) => (jwksServer ? jwksServer.close(() => resolve()) : resolve()));
  await new Promise<void>((resolve) => (forwarder ? forwarder.close(() => resolve()) : resolve()));
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---- upstream authentication ----------------------------------------------------------------------------

describe('upstream authentication methods (the client never knows the target password)', () => {
  it.each([
    ['trust-db', PG_TRUST_USER],
    ['md5-db', PG_MD5_USER],
    ['scram-db', PG_SCRAM_USER],
    ['clear-db', PG_CLEAR_USER],
  ])('%s logs in to the target as %s', async (connection, role) => {
    const r = await psql(dsn(connection), ['-At', '-c', 'SELECT current_user, current_database()']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${role}|${db}\n`);
  });

  it.each([['badpw-md5'], ['badpw-scram'], ['badpw-clear']])(
    'a wrong target password (%s) gives 08001 and never shows the configured password',
    async (connection) => {
      const r = await psql(dsn(connection), ['-c', 'SELECT 1']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/could not connect to the target/);
      expect(r.stderr).not.toContain(BAD_TARGET_PASSWORD);
      const refusal = await pgRefusal({ port: gw.port, user: 'alice', password: 'alice-pw', database: connection });
      expect(refusal?.code).toBe('08001');
      expect(refusal?.message).toMatch(/could not connect to the target/);
      expect(refusal?.message).not.toContain(BAD_TARGET_PASSWORD);
    },
  );

  it('a target that asks for a password the connection does not have gives 08001', async () => {
    const refusal = await pgRefusal({ port: gw.port, user: 'alice', password: 'alice-pw', database: 'nopw-md5' });
    expect(refusal?.code).toBe('08001');
  });
});

describe('upstream TLS', () => {
  const sslQuery = 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()';

  it('verify-full with the CA and host localhost works, over TLS', async () => {
    const r = await psql(dsn('ssl-verify'), ['-At', '-c', sslQuery]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('t\n');
  });

  it('verify-full to 127.0.0.1 works: the target certificate names that IP address', async () => {
    const r = await psql(dsn('ssl-verify-ip'), ['-At', '-c', sslQuery]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('t\n');
  });

  it('verify-full refuses a certificate that does not name the host (08001); require through the same path works', async () => {
    const ok = await psql(dsn('ssl-fwd-require'), ['-At', '-c', sslQuery]);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toBe('t\n');
    const r = await psql(dsn('ssl-mismatch'), ['-c', 'SELECT 1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/could not connect to the target/);
    const refusal = await pgRefusal({ port: gw.port, user: 'alice', password: 'alice-pw', database: 'ssl-mismatch' });
    expect(refusal?.code).toBe('08001');
  });

  it('verify-full refuses a certificate from another CA (08001)', async () => {
    const refusal = await pgRefusal({ port: gw.port, user: 'alice', password: 'alice-pw', database: 'ssl-wrong-ca' });
    expect(refusal?.code).toBe('08001');
  });

  it('require and prefer use TLS to a TLS target', async () => {
    for (const c of ['ssl-require', 'ssl-prefer']) {
      const r = await psql(dsn(c), ['-At', '-c', sslQuery]);
      expect(r.stderr, c).toBe('');
      expect(r.stdout, c).toBe('t\n');
    }
  });

  it('require or verify-full to a target without TLS gives 08001', async () => {
    const r = await psql(dsn('plain-require'), ['-c', 'SELECT 1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/could not connect to the target/);
    for (const c of ['plain-require', 'plain-verify']) {
      const refusal = await pgRefusal({ port: gw.port, user: 'alice', password: 'alice-pw', database: c });
      expect(refusal?.code, c).toBe('08001');
    }
  });
});

describe('target down', () => {
  it('a closed target port gives 08001 and the gateway keeps serving other sessions', async () => {
    const live = new pg.Client({ host: '127.0.0.1', port: gw.port, user: 'alice', password: 'alice-pw', database: 'md5-db' });
    await live.connect();
    try {
      const r = await psql(dsn('down-db'), ['-c', 'SELECT 1']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/could not connect to the target of connection "down-db"/);
      const refusals = await Promise.all(
        Array.from({ length: 5 }, () => pgRefusal({ port: gw.port, user: 'alice', password: 'alice-pw', database: 'down-db' })),
      );
      for (const x of refusals) expect(x?.code).toBe('08001');
      expect((await live.query('SELECT 41 + 1 AS n')).rows[0].n).toBe(42);
      const fresh = await psql(dsn('md5-db'), ['-At', '-c', 'SELECT 7']);
      expect(fresh.stdout).toBe('7\n');
    } finally {
      await live.end();
    }
  });
});

// ---- JWT access tokens ------------------------------------------------------------------------------------

describe('JWT access tokens as passwords', () => {
  it('a valid token for the login name logs in with the token\'s groups', async () => {
    const token = await signToken({ sub: 'carol', groups: ['tok-group'] });
    const r = await psql(dsn('tok-db', { user: 'carol' }), ['-At', '-c', 'SELECT current_user'], { password: token });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${PG_MD5_USER}\n`);
    const s = gw.audit.listSessions(200).find((x) => x.user === 'carol' && x.connection === 'tok-db');
    expect(s?.authMethod).toBe('jwt');
    expect(s?.groups).toEqual(['tok-group']);
  });

  it('the pg driver logs in with a token too (password= in the config)', async () => {
    const token = await signToken({ sub: 'carol' });
    const c = new pg.Client({ host: '127.0.0.1', port: gw.port, user: 'carol', password: token, database: 'tok-db' });
    await c.connect();
    try {
      expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    } finally {
      await c.end();
    }
  });

  it('an expired token is refused with 28P01', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await signToken({ exp: now - 3600, iat: now - 7200 });
    const r = await psql(dsn('tok-db', { user: 'carol' }), ['-c', 'SELECT 1'], { password: token });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/password authentication failed/);
    expect((await pgRefusal({ port: gw.port, user: 'carol', password: token, database: 'tok-db' }))?.code).toBe('28P01');
  });

  it('a token for another audience is refused with 28P01', async () => {
    const token = await signToken({ aud: 'someone-else' });
    expect((await pgRefusal({ port: gw.port, user: 'carol', password: token, database: 'tok-db' }))?.code).toBe('28P01');
  });

  it('a token whose user claim is not the login name is refused with 28P01', async () => {
    const token = await signToken({ sub: 'carol' });
    const r = await psql(dsn('tok-db', { user: 'dave' }), ['-c', 'SELECT 1'], { password: token });
    expect(r.code).toBe(2);
    expect((await pgRefusal({ port: gw.port, user: 'dave', password: token, database: 'tok-db' }))?.code).toBe('28P01');
    // the login name's USER part is compared, not the whole user#connection
    expect((await pgRefusal({ port: gw.port, user: 'dave#tok-db', password: token }))?.code).toBe('28P01');
  });

  it('a token signed by another key is refused with 28P01', async () => {
    const token = await signToken({ key: otherKey });
    expect((await pgRefusal({ port: gw.port, user: 'carol', password: token, database: 'tok-db' }))?.code).toBe('28P01');
  });

  it('a valid token whose groups are not allowed on the connection is refused with 28000', async () => {
    const token = await signToken({ groups: ['other-group'] });
    const r = await psql(dsn('tok-db', { user: 'carol' }), ['-c', 'SELECT 1'], { password: token });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not allowed on connection "tok-db"/);
    expect((await pgRefusal({ port: gw.port, user: 'carol', password: token, database: 'tok-db' }))?.code).toBe('28000');
  });

  it('token groups and local groups are never merged', async () => {
    // a token for the local user alice (group dba in config) carries only tok-group
    const token = await signToken({ sub: 'alice', groups: ['tok-group'] });
    expect(await pgRefusal({ port: gw.port, user: 'alice', password: token, database: 'tok-db' })).toBeNull();
    expect((await pgRefusal({ port: gw.port, user: 'alice', password: token, database: 'md5-db' }))?.code).toBe('28000');
    // and alice's password gives only her configured groups
    expect((await pgRefusal({ port: gw.port, user: 'alice', password: 'alice-pw', database: 'tok-db' }))?.code).toBe('28000');
  });
});

// ---- SCRAM listener mode ----------------------------------------------------------------------------------

describe('listen.postgres.clientAuth: scram', () => {
  it('psql logs in with SCRAM and the right password', async () => {
    const r = await psql(dsn('md5-db', { port: gwScram.port }), ['-At', '-c', 'SELECT current_user']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${PG_MD5_USER}\n`);
  });

  it('the server asks for SASL SCRAM-SHA-256, never for a cleartext password', async () => {
    const raw = await Raw.connect(gwScram.port);
    try {
      raw.write(startup({ user: 'alice', database: 'md5-db' }));
      const m = await raw.msg();
      expect(authCode(m)).toBe(10);
      expect(m!.body.toString('utf8', 4)).toContain('SCRAM-SHA-256');
    } finally {
      raw.destroy();
    }
  });

  it('a wrong password is refused with 28P01', async () => {
    const r = await psql(dsn('md5-db', { port: gwScram.port }), ['-c', 'SELECT 1'], { password: 'wrong' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/password authentication failed/);
    expect((await pgRefusal({ port: gwScram.port, user: 'alice', password: 'wrong', database: 'md5-db' }))?.code).toBe('28P01');
  });

  it('an unknown user is refused with 28P01 (same as a wrong password)', async () => {
    const r = await psql(dsn('md5-db', { port: gwScram.port, user: 'nobody' }), ['-c', 'SELECT 1'], { password: 'whatever' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/password authentication failed/);
    expect((await pgRefusal({ port: gwScram.port, user: 'nobody', password: 'whatever', database: 'md5-db' }))?.code).toBe('28P01');
  });

  it('a user not on the allow list is refused with 28000 after a correct proof', async () => {
    expect((await pgRefusal({ port: gwScram.port, user: 'bob', password: 'bob-pw', database: 'md5-db' }))?.code).toBe('28000');
  });
});

// ---- a connection's own port --------------------------------------------------------------------------------

describe('a connection with its own listen port', () => {
  it('takes a plain USER (libpq\'s default dbname = user names nothing)', async () => {
    const port = gw.gateway.ports['own-db'];
    expect(port).toBeGreaterThan(0);
    const r = await psql(`host=127.0.0.1 port=${port} user=alice sslmode=disable`, ['-At', '-c', 'SELECT current_user, current_database()']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${PG_MD5_USER}|${db}\n`);
  });

  it('refuses USER#CONNECTION there with 3D000', async () => {
    const port = gw.gateway.ports['own-db']!;
    const r = await psql(`host=127.0.0.1 port=${port} user=alice#other sslmode=disable`, ['-c', 'SELECT 1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/without "#CONNECTION"/);
    expect((await pgRefusal({ port, user: 'alice#other', password: 'alice-pw', database: 'x' }))?.code).toBe('3D000');
  });
});

// ---- client-side TLS ----------------------------------------------------------------------------------------

describe('tls.mode: require', () => {
  it('refuses sslmode=disable from loopback with 28000 "TLS required"', async () => {
    const r = await psql(dsn('md5-db', { port: gwTls.port }), ['-c', 'SELECT 1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/TLS required/);
    const refusal = await pgRefusal({ port: gwTls.port, user: 'alice', password: 'alice-pw', database: 'md5-db', ssl: false });
    expect(refusal?.code).toBe('28000');
    expect(refusal?.message).toMatch(/TLS required/);
  });

  it('refuses before asking for the password', async () => {
    const raw = await Raw.connect(gwTls.port);
    try {
      raw.write(startup({ user: 'alice', database: 'md5-db' }));
      const m = await raw.msg();
      expect(m?.type).toBe('E');
      expect(errorFields(m!.body).C).toBe('28000');
    } finally {
      raw.destroy();
    }
  });

  it('answers SSLRequest with S', async () => {
    const raw = await Raw.connect(gwTls.port);
    try {
      raw.write(serialize.requestSsl());
      expect(await raw.byte()).toBe(0x53);
    } finally {
      raw.destroy();
    }
  });

  it('sslmode=require works, and the session is recorded as TLS', async () => {
    const r = await psql(`host=127.0.0.1 port=${gwTls.port} user=alice dbname=md5-db sslmode=require`, ['-At', '-c', "SELECT 'over-tls'"]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('over-tls\n');
    const s = gwTls.audit.listSessions(50);
    expect(s.length).toBeGreaterThan(0);
    expect(s.every((x) => x.tls)).toBe(true);
  });
});

describe('TLS on the default (prefer) listener', () => {
  it('answers SSLRequest with S and sslmode=require works', async () => {
    const raw = await Raw.connect(gw.port);
    try {
      raw.write(serialize.requestSsl());
      expect(await raw.byte()).toBe(0x53);
    } finally {
      raw.destroy();
    }
    const r = await psql(`host=127.0.0.1 port=${gw.port} user=alice dbname=md5-db sslmode=require`, ['-At', '-c', 'SELECT 3']);
    expect(r.stdout).toBe('3\n');
  });

  it('direct TLS (ALPN "postgresql"): StartupMessage, password and SELECT 1 over it', async () => {
    const { raw, error } = await connectTls(gw.port, ['postgresql']);
    expect(error).toBeUndefined();
    try {
      expect((raw!.sock as tls.TLSSocket).alpnProtocol).toBe('postgresql');
      const login = await tryLogin(raw!, { user: 'alice', database: 'md5-db' }, 'alice-pw');
      expect(login.map((m) => m.type)).toContain('Z');
      expect(login.some((m) => authCode(m) === 0)).toBe(true);
      const q = await rawQuery(raw!, 'SELECT 1');
      expect(q.values).toEqual(['1']);
    } finally {
      raw?.destroy();
    }
    const sessions = gw.audit.listSessions(500).filter((s) => s.connection === 'md5-db' && s.tls);
    expect(sessions.length).toBeGreaterThan(0);
  });

  it('direct TLS without ALPN, or with another protocol, is refused or closed before any login', async () => {
    for (const alpn of [undefined, ['http/1.1']]) {
      const { raw } = await connectTls(gw.port, alpn);
      if (!raw) continue; // handshake refused: fine
      try {
        raw.write(startup({ user: 'alice', database: 'md5-db' }));
        const m = await raw.msg(5000).catch(() => 'timeout');
        // closed, or an error: never a password request
        if (m !== null && m !== 'timeout') expect((m as Msg).type, String(alpn)).toBe('E');
        expect(m, String(alpn)).not.toBe('timeout');
      } finally {
        raw.destroy();
      }
    }
  });
});

// ---- passwords only inside TLS or from loopback (tls.mode: prefer) --------------------------------------------

/**
 * A non-loopback IPv4 address of this machine: connecting to it makes the gateway see a non-loopback peer.
 * The two tests that need one are skipped only on a host with no such interface (nothing to connect from);
 * any machine with a network card, CI included, runs them.
 */
const outsideAddress = Object.values(os.networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal && !a.address.startsWith('127.'))?.address;

describe('tls.mode: prefer — passwords only inside TLS or from loopback', () => {
  it('loopback as seen on a dual-stack listener (::ffff:127.0.0.1 and ::1) may send a password without TLS', async () => {
    for (const host of ['127.0.0.1', '::1']) {
      const r = await psql(`host=${host} port=${gwAny.port} user=alice dbname=md5-db sslmode=disable`, ['-At', '-c', 'SELECT 1']);
      expect(r.stderr, host).toBe('');
      expect(r.stdout, host).toBe('1\n');
    }
    const peers = gwAny.audit.listSessions(50).map((x) => x.clientAddress);
    expect(peers).toContain('::ffff:127.0.0.1');
    expect(peers).toContain('::1');
  });

  it.skipIf(!outsideAddress /* host has no non-loopback IPv4 address */)('from a non-loopback address without TLS: 28000 "TLS required", refused before the password is asked', async () => {
    const r = await psql(`host=${outsideAddress} port=${gwAny.port} user=alice dbname=md5-db sslmode=disable`, ['-c', 'SELECT 1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/TLS required/);
    const raw = await Raw.connect(gwAny.port, outsideAddress!);
    try {
      raw.write(startup({ user: 'alice', database: 'md5-db' }));
      const m = await raw.msg();
      expect(m?.type).toBe('E');
      expect(errorFields(m!.body).C).toBe('28000');
    } finally {
      raw.destroy();
    }
  });

  it.skipIf(!outsideAddress /* host has no non-loopback IPv4 address */)('from a non-loopback address inside TLS (sslmode=require) the password is accepted', async () => {
    const r = await psql(`host=${outsideAddress} port=${gwAny.port} user=alice dbname=md5-db sslmode=require`, ['-At', '-c', 'SELECT 2']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('2\n');
  });
});

// ---- startup variants ------------------------------------------------------------------------------------------

describe('startup variants', () => {
  it('GSSENCRequest is answered N and a StartupMessage may follow on the same connection', async () => {
    const raw = await Raw.connect(gw.port);
    try {
      raw.write(untyped(80877104));
      expect(await raw.byte()).toBe(0x4e);
      const login = await tryLogin(raw, { user: 'alice', database: 'md5-db' }, 'alice-pw');
      expect(login[login.length - 1]?.type).toBe('Z');
      expect((await rawQuery(raw, 'SELECT 5')).values).toEqual(['5']);
    } finally {
      raw.destroy();
    }
  });

  it('protocol 3.2 with a _pq_ option gets NegotiateProtocolVersion (3.0, _pq_.foo), then authentication', async () => {
    const raw = await Raw.connect(gw.port);
    try {
      raw.write(startup({ user: 'alice', database: 'md5-db', '_pq_.foo': 'bar' }, 196610));
      const v = await raw.msg();
      expect(v?.type).toBe('v');
      expect(v!.body.readInt32BE(0)).toBe(0);
      expect(v!.body.readInt32BE(4)).toBe(1);
      expect(v!.body.toString('utf8', 8)).toBe('_pq_.foo\0');
      const ask = await raw.msg();
      expect(authCode(ask)).toBe(3);
      raw.write(serialize.password('alice-pw'));
      const rest = await raw.until('ZE');
      expect(rest.some((m) => authCode(m) === 0)).toBe(true);
      expect(rest[rest.length - 1]?.type).toBe('Z');
      expect((await rawQuery(raw, 'SELECT 6')).values).toEqual(['6']);
    } finally {
      raw.destroy();
    }
  });

  it('protocol 3.2 without options also gets NegotiateProtocolVersion (minor 0, no options)', async () => {
    const raw = await Raw.connect(gw.port);
    try {
      raw.write(startup({ user: 'alice', database: 'md5-db' }, 196610));
      const v = await raw.msg();
      expect(v?.type).toBe('v');
      expect(v!.body.readInt32BE(0)).toBe(0);
      expect(v!.body.readInt32BE(4)).toBe(0);
      expect(authCode(await raw.msg())).toBe(3);
    } finally {
      raw.destroy();
    }
  });

  it('replication=database is refused with 28000', async () => {
    const f = await startupError(gw.port, { user: 'alice', database: 'md5-db', replication: 'database' });
    expect(f?.C).toBe('28000');
    const t = await startupError(gw.port, { user: 'alice', database: 'md5-db', replication: 'true' });
    expect(t?.C).toBe('28000');
    const r = await psql(dsn('md5-db', { extra: 'replication=database' }), ['-c', 'SELECT 1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/replication/);
  });

  it("options='-c role=postgres' is refused; '-c statement_timeout=5000' is accepted and applied", async () => {
    const bad = await psql(dsn('md5-db'), ['-At', '-c', 'SELECT current_user'], { env: { PGOPTIONS: '-c role=postgres' } });
    expect(bad.code).toBe(2);
    expect(bad.stdout).not.toContain('postgres');
    expect(bad.stderr).toMatch(/startup option refused/);
    const f = await startupError(gw.port, { user: 'alice', database: 'md5-db', options: '-c role=postgres' });
    expect(f?.C).toBe('28000');
    const ok = await psql(dsn('md5-db'), ['-At', '-c', 'SHOW statement_timeout'], { env: { PGOPTIONS: '-c statement_timeout=5000' } });
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toBe('5s\n');
  });

  it('options setting standard_conforming_strings or session_authorization are refused', async () => {
    for (const o of ['-c standard_conforming_strings=off', '--session-authorization=postgres']) {
      const r = await psql(dsn('md5-db'), ['-At', '-c', 'SELECT 1'], { env: { PGOPTIONS: o } });
      expect(r.code, o).toBe(2);
    }
  });

  it('a client_encoding where a quote can hide (SJIS) is refused at startup', async () => {
    const r = await psql(dsn('md5-db'), ['-At', '-c', 'SHOW client_encoding'], { env: { PGCLIENTENCODING: 'SJIS' } });
    expect(r.code).toBe(2);
    expect(r.stdout).not.toMatch(/SJIS/);
  });

  it('no session starts in such an encoding under an alias PostgreSQL accepts (windows932 = SJIS)', async () => {
    const raw = await Raw.connect(gw.port);
    try {
      const msgs = await tryLogin(raw, { user: 'alice', database: 'md5-db', client_encoding: 'windows932' }, 'alice-pw');
      const encoding = msgs
        .filter((m) => m.type === 'S')
        .map((m) => m.body.toString('utf8').split('\0'))
        .find(([k]) => k === 'client_encoding')?.[1];
      const ready = msgs.some((m) => m.type === 'Z');
      expect(ready, `a session started with client_encoding ${encoding}`).toBe(false);
    } finally {
      raw.destroy();
    }
  });

  it('a quote hidden in a windows932 (SJIS) character cannot smuggle a blocked DROP past the rule', async () => {
    const blocked = await psql(dsn('md5-db'), ['-c', 'DROP TABLE victim']);
    expect(blocked.stderr).toMatch(/no-drop/);
    const raw = await Raw.connect(gw.port);
    try {
      const login = await tryLogin(raw, { user: 'alice', database: 'md5-db', client_encoding: 'windows932' }, 'alice-pw');
      if (login.some((m) => m.type === 'Z')) {
        // The gateway decodes 0x95 0x5C as U+FFFD + backslash: E'…\'…' is one string literal to it. In SJIS,
        // 0x95 0x5C is one character, so the quote after it ends the literal and DROP TABLE runs on the target.
        const sql = Buffer.concat([Buffer.from("SELECT E'"), Buffer.from([0x95]), Buffer.from("\\'; DROP TABLE victim; --'\0")]);
        raw.write(frame('Q', sql));
        await raw.until('Z');
      }
    } finally {
      raw.destroy();
    }
    expect(await psqlAdmin(inject('pg'), "SELECT count(*) FROM pg_tables WHERE tablename = 'victim'", db)).toBe('1\n');
  });

  it('client_encoding spelled in another case as a startup parameter (PostgreSQL GUC names are case-insensitive) starts no SJIS session', async () => {
    const raw = await Raw.connect(gw.port);
    try {
      const msgs = await tryLogin(raw, { user: 'alice', database: 'md5-db', CLIENT_ENCODING: 'SJIS' }, 'alice-pw');
      const encoding = msgs
        .filter((m) => m.type === 'S')
        .map((m) => m.body.toString('utf8').split('\0'))
        .find(([k]) => k === 'client_encoding')?.[1];
      const ready = msgs.some((m) => m.type === 'Z');
      expect(ready && encoding === 'SJIS', `a session started with client_encoding ${encoding}`).toBe(false);
    } finally {
      raw.destroy();
    }
  });

  it('standard_conforming_strings=off as a plain startup parameter cannot make the gateway misread strings', async () => {
    // PostgreSQL applies any startup parameter that is not user/database/options/replication as a setting.
    // With it off on the target but assumed on by the gateway, 'x\'' is one literal to the target and
    // 'x\' + an open literal to the gateway: the DROP after it is hidden from the rules.
    const raw = await Raw.connect(gw.port);
    try {
      const login = await tryLogin(raw, { user: 'alice', database: 'md5-db', standard_conforming_strings: 'off' }, 'alice-pw');
      if (login.some((m) => m.type === 'Z')) {
        raw.write(serialize.query("SELECT 'x\\'' ; DROP TABLE victim_scs; -- '"));
        await raw.until('Z');
      }
    } finally {
      raw.destroy();
    }
    expect(await psqlAdmin(inject('pg'), "SELECT count(*) FROM pg_tables WHERE tablename = 'victim_scs'", db)).toBe('1\n');
  });

  it('an unknown connection is 3D000', async () => {
    expect((await pgRefusal({ port: gw.port, user: 'alice', password: 'alice-pw', database: 'no-such-db' }))?.code).toBe('3D000');
  });
});
