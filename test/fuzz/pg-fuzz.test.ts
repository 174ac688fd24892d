// Fuzz and property tests of the PostgreSQL data path (DESIGN "Testing": decoders never throw past the session
// boundary on malformed input; the gateway answers with a protocol error and keeps serving other sessions).
//
// 1. Sessions: a seeded generator drives 300+ logged-in sessions through a real gateway and a throwaway
//    PostgreSQL, each sending a random mix of valid messages and mutated ones. Every session must end in an
//    answer (the probe query after the mix comes back), an ErrorResponse then a close, or — when the mix left
//    the stream mis-framed so that the gateway legitimately waits for more bytes — a close once the client
//    hangs up. Never a hang. About 40% of the sessions send only valid messages: those must all be answered.
//    No DataRow in any session may carry an e-mail in clear (column rule + detection are on). Afterwards the
//    gateway serves a normal query and holds no session.
// 2. Framer: random sequences of valid frames split at random points always yield the same frames.
//
// Seed: PORTCULLIS_FUZZ_SEED (default fixed, so a failure reproduces); every failure message names the seed and
// the session's script.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { createDatabase, psqlAdmin, startPostgres, PG_TRUST_USER, type PgServer } from '../harness/postgres.js';
import { startTestGateway, type TestGateway } from '../harness/gateway.js';
import { NO_DROP, pgConnection, pgTarget, testUser } from '../harness/fixtures.js';
import { login, type Msg, type Raw } from '../harness/pgwire.js';
import { Framer } from '../../protocols/postgres/framer.js';
import { ProtocolError } from '../../protocols/postgres/bytes.js';

const SEED = Number(process.env.PORTCULLIS_FUZZ_SEED ?? 0x5eed2024) >>> 0;
const SESSIONS = 320;
const CONCURRENCY = 8;

// ---- a small seeded PRNG (mulberry32) ------------------------------------------------------------------------

class Rng {
  constructor(private state: number) {}
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** integer in [a, b] */
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
    for (let i = 0; i < n; i += 4) {
      const v = (this.next() * 4294967296) >>> 0;
      for (let j = 0; j < 4 && i + j < n; j++) b[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return b;
  }
}

// ---- frames -----------------------------------------------------------------------------------------------

function frame(code: number, body: Buffer, declaredLen = 4 + body.length): Buffer {
  const head = Buffer.alloc(5);
  head[0] = code;
  head.writeInt32BE(declaredLen, 1);
  return Buffer.concat([head, body]);
}

const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8');
const i16 = (v: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v, 0);
  return b;
};
const i32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v, 0);
  return b;
};

/** Frontend message codes the gateway accepts after login. */
const VALID_CODES = 'BCdcfDEHFPQSX'.split('').map((c) => c.charCodeAt(0));

const SIMPLE_SQL = [
  'SELECT 1',
  'SELECT id, email, note FROM items WHERE id <= 3 ORDER BY id',
  'SELECT email FROM items',
  'SELEC broken syntax',
  '',
  ';',
  'DROP TABLE items',
  'SELECT 1; SELECT 2',
  'SELECT 1; DROP TABLE items',
  'BEGIN',
  'COMMIT',
  'ROLLBACK',
  'SELECT $1',
  "SELECT pg_notify('fuzz', 'x')",
  "DO $$ BEGIN RAISE NOTICE 'hi'; END $$",
  'SELECT 1/0',
  "SET application_name = 'fuzz'",
  'SHOW standard_conforming_strings',
  "SELECT 'it''s', E'\\x41', $tag$ dollar $tag$",
];

const EXT_SQL = [
  'SELECT 1',
  'SELECT $1::int + 1 AS n',
  'SELECT id, email FROM items WHERE id = $1',
  'SELECT email, note FROM items ORDER BY id',
  'SELECT 1/(id - id) FROM items',
  'DROP TABLE items',
  'SELECT $1, $2',
  'INSERT INTO items (id, email, note) VALUES (1000 + $1::int, $2, NULL)',
  'SELEC nope',
  '',
];

const STATEMENTS = ['', 's1', 's2'];
const PORTALS = ['', 'p1'];

function randomValue(rng: Rng): string | null {
  return rng.pick([null, '1', '2', '42', 'abc', '', 'x@y.example', '-7', '99999999999']);
}

