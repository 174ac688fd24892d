import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SqliteAuditReader, SqliteAuditStore } from '../../../src/audit/sqlite.js';

const dirs: string[] = [];
function tmpFile(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-audit-rec-'));
  dirs.push(d);
  return path.join(d, 'audit.db');
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const session = (id: string, startedAt = 1) => ({
  id, startedAt, user: 'alice', groups: ['sre'], authMethod: 'publickey', connection: 'web-prod',
  protocol: 'ssh', clientAddress: '127.0.0.1', tls: false,
});
const committed = (store: SqliteAuditStore) => new Promise<void>((resolve) => store.afterCommit(resolve));
const spoolPos = (file: string): unknown => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT pos FROM spool').get();
  } finally {
    db.close();
  }
};

describe('SqliteAuditStore recordings index', () => {
  it('recording() then recordings(): per session, in the order they started', async () => {
    const store = new SqliteAuditStore(tmpFile());
    store.startSession(session('s1'));
    store.startSession(session('s2'));
    store.recording({ sessionId: 's1', channel: 2, file: 'recordings/s1-2.cast', startedAt: 20, kind: 'exec' });
    store.recording({ sessionId: 's1', channel: 0, file: 'recordings/s1-0.cast', startedAt: 10, kind: 'shell' });
    store.recording({ sessionId: 's2', channel: 0, file: 'recordings/s2-0.cast', startedAt: 15, kind: 'shell' });
    // the same channel number again (reused by the client): both kept
    store.recording({ sessionId: 's1', channel: 0, file: 'recordings/s1-0.2.cast', startedAt: 30, kind: 'exec' });
    let released = false;
    store.afterCommit(() => (released = true));
    expect(released).toBe(false); // durable with the group commit, like the events
    await committed(store);
    expect(store.recordings('s1')).toEqual([
      { channel: 0, file: 'recordings/s1-0.cast', startedAt: 10, kind: 'shell' },
      { channel: 2, file: 'recordings/s1-2.cast', startedAt: 20, kind: 'exec' },
      { channel: 0, file: 'recordings/s1-0.2.cast', startedAt: 30, kind: 'exec' },
    ]);
    expect(store.recordings('s2')).toHaveLength(1);
    expect(store.recordings('nope')).toEqual([]);
    store.close();
  });

  it('survives a crash: spooled, not yet ingested, restored on reopen exactly once', async () => {
    const file = tmpFile();
    const crashed = new SqliteAuditStore(file);
    crashed.startSession(session('s3'));
    crashed.recording({ sessionId: 's3', channel: 0, file: 'recordings/s3-0.cast', startedAt: 5, kind: 'shell' });
    await committed(crashed);
    // "kill -9" before the ingestion timer (25 ms): only the spool has it
    const raw = new Database(file, { readonly: true });
    expect(raw.prepare('SELECT COUNT(*) AS n FROM recordings').get()).toEqual({ n: 0 });
    raw.close();
    expect(fs.readFileSync(`${file}-spool`, 'utf8')).toContain('"t":"recording"');
    const reopened = new SqliteAuditStore(file);
    expect(reopened.recordings('s3')).toEqual([{ channel: 0, file: 'recordings/s3-0.cast', startedAt: 5, kind: 'shell' }]);
    reopened.close();
    const third = new SqliteAuditStore(file);
    expect(third.recordings('s3')).toHaveLength(1);
    third.close();
  });

  it('adds the table to a database created before recordings existed', () => {
    const file = tmpFile();
    const old = new SqliteAuditStore(file);
    old.startSession(session('s4'));
    old.close();
    const raw = new Database(file);
    raw.exec('DROP TABLE recordings');
    raw.close();
    // read-only access copes with the old schema
    const reader = new SqliteAuditReader(file);
    expect(reader.recordings('s4')).toEqual([]);
    expect(reader.listSessions()[0]).toMatchObject({ id: 's4', recordings: 0 });
    reader.close();
    const store = new SqliteAuditStore(file);
    store.recording({ sessionId: 's4', channel: 1, file: 'x.cast', startedAt: 2, kind: 'exec' });
    expect(store.recordings('s4')).toHaveLength(1);
    store.close();
  });
});

