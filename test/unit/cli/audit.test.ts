// `portcullis audit verify|export`, run in-process through run([...]) against a temp config and store.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteAuditStore } from '../../../src/audit/sqlite.js';
import { run, type CliIo } from '../../../src/cli/main.js';

function harness() {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (s) => void out.push(s), err: (s) => void err.push(s), stdin: Readable.from([]), env: {} };
  return { io, out: () => out.join(''), err: () => err.join('') };
}

const cli = async (...args: string[]) => {
  const h = harness();
  const code = await run(args, h.io);
  return { code, out: h.out(), err: h.err() };
};

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5);
let root: string;

/** a config dir whose store holds two sessions and 4 events (chain seqs 1..8) */
function makeStore(name: string): { config: string; db: string } {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'portcullis.yaml');
  writeFileSync(config, 'dataDir: ./data\n');
  const db = join(dir, 'data', 'portcullis.db');
  const store = new SqliteAuditStore(db);
  const base = { groups: ['dba'], authMethod: 'password', protocol: 'postgres', clientAddress: '10.0.0.1', tls: true };
  store.startSession({ id: 'sa', startedAt: T0, user: 'alice', connection: 'app-db', ...base });
  store.append({ sessionId: 'sa', at: T0 + 1, kind: 'decision', commandId: 1, text: 'SELECT 1', decision: 'allow' });
  store.append({ sessionId: 'sa', at: T0 + 2, kind: 'complete', commandId: 1, rows: 1, durationMs: 1.5 });
  store.endSession('sa', { endedAt: T0 + 3, reason: 'client closed', bytesIn: 1, bytesOut: 2 });
  store.startSession({ id: 'sb', startedAt: T0 + 60_000, user: 'bob', connection: 'web-db', ...base });
  store.append({ sessionId: 'sb', at: T0 + 60_001, kind: 'decision', commandId: 1, text: 'DROP TABLE t', decision: 'block', rule: 'no-drop' });
  store.append({ sessionId: 'sb', at: T0 + 60_002, kind: 'complete', commandId: 1, error: 'blocked' });
  store.endSession('sb', { endedAt: T0 + 60_003, reason: 'client closed', bytesIn: 1, bytesOut: 2 });
  store.close();
  return { config, db };
}

let good: { config: string; db: string };

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'portcullis-audit-cli-'));
  good = makeStore('good');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('audit verify', () => {
  it('exit 0 and one line when the chain is intact', async () => {
    const r = await cli('audit', 'verify', '-c', good.config);
    expect(r).toEqual({ code: 0, out: 'audit chain intact: 8 entries (0 before the chain)\n', err: '' });
    const j = await cli('audit', 'verify', '-c', good.config, '--json');
    expect(j.code).toBe(0);
    expect(JSON.parse(j.out)).toMatchObject({ ok: true, entries: 8, beforeChain: 0, lastSeq: 8, problems: [] });
    expect((JSON.parse(j.out) as { lastHash: string }).lastHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('exit 1 naming the first bad entry', async () => {
    const bad = makeStore('bad');
    const db = new Database(bad.db);
    db.exec(`UPDATE events SET text = 'SELECT 2' WHERE chain_seq = 2; DELETE FROM events WHERE chain_seq = 7;`);
    db.close();
    const r = await cli('audit', 'verify', '-c', bad.config);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(
      'audit chain broken: entry seq 2 (event of session sa): events row id 1 differs from the chain (text) — edited?\n' +
        '(and 1 more problem; --json lists them)\n',
    );
    const j = await cli('audit', 'verify', '-c', bad.config, '--json');
    expect(j.code).toBe(1);
    const result = JSON.parse(j.out) as { ok: boolean; problems: Array<{ seq: number; message: string }> };
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => p.seq)).toEqual([2, 7]);
    expect(result.problems[1]!.message).toBe('entry seq 7 (event of session sb): its events row is missing — deleted?');
  });

  it('a deleted chain entry and an inserted row', async () => {
    const bad = makeStore('bad2');
    const copy = join(root, 'bad2', 'data', 'copy.db');
    copyFileSync(bad.db, copy);
    let db = new Database(bad.db);
    db.exec(`DELETE FROM chain WHERE seq = 5`);
    db.close();
    expect((await cli('audit', 'verify', '-c', bad.config)).err).toMatch(/^audit chain broken: seq 5 missing — deleted\?\n/);
    copyFileSync(copy, bad.db);
    db = new Database(bad.db);
    db.exec(`INSERT INTO events (session_id, at, kind, text) VALUES ('sa', 1, 'decision', 'SELECT 99')`);
    db.close();
    const r = await cli('audit', 'verify', '-c', bad.config);
    expect(r.code).toBe(1);
    expect(r.err).toBe('audit chain broken: events row id 5 is not in the chain — inserted?\n');
  });

  it('exit 1 without a store, 2 on a bad config', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty, { recursive: true });
    writeFileSync(join(empty, 'p.yaml'), 'dataDir: ./data\n');
    const r = await cli('audit', 'verify', '-c', join(empty, 'p.yaml'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('no audit database at');
    writeFileSync(join(empty, 'bad.yaml'), 'dataDir: [1\n');
    expect((await cli('audit', 'verify', '-c', join(empty, 'bad.yaml'))).code).toBe(2);
    expect((await cli('audit', 'verify', '-c', good.config, '--bogus')).code).toBe(2);
  });
});

describe('audit export', () => {
  it('one JSON object per event, in chain order, with user, connection, seq and hash', async () => {
    const r = await cli('audit', 'export', '-c', good.config);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const lines = r.out.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.seq)).toEqual([2, 3, 6, 7]);
    expect(lines[0]).toEqual({
      seq: 2, hash: expect.stringMatching(/^[0-9a-f]{64}$/), id: 1, time: '2025-01-02T03:04:05.001Z', at: T0 + 1,
      sessionId: 'sa', user: 'alice', connection: 'app-db', kind: 'decision', commandId: 1, text: 'SELECT 1', decision: 'allow',
    });
    expect(lines[2]).toMatchObject({ user: 'bob', connection: 'web-db', text: 'DROP TABLE t', decision: 'block', rule: 'no-drop' });
    expect(lines[3]).toMatchObject({ kind: 'complete', error: 'blocked' });
    // the hashes are the chain's
    const db = new Database(good.db, { readonly: true });
    const h = db.prepare('SELECT hash FROM chain WHERE seq = 6').get() as { hash: string };
    db.close();
    expect(lines[2]!.hash).toBe(h.hash);
  });

  it('--since (ISO or ms) and --format', async () => {
    const iso = await cli('audit', 'export', '-c', good.config, '--since', '2025-01-02T03:05:00Z');
    expect(iso.code).toBe(0);
    expect(iso.out.trimEnd().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([6, 7]);
    const ms = await cli('audit', 'export', '-c', good.config, '--since', String(T0 + 2), '--format', 'jsonl');
    expect(ms.out.trimEnd().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([3, 6, 7]);
    expect((await cli('audit', 'export', '-c', good.config, '--since', '2030-01-01')).out).toBe('');
    expect((await cli('audit', 'export', '-c', good.config, '--since', 'yesterday')).code).toBe(2);
    expect((await cli('audit', 'export', '-c', good.config, '--format', 'csv')).code).toBe(2);
  });
});
