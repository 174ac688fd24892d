import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteAuditStore } from '../../../src/audit/sqlite.js';

const dirs: string[] = [];
function tmpFile(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-audit-'));
  dirs.push(d);
  return path.join(d, 'audit.db');
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const session = (id: string) => ({
  id, startedAt: 1, user: 'alice', groups: ['dba'], authMethod: 'password', connection: 'app-db',
  protocol: 'postgres', clientAddress: '127.0.0.1', tls: false,
});

describe('SqliteAuditStore', () => {
  it('holds answers until the events are durable (group commit per turn)', async () => {
    const store = new SqliteAuditStore(tmpFile());
    store.startSession(session('s1'));
    store.append({ sessionId: 's1', at: 2, kind: 'decision', commandId: 1, text: 'SELECT 1', decision: 'allow' });
    let released = false;
    store.afterCommit(() => (released = true));
    expect(released).toBe(false);
    await new Promise((r) => setImmediate(r));
    expect(released).toBe(true);
    // nothing pending: at once
    let now = false;
    store.afterCommit(() => (now = true));
    expect(now).toBe(true);
    expect(store.events('s1').map((e) => e.text)).toEqual(['SELECT 1']);
    store.close();
  });

  it('replays the spool after a crash: nothing released is lost', async () => {
    const file = tmpFile();
    const crashed = new SqliteAuditStore(file);
    crashed.startSession(session('s2'));
    for (let i = 0; i < 100; i++) {
      crashed.append({ sessionId: 's2', at: i, kind: 'decision', commandId: i, text: `SELECT ${i}`, decision: 'allow' });
    }
    await new Promise<void>((resolve) => crashed.afterCommit(resolve));
    // "kill -9": no ingest, no close. A fresh store on the same files must see every released event.
    const reopened = new SqliteAuditStore(file);
    const events = reopened.events('s2', 1000);
    expect(events).toHaveLength(100);
    expect(events[99]!.text).toBe('SELECT 99');
    expect(reopened.listSessions()[0]!.user).toBe('alice');
    reopened.close();
    // replay happens once: a third open does not duplicate
    const third = new SqliteAuditStore(file);
    expect(third.events('s2', 1000)).toHaveLength(100);
    third.close();
  });

  it('ignores a torn last spool line (never acknowledged)', async () => {
    const file = tmpFile();
    const a = new SqliteAuditStore(file);
    a.startSession(session('s3'));
    a.append({ sessionId: 's3', at: 1, kind: 'decision', text: 'ok', decision: 'allow' });
    await new Promise<void>((resolve) => a.afterCommit(resolve));
    fs.appendFileSync(`${file}-spool`, '{"t":"event","e":{"sessionId":"s3","at":2,"ki');
    const b = new SqliteAuditStore(file);
    expect(b.events('s3').map((e) => e.text)).toEqual(['ok']);
    b.close();
  });

  it('ends sessions with their byte counts', () => {
    const store = new SqliteAuditStore(tmpFile());
    store.startSession(session('s4'));
    store.endSession('s4', { endedAt: 9, reason: 'client closed', bytesIn: 10, bytesOut: 20 });
    const s = store.listSessions()[0]!;
    expect(s).toMatchObject({ id: 's4', endedAt: 9, reason: 'client closed', bytesIn: 10, bytesOut: 20 });
    store.close();
  });
});
