// Fuzz tests of the MySQL data path through a real gateway and the run's throwaway MariaDB (DESIGN "Testing":
// decoders never throw past the session boundary on malformed input; the gateway answers with a protocol error
// and keeps serving other sessions). Lives in the integration project: the fuzz project has no MariaDB.
//
// A seeded generator drives ~200 sessions, each one of:
//   - pre-auth garbage: random bytes, random or mutated HandshakeResponse41 packets, wrong sequence ids, oversized
//     headers, an SSLRequest followed by garbage, silence;
//   - a raw client logged in with mysql_native_password that then sends a random mix of valid commands and mutated
//     ones (random sequence ids, wrong lengths, truncated COM_STMT_EXECUTE, random command bytes, lenenc garbage…)
//     and finally a probe query `SELECT <marker>`;
//   - a clean mysql2 session (text and binary protocol) whose answers must all be right and masked.
// Every session must end in an answer to the probe, an ERR packet then a close, or a close (after COM_QUIT or a
// failed TLS handshake; after a hang-up when a mis-framed stream legitimately leaves the gateway waiting for bytes)
// — never a hang. No ERR may be the gateway's "internal error" (an exception that was not a protocol error), no
// row may carry an e-mail of the table in clear. Afterwards a fresh mysql2 client logs in and runs SELECT 1, no
// session is left, nothing was thrown unhandled.
//
// Seed: PORTCULLIS_FUZZ_SEED (default fixed, so a failure reproduces); failures name the seed and the session's script.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import net from 'node:net';
import mysql from 'mysql2/promise';
import { createMysqlDatabase, mariadbAdmin, MY_NATIVE } from '../harness/mariadb.js';
import { startTestGateway, testHash, type TestGateway } from '../harness/gateway.js';
import { scrambleMysqlNative } from '../../src/identity/mysql.js';
import { Cap, Com } from '../../protocols/mysql/codes.js';
import { decodeErr, decodeGreeting, encodeHandshakeResponse, encodeSslRequest, type Greeting } from '../../protocols/mysql/messages.js';
import { MyWriter, packet } from '../../protocols/mysql/packets.js';

const my = inject('mariadb');
const DB = 'fuzz';
const SEED = Number(process.env.PORTCULLIS_FUZZ_SEED ?? 0x5eed2025) >>> 0;
const SESSIONS = 200;
const CONCURRENCY = 8;
/** short limits so that stalled handshakes and partial packets end quickly */
const STARTUP_DEADLINE_MS = 3000;
const PARTIAL_PACKET_TIMEOUT_MS = 2000;
/** the gateway's answer to an exception that was not a protocol error */
const INTERNAL_ERROR = 1105;
/** data of the table that must never reach a client in clear (compared lower-cased: UPPER(note) is queried) */
const LEAK = '@corp.example';

// ---- a small seeded PRNG (mulberry32) ------------------------------------------------------------------------

class Rng {
  constructor(private state: number) {}
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  range(a: number, b: number): number {
    return a + this.int(b - a + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

// ---- a raw client -----------------------------------------------------------------------------------------------

interface Pkt {
  seq: number;
  payload: Buffer;
}

class Raw {
  private buf: Buffer = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  closed = false;
  greeting?: Greeting;

  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.wake?.();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    sock.on('error', () => undefined);
  }

  static connect(port: number): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
      s.once('connect', () => resolve(new Raw(s)));
      s.once('error', reject);
    });
  }

  /** The next packet; null once the connection closed; 'timeout' after timeoutMs. */
  async next(timeoutMs: number): Promise<Pkt | null | 'timeout'> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buf.length >= 4) {
        const len = this.buf.readUIntLE(0, 3);
        if (this.buf.length >= 4 + len) {
          const p = { seq: this.buf[3]!, payload: Buffer.from(this.buf.subarray(4, 4 + len)) };
          this.buf = this.buf.subarray(4 + len);
          return p;
        }
      }
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) return 'timeout';
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.wake = () => {
          clearTimeout(t);
          this.wake = null;
          res();
        };
      });
    }
  }

  write(b: Buffer): void {
    if (!this.sock.destroyed) this.sock.write(b);
  }
}

const CLIENT_CAPS =
  (Cap.LONG_PASSWORD | Cap.LONG_FLAG | Cap.PROTOCOL_41 | Cap.TRANSACTIONS | Cap.SECURE_CONNECTION | Cap.MULTI_RESULTS |
    Cap.PS_MULTI_RESULTS | Cap.PLUGIN_AUTH | Cap.PLUGIN_AUTH_LENENC_DATA) >>> 0;

function helloPayload(g: Greeting, caps: number, user = 'alice#fz', password = 'alice-pw', attrs?: Map<string, string>): Buffer {
  return encodeHandshakeResponse({
    caps: (caps | (attrs ? Cap.CONNECT_ATTRS : 0)) >>> 0,
    maxPacket: 1 << 24,
    charset: 45,
    user,
    authResponse: scrambleMysqlNative(password, g.nonce),
    plugin: 'mysql_native_password',
    attrs,
  });
}

const lenencStr = (s: string | Buffer): Buffer => new MyWriter().lenencBytes(s).payload();
const cmd = (com: number, body: Buffer | string = Buffer.alloc(0)): Buffer => Buffer.concat([Buffer.from([com]), typeof body === 'string' ? Buffer.from(body) : body]);
const u32 = (v: number): Buffer => new MyWriter(4).u32(v).payload();

// ---- the generator -----------------------------------------------------------------------------------------------

