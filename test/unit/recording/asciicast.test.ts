import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AsciicastRecorder, type RecordingHeader } from '../../../src/recording/asciicast.js';
import { openCast, playCast } from '../../../src/recording/replay.js';

const dirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-rec-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const header = (over: Partial<RecordingHeader> = {}): RecordingHeader => ({
  width: 120, height: 40, term: 'xterm-256color', user: 'alice', connection: 'web-prod',
  sessionId: '6f1c1d2e-0000-4000-8000-000000000001', channel: 0, ...over,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lines = (file: string): string[] => fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
const events = (file: string): Array<[number, string, string]> => lines(file).slice(1).map((l) => JSON.parse(l) as [number, string, string]);

/** Checks a file line by line against asciicast v2; returns the header and the events. */
function parseAsciicastV2(file: string): { header: Record<string, unknown>; events: Array<[number, string, string]> } {
  const text = fs.readFileSync(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  const all = text.slice(0, -1).split('\n');
  const h = JSON.parse(all[0]!) as Record<string, unknown>;
  expect(typeof h).toBe('object');
  expect(Array.isArray(h)).toBe(false);
  expect(h.version).toBe(2);
  expect(Number.isInteger(h.width)).toBe(true);
  expect(Number.isInteger(h.height)).toBe(true);
  if (h.timestamp !== undefined) expect(Number.isInteger(h.timestamp)).toBe(true);
  if (h.env !== undefined) for (const v of Object.values(h.env as object)) expect(typeof v).toBe('string');
  const evs: Array<[number, string, string]> = [];
  let last = 0;
  for (const line of all.slice(1)) {
    const ev = JSON.parse(line) as unknown[];
    expect(Array.isArray(ev)).toBe(true);
    expect(ev).toHaveLength(3);
    expect(typeof ev[0]).toBe('number');
    expect(ev[0] as number).toBeGreaterThanOrEqual(last);
    // at most 6 decimals in the text itself
    expect(line).toMatch(/^\[\d+(\.\d{1,6})?,/);
    last = ev[0] as number;
    expect(['o', 'i', 'r', 'm']).toContain(ev[1]);
    expect(typeof ev[2]).toBe('string');
    evs.push(ev as [number, string, string]);
  }
  return { header: h, events: evs };
}

describe('AsciicastRecorder', () => {
  it('creates the directory and SESSION-CHANNEL.cast, and writes the v2 header at once', () => {
    const dir = path.join(tmpDir(), 'data', 'recordings');
    const before = Math.floor(Date.now() / 1000);
    const rec = AsciicastRecorder.open(dir, header({ channel: 3, command: 'uptime', title: 'web-prod: alice' }));
    expect(rec.file).toBe(path.join(dir, '6f1c1d2e-0000-4000-8000-000000000001-3.cast'));
    const h = JSON.parse(lines(rec.file)[0]!) as Record<string, unknown>;
    expect(h).toEqual({
      version: 2,
      width: 120,
      height: 40,
      timestamp: h.timestamp,
      command: 'uptime',
      title: 'web-prod: alice',
      env: { TERM: 'xterm-256color' },
      portcullis: { user: 'alice', connection: 'web-prod', sessionId: '6f1c1d2e-0000-4000-8000-000000000001', channel: 3, command: 'uptime' },
    });
    expect(h.timestamp).toBeGreaterThanOrEqual(before);
    expect(h.timestamp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(rec.bytes()).toBe(fs.statSync(rec.file).size);
    expect(fs.statSync(rec.file).mode & 0o077).toBe(0);
    rec.close();
  });

  it('takes a given timestamp and leaves out what is not given', () => {
    const rec = AsciicastRecorder.open(tmpDir(), header({ term: undefined, timestamp: 1700000000.7 }));
    const h = JSON.parse(lines(rec.file)[0]!) as Record<string, unknown>;
    expect(h.timestamp).toBe(1700000000);
    expect(h).not.toHaveProperty('command');
    expect(h).not.toHaveProperty('title');
    expect(h.env).toEqual({});
    expect(h.portcullis).toEqual({ user: 'alice', connection: 'web-prod', sessionId: header().sessionId, channel: 0 });
    rec.close();
  });

  it('never overwrites a recording: a reused channel number gets SESSION-CHANNEL.2.cast', () => {
    const dir = tmpDir();
    const a = AsciicastRecorder.open(dir, header());
    a.output('first');
    a.close();
    const b = AsciicastRecorder.open(dir, header());
    expect(path.basename(b.file)).toBe(`${header().sessionId}-0.2.cast`);
    b.close();
    expect(events(a.file)).toEqual([[expect.any(Number), 'o', 'first']]);
  });

  it('keeps a session id from leaving the directory', () => {
    const dir = tmpDir();
    const rec = AsciicastRecorder.open(dir, header({ sessionId: '../../etc/x' }));
    expect(path.dirname(rec.file)).toBe(dir);
    rec.close();
  });

  it('records o, i, r and m events in order with monotonic times from the header', async () => {
    const rec = AsciicastRecorder.open(tmpDir(), header());
    rec.output('$ ');
    await sleep(20);
    rec.input('ls\r');
    rec.output(Buffer.from('ls\r\nfile\r\n'));
    await sleep(15);
    rec.resize(100, 30);
    rec.marker?.('blocked: no-rm-root');
    rec.output('\u001b[1;31mred\u001b[0m');
    rec.close();
    const evs = parseAsciicastV2(rec.file).events;
    expect(evs.map(([, c, d]) => [c, d])).toEqual([
      ['o', '$ '],
      ['i', 'ls\r'],
      ['o', 'ls\r\nfile\r\n'],
      ['r', '100x30'],
      ['m', 'blocked: no-rm-root'],
      ['o', '\u001b[1;31mred\u001b[0m'],
    ]);
    expect(evs[1]![0] - evs[0]![0]).toBeGreaterThanOrEqual(0.015);
    expect(evs[3]![0] - evs[2]![0]).toBeGreaterThanOrEqual(0.01);
    expect(evs[5]![0]).toBeLessThan(5);
  });

  it('keeps a UTF-8 character split across chunks intact, per stream', () => {
    const rec = AsciicastRecorder.open(tmpDir(), header());
    const euro = Buffer.from('€', 'utf8'); // e2 82 ac
    const emoji = Buffer.from('😀', 'utf8'); // 4 bytes
    rec.output(euro.subarray(0, 1));
    // input between the halves of an output character must not disturb it
    rec.input(Buffer.from('ä', 'utf8').subarray(0, 1));
    rec.output(Buffer.concat([euro.subarray(1), Buffer.from(' = '), emoji.subarray(0, 2)]));
    rec.input(Buffer.from('ä', 'utf8').subarray(1));
    rec.output(emoji.subarray(2, 3));
    rec.output(Buffer.concat([emoji.subarray(3), Buffer.from('!')]));
    rec.close();
    const evs = parseAsciicastV2(rec.file).events;
    const out = evs.filter(([, c]) => c === 'o').map(([, , d]) => d).join('');
    const inp = evs.filter(([, c]) => c === 'i').map(([, , d]) => d).join('');
    expect(out).toBe('€ = 😀!');
    expect(inp).toBe('ä');
    expect(out + inp).not.toContain('\ufffd');
    // a chunk that decodes to nothing yet makes no event
    expect(evs.every(([, , d]) => d !== '')).toBe(true);
  });

  it('gives up an incomplete character at close as U+FFFD (what the bytes were)', () => {
    const rec = AsciicastRecorder.open(tmpDir(), header());
    rec.output(Buffer.from([0x61, 0xe2, 0x82]));
    rec.close();
    expect(events(rec.file).map(([, c, d]) => [c, d])).toEqual([['o', 'a'], ['o', '\ufffd']]);
  });

  it('writes incrementally: after 300 ms the events are in the file without close()', async () => {
    const rec = AsciicastRecorder.open(tmpDir(), header());
    const headerOnly = fs.statSync(rec.file).size;
    rec.output('hello\r\n');
    rec.resize(80, 24);
    expect(fs.statSync(rec.file).size).toBe(headerOnly); // buffered
    await sleep(300);
    expect(events(rec.file).map(([, c, d]) => [c, d])).toEqual([['o', 'hello\r\n'], ['r', '80x24']]);
    expect(rec.bytes()).toBe(fs.statSync(rec.file).size);
    rec.close();
  });

  it('writes at once when 64 KiB wait, and never holds much more than that', () => {
    const rec = AsciicastRecorder.open(tmpDir(), header());
    const chunk = 'x'.repeat(1000) + '\r\n';
    let maxBuffered = 0;
    for (let i = 0; i < 5000; i++) {
      rec.output(chunk);
      maxBuffered = Math.max(maxBuffered, rec.bytes() - fs.statSync(rec.file).size);
    }
    expect(fs.statSync(rec.file).size).toBeGreaterThan(4_900_000); // written without a timer
    expect(maxBuffered).toBeLessThan(64 * 1024 + 2000);
    rec.close();
    expect(events(rec.file)).toHaveLength(5000);
    expect(rec.bytes()).toBe(fs.statSync(rec.file).size);
  });

  it('close() flushes and is idempotent; later data is ignored', () => {
    const rec = AsciicastRecorder.open(tmpDir(), header());
    rec.output('bye');
    rec.close();
    const size = fs.statSync(rec.file).size;
    rec.close();
    rec.output('late');
    rec.input('late');
    rec.resize(1, 1);
    rec.close();
    expect(fs.statSync(rec.file).size).toBe(size);
    expect(events(rec.file).map(([, , d]) => d)).toEqual(['bye']);
    expect(rec.failed).toBeNull();
  });

  it('a write error never throws into the data path: it is recorded, reported once, and recording stops', () => {
    const errors: Error[] = [];
    const rec = AsciicastRecorder.open(tmpDir(), header(), { onError: (e) => errors.push(e) });
    // pull the fd out from under it (EBADF on the next write)
    fs.closeSync((rec as unknown as { fd: number }).fd);
    expect(() => {
      rec.output('x'.repeat(70 * 1024)); // over 64 KiB: a write right now
      rec.output('more');
      rec.input('more');
      rec.close();
      rec.close();
    }).not.toThrow();
    expect(rec.failed).toBeInstanceOf(Error);
    expect((rec.failed as NodeJS.ErrnoException).code).toBe('EBADF');
    expect(errors).toHaveLength(1);
  });

  it.runIf(fs.existsSync('/dev/full') /* Linux only */)('a full disk (/dev/full) fails the recording quietly, from the timer too', async () => {
    let full: number;
    try {
      full = fs.openSync('/dev/full', 'w');
    } catch {
      return; // not writable here
    }
    let reported: Error | null = null;
    const rec = AsciicastRecorder.open(tmpDir(), header(), {
      onError: (e) => {
        reported = e;
        throw new Error('a throwing onError does not escape either');
      },
    });
    const own = rec as unknown as { fd: number };
    fs.closeSync(own.fd);
    own.fd = full;
    rec.output('lost');
    await sleep(300); // the timer's write fails
    expect((reported as NodeJS.ErrnoException | null)?.code).toBe('ENOSPC');
    expect(rec.failed).toBe(reported);
    expect(() => rec.output('after')).not.toThrow();
    rec.close();
  });

  it('open() throws when the file cannot be created (the caller decides)', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'not-a-dir');
    fs.writeFileSync(file, '');
    expect(() => AsciicastRecorder.open(file, header())).toThrow();
  });
});

describe('asciicast v2 files', () => {
  it('parse line by line as asciicast v2 and play back the output exactly', async () => {
    const rec = AsciicastRecorder.open(tmpDir(), header({ command: 'cat /etc/motd' }));
    const out = ['Welcome to \u001b[1mweb-prod\u001b[0m\r\n', 'tab\there "quotes" \\ back\r\n', 'ünïcödé 😀\r\n', '\u0000nul\u0007bell'];
    rec.input('x');
    for (const o of out) rec.output(Buffer.from(o, 'utf8'));
    rec.resize(90, 30);
    rec.marker?.('');
    rec.close();
    const parsed = parseAsciicastV2(rec.file);
    expect(parsed.events).toHaveLength(out.length + 3);
    const cast = await openCast(rec.file);
    expect(cast.header).toMatchObject({ version: 2, width: 120, height: 40, command: 'cat /etc/motd' });
    const played: string[] = [];
    expect(await playCast(cast, (d) => played.push(d), { wait: false })).toBe(out.length);
    expect(played.join('')).toBe(out.join(''));
    expect(cast.skipped()).toBe(0);
  });

  it('plays with the recorded timing divided by speed', async () => {
    const file = path.join(tmpDir(), 'timed.cast');
    fs.writeFileSync(file, '{"version": 2, "width": 80, "height": 24}\n[0.1, "o", "a"]\n[0.2, "i", "ignored"]\n[0.3, "o", "b"]\n');
    const t0 = performance.now();
    const played: Array<[string, number]> = [];
    await playCast(await openCast(file), (d) => played.push([d, performance.now() - t0]), { speed: 3 });
    expect(played.map(([d]) => d)).toEqual(['a', 'b']);
    expect(played[1]![1]).toBeGreaterThanOrEqual(90); // 300 ms / 3
    expect(played[1]![1]).toBeLessThan(1000);
  });

  it('refuses a file that is not asciicast v2', async () => {
    const file = path.join(tmpDir(), 'v1.cast');
    fs.writeFileSync(file, '{"version": 1, "width": 80, "height": 24, "stdout": []}\n');
    await expect(openCast(file)).rejects.toThrow(/not an asciicast v2/);
  });
});