/** One valid single message (for the mutators to damage). */
function validMessage(rng: Rng): Buffer {
  switch (rng.int(8)) {
    case 0:
      return serialize.query(rng.pick(SIMPLE_SQL));
    case 1:
      return serialize.parse({ name: rng.pick(STATEMENTS), text: rng.pick(EXT_SQL) });
    case 2:
      return serialize.bind({ portal: rng.pick(PORTALS), statement: rng.pick(STATEMENTS), values: Array.from({ length: rng.int(3) }, () => randomValue(rng)) });
    case 3:
      return serialize.describe({ type: rng.pick(['S', 'P'] as const), name: rng.pick(STATEMENTS) });
    case 4:
      return serialize.execute({ portal: rng.pick(PORTALS), rows: rng.int(3) });
    case 5:
      return serialize.close({ type: rng.pick(['S', 'P'] as const), name: rng.pick(STATEMENTS) });
    case 6:
      return serialize.sync();
    default:
      return serialize.flush();
  }
}

/** A Bind with random (often inconsistent) counts, framed correctly. */
function randomBind(rng: Rng): Buffer {
  const parts: Buffer[] = [cstr(rng.pick(PORTALS)), cstr(rng.pick(STATEMENTS))];
  const nf = rng.pick([0, 1, 2, 3, -1, 0x7fff]);
  parts.push(i16(nf));
  for (let i = 0; i < Math.min(Math.max(nf, 0), 3); i++) parts.push(i16(rng.pick([0, 1, 2, -1])));
  const np = rng.pick([0, 1, 2, 5, -3, 0x7fff]);
  parts.push(i16(np));
  for (let i = 0; i < Math.min(Math.max(np, 0), rng.int(4)); i++) {
    const len = rng.pick([-1, -2, 0, 1, 4, 100, 0x7fffffff]);
    parts.push(i32(len));
    if (len > 0) parts.push(rng.bytes(Math.min(len, rng.int(8))));
  }
  if (rng.chance(0.8)) {
    const nr = rng.pick([0, 1, 2, -1]);
    parts.push(i16(nr));
    for (let i = 0; i < Math.max(nr, 0); i++) parts.push(i16(rng.pick([0, 1, 5])));
  }
  if (rng.chance(0.2)) parts.push(rng.bytes(rng.int(6)));
  return frame(0x42, Buffer.concat(parts));
}

interface Script {
  parts: Buffer[];
  /** the stream may be mis-framed: the gateway may rightly wait for bytes that never come */
  mayStall: boolean;
  /** a Terminate was sent: a close without an ErrorResponse is fine */
  terminates: boolean;
  steps: string[];
}

/** A session's mix; `clean` sessions send only valid messages (they must all be answered). */
function genScript(rng: Rng, clean: boolean): Script {
  const s: Script = { parts: [], mayStall: false, terminates: false, steps: [] };
  const actions = rng.range(1, 8);
  for (let a = 0; a < actions; a++) {
    const roll = clean ? rng.next() * 0.62 : rng.next();
    if (roll < 0.25) {
      const sql = rng.pick(SIMPLE_SQL);
      s.parts.push(serialize.query(sql));
      s.steps.push(`Q(${sql})`);
    } else if (roll < 0.55) {
      // a valid extended-protocol round, sometimes without its Sync
      const stmt = rng.pick(STATEMENTS);
      const portal = rng.pick(PORTALS);
      const sql = rng.pick(EXT_SQL);
      const msgs = [serialize.parse({ name: stmt, text: sql })];
      if (rng.chance(0.3)) msgs.push(serialize.describe({ type: 'S', name: stmt }));
      msgs.push(serialize.bind({ portal, statement: stmt, values: Array.from({ length: rng.int(3) }, () => randomValue(rng)), binary: rng.chance(0.2) }));
      if (rng.chance(0.4)) msgs.push(serialize.describe({ type: 'P', name: portal }));
      msgs.push(serialize.execute({ portal, rows: rng.pick([0, 0, 1, 2]) }));
      if (rng.chance(0.2)) msgs.push(serialize.execute({ portal }));
      const end = rng.pick(['S', 'S', 'S', 'H', '']);
      if (end === 'S') msgs.push(serialize.sync());
      if (end === 'H') msgs.push(serialize.flush());
      s.parts.push(...msgs);
      s.steps.push(`PBE(${stmt}|${portal}|${sql})${end}`);
    } else if (roll < 0.59) {
      // re-execute a statement by name only (it may not exist)
      s.parts.push(serialize.bind({ statement: rng.pick(STATEMENTS), values: [randomValue(rng)] }), serialize.execute({}), serialize.sync());
      s.steps.push('BE-S');
    } else if (roll < 0.62) {
      // continue a portal from an earlier pipeline (it may be suspended, finished or gone)
      const portal = rng.pick(PORTALS);
      s.parts.push(serialize.execute({ portal, rows: rng.pick([0, 1]) }), serialize.sync());
      s.steps.push(`E(${portal})-S`);
    } else if (roll < 0.7) {
      const m = validMessage(rng);
      const cut = rng.int(m.length - 5);
      s.parts.push(frame(m[0]!, m.subarray(5, 5 + cut)));
      s.steps.push(`truncated(${String.fromCharCode(m[0]!)},${cut}/${m.length - 5})`);
    } else if (roll < 0.78) {
      s.parts.push(randomBind(rng));
      s.steps.push('bind-counts');
    } else if (roll < 0.85) {
      const code = rng.pick(VALID_CODES.filter((c) => c !== 0x58));
      s.parts.push(frame(code, rng.bytes(rng.int(40))));
      s.steps.push(`random-body(${String.fromCharCode(code)})`);
    } else if (roll < 0.9) {
      let code: number;
      do code = rng.int(256);
      while (VALID_CODES.includes(code));
      s.parts.push(frame(code, rng.bytes(rng.int(16))));
      s.steps.push(`unknown-code(0x${code.toString(16)})`);
    } else if (roll < 0.95) {
      const m = validMessage(rng);
      const actual = m.length - 1;
      let declared: number;
      do declared = rng.range(4, actual + 32);
      while (declared === actual);
      s.parts.push(Buffer.concat([m.subarray(0, 1), i32(declared), m.subarray(5)]));
      s.mayStall = true;
      s.steps.push(`wrong-length(${String.fromCharCode(m[0]!)},${declared} for ${actual})`);
    } else if (roll < 0.99) {
      s.parts.push(rng.bytes(rng.range(1, 64)));
      s.mayStall = true;
      s.steps.push('random-bytes');
    } else {
      s.parts.push(serialize.end());
      s.terminates = true;
      s.steps.push('terminate');
    }
  }
  return s;
}