const QUERIES = [
  'SELECT 1',
  'SELECT id, email, note FROM items WHERE id <= 3 ORDER BY id',
  'SELECT email FROM items',
  'SELECT CONCAT(email) AS e, UPPER(note) FROM items LIMIT 4',
  'SELEC broken syntax',
  '',
  ';',
  'DROP TABLE items',
  'TRUNCATE items',
  'SELECT 1; SELECT 2',
  'SELECT 1; DROP TABLE items',
  'BEGIN',
  'COMMIT',
  'ROLLBACK',
  'SET NAMES sjis',
  'SET NAMES utf8mb4',
  "SET SESSION sql_mode = 'ANSI_QUOTES'",
  "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'",
  'SET SESSION sql_mode = DEFAULT',
  "SELECT 'it''s', \"dq\", 'a\\'b'",
  'SELECT @@SESSION.sql_mode',
  'SELECT 1/0',
  'SELECT SLEEP(0.02)',
  'SHOW TABLES',
  "LOAD DATA LOCAL INFILE 'items.csv' INTO TABLE items",
  'KILL QUERY 4000000001',
  'DO 1',
  "SELECT note FROM items WHERE note LIKE '%corp%' LIMIT 2",
];

const PREPARES = [
  'SELECT id, email, note FROM items WHERE id = ?',
  'SELECT email, note FROM items ORDER BY id',
  'SELECT ?',
  'SELECT ?, ?',
  'SELECT id FROM items WHERE id > ? AND note LIKE ?',
  'DROP TABLE items',
  'SELEC nope ?',
  "SET SESSION sql_mode = 'ANSI_QUOTES'",
];