describe('SqliteAuditReader (read-only, for the CLI)', () => {
  it('sees what a running or crashed gateway has only spooled, without touching the spool or the database', async () => {
    const file = tmpFile();
    const gw = new SqliteAuditStore(file);
    gw.startSession(session('a', 1));
    gw.recording({ sessionId: 'a', channel: 0, file: 'recordings/a-0.cast', startedAt: 1, kind: 'shell' });
    gw.flush();
    gw.ingest(); // 'a' is in SQLite
    gw.startSession(session('b', 2));
    gw.recording({ sessionId: 'b', channel: 0, file: 'recordings/b-0.cast', startedAt: 2, kind: 'exec' });
    gw.endSession('a', { endedAt: 9, reason: 'client closed', bytesIn: 1, bytesOut: 2 });
    await committed(gw); // 'b' and the end of 'a' only in the spool
    const spoolBefore = fs.readFileSync(`${file}-spool`);
    const posBefore = spoolPos(file);

    const reader = new SqliteAuditReader(file);
    const list = reader.listSessions();
    expect(list.map((s) => [s.id, s.recordings, s.reason])).toEqual([
      ['b', 1, undefined],
      ['a', 1, 'client closed'],
    ]);
    expect(reader.session('b')).toMatchObject({ id: 'b', protocol: 'ssh', recordings: 1 });
    expect(reader.session('zzz')).toBeUndefined();
    expect(reader.recordings('b')).toEqual([{ channel: 0, file: 'recordings/b-0.cast', startedAt: 2, kind: 'exec' }]);
    expect(reader.recordings('a')).toHaveLength(1);
    reader.close();

    expect(fs.readFileSync(`${file}-spool`).equals(spoolBefore)).toBe(true);
    expect(spoolPos(file)).toEqual(posBefore);
    // the gateway goes on as if nothing happened
    gw.close();
    const after = new SqliteAuditStore(file);
    expect(after.recordings('b')).toHaveLength(1);
    expect(after.listSessions()).toHaveLength(2);
    after.close();
  });

  it('ignores a torn spool line and a missing spool', async () => {
    const file = tmpFile();
    const gw = new SqliteAuditStore(file);
    gw.startSession(session('c'));
    await committed(gw);
    fs.appendFileSync(`${file}-spool`, '{"t":"recording","r":{"sessionId":"c","chan');
    const reader = new SqliteAuditReader(file);
    expect(reader.session('c')).toMatchObject({ recordings: 0 });
    reader.close();
    gw.close(); // truncates the spool
    fs.rmSync(`${file}-spool`);
    const again = new SqliteAuditReader(file);
    expect(again.listSessions().map((s) => s.id)).toEqual(['c']);
    again.close();
  });

  it('refuses a missing database or :memory: without creating anything', () => {
    const file = tmpFile();
    expect(() => new SqliteAuditReader(file)).toThrow(/no audit database/);
    expect(fs.existsSync(file)).toBe(false);
    expect(() => new SqliteAuditReader(':memory:')).toThrow(/in memory/);
  });
});

describe('SSH host keys remembered on first use', () => {
  it('survive a reopen and can be replaced', () => {
    const file = tmpFile();
    const a = new SqliteAuditStore(file);
    expect(a.knownHostKey('web:22')).toBeUndefined();
    a.rememberHostKey('web:22', 'SHA256:one');
    a.close();
    const b = new SqliteAuditStore(file);
    expect(b.knownHostKey('web:22')).toBe('SHA256:one');
    b.rememberHostKey('web:22', 'SHA256:two');
    expect(b.knownHostKey('web:22')).toBe('SHA256:two');
    expect(b.knownHostKey('db:22')).toBeUndefined();
    b.close();
  });
});