// ---- setup --------------------------------------------------------------------------------------------------

let server: PgServer;
let gw: TestGateway;

/** A fuzz session logged in to fuzz-db (cleartext password). */
const loggedIn = (): Promise<Raw> => login(gw.port, serialize.startup({ user: 'fuzz', database: 'fuzz-db' }), 'fuzz-pw');

/** After a hang-up: reads (and drops) what still arrives; true once the gateway closes, false after timeoutMs of silence. */
async function closesAfterHangup(r: Raw, timeoutMs: number): Promise<boolean> {
  for (;;) {
    const m = await r.next(timeoutMs);
    if (m === null) return true;
    if (m === 'timeout') return false;
  }
}

beforeAll(async () => {
  server = await startPostgres();
  const db = await createDatabase('pg_fuzz', server);
  await psqlAdmin(
    server,
    `CREATE TABLE items (id int PRIMARY KEY, email text, note text);
     INSERT INTO items SELECT g, 'user' || g || '@corp.example', 'note ' || g FROM generate_series(1, 20) g;
     GRANT ALL ON ALL TABLES IN SCHEMA public TO ${PG_TRUST_USER};`,
    db,
  );
  gw = await startTestGateway({
    identity: { users: [testUser('fuzz', 'dev')] },
    connections: [pgConnection('fuzz-db', pgTarget(server, db, PG_TRUST_USER), 'dev', { guardrails: ['no-drop'], masking: 'pii' })],
    guardrails: [NO_DROP],
    masking: [{ name: 'pii', columns: [{ match: 'items.email', with: 'redact' }], detect: ['email'], with: 'redact' }],
  });
}, 120_000);

afterAll(async () => {
  await gw?.stop();
  await server?.stop();
}, 60_000);

// ---- one fuzzed session -----------------------------------------------------------------------------------

type Outcome = 'answered' | 'answered-clean' | 'closed-with-error' | 'closed' | 'closed-after-hangup';

/** Plaintext the masking profile must keep out of every DataRow (column rule on items.email, e-mail detection). */
const UNMASKED = [Buffer.from('@corp.example'), Buffer.from('x@y.example')];