/** A COM_STMT_EXECUTE body (after the command byte): stmt id · flags · iteration count · params. */
function executeBody(rng: Rng, stmtId: number, nParams: number, garbage: boolean): Buffer {
  const w = new MyWriter(64);
  w.u32(stmtId).u8(rng.pick([0, 0, 0, 1, 1, 2, 4, 0x80, rng.int(256)])).u32(rng.pick([1, 1, 1, 0, 2, rng.int(2 ** 32)]));
  if (nParams > 0) {
    const bitmap = Buffer.alloc((nParams + 7) >> 3);
    for (let i = 0; i < nParams; i++) if (rng.chance(0.2)) bitmap[i >> 3]! |= 1 << (i & 7);
    w.bytes(bitmap).u8(rng.chance(0.9) ? 1 : 0);
    for (let i = 0; i < nParams; i++) w.u8(rng.pick([0x03, 0xfd, 0xfe, 0x08, 0x05, 0x0c, 0x06, rng.int(256)])).u8(rng.pick([0, 0, 0x80]));
    for (let i = 0; i < nParams; i++) {
      if (garbage && rng.chance(0.5)) {
        // lenenc garbage: NULL marker, the 0xFF error marker, a length far past the packet, a truncated form
        w.bytes(rng.pick([Buffer.from([0xfb]), Buffer.from([0xff]), Buffer.from([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), Buffer.from([0xfd, 0x01]), Buffer.from([0xfc, 0xff, 0xff]), rng.bytes(rng.int(6))]));
      } else {
        w.lenencBytes(rng.pick(['1', '2', 'abc', '', '%corp%', 'x'.repeat(300)]));
      }
    }
  }
  if (garbage && rng.chance(0.3)) w.bytes(rng.bytes(rng.int(10)));
  return w.payload();
}

interface Script {
  /** the packets, each already framed (some deliberately mis-framed) */
  parts: Buffer[];
  /** the stream may be mis-framed: the gateway may rightly wait for bytes that never come */
  mayStall: boolean;
  /** COM_QUIT was sent: a close without an ERR is fine */
  quits: boolean;
  steps: string[];
}

/** A logged-in session's mix of commands; `clean` mixes only send valid, well-framed commands. */
function genCommands(rng: Rng, clean: boolean): Script {
  const s: Script = { parts: [], mayStall: false, quits: false, steps: [] };
  const n = rng.range(1, 8);
  const push = (seq: number, payload: Buffer, step: string): void => {
    s.parts.push(packet(seq, payload));
    s.steps.push(step);
  };
  for (let a = 0; a < n; a++) {
    const roll = clean ? rng.next() * 0.45 : rng.next();
    if (roll < 0.2) {
      const q = rng.pick(QUERIES);
      push(0, cmd(Com.QUERY, q), `Q(${q})`);
    } else if (roll < 0.3) {
      // MariaDB's execute-direct: PREPARE then EXECUTE of statement -1 (the last prepared)
      const q = rng.pick(PREPARES);
      push(0, cmd(Com.STMT_PREPARE, q), `P(${q})`);
      const np = (q.match(/\?/g) ?? []).length;
      push(0, cmd(Com.STMT_EXECUTE, executeBody(rng, 0xffffffff, np, false)), `E(-1,${np})`);
      if (rng.chance(0.3)) push(0, cmd(Com.STMT_FETCH, Buffer.concat([u32(0xffffffff), u32(rng.pick([1, 5, 100]))])), 'F(-1)');
      if (rng.chance(0.5)) push(0, cmd(Com.STMT_CLOSE, u32(0xffffffff)), 'C(-1)');
    } else if (roll < 0.36) {
      const id = rng.range(1, 6);
      push(0, cmd(Com.STMT_EXECUTE, executeBody(rng, id, rng.int(3), false)), `E(${id})`);
    } else if (roll < 0.4) {
      const c = rng.pick([Com.PING, Com.STATISTICS, Com.PROCESS_INFO, Com.RESET_CONNECTION, Com.STMT_RESET, Com.SET_OPTION, Com.FIELD_LIST, Com.INIT_DB, Com.STMT_SEND_LONG_DATA, Com.STMT_CLOSE]);
      const body =
        c === Com.STMT_RESET || c === Com.STMT_CLOSE ? u32(rng.range(1, 6)) :
        c === Com.SET_OPTION ? Buffer.from([rng.int(2), 0]) :
        c === Com.FIELD_LIST ? Buffer.from('items\0') :
        c === Com.INIT_DB ? Buffer.from(rng.pick([DB, 'nope'])) :
        c === Com.STMT_SEND_LONG_DATA ? Buffer.concat([u32(rng.range(1, 6)), Buffer.from([0, 0]), Buffer.from('chunk')]) :
        Buffer.alloc(0);
      push(0, cmd(c, body), `cmd(0x${c.toString(16)})`);
    } else if (roll < 0.45) {
      push(0, cmd(Com.PROCESS_KILL, u32(rng.range(4_000_000_000, 4_100_000_000))), 'kill');
    } else if (roll < 0.53) {
      // truncated COM_STMT_EXECUTE (sometimes too short for its statement id)
      const full = cmd(Com.STMT_EXECUTE, executeBody(rng, rng.pick([1, 2, 0xffffffff]), rng.range(1, 3), false));
      const cut = rng.range(1, full.length - 1);
      push(0, full.subarray(0, cut), `E-truncated(${cut}/${full.length})`);
    } else if (roll < 0.6) {
      push(0, cmd(Com.STMT_EXECUTE, executeBody(rng, rng.pick([1, 2, 3, 0xffffffff, rng.int(2 ** 32)]), rng.range(1, 4), true)), 'E-lenenc-garbage');
    } else if (roll < 0.66) {
      // a random command byte with a random body
      const c = rng.int(256);
      push(0, Buffer.concat([Buffer.from([c]), rng.bytes(rng.int(24))]), `random-cmd(0x${c.toString(16)})`);
      if (c === Com.QUIT) s.quits = true;
    } else if (roll < 0.7) {
      // a known command with a random body
      const c = rng.pick([Com.QUERY, Com.STMT_PREPARE, Com.STMT_EXECUTE, Com.STMT_FETCH, Com.STMT_CLOSE, Com.STMT_RESET, Com.FIELD_LIST, Com.SET_OPTION, Com.PROCESS_KILL, Com.STMT_SEND_LONG_DATA, Com.CHANGE_USER, Com.STMT_BULK_EXECUTE]);
      push(0, Buffer.concat([Buffer.from([c]), rng.bytes(rng.int(20))]), `random-body(0x${c.toString(16)})`);
    } else if (roll < 0.76) {
      // a command starting with a sequence id other than 0
      const seq = rng.range(1, 255);
      push(seq, cmd(Com.QUERY, 'SELECT 1'), `seq(${seq})`);
    } else if (roll < 0.79) {
      push(0, Buffer.alloc(0), 'empty-packet');
    } else if (roll < 0.87) {
      // a wrong length in the header: longer (the gateway waits) or shorter (the rest is read as the next packet)
      const body = cmd(Com.QUERY, rng.pick(QUERIES));
      let declared: number;
      do declared = rng.pick([rng.int(body.length + 40), rng.int(0x1000), rng.int(0xffffff)]);
      while (declared === body.length);
      const head = Buffer.alloc(4);
      head.writeUIntLE(declared, 0, 3);
      s.parts.push(Buffer.concat([head, body]));
      s.mayStall = true;
      s.steps.push(`wrong-length(${declared} for ${body.length})`);
    } else if (roll < 0.95) {
      s.parts.push(rng.bytes(rng.range(1, 48)));
      s.mayStall = true;
      s.steps.push('random-bytes');
    } else if (roll < 0.98) {
      // lenenc garbage where the gateway reads a statement id / a KILL id
      push(0, cmd(rng.pick([Com.STMT_FETCH, Com.STMT_CLOSE, Com.STMT_RESET, Com.PROCESS_KILL]), rng.bytes(rng.int(4))), 'short-id');
    } else {
      push(0, cmd(Com.QUIT), 'quit');
      s.quits = true;
    }
  }
  return s;
}

// ---- setup -----------------------------------------------------------------------------------------------------

let gw: TestGateway;
let port = 0;
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown): void => {
  unhandled.push(e);
};

beforeAll(async () => {
  await createMysqlDatabase(my, DB);
  const rows = Array.from({ length: 20 }, (_, i) => `(${i + 1}, 'user${i + 1}@corp.example', 'contact user${i + 1}@corp.example or ${i}')`).join(',');
  await mariadbAdmin(
    my,
    `CREATE TABLE ${DB}.items (id INT PRIMARY KEY, email VARCHAR(100), note TEXT) DEFAULT CHARSET utf8mb4;
     INSERT INTO ${DB}.items VALUES ${rows};
     CREATE TABLE ${DB}.victim (id INT PRIMARY KEY);
     CREATE TABLE ${DB}.victim2 (id INT PRIMARY KEY);
     CREATE TABLE ${DB}.victim3 (id INT PRIMARY KEY);`,
  );
  gw = await startTestGateway(
    {
      listen: { mysql: { host: '127.0.0.1', port: 0 } },
      identity: { users: [{ name: 'alice', groups: ['dev'], password: { hash: testHash('alice-pw') } }] },
      connections: [
        {
          name: 'fz',
          protocol: 'mysql',
          target: { host: my.host, port: my.port, user: MY_NATIVE.user, password: MY_NATIVE.password, database: DB, tls: 'disable' },
          allow: ['dev'],
          guardrails: ['no-drop'],
          masking: 'pii',
        },
      ],
      guardrails: [{ name: 'no-drop', when: { statements: ['drop', 'truncate'] }, action: 'block' }],
      masking: [{ name: 'pii', columns: [{ match: 'items.email', with: 'redact' }], detect: ['email'], with: 'redact' }],
    },
    { startupDeadlineMs: STARTUP_DEADLINE_MS, partialPacketTimeoutMs: PARTIAL_PACKET_TIMEOUT_MS },
  );
  port = gw.gateway.ports.mysql!;
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
}, 120_000);

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
  await gw?.stop();
}, 60_000);

