import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { canonicalJson, chainHash, GENESIS } from '../../../src/audit/chain.js';
import { SqliteAuditReader, SqliteAuditStore } from '../../../src/audit/sqlite.js';

const dirs: string[] = [];
function tmpFile(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-chain-'));
  dirs.push(d);
  return path.join(d, 'audit.db');
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const session = (id: string, startedAt = 1) => ({
  id, startedAt, user: 'alice', groups: ['dba'], authMethod: 'password', connection: 'app-db',
  protocol: 'postgres', clientAddress: '127.0.0.1', tls: false,
});
const committed = (store: SqliteAuditStore) => new Promise<void>((resolve) => store.afterCommit(resolve));

/** s1: start, 2 decisions + 2 completions, a recording, end → seqs 1..7 */
function populate(file: string): void {
  const store = new SqliteAuditStore(file);
  store.startSession(session('s1'));
  store.append({ sessionId: 's1', at: 2, kind: 'decision', commandId: 1, text: 'SELECT 1', decision: 'allow' });
  store.append({ sessionId: 's1', at: 3, kind: 'complete', commandId: 1, rows: 1, durationMs: 0.25 });
  store.append({ sessionId: 's1', at: 4, kind: 'decision', commandId: 2, text: 'DROP TABLE t', decision: 'block', rule: 'no-drop' });
  store.recording({ sessionId: 's1', channel: 0, file: 'recordings/s1-0.cast', startedAt: 5, kind: 'shell' });
  store.append({ sessionId: 's1', at: 6, kind: 'complete', commandId: 2, error: 'blocked' });
  store.endSession('s1', { endedAt: 9, reason: 'client closed', bytesIn: 10, bytesOut: 20 });
  store.close();
}

function verify(file: string) {
  const r = new SqliteAuditReader(file);
  try {
    return r.verify();
  } finally {
    r.close();
  }
}

function tamper(file: string, sql: string): void {
  const db = new Database(file);
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

describe('canonicalJson', () => {
  it('sorts keys recursively, omits undefined, keeps arrays in order, numbers as JSON numbers', () => {
    expect(canonicalJson({ b: 1, a: { z: [3, 'x', { d: true, c: null }], y: undefined }, c: 1.5 })).toBe(
      '{"a":{"z":[3,"x",{"c":null,"d":true}]},"b":1,"c":1.5}',
    );
    expect(canonicalJson([undefined, 1])).toBe('[null,1]');
    expect(canonicalJson('é"\n')).toBe(JSON.stringify('é"\n'));
    expect(canonicalJson(1e21)).toBe('1e+21');
    expect(canonicalJson(Number.NaN)).toBe('null');
    // insertion order does not matter
    expect(canonicalJson({ x: 1, y: 2 })).toBe(canonicalJson({ y: 2, x: 1 }));
    // round trip: parsing and re-encoding gives the same text (what a spool replay relies on)
    const text = canonicalJson({ t: 'event', e: { sessionId: 's', at: 1, kind: 'decision', text: 'ünï 😀 \u2028', durationMs: 0.1 } });
    expect(canonicalJson(JSON.parse(text))).toBe(text);
  });

  it('hash = SHA-256(prev \\n payload), hex', () => {
    expect(chainHash(GENESIS, '{}')).toBe(createHash('sha256').update(`${GENESIS}\n{}`).digest('hex'));
    expect(GENESIS).toBe('0'.repeat(64));
  });
});

describe('hash chain in the SQLite store', () => {
  it('a fresh store: every entry chained in order, the chain verifies', () => {
    const file = tmpFile();
    populate(file);
    const db = new Database(file, { readonly: true });
    const chain = db.prepare('SELECT seq, kind, payload, prev, hash FROM chain ORDER BY seq').all() as Array<{ seq: number; kind: string; payload: string; prev: string; hash: string }>;
    expect(chain.map((c) => [c.seq, c.kind])).toEqual([
      [1, 'start'], [2, 'event'], [3, 'event'], [4, 'event'], [5, 'recording'], [6, 'event'], [7, 'end'],
    ]);
    expect(chain[0]!.prev).toBe(GENESIS);
    for (let i = 0; i < chain.length; i++) {
      const c = chain[i]!;
      if (i > 0) expect(c.prev).toBe(chain[i - 1]!.hash);
      expect(c.hash).toBe(chainHash(c.prev, c.payload));
      expect(canonicalJson(JSON.parse(c.payload))).toBe(c.payload);
    }
    expect(JSON.parse(chain[1]!.payload)).toEqual({ t: 'event', e: { sessionId: 's1', at: 2, kind: 'decision', commandId: 1, text: 'SELECT 1', decision: 'allow' } });
    expect(db.prepare('SELECT chain_seq FROM events ORDER BY id').all()).toEqual([{ chain_seq: 2 }, { chain_seq: 3 }, { chain_seq: 4 }, { chain_seq: 6 }]);
    db.close();
    const r = verify(file);
    expect(r).toMatchObject({ ok: true, entries: 7, beforeChain: 0, lastSeq: 7, problems: [] });
    expect(r.lastHash).toBe(chain[6]!.hash);
  });

  it('continues seq and prev across a reopen', () => {
    const file = tmpFile();
    populate(file);
    const store = new SqliteAuditStore(file);
    store.startSession(session('s2', 10));
    store.close();
    const db = new Database(file, { readonly: true });
    const last = db.prepare('SELECT seq, prev FROM chain ORDER BY seq DESC LIMIT 2').all() as Array<{ seq: number; prev: string }>;
    const seven = db.prepare('SELECT hash FROM chain WHERE seq = 7').get() as { hash: string };
    db.close();
    expect(last[0]).toEqual({ seq: 8, prev: seven.hash });
    expect(verify(file)).toMatchObject({ ok: true, entries: 8 });
  });

  it('an edited events row', () => {
    const file = tmpFile();
    populate(file);
    tamper(file, `UPDATE events SET text = 'SELECT 2' WHERE chain_seq = 2`);
    const r = verify(file);
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ seq: 2, table: 'events' });
    expect(r.problems[0]!.message).toBe('entry seq 2 (event of session s1): events row id 1 differs from the chain (text) — edited?');
  });

  it('an edited sessions row, an edited session end, an edited recordings row', () => {
    const file = tmpFile();
    populate(file);
    tamper(file, `UPDATE sessions SET user = 'mallory'`);
    expect(verify(file).problems[0]!.message).toBe('entry seq 1 (session start of session s1): sessions row s1 differs from the chain (user) — edited?');
    tamper(file, `UPDATE sessions SET user = 'alice', end_reason = 'nothing to see'`);
    expect(verify(file).problems[0]!.message).toBe('entry seq 7 (session end of session s1): sessions row s1 differs from the chain (end_reason) — edited?');
    tamper(file, `UPDATE sessions SET end_reason = 'client closed'; UPDATE recordings SET file = 'other.cast'`);
    expect(verify(file).problems[0]!.message).toBe('entry seq 5 (recording of session s1): recordings row id 1 differs from the chain (file) — edited?');
    tamper(file, `UPDATE recordings SET file = 'recordings/s1-0.cast'`);
    expect(verify(file).ok).toBe(true);
  });

  it('a deleted events row', () => {
    const file = tmpFile();
    populate(file);
    tamper(file, `DELETE FROM events WHERE chain_seq = 4`);
    const r = verify(file);
    expect(r.ok).toBe(false);
    expect(r.problems[0]!.message).toBe('entry seq 4 (event of session s1): its events row is missing — deleted?');
  });

  it('an inserted events row (not in the chain, or claiming an entry of another kind)', () => {
    const file = tmpFile();
    populate(file);
    tamper(file, `INSERT INTO events (session_id, at, kind, text, decision) VALUES ('s1', 5, 'decision', 'SELECT secret', 'allow')`);
    let r = verify(file);
    expect(r.ok).toBe(false);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]!.message).toBe('events row id 5 is not in the chain — inserted?');
    tamper(file, `UPDATE events SET chain_seq = 5 WHERE id = 5`); // seq 5 is the recording
    r = verify(file);
    expect(r.problems[0]!.message).toBe('events row id 5 is not in the chain — inserted?');
    tamper(file, `UPDATE events SET chain_seq = 2 WHERE id = 5`); // seq 2 already has its row
    expect(verify(file).problems[0]!.message).toBe('events row id 5 is not in the chain — inserted?');
  });

  it('a deleted chain entry, a chain entry moved (seq values swapped), an edited payload or hash', () => {
    const file = tmpFile();
    populate(file);
    const copy = (): string => {
      const f = tmpFile();
      fs.copyFileSync(file, f);
      return f;
    };
    const deleted = copy();
    tamper(deleted, `DELETE FROM chain WHERE seq = 3`);
    let r = verify(deleted);
    expect(r.problems[0]!.message).toBe('seq 3 missing — deleted?');
    // and its row is then claimed by nothing
    expect(r.problems.map((p) => p.message)).toContain('events row id 2 is not in the chain — inserted?');

    const swapped = copy();
    tamper(swapped, `UPDATE chain SET seq = -1 WHERE seq = 3; UPDATE chain SET seq = 3 WHERE seq = 4; UPDATE chain SET seq = 4 WHERE seq = -1;
                     UPDATE events SET chain_seq = -1 WHERE chain_seq = 3; UPDATE events SET chain_seq = 3 WHERE chain_seq = 4; UPDATE events SET chain_seq = 4 WHERE chain_seq = -1;`);
    r = verify(swapped);
    expect(r.problems[0]!.message).toBe('entry seq 3 (event of session s1): prev is not the hash of seq 2 — reordered, or seq 2 edited?');

    const payload = copy();
    tamper(payload, `UPDATE chain SET payload = replace(payload, 'DROP TABLE t', 'SELECT 3') WHERE seq = 4; UPDATE events SET text = 'SELECT 3' WHERE chain_seq = 4`);
    expect(verify(payload).problems[0]!.message).toBe('entry seq 4 (event of session s1): hash mismatch — edited?');

    // payload and its hash recomputed: the next entry no longer links
    const rehashed = copy();
    const db = new Database(rehashed);
    const c = db.prepare('SELECT prev, payload FROM chain WHERE seq = 4').get() as { prev: string; payload: string };
    const forged = c.payload.replace('DROP TABLE t', 'SELECT 3');
    db.prepare('UPDATE chain SET payload = ?, hash = ? WHERE seq = 4').run(forged, chainHash(c.prev, forged));
    db.prepare(`UPDATE events SET text = 'SELECT 3' WHERE chain_seq = 4`).run();
    db.close();
    expect(verify(rehashed).problems[0]!.message).toBe('entry seq 5 (recording of session s1): prev is not the hash of seq 4 — reordered, or seq 4 edited?');

    const hash = copy();
    tamper(hash, `UPDATE chain SET hash = '${'1'.repeat(64)}' WHERE seq = 7`);
    expect(verify(hash).problems[0]!.message).toBe('entry seq 7 (session end of session s1): hash mismatch — edited?');
    // the original is still intact
    expect(verify(file).ok).toBe(true);
  });

  it('events rows whose ids were swapped (reordered)', () => {
    const file = tmpFile();
    populate(file);
    tamper(file, `UPDATE events SET id = 100 WHERE id = 1; UPDATE events SET id = 1 WHERE id = 2; UPDATE events SET id = 2 WHERE id = 100;`);
    expect(verify(file).problems[0]!.message).toBe('entry seq 3 (event of session s1): events row id 1 comes before id 2 of an earlier entry — reordered?');
  });

  it('replay after a crash restores exactly the spooled chain and continues it', async () => {
    const file = tmpFile();
    populate(file);
    const crashed = new SqliteAuditStore(file);
    crashed.startSession(session('s2', 20));
    for (let i = 0; i < 50; i++) crashed.append({ sessionId: 's2', at: 20 + i, kind: 'decision', commandId: i, text: `SELECT ${i}`, decision: 'allow' });
    await committed(crashed);
    // "kill -9": spooled, not ingested
    const spool = fs.readFileSync(`${file}-spool`, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { seq: number; prev: string; hash: string; p: unknown });
    expect(spool.map((l) => l.seq)).toEqual(Array.from({ length: 51 }, (_, i) => 8 + i));
    expect(spool[0]!.hash).toBe(chainHash(spool[0]!.prev, canonicalJson(spool[0]!.p)));
    // the reader checks the spooled continuation too
    expect(verify(file)).toMatchObject({ ok: true, entries: 58, spooled: 51 });

    const reopened = new SqliteAuditStore(file);
    reopened.append({ sessionId: 's2', at: 99, kind: 'error', error: 'after the crash' });
    reopened.close();
    const db = new Database(file, { readonly: true });
    const rows = db.prepare('SELECT seq, prev, hash FROM chain WHERE seq >= 8 ORDER BY seq').all() as Array<{ seq: number; prev: string; hash: string }>;
    db.close();
    // the very same links as spooled (not recomputed), then seq 59 continues from them
    expect(rows.slice(0, 51)).toEqual(spool.map(({ seq, prev, hash }) => ({ seq, prev, hash })));
    expect(rows[51]).toMatchObject({ seq: 59, prev: spool[50]!.hash });
    expect(verify(file)).toMatchObject({ ok: true, entries: 59, spooled: 0 });
    // a third open replays nothing twice
    new SqliteAuditStore(file).close();
    expect(verify(file)).toMatchObject({ ok: true, entries: 59 });
  });

  it('a tampered spool line is caught before and after its replay', async () => {
    const file = tmpFile();
    const crashed = new SqliteAuditStore(file);
    crashed.startSession(session('s3'));
    crashed.append({ sessionId: 's3', at: 2, kind: 'decision', text: 'SELECT 1', decision: 'allow' });
    await committed(crashed);
    const spoolFile = `${file}-spool`;
    fs.writeFileSync(spoolFile, fs.readFileSync(spoolFile, 'utf8').replace('SELECT 1', 'SELECT 2'));
    expect(verify(file).problems[0]!.message).toBe('entry seq 2 (event of session s3) (in the spool): hash mismatch — edited?');
    new SqliteAuditStore(file).close();
    expect(verify(file).problems[0]!.message).toBe('entry seq 2 (event of session s3): hash mismatch — edited?');
  });

  it('a database from before the chain: opens, old rows counted, new ones chained; an old-format spool joins the chain', async () => {
    const file = tmpFile();
    populate(file);
    // back to the schema and content of a pre-chain store
    const db = new Database(file);
    db.exec(`DROP TABLE chain;
      ALTER TABLE events DROP COLUMN chain_seq; ALTER TABLE recordings DROP COLUMN chain_seq;
      ALTER TABLE sessions DROP COLUMN chain_seq; ALTER TABLE sessions DROP COLUMN end_seq;`);
    db.close();
    // a crash of the old version left a spool line in the old format
    fs.writeFileSync(`${file}-spool`, JSON.stringify({ t: 'event', e: { sessionId: 's1', at: 8, kind: 'error', error: 'late' } }) + '\n');
    // read-only access to the untouched old database
    const old = verify(file);
    expect(old).toMatchObject({ ok: true, entries: 0, beforeChain: 6 }); // 4 events, 1 session, 1 recording

    const store = new SqliteAuditStore(file);
    store.startSession(session('s2', 30));
    store.append({ sessionId: 's2', at: 31, kind: 'decision', text: 'SELECT 1', decision: 'allow' });
    store.endSession('s2', { endedAt: 32, reason: 'client closed', bytesIn: 1, bytesOut: 2 });
    expect(store.events(undefined, 100)).toHaveLength(6);
    store.close();
    const r = verify(file);
    expect(r).toMatchObject({ ok: true, entries: 4, beforeChain: 6, problems: [] });
    // an insert into the migrated database is still caught
    tamper(file, `INSERT INTO events (session_id, at, kind) VALUES ('s1', 1, 'error')`);
    expect(verify(file).problems[0]!.message).toBe('events row id 7 is not in the chain — inserted?');
  });

  it('an in-memory store chains as well (no spool)', () => {
    const store = new SqliteAuditStore(':memory:');
    store.startSession(session('m'));
    store.append({ sessionId: 'm', at: 1, kind: 'decision', text: 'x', decision: 'allow' });
    expect(store.events('m')).toHaveLength(1);
    store.close();
  });
});