async function fuzzSession(i: number, rng: Rng): Promise<{ outcome: Outcome; failure?: string; script: Script }> {
  const clean = rng.chance(0.4);
  const script = genScript(rng, clean);
  const r = await loggedIn();
  try {
    // the mix, written in a few chunks split at random points
    const all = Buffer.concat(script.parts);
    let off = 0;
    while (off < all.length) {
      const n = rng.chance(0.5) ? all.length - off : rng.range(1, all.length - off);
      r.sock.write(all.subarray(off, off + n));
      off += n;
      if (rng.chance(0.3)) await new Promise((res) => setImmediate(res));
    }
    // the probe: end any extended round and any transaction, then ask for a marker
    const marker = String(900_000_000 + i);
    r.sock.write(Buffer.concat([serialize.sync(), serialize.query('ROLLBACK'), serialize.query(`SELECT ${marker} AS probe`)]));
    let sawMarker = false;
    let last: Msg | null = null;
    const deadline = Date.now() + (script.mayStall ? 1500 : 15_000);
    for (;;) {
      const m = await r.next(Math.max(0, deadline - Date.now()));
      if (m === 'timeout') {
        if (!script.mayStall) return { outcome: 'answered', failure: `no answer and no close within 15 s (last message ${last?.type ?? 'none'})`, script };
        // mis-framed: the gateway may wait for the rest of a frame; once we hang up it must close
        r.sock.end();
        if (await closesAfterHangup(r, 5000)) return { outcome: 'closed-after-hangup', script };
        return { outcome: 'closed-after-hangup', failure: 'did not close within 5 s after the client hung up', script };
      }
      if (m === null) {
        if (last?.type === 'E') return { outcome: 'closed-with-error', script };
        if (clean) return { outcome: 'closed', failure: `a session of valid messages was closed (last message ${last?.type ?? 'none'})`, script };
        if (script.terminates || script.mayStall) return { outcome: 'closed', script };
        return { outcome: 'closed', failure: `closed without an ErrorResponse (last message ${last?.type ?? 'none'})`, script };
      }
      last = m;
      if (m.type === 'D' && UNMASKED.some((u) => m.body.includes(u))) {
        return { outcome: 'answered', failure: `an unmasked e-mail in a DataRow: ${JSON.stringify(m.body.toString('latin1'))}`, script };
      }
      if (m.type === 'D' && m.body.length >= 6 && m.body.toString('utf8', 6) === marker) sawMarker = true;
      if (m.type === 'Z' && sawMarker) return { outcome: clean ? 'answered-clean' : 'answered', script };
    }
  } finally {
    r.sock.destroy();
  }
}