// ---- one session ------------------------------------------------------------------------------------------------

type Outcome = 'answered' | 'answered-clean' | 'closed-with-error' | 'closed' | 'closed-after-hangup' | 'mysql2-clean';

interface Result {
  outcome: Outcome;
  failure?: string;
  steps: string[];
}

/** Checks a packet from the gateway: no internal error, no e-mail of the table in clear. */
function inspect(p: Pkt): string | undefined {
  if (p.payload[0] === 0xff && p.payload.length >= 3) {
    const e = decodeErr(p.payload, 0, p.payload.length);
    if (e.code === INTERNAL_ERROR) return `the gateway answered with an internal error: ${e.code} ${e.state} ${e.message}`;
    return undefined;
  }
  if (p.payload.toString('latin1').toLowerCase().includes(LEAK)) return `an e-mail of the table in clear: ${JSON.stringify(p.payload.toString('latin1').slice(0, 200))}`;
  return undefined;
}

/** Reads until the connection closes; fails on a packet that is not allowed or when it stays open past timeoutMs. */
async function drainToClose(r: Raw, timeoutMs: number, last: Pkt | null): Promise<{ last: Pkt | null; closed: boolean; failure?: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await r.next(Math.max(0, deadline - Date.now()));
    if (p === 'timeout') return { last, closed: false };
    if (p === null) return { last, closed: true };
    const bad = inspect(p);
    if (bad) return { last: p, closed: false, failure: bad };
    last = p;
  }
}

/** After login: the mix, then the probe; classifies the end of the session. */
async function commandPhase(r: Raw, rng: Rng, i: number, clean: boolean, deprecateEof: boolean, steps: string[]): Promise<Result> {
  const script = genCommands(rng, clean);
  steps.push(...script.steps);
  const all = Buffer.concat(script.parts);
  let off = 0;
  while (off < all.length) {
    const k = rng.chance(0.5) ? all.length - off : rng.range(1, all.length - off);
    r.write(all.subarray(off, off + k));
    off += k;
    if (rng.chance(0.3)) await new Promise((res) => setImmediate(res));
  }
  const marker = String(900_000_000 + i);
  r.write(packet(0, cmd(Com.QUERY, `SELECT ${marker}`)));
  const want = lenencStr(marker);
  let last: Pkt | null = null;
  let sawMarker = false;
  const deadline = Date.now() + (script.mayStall ? 4000 : 20_000);
  for (;;) {
    const p = await r.next(Math.max(0, deadline - Date.now()));
    if (p === 'timeout') {
      if (!script.mayStall) return { outcome: 'answered', failure: `no answer to the probe and no close within 20 s (last packet ${last?.payload.toString('hex').slice(0, 40) ?? 'none'})`, steps };
      // mis-framed: the gateway may be waiting for the rest of a packet or the next command; once we hang up it must close
      r.sock.end();
      const d = await drainToClose(r, 5000, last);
      if (d.failure) return { outcome: 'closed-after-hangup', failure: d.failure, steps };
      if (!d.closed) return { outcome: 'closed-after-hangup', failure: 'did not close within 5 s after the client hung up', steps };
      return { outcome: 'closed-after-hangup', steps };
    }
    if (p === null) {
      if (last?.payload[0] === 0xff) return { outcome: 'closed-with-error', steps };
      if (clean) return { outcome: 'closed', failure: `a session of valid commands was closed (last packet ${last?.payload.toString('hex').slice(0, 40) ?? 'none'})`, steps };
      if (script.quits || script.mayStall) return { outcome: 'closed', steps };
      return { outcome: 'closed', failure: `closed without an ERR packet (last packet ${last?.payload.toString('hex').slice(0, 40) ?? 'none'})`, steps };
    }
    const bad = inspect(p);
    if (bad) return { outcome: 'answered', failure: bad, steps };
    last = p;
    if (!sawMarker && p.payload.equals(want)) {
      // column count (1), column definition (2), [EOF (3)], row
      const rowSeq = deprecateEof ? 3 : 4;
      if (p.seq !== rowSeq) return { outcome: 'answered', failure: `the probe's row has sequence id ${p.seq}, expected ${rowSeq}`, steps };
      sawMarker = true;
      continue;
    }
    if (sawMarker && p.payload[0] === 0xfe && p.payload.length < 9) return { outcome: clean ? 'answered-clean' : 'answered', steps };
  }
}

