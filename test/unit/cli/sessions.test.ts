// `portcullis sessions list|replay`, run in-process through run([...]) against a temp config and store.
import { mkdtempSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteAuditStore } from '../../../src/audit/sqlite.js';
import { run, type CliIo } from '../../../src/cli/main.js';
import { AsciicastRecorder } from '../../../src/recording/asciicast.js';

function harness() {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (s) => void out.push(s), err: (s) => void err.push(s), stdin: Readable.from([]), env: {} };
  return { io, out: () => out.join(''), err: () => err.join('') };
}

const S1 = '11111111-1111-4111-8111-111111111111';
const S2 = '22222222-2222-4222-8222-222222222222';
const S3 = '33333333-3333-4333-8333-333333333333';
const SHELL_OUT = ['alice@web-prod:~$ ', 'ls -la\r\n', 'total 0\r\n\u001b[01;34mdir\u001b[0m  ünï 😀\r\n', 'alice@web-prod:~$ '];
const EXEC_OUT = 'up 3 days\n';

let root: string;
let config: string;
let dataDir: string;

const cli = async (...args: string[]) => {
  const h = harness();
  const code = await run(args, h.io);
  return { code, out: h.out(), err: h.err() };
};

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'portcullis-sessions-'));
  config = join(root, 'portcullis.yaml');
  dataDir = join(root, 'data');
  writeFileSync(config, 'dataDir: ./data\n');
  const store = new SqliteAuditStore(join(dataDir, 'portcullis.db'));
  const base = { groups: ['sre'], authMethod: 'publickey', protocol: 'ssh', clientAddress: '10.0.0.1', tls: false };
  store.startSession({ id: S1, startedAt: Date.UTC(2025, 0, 2, 3, 4, 5), user: 'alice', connection: 'web-prod', ...base });
  store.startSession({ id: S2, startedAt: Date.UTC(2025, 0, 3), user: 'bob', connection: 'app-db', ...base, protocol: 'postgres', tls: true });
  store.startSession({ id: S3, startedAt: Date.UTC(2025, 0, 4), user: 'carol', connection: 'web-prod', ...base });
  // S1: a shell on channel 0 (a character split across chunks), an exec on channel 1
  const shell = AsciicastRecorder.open(join(dataDir, 'recordings'), { width: 80, height: 24, term: 'xterm', user: 'alice', connection: 'web-prod', sessionId: S1, channel: 0 });
  store.recording({ sessionId: S1, channel: 0, file: shell.file, startedAt: Date.UTC(2025, 0, 2, 3, 4, 6), kind: 'shell' });
  const bytes = Buffer.from(SHELL_OUT.join(''), 'utf8');
  let off = 0;
  for (const part of SHELL_OUT) {
    const n = Buffer.byteLength(part);
    // cut each chunk one byte early: the next one starts mid-character where it can
    shell.output(bytes.subarray(off, Math.min(bytes.length, off + n - 1)));
    off = Math.min(bytes.length, off + n - 1);
    shell.input('l');
  }
  shell.output(bytes.subarray(off));
  shell.resize(100, 30);
  shell.close();
  const exec = AsciicastRecorder.open(join(dataDir, 'recordings'), { width: 80, height: 24, command: 'uptime', user: 'alice', connection: 'web-prod', sessionId: S1, channel: 1 });
  // stored relative to the data dir: replay resolves it there
  store.recording({ sessionId: S1, channel: 1, file: relative(dataDir, exec.file), startedAt: Date.UTC(2025, 0, 2, 3, 5), kind: 'exec' });
  exec.output(EXEC_OUT);
  exec.close();
  // S3: indexed, but the file is gone
  store.recording({ sessionId: S3, channel: 0, file: join(dataDir, 'recordings', `${S3}-0.cast`), startedAt: Date.UTC(2025, 0, 4), kind: 'shell' });
  store.endSession(S1, { endedAt: Date.UTC(2025, 0, 2, 4, 0, 0), reason: 'client closed', bytesIn: 10, bytesOut: 20 });
  store.close();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('sessions list', () => {
  it('prints a table, newest first, with the recording counts', async () => {
    const r = await cli('sessions', 'list', '-c', config);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STARTED\s+USER\s+CONNECTION\s+PROTOCOL\s+ENDED\s+REASON\s+RECORDINGS$/);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(new RegExp(`^${S3}\\s+2025-01-04T00:00:00Z\\s+carol\\s+web-prod\\s+ssh\\s+-\\s+-\\s+1$`));
    expect(lines[2]).toMatch(new RegExp(`^${S2}\\s+2025-01-03T00:00:00Z\\s+bob\\s+app-db\\s+postgres\\s+-\\s+-\\s+0$`));
    expect(lines[3]).toMatch(new RegExp(`^${S1}\\s+2025-01-02T03:04:05Z\\s+alice\\s+web-prod\\s+ssh\\s+2025-01-02T04:00:00Z\\s+client closed\\s+2$`));
  });

  it('--json prints an array; --limit cuts it', async () => {
    const r = await cli('sessions', 'list', '-c', config, '--json', '--limit', '2');
    expect(r.code).toBe(0);
    const list = JSON.parse(r.out) as Array<Record<string, unknown>>;
    expect(list.map((s) => s.id)).toEqual([S3, S2]);
    const all = JSON.parse((await cli('sessions', 'list', '-c', config, '--json')).out) as Array<Record<string, unknown>>;
    expect(all[2]).toEqual({
      id: S1, started: '2025-01-02T03:04:05Z', ended: '2025-01-02T04:00:00Z', user: 'alice', groups: ['sre'], connection: 'web-prod',
      protocol: 'ssh', clientAddress: '10.0.0.1', database: null, reason: 'client closed', bytesIn: 10, bytesOut: 20, recordings: 2,
    });
  });

  it('exit 1 when the store does not exist yet, 2 on bad arguments or config', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'portcullis-sessions-empty-'));
    try {
      writeFileSync(join(empty, 'p.yaml'), 'dataDir: ./data\n');
      const r = await cli('sessions', 'list', '-c', join(empty, 'p.yaml'));
      expect(r.code).toBe(1);
      expect(r.err).toContain('no audit database at');
      writeFileSync(join(empty, 'bad.yaml'), 'dataDir: [1\n');
      expect((await cli('sessions', 'list', '-c', join(empty, 'bad.yaml'))).code).toBe(2);
      expect((await cli('sessions', 'list', '-c', join(empty, 'missing.yaml'))).code).toBe(2);
      writeFileSync(join(empty, 'pg.yaml'), 'store: { postgres: "postgres://x@localhost/audit" }\n');
      expect((await cli('sessions', 'list', '-c', join(empty, 'pg.yaml'))).code).toBe(2);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
    expect((await cli('sessions', 'list', '-c', config, '--limit', 'x')).code).toBe(2);
    expect((await cli('sessions', 'list', '-c', config, '--bogus')).code).toBe(2);
  });
});