describe('fuzzed sessions through the gateway', () => {
  it(`${SESSIONS} sessions of random valid and mutated messages never hang the gateway (seed ${SEED})`, async () => {
    const rng = new Rng(SEED);
    // every session gets its own generator, derived in order, so concurrency does not change the scripts
    const seeds = Array.from({ length: SESSIONS }, () => rng.int(2 ** 32));
    const counts: Record<string, number> = {};
    const failures: string[] = [];
    let nextIndex = 0;
    const worker = async (): Promise<void> => {
      while (nextIndex < SESSIONS) {
        const i = nextIndex++;
        try {
          const res = await fuzzSession(i, new Rng(seeds[i]!));
          counts[res.outcome] = (counts[res.outcome] ?? 0) + 1;
          if (res.failure) failures.push(`session ${i} (seed ${SEED}): ${res.failure}; script: ${res.script.steps.join(' · ')}`);
        } catch (err) {
          failures.push(`session ${i} (seed ${SEED}): ${(err as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    console.info(`fuzz outcomes (seed ${SEED}): ${JSON.stringify(counts)}`);
    expect(failures, JSON.stringify(counts)).toEqual([]);
    // the mix really exercised both ends: answers and protocol-error closes
    expect(counts['answered-clean'] ?? 0).toBeGreaterThan(SESSIONS / 5);
    expect(counts.answered ?? 0).toBeGreaterThan(SESSIONS / 10);
    expect(counts['closed-with-error'] ?? 0).toBeGreaterThan(10);

    // the gateway still serves a normal (masked) query, and no session is left behind
    const c = new pg.Client({ host: '127.0.0.1', port: gw.port, user: 'fuzz', password: 'fuzz-pw', database: 'fuzz-db' });
    await c.connect();
    try {
      const r = await c.query('SELECT id, email FROM items WHERE id = $1', [3]);
      expect(r.rows).toEqual([{ id: 3, email: '[REDACTED]' }]);
      const s = await c.query('SELECT count(*)::int AS n FROM items WHERE id <= 20');
      expect(s.rows[0].n).toBe(20);
    } finally {
      await c.end();
    }
    const deadline = Date.now() + 10_000;
    while (gw.gateway.sessions() > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    expect(gw.gateway.sessions()).toBe(0);
  }, 90_000);
});

// ---- the framer ---------------------------------------------------------------------------------------------

/** Feeds `chunks` to a Framer and returns the frames it yields (copied), or the error it threw. */
function runFramer(framer: Framer, chunks: Buffer[]): { frames: Buffer[]; error?: unknown } {
  const frames: Buffer[] = [];
  try {
    for (const c of chunks) {
      const got = framer.push(c);
      if (!got) continue;
      let off = 0;
      while (off < got.end) {
        const len = 1 + got.buf.readInt32BE(off + 1);
        frames.push(Buffer.from(got.buf.subarray(off, off + len)));
        off += len;
      }
      if (off !== got.end) throw new Error(`frames overrun end: ${off} vs ${got.end}`);
    }
  } catch (error) {
    return { frames, error };
  }
  return { frames };
}

function randomFrames(rng: Rng, maxBody: number): Buffer[] {
  return Array.from({ length: rng.range(1, 25) }, () => {
    const big = rng.chance(0.05);
    const len = big ? rng.range(0, Math.min(maxBody, 70_000)) : rng.range(0, Math.min(maxBody, 64));
    return frame(rng.int(256), rng.bytes(len));
  });
}

/** Split at random points; sometimes at every byte; sometimes with empty chunks. */
function split(rng: Rng, all: Buffer): Buffer[] {
  if (rng.chance(0.05) && all.length < 4000) return [...all].map((b) => Buffer.from([b]));
  const cuts = new Set<number>();
  const k = rng.int(12);
  for (let i = 0; i < k; i++) cuts.add(rng.int(all.length + 1));
  const points = [0, ...[...cuts].sort((a, b) => a - b), all.length];
  const out: Buffer[] = [];
  for (let i = 1; i < points.length; i++) out.push(all.subarray(points[i - 1], points[i]));
  return out;
}

describe('Framer (protocols/postgres/framer.ts)', () => {
  it('random valid frames split at random points always yield the same frames, in order', () => {
    const rng = new Rng(SEED ^ 0xf4a3e);
    for (let iter = 0; iter < 1500; iter++) {
      const small = rng.chance(0.3);
      const maxFrame = small ? rng.range(4, 300) : 0x3fffffff;
      const frames = randomFrames(rng, maxFrame - 4);
      const all = Buffer.concat(frames);
      const chunks = split(rng, all);
      const framer = new Framer(maxFrame);
      const got = runFramer(framer, chunks);
      const where = `iteration ${iter} (seed ${SEED}), ${frames.length} frames, chunks ${chunks.map((c) => c.length).join(',')}`;
      expect(got.error, where).toBeUndefined();
      expect(got.frames.length, where).toBe(frames.length);
      for (let i = 0; i < frames.length; i++) {
        if (!got.frames[i]!.equals(frames[i]!)) expect.fail(`${where}: frame ${i} differs`);
      }
      expect(framer.buffered(), where).toBe(0);
    }
  });

  it('a frame length below 4 or above the cap throws a ProtocolError, and nothing past it is yielded', () => {
    const rng = new Rng(SEED ^ 0xbad1e);
    for (let iter = 0; iter < 1000; iter++) {
      const maxFrame = rng.range(64, 5000);
      const good = randomFrames(rng, maxFrame - 4);
      const at = rng.int(good.length + 1);
      const badLen = rng.pick([-1, 0, 3, maxFrame + 1, 0x7fffffff, -0x80000000, rng.range(maxFrame + 1, maxFrame + 100000)]);
      const bad = frame(rng.int(256), rng.bytes(rng.int(8)), badLen);
      const frames = [...good.slice(0, at), bad, ...good.slice(at)];
      const framer = new Framer(maxFrame);
      const got = runFramer(framer, split(rng, Buffer.concat(frames)));
      const where = `iteration ${iter} (seed ${SEED}), bad length ${badLen} at ${at}, cap ${maxFrame}`;
      expect(got.error, where).toBeInstanceOf(ProtocolError);
      expect(got.frames.length, where).toBeLessThanOrEqual(at);
      for (let i = 0; i < got.frames.length; i++) {
        if (!got.frames[i]!.equals(good[i]!)) expect.fail(`${where}: frame ${i} differs`);
      }
    }
  });

  it('a frame of exactly the cap passes; a partial frame stays buffered until its last byte', () => {
    const framer = new Framer(100);
    const f = frame(0x51, Buffer.alloc(96, 0x41)); // length field 100 = the cap
    expect(framer.push(f.subarray(0, 3))).toBeNull();
    expect(framer.buffered()).toBe(3);
    expect(framer.push(f.subarray(3, 100))).toBeNull();
    expect(framer.buffered()).toBe(100);
    const got = framer.push(f.subarray(100));
    expect(got?.end).toBe(101);
    expect(got!.buf.subarray(0, got!.end).equals(f)).toBe(true);
    expect(framer.buffered()).toBe(0);
  });
});