/** Pre-auth garbage, or a (possibly mutated) login followed by the command phase. */
async function rawSession(i: number, rng: Rng): Promise<Result> {
  const steps: string[] = [];
  const r = await Raw.connect(port);
  try {
    const g0 = await r.next(5000);
    if (g0 === null || g0 === 'timeout') return { outcome: 'closed', failure: 'no greeting', steps };
    const g = decodeGreeting(g0.payload);
    const deprecateEof = rng.chance(0.5);
    const caps = (CLIENT_CAPS | (deprecateEof ? Cap.DEPRECATE_EOF : 0) | (rng.chance(0.3) ? Cap.MULTI_STATEMENTS : 0)) >>> 0;
    const loginOnly = rng.chance(0.65); // a proper login, then the command phase
    let clean = false;
    let tlsGarbage = false;
    if (loginOnly) {
      clean = rng.chance(0.3);
      const attrs = rng.chance(0.3) ? new Map([['_client_name', 'fuzz'], ['program_name', 'x'.repeat(rng.int(300))]]) : undefined;
      r.write(packet(1, helloPayload(g, caps, 'alice#fz', 'alice-pw', attrs)));
      steps.push(clean ? 'login(clean)' : 'login');
    } else {
      const hello = helloPayload(g, caps);
      switch (rng.int(9)) {
        case 0:
          r.write(rng.bytes(rng.range(1, 200)));
          steps.push('pre-auth random bytes');
          break;
        case 1: {
          const b = rng.bytes(rng.range(0, 120));
          r.write(packet(1, b));
          // 32 bytes with CLIENT_SSL are an SSLRequest: the gateway starts TLS and, without a ClientHello, hangs up
          tlsGarbage = b.length === 32 && (b.readUInt32LE(0) & Cap.SSL) !== 0;
          steps.push('pre-auth random payload');
          break;
        }
        case 2: {
          const cut = rng.int(hello.length);
          r.write(packet(1, hello.subarray(0, cut)));
          steps.push(`pre-auth truncated response (${cut}/${hello.length})`);
          break;
        }
        case 3: {
          const m = Buffer.from(hello);
          const flips = rng.range(1, 4);
          for (let k = 0; k < flips; k++) m[rng.int(m.length)] = rng.int(256);
          r.write(packet(1, m));
          steps.push(`pre-auth mutated response (${flips} bytes)`);
          break;
        }
        case 4: {
          const seq = rng.pick([0, 2, 3, 255]);
          r.write(packet(seq, hello));
          steps.push(`pre-auth wrong sequence id ${seq}`);
          break;
        }
        case 5:
          r.write(Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0x01]), rng.bytes(rng.int(64))]));
          steps.push('pre-auth oversized header');
          break;
        case 6:
          r.write(packet(1, encodeSslRequest((caps | Cap.SSL) >>> 0, 45, 1 << 24)));
          r.write(rng.bytes(rng.range(1, 300)));
          tlsGarbage = true;
          steps.push('SSLRequest then garbage');
          break;
        case 7:
          r.write(packet(1, Buffer.alloc(0)));
          steps.push('pre-auth empty packet');
          break;
        default:
          if (rng.chance(0.3)) {
            steps.push('pre-auth silence');
          } else {
            // a response with garbage connection attributes
            const bad = Buffer.concat([helloPayload(g, (caps | Cap.CONNECT_ATTRS) >>> 0).subarray(0, -1), Buffer.from([0xfc, 0xff, 0x7f]), rng.bytes(rng.int(30))]);
            r.write(packet(1, bad));
            steps.push('pre-auth attrs garbage');
          }
      }
    }
    // the answer to the login: OK (logged in), ERR (then a close), an AuthSwitch (the gateway times out), or a close
    let last: Pkt | null = null;
    const deadline = Date.now() + STARTUP_DEADLINE_MS + 5000;
    for (;;) {
      const p = await r.next(Math.max(0, deadline - Date.now()));
      if (p === 'timeout') return { outcome: 'closed', failure: `the handshake neither finished nor closed within ${STARTUP_DEADLINE_MS + 5000} ms`, steps };
      if (p === null) {
        if (loginOnly) return { outcome: 'closed', failure: `closed during a proper login (last packet ${last?.payload.toString('hex').slice(0, 40) ?? 'none'})`, steps };
        if (last?.payload[0] === 0xff) return { outcome: 'closed-with-error', steps };
        if (tlsGarbage) return { outcome: 'closed', steps };
        return { outcome: 'closed', failure: `closed during the handshake without an ERR packet (last packet ${last?.payload.toString('hex').slice(0, 40) ?? 'none'})`, steps };
      }
      const bad = inspect(p);
      if (bad) return { outcome: 'closed', failure: bad, steps };
      last = p;
      if (p.payload[0] === 0x00) {
        if (p.seq !== 2) return { outcome: 'closed', failure: `the login OK has sequence id ${p.seq}, expected 2`, steps };
        return await commandPhase(r, rng, i, clean, deprecateEof, steps);
      }
      if (p.payload[0] === 0xff) {
        if (loginOnly) return { outcome: 'closed', failure: `a proper login was refused: ${decodeErr(p.payload, 0, p.payload.length).message}`, steps };
        const d = await drainToClose(r, 5000, p);
        if (d.failure) return { outcome: 'closed', failure: d.failure, steps };
        if (!d.closed) return { outcome: 'closed', failure: 'an ERR during the handshake was not followed by a close within 5 s', steps };
        return { outcome: 'closed-with-error', steps };
      }
      // 0xFE: an AuthSwitch we do not answer; the gateway's startup deadline ends it
    }
  } finally {
    r.sock.destroy();
  }
}