describe('sessions replay', () => {
  it('--no-wait prints exactly the recorded output (first recording by default)', async () => {
    const r = await cli('sessions', 'replay', S1, '-c', config, '--no-wait');
    expect(r.code).toBe(0);
    expect(r.err).toBe(`note: session ${S1} has 2 recordings (channels 0, 1); playing the first (channel 0, shell); choose with --channel N\n`);
    expect(r.out).toBe(SHELL_OUT.join(''));
    expect(r.out).not.toContain('\ufffd');
    // --speed 0 is the same
    expect((await cli('sessions', 'replay', S1, '-c', config, '--speed', '0')).out).toBe(SHELL_OUT.join(''));
  });

  it('--channel picks the recording (a path relative to the data dir)', async () => {
    const r = await cli('sessions', 'replay', S1, '-c', config, '--channel', '1', '--no-wait');
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toBe(EXEC_OUT);
  });

  it('keeps the recorded timing, divided by --speed', async () => {
    const dir = join(dataDir, 'recordings');
    const file = join(dir, 'timed.cast');
    writeFileSync(file, '{"version": 2, "width": 80, "height": 24}\n[0.5, "o", "one "]\n[1.0, "i", "x"]\n[1.5, "o", "two"]\n');
    const store = new SqliteAuditStore(join(dataDir, 'portcullis.db'));
    store.recording({ sessionId: S2, channel: 7, file, startedAt: 1, kind: 'exec' });
    store.close();
    const t0 = performance.now();
    const r = await cli('sessions', 'replay', S2, '-c', config, '--speed', '10');
    const took = performance.now() - t0;
    expect(r.code).toBe(0);
    expect(r.out).toBe('one two');
    expect(took).toBeGreaterThanOrEqual(140); // 1.5 s / 10
    expect(took).toBeLessThan(1500);
  });

  it('finds a recording under this data dir when the indexed absolute path moved away', async () => {
    const moved = join(root, 'moved');
    mkdirSync(moved, { recursive: true });
    writeFileSync(join(moved, 'p.yaml'), `dataDir: ./data\n`);
    // a copy of the whole data dir somewhere else
    const copy = join(moved, 'data');
    mkdirSync(join(copy, 'recordings'), { recursive: true });
    writeFileSync(join(copy, 'portcullis.db'), readFileSync(join(dataDir, 'portcullis.db')));
    writeFileSync(join(copy, 'recordings', `${S1}-0.cast`), readFileSync(join(dataDir, 'recordings', `${S1}-0.cast`)));
    renameSync(join(dataDir, 'recordings', `${S1}-0.cast`), join(dataDir, 'recordings', 'aside.cast'));
    try {
      const r = await cli('sessions', 'replay', S1, '-c', join(moved, 'p.yaml'), '--no-wait');
      expect(r.code).toBe(0);
      expect(r.out).toBe(SHELL_OUT.join(''));
    } finally {
      renameSync(join(dataDir, 'recordings', 'aside.cast'), join(dataDir, 'recordings', `${S1}-0.cast`));
    }
  });

  it('exit 1 naming what is missing: the session, its recording, the channel, the file', async () => {
    const unknown = await cli('sessions', 'replay', 'no-such-session', '-c', config, '--no-wait');
    expect(unknown.code).toBe(1);
    expect(unknown.out).toBe('');
    expect(unknown.err).toContain('unknown session "no-such-session"');

    const db = await cli('sessions', 'replay', S2, '-c', config, '--channel', '3', '--no-wait');
    expect(db.code).toBe(1);
    expect(db.err).toContain(`session ${S2} has no recording of channel 3 (recorded channels: 7)`);

    const file = await cli('sessions', 'replay', S3, '-c', config, '--no-wait');
    expect(file.code).toBe(1);
    expect(file.err).toContain('is missing');
    expect(file.err).toContain(`${S3}-0.cast`);
  });

  it('exit 1 for a session without any recording', async () => {
    const store = new SqliteAuditStore(join(dataDir, 'portcullis.db'));
    store.startSession({ id: 'bare', startedAt: 1, user: 'dan', groups: [], authMethod: 'password', connection: 'app-db', protocol: 'postgres', clientAddress: '::1', tls: true });
    store.close();
    const r = await cli('sessions', 'replay', 'bare', '-c', config, '--no-wait');
    expect(r.code).toBe(1);
    expect(r.err).toContain('session bare has no recording');
  });

  it('exit 2 on bad arguments', async () => {
    expect((await cli('sessions', 'replay', S1, '-c', config, '--speed', 'fast')).code).toBe(2);
    expect((await cli('sessions', 'replay', S1, '-c', config, '--speed', '-1')).code).toBe(2);
    expect((await cli('sessions', 'replay', S1, '-c', config, '--channel', '1.5')).code).toBe(2);
    expect((await cli('sessions', 'replay', '-c', config)).code).toBe(2);
  });
});