/** A well-behaved mysql2 session: every answer must be right and masked. */
async function mysql2Session(rng: Rng): Promise<Result> {
  const steps = ['mysql2'];
  const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'alice#fz', password: 'alice-pw', connectTimeout: 10_000 });
  try {
    const id = rng.range(1, 20);
    const [rows] = await c.query('SELECT id, email, note FROM items WHERE id = ?', [id]);
    const row = (rows as Array<{ id: number; email: string; note: string }>)[0]!;
    if (row.id !== id || row.email !== '[REDACTED]' || row.note.includes('@corp.example')) {
      return { outcome: 'mysql2-clean', failure: `text protocol: unexpected row ${JSON.stringify(row)}`, steps };
    }
    const [brows] = await c.execute('SELECT id, email, note FROM items WHERE id = ?', [id]);
    const brow = (brows as Array<{ id: number; email: string; note: string }>)[0]!;
    if (brow.id !== id || brow.email !== '[REDACTED]' || brow.note.includes('@corp.example')) {
      return { outcome: 'mysql2-clean', failure: `binary protocol: unexpected row ${JSON.stringify(brow)}`, steps };
    }
    const blocked = await c.query('DROP TABLE items').then(
      () => null,
      (e: { errno?: number }) => e,
    );
    if (blocked?.errno !== 1142) return { outcome: 'mysql2-clean', failure: `DROP TABLE was not blocked with 1142: ${JSON.stringify(blocked)}`, steps };
    const [one] = await c.query('SELECT 1 AS one');
    if ((one as Array<{ one: number }>)[0]?.one !== 1) return { outcome: 'mysql2-clean', failure: 'SELECT 1 after the block failed', steps };
    return { outcome: 'mysql2-clean', steps };
  } finally {
    await c.end().catch(() => undefined);
  }
}

describe('fuzzed MySQL sessions through the gateway', () => {
  it(`${SESSIONS} sessions of garbage, mutated and valid packets never hang or break the gateway (seed ${SEED})`, async () => {
    const rng = new Rng(SEED);
    const seeds = Array.from({ length: SESSIONS }, () => rng.int(2 ** 32));
    const counts: Record<string, number> = {};
    const failures: string[] = [];
    let nextIndex = 0;
    const worker = async (): Promise<void> => {
      while (nextIndex < SESSIONS) {
        const i = nextIndex++;
        const srng = new Rng(seeds[i]!);
        try {
          const res = srng.chance(0.12) ? await mysql2Session(srng) : await rawSession(i, srng);
          counts[res.outcome] = (counts[res.outcome] ?? 0) + 1;
          if (res.failure) failures.push(`session ${i} (seed ${SEED}): ${res.failure}; script: ${res.steps.join(' · ')}`);
        } catch (err) {
          failures.push(`session ${i} (seed ${SEED}): ${(err as Error).stack ?? String(err)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    console.info(`mysql fuzz outcomes (seed ${SEED}): ${JSON.stringify(counts)}`);
    expect(failures, JSON.stringify(counts)).toEqual([]);
    // the mix exercised both ends: answers and protocol-error closes
    expect(counts['answered-clean'] ?? 0).toBeGreaterThan(SESSIONS / 20);
    expect((counts.answered ?? 0) + (counts['answered-clean'] ?? 0)).toBeGreaterThan(SESSIONS / 8);
    expect(counts['closed-with-error'] ?? 0).toBeGreaterThan(SESSIONS / 8);
    expect(counts['mysql2-clean'] ?? 0).toBeGreaterThan(5);

    // a fresh client still logs in and runs a query
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'alice#fz', password: 'alice-pw', connectTimeout: 10_000 });
    try {
      const [rows] = await c.query('SELECT 1 AS one');
      expect(rows).toEqual([{ one: 1 }]);
      const [masked] = await c.execute('SELECT email FROM items WHERE id = ?', [3]);
      expect(masked).toEqual([{ email: '[REDACTED]' }]);
    } finally {
      await c.end();
    }
    // no session left behind, no internal error anywhere in the audit log, nothing thrown unhandled
    const deadline = Date.now() + 10_000;
    while (gw.gateway.sessions() > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    expect(gw.gateway.sessions()).toBe(0);
    const internal = gw.audit.events(undefined, 1_000_000).filter((e) => e.kind === 'error' && e.message?.startsWith(`${INTERNAL_ERROR} `));
    expect(internal.map((e) => e.message)).toEqual([]);
    expect(unhandled.map(String)).toEqual([]);
  }, 300_000);
});

// ---- directed cases found while writing the fuzzer -------------------------------------------------------------------

/** A raw session logged in as alice on fz (no CLIENT_DEPRECATE_EOF: every result has its EOF packets). */
async function rawLogin(caps = CLIENT_CAPS): Promise<Raw> {
  const r = await Raw.connect(port);
  const g = await r.next(5000);
  if (g === null || g === 'timeout') throw new Error('no greeting');
  r.write(packet(1, helloPayload(decodeGreeting(g.payload), caps)));
  const ok = await r.next(5000);
  if (ok === null || ok === 'timeout' || ok.payload[0] !== 0x00) throw new Error('login failed');
  return r;
}

/** Reads packets until `eofs` EOF packets (or an ERR) arrived. */
async function untilEofs(r: Raw, eofs: number): Promise<Pkt[]> {
  const got: Pkt[] = [];
  let seen = 0;
  while (seen < eofs) {
    const p = await r.next(5000);
    if (p === null || p === 'timeout') throw new Error(`connection ${p === null ? 'closed' : 'silent'} after ${got.map((x) => x.payload.toString('hex').slice(0, 12)).join(' ')}`);
    got.push(p);
    if (p.payload[0] === 0xff) break;
    if (p.payload[0] === 0xfe && p.payload.length < 9) seen++;
  }
  return got;
}

const execute = (id: number, flags: number): Buffer => packet(0, cmd(Com.STMT_EXECUTE, Buffer.concat([u32(id), Buffer.from([flags]), u32(1)])));

describe('COM_STMT_EXECUTE of statement -1 (MariaDB execute-direct) pipelined after its COM_STMT_PREPARE', () => {
  // Regression (fixed): frontend.ts resolves statement id 0xFFFFFFFF ("the statement prepared last") when the EXECUTE is read, i.e.
  // before the target answered the PREPARE sent with it in the same write (what MariaDB Connector/C's
  // mariadb_stmt_execute_direct sends). The op is attributed to the *previous* statement, and rememberCursor() stores
  // the new cursor's column definitions and masking plan on that previous statement. Input: PREPARE A "SELECT note
  // FROM items ORDER BY id"; EXECUTE A with a cursor (A.cursorDefs = [note], plan masks e-mails); then, in one write,
  // PREPARE B "SELECT id FROM items" + EXECUTE -1 with a cursor (A.cursorDefs := [id], A.cursorPlan := null); then
  // COM_STMT_FETCH A (5 rows). Expected: A's rows masked (or the FETCH refused). Actual: A's `note` rows are forwarded
  // unmasked ("contact user2@corp.example or 1" … "contact user6@corp.example or 5").
  it('the cursor opened by EXECUTE -1 does not replace the masking plan of the previous statement', async () => {
    const r = await rawLogin();
    try {
      r.write(packet(0, cmd(Com.STMT_PREPARE, 'SELECT note FROM items ORDER BY id')));
      const prepA = await untilEofs(r, 1);
      expect(prepA[0]!.payload[0]).toBe(0x00);
      const a = prepA[0]!.payload.readUInt32LE(1);
      r.write(execute(a, 1)); // CURSOR_TYPE_READ_ONLY
      const openA = await untilEofs(r, 1);
      expect(openA.at(-1)!.payload.readUInt16LE(3) & 0x40).toBe(0x40); // SERVER_STATUS_CURSOR_EXISTS
      // a FETCH now is masked: the gateway knows A's columns
      r.write(packet(0, cmd(Com.STMT_FETCH, Buffer.concat([u32(a), u32(1)]))));
      const first = await untilEofs(r, 1);
      expect(first.some((p) => p.payload.toString('latin1').includes(LEAK))).toBe(false);
      expect(first.length).toBe(2); // one row, EOF

      r.write(Buffer.concat([packet(0, cmd(Com.STMT_PREPARE, 'SELECT id FROM items')), execute(0xffffffff, 1)]));
      const prepB = await untilEofs(r, 2); // prepare OK · def · EOF, then count · def · EOF
      expect(prepB[0]!.payload[0]).toBe(0x00);
      expect(prepB.at(-1)!.payload.readUInt16LE(3) & 0x40).toBe(0x40);

      r.write(packet(0, cmd(Com.STMT_FETCH, Buffer.concat([u32(a), u32(5)]))));
      const rows = await untilEofs(r, 1);
      const leaked = rows.filter((p) => p.payload.toString('latin1').includes(LEAK)).map((p) => p.payload.toString('latin1'));
      expect(leaked).toEqual([]);
    } finally {
      r.sock.destroy();
    }
  });

  // Regression (fixed): the audit's completion event of an execute-direct names the previously prepared statement.
  // Input: PREPARE "SELECT 1 AS fz_first" (answered), then in one write PREPARE "SELECT 2 AS fz_second" + EXECUTE -1.
  // Expected: the 'complete' event of the execute has text "SELECT 2 AS fz_second". Actual: "SELECT 1 AS fz_first".
  it('the audit names the statement the target executed', async () => {
    const r = await rawLogin();
    try {
      r.write(packet(0, cmd(Com.STMT_PREPARE, 'SELECT 1 AS fz_first')));
      await untilEofs(r, 1);
      r.write(Buffer.concat([packet(0, cmd(Com.STMT_PREPARE, 'SELECT 2 AS fz_second')), execute(0xffffffff, 0)]));
      const got = await untilEofs(r, 3); // prepare OK · def · EOF, then count · def · EOF · row · EOF
      expect(got.at(-1)!.payload[0]).toBe(0xfe); // the execute was answered: its completion is audited
    } finally {
      r.sock.destroy();
    }
    const deadline = Date.now() + 5000;
    let texts: (string | undefined)[] = [];
    while (Date.now() < deadline) {
      texts = gw.audit.events(undefined, 1_000_000).filter((e) => e.kind === 'complete' && e.via === 'execute' && /fz_(first|second)/.test(e.text ?? '')).map((e) => e.text);
      if (texts.length > 0) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(texts).toEqual(['SELECT 2 AS fz_second']);
  });

  // Regression (fixed): a prepared SET sql_mode executed as execute-direct does not make the gateway
  // probe sql_mode (op.stmt is the previous statement, whose changesSqlMode is false), so the lexer keeps reading
  // backslashes as escapes while the target has NO_BACKSLASH_ESCAPES. Input (client with CLIENT_MULTI_STATEMENTS): in
  // one write, PREPARE "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'" + EXECUTE -1; then COM_QUERY
  // "SELECT 'a\' ; DROP TABLE victim; -- '". Expected: ERR 1142 (rule no-drop) and the table still there. Actual: the
  // gateway reads one SELECT of a string literal, the target runs SELECT 'a\' then DROP TABLE victim.
  it('a sql_mode change by EXECUTE -1 reaches the lexer: the no-drop guardrail holds', async () => {
    const r = await rawLogin((CLIENT_CAPS | Cap.MULTI_STATEMENTS) >>> 0);
    const got: Pkt[] = [];
    try {
      r.write(Buffer.concat([packet(0, cmd(Com.STMT_PREPARE, "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'")), execute(0xffffffff, 0)]));
      for (let k = 0; k < 2; k++) {
        const p = await r.next(5000);
        if (p === null || p === 'timeout') throw new Error('no answer to PREPARE + EXECUTE');
        expect(p.payload[0], p.payload.toString('latin1')).toBe(0x00);
      }
      r.write(packet(0, cmd(Com.QUERY, "SELECT 'a\\' ; DROP TABLE victim; -- '")));
      // the SELECT's result set then the DROP's OK — or the gateway's ERR
      for (;;) {
        const p = await r.next(3000);
        if (p === null || p === 'timeout') break;
        got.push(p);
        if (p.payload[0] === 0xff) break;
        if (p.payload[0] === 0x00 && got.length > 1) break;
      }
    } finally {
      r.sock.destroy();
    }
    const exists = await mariadbAdmin(my, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '${DB}' AND table_name = 'victim';`);
    expect(exists.trim(), 'the table was dropped through the gateway').toBe('1');
    expect(got.at(-1)?.payload[0]).toBe(0xff);
    expect(decodeErr(got.at(-1)!.payload, 0, got.at(-1)!.payload.length).code).toBe(1142);
  });

  it('control: when the client waits for the PREPARE answer before EXECUTE -1, the guardrail holds', async () => {
    const r = await rawLogin((CLIENT_CAPS | Cap.MULTI_STATEMENTS) >>> 0);
    let last: Pkt | null = null;
    try {
      r.write(packet(0, cmd(Com.STMT_PREPARE, "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'")));
      const prep = await r.next(5000);
      expect(prep !== null && prep !== 'timeout' && prep.payload[0]).toBe(0x00);
      r.write(execute(0xffffffff, 0));
      const ok = await r.next(5000);
      expect(ok !== null && ok !== 'timeout' && ok.payload[0]).toBe(0x00);
      r.write(packet(0, cmd(Com.QUERY, "SELECT 'a\\' ; DROP TABLE victim2; -- '")));
      const p = await r.next(5000);
      if (p !== null && p !== 'timeout') last = p;
    } finally {
      r.sock.destroy();
    }
    expect(last?.payload[0]).toBe(0xff);
    expect(decodeErr(last!.payload, 0, last!.payload.length).code).toBe(1142);
    const exists = await mariadbAdmin(my, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '${DB}' AND table_name = 'victim2';`);
    expect(exists.trim()).toBe('1');
  });
});

describe('character sets the gateway refuses', () => {
  // Regression (fixed): frontend.ts refuses an unsafe character_set_client only when the SET statement names it literally
  // (CHARACTER_SET_SETTING matches a bare or quoted name). Through the gateway, each of these sets it anyway:
  //   SET @c = 'sjis'; SET character_set_client = @c          → @@character_set_client = sjis
  //   SET character_set_client = CONCAT('sj','is')             → sjis
  //   SET character_set_client = 13                            → sjis (a collation id)
  //   SET @@session.character_set_client = (SELECT 'gbk')     → gbk
  // and then the SJIS quote trick bypasses the guardrails: COM_QUERY bytes "SELECT '" 0x95 "\' ; DROP TABLE victim3;
  // -- '" is one SELECT of a string to the gateway's UTF-8 lexer (0x95 is not UTF-8, "\'" an escaped quote), while
  // for the server 0x95 0x5C is one SJIS character, the quote closes the string and DROP TABLE victim3 runs.
  // Expected: the SET refused with ERR 1142 (rule "charset") or the DROP blocked; actual: the table is dropped.
  it('character_set_client cannot be set to sjis through a user variable (and the quote bypass fails)', async () => {
    const r = await rawLogin((CLIENT_CAPS | Cap.MULTI_STATEMENTS) >>> 0);
    const answers: Pkt[] = [];
    try {
      for (const q of ["SET @c = 'sjis'", 'SET character_set_client = @c']) {
        r.write(packet(0, cmd(Com.QUERY, q)));
        const p = await r.next(5000);
        if (p === null || p === 'timeout') throw new Error(`no answer to ${q}`);
        answers.push(p);
      }
      // whatever the SET answered, the DROP must not get through
      r.write(packet(0, cmd(Com.QUERY, Buffer.concat([Buffer.from("SELECT '"), Buffer.from([0x95]), Buffer.from("\\' ; DROP TABLE victim3; -- '")]))));
      for (;;) {
        const p = await r.next(1500);
        if (p === null || p === 'timeout' || p.payload[0] === 0xff) break;
      }
    } finally {
      r.sock.destroy();
    }
    const exists = await mariadbAdmin(my, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '${DB}' AND table_name = 'victim3';`);
    expect(exists.trim(), 'the table was dropped through the gateway').toBe('1');
    expect(answers[1]!.payload[0], 'SET character_set_client = @c was accepted').toBe(0xff);
    expect(decodeErr(answers[1]!.payload, 0, answers[1]!.payload.length).code).toBe(1142);
  });
});
