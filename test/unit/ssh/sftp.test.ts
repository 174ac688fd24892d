import { describe, expect, it, vi } from 'vitest';
import { SftpError, SftpMonitor, SFTP_DEFAULT_MAX_PACKET, type SftpEvent, type SftpPolicy } from '../../../protocols/ssh/sftp.js';

// ---- a small SFTP v3 encoder (draft-ietf-secsh-filexfer-02 layouts, OpenSSH extensions)

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const u64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};
const str = (s: string | Buffer): Buffer => {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([u32(b.length), b]);
};
const packet = (type: number, ...fields: Buffer[]): Buffer => {
  const body = Buffer.concat([Buffer.from([type]), ...fields]);
  return Buffer.concat([u32(body.length), body]);
};
/** ATTRS with no flags; and one with size and permissions */
const NO_ATTRS = u32(0);
const SOME_ATTRS = Buffer.concat([u32(0x1 | 0x4), u64(1234), u32(0o644)]);

type Bytes = string | Buffer;
const F = { READ: 1, WRITE: 2, APPEND: 4, CREAT: 8, TRUNC: 0x10, EXCL: 0x20 };

const C = {
  init: (v = 3, ...ext: [string, string][]) => packet(1, u32(v), ...ext.flatMap(([n, d]) => [str(n), str(d)])),
  open: (id: number, path: Bytes, pflags: number, attrs = NO_ATTRS) => packet(3, u32(id), str(path), u32(pflags), attrs),
  close: (id: number, h: Bytes) => packet(4, u32(id), str(h)),
  read: (id: number, h: Bytes, off: number, len: number) => packet(5, u32(id), str(h), u64(off), u32(len)),
  write: (id: number, h: Bytes, off: number, data: Bytes) => packet(6, u32(id), str(h), u64(off), str(data)),
  lstat: (id: number, path: Bytes) => packet(7, u32(id), str(path)),
  fstat: (id: number, h: Bytes) => packet(8, u32(id), str(h)),
  setstat: (id: number, path: Bytes) => packet(9, u32(id), str(path), SOME_ATTRS),
  fsetstat: (id: number, h: Bytes) => packet(10, u32(id), str(h), SOME_ATTRS),
  opendir: (id: number, path: Bytes) => packet(11, u32(id), str(path)),
  readdir: (id: number, h: Bytes) => packet(12, u32(id), str(h)),
  remove: (id: number, path: Bytes) => packet(13, u32(id), str(path)),
  mkdir: (id: number, path: Bytes) => packet(14, u32(id), str(path), SOME_ATTRS),
  rmdir: (id: number, path: Bytes) => packet(15, u32(id), str(path)),
  realpath: (id: number, path: Bytes) => packet(16, u32(id), str(path)),
  stat: (id: number, path: Bytes) => packet(17, u32(id), str(path)),
  rename: (id: number, from: Bytes, to: Bytes) => packet(18, u32(id), str(from), str(to)),
  readlink: (id: number, path: Bytes) => packet(19, u32(id), str(path)),
  /** OpenSSH order: targetpath, linkpath */
  symlink: (id: number, target: Bytes, link: Bytes) => packet(20, u32(id), str(target), str(link)),
  ext: (id: number, name: string, ...fields: Buffer[]) => packet(200, u32(id), str(name), ...fields),
};
const S = {
  version: (v = 3, ...ext: [string, string][]) => packet(2, u32(v), ...ext.flatMap(([n, d]) => [str(n), str(d)])),
  status: (id: number, code = 0, msg = '') => packet(101, u32(id), u32(code), str(msg), str('')),
  handle: (id: number, h: Bytes) => packet(102, u32(id), str(h)),
  data: (id: number, d: Bytes) => packet(103, u32(id), str(d)),
  name: (id: number, ...names: string[]) =>
    packet(104, u32(id), u32(names.length), ...names.flatMap((n) => [str(n), str(`-rw-r--r-- 1 u u 0 ${n}`), NO_ATTRS])),
  attrs: (id: number) => packet(105, u32(id), SOME_ATTRS),
  extReply: (id: number, ...fields: Buffer[]) => packet(201, u32(id), ...fields),
};

const READ_ONLY_MSG = 'portcullis: read-only SFTP on this connection';
const denied = (id: number): Buffer => packet(101, u32(id), u32(3), str(READ_ONLY_MSG), str(''));

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const randomBytes = (r: () => number, n: number): Buffer => {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
};

// ---- driving a monitor through a session

type Dir = 'c' | 's';
type Step = [Dir, Buffer];

interface Run {
  toServer: Buffer;
  toClient: Buffer;
  replies: Buffer;
  events: SftpEvent[];
  forwarded: Buffer[];
  /** the two streams the chunks were cut from */
  inputs: Buffer[];
  mon: SftpMonitor;
}

/**
 * Feeds a session to a fresh monitor. Each direction's bytes are cut at `cuts` (offsets into that direction's
 * stream) and, to keep requests before their replies, at the end of each run of same-direction steps — except
 * that a chunk may carry all but the last byte of that direction's next packet, so partial packets stay
 * buffered while the other side talks. Packets complete in script order whatever the cuts (for well-formed
 * steps: the fuzz test feeds mangled ones and only looks at what is thrown).
 */
function drive(
  script: Step[],
  cuts: { c?: Iterable<number>; s?: Iterable<number> } = {},
  policy: SftpPolicy = { readOnly: false },
  opts?: { maxPacket?: number },
  drained = true,
): Run {
  const events: SftpEvent[] = [];
  const mon = new SftpMonitor(policy, (e) => events.push(e), opts);
  const streams = { c: Buffer.concat(script.filter((s) => s[0] === 'c').map((s) => s[1])), s: Buffer.concat(script.filter((s) => s[0] === 's').map((s) => s[1])) };
  const ends: number[] = [];
  const at = { c: 0, s: 0 };
  for (const [d, b] of script) ends.push((at[d] += b.length));
  const cutList = { c: [...(cuts.c ?? [])].sort((a, b) => a - b), s: [...(cuts.s ?? [])].sort((a, b) => a - b) };
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];
  const replies: Buffer[] = [];
  const pos = { c: 0, s: 0 };
  const n = script.length;
  let i = 0;
  while (i < n && ends[i]! <= 0) i++;
  while (i < n) {
    const d = script[i]![0];
    let j = i;
    while (j < n && script[j]![0] === d) j++;
    let k = j;
    while (k < n && script[k]![0] !== d) k++;
    let limit = ends[j - 1]!;
    if (k < n) {
      // all but the last byte of the first packet of that direction's next step
      const next = script[k]![1];
      const first = next.length >= 4 ? Math.min(next.length, 4 + next.readUInt32BE(0)) : next.length;
      limit = Math.max(limit, ends[k]! - next.length + first - 1);
    }
    const cut = cutList[d].find((x) => x > pos[d]) ?? Infinity;
    const to = Math.min(cut, limit);
    const chunk = streams[d].subarray(pos[d], to);
    pos[d] = to;
    if (d === 'c') {
      const r = mon.fromClient(chunk);
      toServer.push(...r.toServer);
      replies.push(...r.toClient);
    } else toClient.push(...mon.fromServer(chunk));
    while (i < n && ends[i]! <= pos[script[i]![0]]) i++;
  }
  if (drained) expect(mon.buffered()).toEqual({ client: 0, server: 0 });
  return {
    toServer: Buffer.concat(toServer),
    toClient: Buffer.concat(toClient),
    replies: Buffer.concat(replies),
    events,
    forwarded: [...toServer, ...toClient],
    inputs: [streams.c, streams.s],
    mon,
  };
}

/** Cut at every step boundary: each packet (or group of steps) its own chunk. */
function packetCuts(script: Step[]): { c: number[]; s: number[] } {
  const at = { c: 0, s: 0 };
  const cuts = { c: [] as number[], s: [] as number[] };
  for (const [d, b] of script) cuts[d].push((at[d] += b.length));
  return cuts;
}

const streamOf = (script: Step[], d: Dir): Buffer => Buffer.concat(script.filter((s) => s[0] === d).map((s) => s[1]));

/** Same bytes forwarded and same events for every way of splitting the session. */
function expectSplitInvariant(script: Step[], policy: SftpPolicy = { readOnly: false }): void {
  const base = drive(script, packetCuts(script), policy);
  const same = (r: Run, what: string): void => {
    expect(r.toServer.equals(base.toServer), `${what}: bytes to the server`).toBe(true);
    expect(r.toClient.equals(base.toClient), `${what}: bytes to the client`).toBe(true);
    expect(r.replies.equals(base.replies), `${what}: refusals`).toBe(true);
    expect(r.events, what).toEqual(base.events);
  };
  for (const d of ['c', 's'] as const) {
    const len = streamOf(script, d).length;
    for (let p = 1; p < len; p++) same(drive(script, { [d]: [p] }, policy), `${d} split at ${p}`);
  }
  const every = (d: Dir): number[] => Array.from({ length: streamOf(script, d).length }, (_, i) => i + 1);
  same(drive(script, { c: every('c'), s: every('s') }, policy), 'one byte at a time');
  same(drive(script, {}, policy), 'no cuts');
  const r = rng(7);
  for (let t = 0; t < 50; t++) {
    const rand = (d: Dir): number[] => every(d).filter(() => r() < 0.05);
    same(drive(script, { c: rand('c'), s: rand('s') }, policy), `random cuts #${t}`);
  }
}

// ---- the golden session

const H1 = Buffer.from([0, 0, 0, 1]);
const HD = Buffer.from([0, 0, 0, 2]);
const HL = Buffer.from([0, 0, 0, 3]);
const up1 = Buffer.alloc(1000, 0x61);
const up2 = Buffer.alloc(500, 0x62);

const golden: Step[] = [
  ['c', C.init(3)],
  ['s', S.version(3, ['posix-rename@openssh.com', '1'], ['hardlink@openssh.com', '1'], ['limits@openssh.com', '1'])],
  ['c', C.realpath(1, '.')],
  ['s', S.name(1, '/home/u')],
  ['c', C.open(2, '/home/u/up.bin', F.WRITE | F.CREAT | F.TRUNC, SOME_ATTRS)],
  ['s', S.handle(2, H1)],
  ['c', Buffer.concat([C.write(3, H1, 0, up1), C.write(4, H1, 1000, up2)])],
  ['s', S.status(3)],
  ['s', S.status(4)],
  ['c', C.fsetstat(5, H1)],
  ['s', S.status(5)],
  ['c', C.close(6, H1)],
  ['s', S.status(6)],
  // the server reuses the handle string: it now names another file
  ['c', C.open(7, '/home/u/dl.txt', F.READ)],
  ['s', S.handle(7, H1)],
  ['c', C.fstat(8, H1)],
  ['s', S.attrs(8)],
  ['c', C.read(9, H1, 0, 700)],
  ['c', C.read(10, H1, 700, 700)],
  ['s', S.data(9, Buffer.alloc(700, 0x63))],
  ['s', S.data(10, Buffer.alloc(300, 0x64))],
  ['c', C.read(11, H1, 1000, 700)],
  ['s', S.status(11, 1, 'EOF')],
  ['c', C.close(12, H1)],
  ['s', S.status(12)],
  ['c', C.opendir(13, '/home/u')],
  ['s', S.handle(13, HD)],
  ['c', C.readdir(14, HD)],
  ['s', S.name(14, 'up.bin', 'dl.txt')],
  ['c', C.readdir(15, HD)],
  ['s', S.status(15, 1, 'EOF')],
  ['c', C.close(16, HD)],
  ['s', S.status(16)],
  ['c', C.stat(17, '/home/u/missing')],
  ['s', S.status(17, 2, 'No such file')],
  ['c', C.lstat(18, '/home/u/dl.txt')],
  ['s', S.attrs(18)],
  ['c', C.rename(19, '/home/u/up.bin', '/home/u/up.old')],
  ['s', S.status(19)],
  ['c', C.ext(20, 'posix-rename@openssh.com', str('/home/u/up.old'), str('/home/u/up.bin'))],
  ['s', S.status(20)],
  ['c', C.ext(21, 'hardlink@openssh.com', str('/home/u/up.bin'), str('/home/u/up.lnk'))],
  ['s', S.status(21)],
  ['c', C.remove(22, '/home/u/up.lnk')],
  ['s', S.status(22)],
  ['c', C.mkdir(23, '/home/u/d')],
  ['s', S.status(23)],
  ['c', C.rmdir(24, '/home/u/d')],
  ['s', S.status(24)],
  ['c', C.setstat(25, '/home/u/dl.txt')],
  ['s', S.status(25)],
  ['c', C.symlink(26, '/home/u/dl.txt', '/home/u/dl.sym')],
  ['s', S.status(26)],
  ['c', C.readlink(27, '/home/u/dl.sym')],
  ['s', S.name(27, '/home/u/dl.txt')],
  ['c', C.ext(28, 'statvfs@openssh.com', str('/home/u'))],
  ['s', S.extReply(28, ...Array.from({ length: 11 }, (_, i) => u64(i * 4096)))],
  ['c', C.ext(29, 'limits@openssh.com')],
  ['s', S.extReply(29, u64(262144), u64(261120), u64(261120), u64(1019))],
  ['c', C.ext(30, 'expand-path@openssh.com', str('~/x'))],
  ['s', S.name(30, '/home/u/x')],
  ['c', C.ext(31, 'home-directory', str(''))],
  ['s', S.name(31, '/home/u')],
  ['c', C.open(32, '/home/u/log', F.WRITE | F.APPEND | F.CREAT)],
  ['s', S.handle(32, HL)],
  ['c', C.write(33, HL, 0, 'line\n')],
  ['s', S.status(33)],
  ['c', C.ext(34, 'fsync@openssh.com', str(HL))],
  ['s', S.status(34)],
  ['c', C.close(35, HL)],
  ['s', S.status(35)],
  ['c', C.ext(36, 'vendor-thing@example.com', str('/some/where'), u32(7))],
  ['s', S.status(36, 8, 'Unsupported')],
  ['c', C.ext(37, 'users-groups-by-id@openssh.com', str(u32(0)), str(u32(0)))],
  ['s', S.extReply(37, str(str('root')), str(str('root')))],
];

const goldenEvents: SftpEvent[] = [
  { op: 'realpath', path: '.' },
  { op: 'open', path: '/home/u/up.bin', mode: 'write', create: true, truncate: true, append: false },
  { op: 'setstat', path: '/home/u/up.bin' },
  { op: 'close', path: '/home/u/up.bin', bytesRead: 0, bytesWritten: 1500 },
  { op: 'open', path: '/home/u/dl.txt', mode: 'read', create: false, truncate: false, append: false },
  { op: 'stat', path: '/home/u/dl.txt' },
  { op: 'close', path: '/home/u/dl.txt', bytesRead: 1000, bytesWritten: 0 },
  { op: 'opendir', path: '/home/u' },
  { op: 'stat', path: '/home/u/missing' },
  { op: 'stat', path: '/home/u/dl.txt' },
  { op: 'rename', from: '/home/u/up.bin', to: '/home/u/up.old' },
  { op: 'rename', from: '/home/u/up.old', to: '/home/u/up.bin' },
  { op: 'link', from: '/home/u/up.bin', to: '/home/u/up.lnk' },
  { op: 'remove', path: '/home/u/up.lnk' },
  { op: 'mkdir', path: '/home/u/d' },
  { op: 'rmdir', path: '/home/u/d' },
  { op: 'setstat', path: '/home/u/dl.txt' },
  { op: 'symlink', from: '/home/u/dl.txt', to: '/home/u/dl.sym' },
  { op: 'readlink', path: '/home/u/dl.sym' },
  { op: 'extended', name: 'statvfs@openssh.com', path: '/home/u' },
  { op: 'extended', name: 'limits@openssh.com' },
  { op: 'extended', name: 'expand-path@openssh.com', path: '~/x' },
  { op: 'extended', name: 'home-directory', path: '~' },
  { op: 'open', path: '/home/u/log', mode: 'write', create: true, truncate: false, append: true },
  { op: 'extended', name: 'fsync@openssh.com', path: '/home/u/log' },
  { op: 'close', path: '/home/u/log', bytesRead: 0, bytesWritten: 5 },
  { op: 'extended', name: 'vendor-thing@example.com', path: '/some/where' },
  { op: 'extended', name: 'users-groups-by-id@openssh.com' },
];

describe('SftpMonitor: a read-write session', () => {
  it('forwards every byte unchanged and reports each operation', () => {
    const r = drive(golden, packetCuts(golden));
    expect(r.toServer.equals(streamOf(golden, 'c'))).toBe(true);
    expect(r.toClient.equals(streamOf(golden, 's'))).toBe(true);
    expect(r.replies.length).toBe(0);
    expect(r.events).toEqual(goldenEvents);
    expect(r.mon.clientVersion).toBe(3);
    expect(r.mon.serverVersion).toBe(3);
  });

  it('gives the same bytes and events however the streams are split', () => {
    expectSplitInvariant(golden);
  });

  it('forwards several packets of one chunk as one slice of it', () => {
    const events: SftpEvent[] = [];
    const mon = new SftpMonitor({ readOnly: false }, (e) => events.push(e));
    const input = Buffer.concat([C.init(3), C.realpath(1, '.'), C.stat(2, '/a'), C.lstat(3, '/b')]);
    const out = mon.fromClient(input).toServer;
    expect(out).toHaveLength(1);
    expect(out[0]).toBe(input);
    expect(events.map((e) => e.op)).toEqual(['realpath', 'stat', 'stat']);
  });
});

describe('SftpMonitor: handles and byte counts', () => {
  const setup = (): { mon: SftpMonitor; events: SftpEvent[] } => {
    const events: SftpEvent[] = [];
    const mon = new SftpMonitor({ readOnly: false }, (e) => events.push(e));
    mon.fromClient(C.init(3));
    mon.fromServer(S.version(3));
    return { mon, events };
  };

  it('binds the handle from the HANDLE reply and counts WRITE data and DATA replies', () => {
    const { mon, events } = setup();
    mon.fromClient(C.open(1, '/srv/f', F.READ | F.WRITE));
    expect(events).toEqual([{ op: 'open', path: '/srv/f', mode: 'readwrite', create: false, truncate: false, append: false }]);
    mon.fromServer(S.handle(1, 'fh'));
    mon.fromClient(Buffer.concat([C.write(2, 'fh', 0, Buffer.alloc(4000)), C.write(3, 'fh', 4000, Buffer.alloc(96))]));
    mon.fromServer(Buffer.concat([S.status(2), S.status(3)]));
    mon.fromClient(Buffer.concat([C.read(4, 'fh', 0, 3000), C.read(5, 'fh', 3000, 3000)]));
    mon.fromServer(Buffer.concat([S.data(4, Buffer.alloc(3000)), S.data(5, Buffer.alloc(1096))]));
    // a WRITE and a READ on a handle nobody opened count for nothing
    mon.fromClient(Buffer.concat([C.write(6, 'zz', 0, 'x'), C.read(7, 'zz', 0, 10)]));
    mon.fromServer(Buffer.concat([S.status(6, 4, 'bad handle'), S.data(7, 'yyyy')]));
    mon.fromClient(C.close(8, 'fh'));
    expect(events.at(-1)).toEqual({ op: 'close', path: '/srv/f', bytesRead: 4096, bytesWritten: 4096 });
    // the handle is forgotten: a second CLOSE reports nothing
    mon.fromClient(C.close(9, 'fh'));
    expect(events).toHaveLength(2);
  });

  it('an OPEN refused by the server binds nothing', () => {
    const { mon, events } = setup();
    mon.fromClient(C.open(1, '/srv/nope', F.READ));
    mon.fromServer(S.status(1, 2, 'No such file'));
    mon.fromClient(C.close(2, 'fh'));
    mon.fromServer(S.handle(1, 'fh')); // a late HANDLE for an answered id is ignored
    mon.fromClient(C.close(3, 'fh'));
    expect(events.map((e) => e.op)).toEqual(['open']);
  });

  it('waits for the READs still in flight before reporting a CLOSE', () => {
    const { mon, events } = setup();
    mon.fromClient(C.open(1, '/srv/big', F.READ));
    mon.fromServer(S.handle(1, 'h'));
    mon.fromClient(Buffer.concat([C.read(2, 'h', 0, 100), C.read(3, 'h', 100, 100), C.close(4, 'h')]));
    expect(events.map((e) => e.op)).toEqual(['open']);
    mon.fromServer(S.data(2, Buffer.alloc(100)));
    expect(events.map((e) => e.op)).toEqual(['open']);
    mon.fromServer(Buffer.concat([S.data(3, Buffer.alloc(40)), S.status(4)]));
    expect(events.at(-1)).toEqual({ op: 'close', path: '/srv/big', bytesRead: 140, bytesWritten: 0 });
    expect(events).toHaveLength(2);
  });

  it('keeps counts apart when a closed handle string is reused while a READ is in flight', () => {
    const { mon, events } = setup();
    mon.fromClient(C.open(1, '/a', F.READ));
    mon.fromServer(S.handle(1, 'h'));
    mon.fromClient(Buffer.concat([C.read(2, 'h', 0, 10), C.close(3, 'h'), C.open(4, '/b', F.WRITE)]));
    mon.fromServer(S.handle(4, 'h')); // out of order: the server answered the OPEN first
    mon.fromClient(C.write(5, 'h', 0, 'abc'));
    mon.fromServer(S.data(2, '0123456789'));
    mon.fromClient(C.close(6, 'h'));
    expect(events.filter((e) => e.op === 'close')).toEqual([
      { op: 'close', path: '/a', bytesRead: 10, bytesWritten: 0 },
      { op: 'close', path: '/b', bytesRead: 0, bytesWritten: 3 },
    ]);
  });

  it('end() reports the files still open, then refuses further use', () => {
    const { mon, events } = setup();
    mon.fromClient(C.open(1, '/up', F.WRITE | F.CREAT));
    mon.fromServer(S.handle(1, 'w'));
    mon.fromClient(C.write(2, 'w', 0, Buffer.alloc(10)));
    mon.fromClient(C.opendir(3, '/'));
    mon.fromServer(S.handle(3, 'd'));
    mon.fromClient(C.open(4, '/down', F.READ));
    mon.fromServer(S.handle(4, 'r'));
    mon.fromClient(Buffer.concat([C.read(5, 'r', 0, 10), C.close(6, 'r')]));
    mon.end();
    expect(events.filter((e) => e.op === 'close')).toEqual([
      { op: 'close', path: '/down', bytesRead: 0, bytesWritten: 0 },
      { op: 'close', path: '/up', bytesRead: 0, bytesWritten: 10 },
    ]);
    mon.end();
    expect(events.filter((e) => e.op === 'close')).toHaveLength(2);
    expect(() => mon.fromClient(C.stat(7, '/'))).toThrow(SftpError);
  });

  it('reports paths that are not UTF-8 with replacement characters', () => {
    const { mon, events } = setup();
    mon.fromClient(C.stat(1, Buffer.from([0x2f, 0xff, 0x61])));
    expect(events).toEqual([{ op: 'stat', path: '/\ufffda' }]);
  });

  it('reports unknown extensions, with a path when the payload starts with a string', () => {
    const { mon, events } = setup();
    const input = Buffer.concat([C.ext(1, 'x@example.com', str('/p')), C.ext(2, 'y@example.com', u32(99)), C.ext(3, 'z@example.com')]);
    expect(mon.fromClient(input).toServer).toEqual([input]);
    expect(events).toEqual([
      { op: 'extended', name: 'x@example.com', path: '/p' },
      { op: 'extended', name: 'y@example.com' },
      { op: 'extended', name: 'z@example.com' },
    ]);
  });

  it('copy-data is reported with the handle it writes to', () => {
    const { mon, events } = setup();
    mon.fromClient(Buffer.concat([C.open(1, '/src', F.READ), C.open(2, '/dst', F.WRITE | F.CREAT)]));
    mon.fromServer(Buffer.concat([S.handle(1, 'r'), S.handle(2, 'w')]));
    mon.fromClient(C.ext(3, 'copy-data', str('r'), u64(0), u64(0), str('w'), u64(0)));
    expect(events.at(-1)).toEqual({ op: 'extended', name: 'copy-data', path: '/dst' });
  });
});

describe('SftpMonitor: versions and limits', () => {
  it('forwards an INIT asking for a version above 3 as version 3, extensions untouched', () => {
    const mon = new SftpMonitor({ readOnly: false }, () => {});
    const out = mon.fromClient(C.init(6, ['vendor-id', 'x']));
    expect(Buffer.concat(out.toServer).equals(C.init(3, ['vendor-id', 'x']))).toBe(true);
    expect(mon.clientVersion).toBe(6);
  });

  it('records a server version other than 3 and keeps parsing version 3 layouts', () => {
    const events: SftpEvent[] = [];
    const mon = new SftpMonitor({ readOnly: false }, (e) => events.push(e));
    mon.fromClient(C.init(3));
    const v = S.version(5);
    expect(mon.fromServer(v)).toEqual([v]);
    expect(mon.serverVersion).toBe(5);
    mon.fromClient(C.open(1, '/f', F.READ));
    expect(events).toHaveLength(1);
  });

  it('lowers a limits@openssh.com reply above maxPacket, or unlimited, and leaves OpenSSH’s alone', () => {
    const mon = new SftpMonitor({ readOnly: false }, () => {});
    mon.fromClient(Buffer.concat([C.ext(1, 'limits@openssh.com'), C.ext(2, 'limits@openssh.com')]));
    const openssh = S.extReply(1, u64(262144), u64(261120), u64(261120), u64(1019));
    expect(mon.fromServer(openssh)[0]).toBe(openssh);
    const out = mon.fromServer(S.extReply(2, u64(0), u64(1 << 22), u64(0), u64(0)));
    const max = SFTP_DEFAULT_MAX_PACKET;
    expect(Buffer.concat(out).equals(S.extReply(2, u64(max), u64(max - 1024), u64(max - 1024), u64(0)))).toBe(true);
    // an EXTENDED_REPLY to an id not asking for limits is not touched
    const other = S.extReply(3, u64(0), u64(0), u64(0), u64(0));
    expect(mon.fromServer(other)[0]).toBe(other);
  });
});

// ---- read-only

const RO: SftpPolicy = { readOnly: true };
const R = Buffer.from('R');

/** [step, refused?] */
const roScript: [Step, boolean][] = [
  [['c', C.init(3)], false],
  [['s', S.version(3)], false],
  [['c', C.open(1, '/etc/passwd', F.READ)], false],
  [['s', S.handle(1, R)], false],
  [['c', C.read(2, R, 0, 4096)], false],
  [['s', S.data(2, Buffer.alloc(100, 0x78))], false],
  [['c', C.open(3, '/tmp/x', F.WRITE | F.CREAT | F.TRUNC)], true],
  [['c', C.write(4, R, 0, 'zz')], true],
  [['c', C.remove(5, '/etc/passwd')], true],
  [['c', C.rename(6, '/a', '/b')], true],
  [['c', C.mkdir(7, '/d')], true],
  [['c', C.rmdir(8, '/d')], true],
  [['c', C.setstat(9, '/etc/passwd')], true],
  [['c', C.fsetstat(10, R)], true],
  [['c', C.symlink(11, '/etc/passwd', '/tmp/l')], true],
  [['c', C.ext(12, 'posix-rename@openssh.com', str('/a'), str('/b'))], true],
  [['c', C.ext(13, 'hardlink@openssh.com', str('/a'), str('/b'))], true],
  [['c', C.ext(14, 'fsync@openssh.com', str(R))], true],
  [['c', C.ext(15, 'lsetstat@openssh.com', str('/a'), SOME_ATTRS)], true],
  [['c', C.ext(16, 'copy-data', str(R), u64(0), u64(0), str(R), u64(0))], true],
  [['c', C.ext(17, 'foo@example.com', str('/a'))], true],
  [['c', C.open(18, '/tmp/y', F.CREAT)], true],
  [['c', C.open(19, '/etc/hosts', F.READ | F.APPEND)], true],
  [['c', C.open(20, '/etc/hosts', F.READ | F.EXCL)], true],
  [['c', packet(21, u32(21), str('/a'), str('/b'))], true], // SSH_FXP_LINK of version 6: not version 3
  [['c', C.stat(22, '/etc')], false],
  [['s', S.attrs(22)], false],
  [['c', C.ext(23, 'statvfs@openssh.com', str('/'))], false],
  [['s', S.extReply(23, ...Array.from({ length: 11 }, () => u64(1)))], false],
  [['c', C.ext(24, 'limits@openssh.com')], false],
  [['s', S.extReply(24, u64(262144), u64(261120), u64(261120), u64(0))], false],
  [['c', C.opendir(25, '/etc')], false],
  [['s', S.handle(25, 'D')], false],
  [['c', C.readdir(26, 'D')], false],
  [['s', S.name(26, 'passwd')], false],
  [['c', C.close(27, 'D')], false],
  [['s', S.status(27)], false],
  [['c', C.close(28, R)], false],
  [['s', S.status(28)], false],
];
const roSteps = roScript.map(([s]) => s);
const roDeniedIds = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21];

describe('SftpMonitor: read-only policy', () => {
  it('answers each write request with PERMISSION_DENIED, forwards nothing of it, and lets reads through', () => {
    const r = drive(roSteps, packetCuts(roSteps), RO);
    const forwarded = Buffer.concat(roScript.filter(([s, refused]) => s[0] === 'c' && !refused).map(([s]) => s[1]));
    expect(r.toServer.equals(forwarded)).toBe(true);
    expect(r.toClient.equals(streamOf(roSteps, 's'))).toBe(true);
    expect(r.replies.equals(Buffer.concat(roDeniedIds.map(denied)))).toBe(true);
    expect(r.events).toEqual([
      { op: 'open', path: '/etc/passwd', mode: 'read', create: false, truncate: false, append: false },
      { op: 'denied', request: 'open', path: '/tmp/x', reason: 'read-only policy: open WRITE|CREAT|TRUNC' },
      { op: 'denied', request: 'write', path: '/etc/passwd', reason: 'read-only policy' },
      { op: 'denied', request: 'remove', path: '/etc/passwd', reason: 'read-only policy' },
      { op: 'denied', request: 'rename', path: '/a', reason: 'read-only policy' },
      { op: 'denied', request: 'mkdir', path: '/d', reason: 'read-only policy' },
      { op: 'denied', request: 'rmdir', path: '/d', reason: 'read-only policy' },
      { op: 'denied', request: 'setstat', path: '/etc/passwd', reason: 'read-only policy' },
      { op: 'denied', request: 'fsetstat', path: '/etc/passwd', reason: 'read-only policy' },
      { op: 'denied', request: 'symlink', path: '/etc/passwd', reason: 'read-only policy' },
      { op: 'denied', request: 'posix-rename@openssh.com', path: '/a', reason: 'read-only policy' },
      { op: 'denied', request: 'hardlink@openssh.com', path: '/a', reason: 'read-only policy' },
      { op: 'denied', request: 'fsync@openssh.com', path: '/etc/passwd', reason: 'read-only policy' },
      { op: 'denied', request: 'lsetstat@openssh.com', path: '/a', reason: 'read-only policy' },
      { op: 'denied', request: 'copy-data', path: '/etc/passwd', reason: 'read-only policy' },
      { op: 'denied', request: 'foo@example.com', path: '/a', reason: 'read-only policy: extension not known to be read-only' },
      { op: 'denied', request: 'open', path: '/tmp/y', reason: 'read-only policy: open CREAT' },
      { op: 'denied', request: 'open', path: '/etc/hosts', reason: 'read-only policy: open READ|APPEND' },
      { op: 'denied', request: 'open', path: '/etc/hosts', reason: 'read-only policy: open READ|EXCL' },
      { op: 'denied', request: 'type 21', reason: 'read-only policy: unexpected packet type 21' },
      { op: 'stat', path: '/etc' },
      { op: 'extended', name: 'statvfs@openssh.com', path: '/' },
      { op: 'extended', name: 'limits@openssh.com' },
      { op: 'opendir', path: '/etc' },
      { op: 'close', path: '/etc/passwd', bytesRead: 100, bytesWritten: 0 },
    ]);
  });

  it('sends exactly one STATUS packet per refusal, with the request id', () => {
    const mon = new SftpMonitor(RO, () => {});
    const r = mon.fromClient(C.remove(0xfffffffe, '/x'));
    expect(r.toServer).toEqual([]);
    expect(r.toClient).toHaveLength(1);
    const expected = Buffer.concat([
      u32(1 + 4 + 4 + 4 + READ_ONLY_MSG.length + 4), // the length field does not count itself
      Buffer.from([101]),
      Buffer.from([0xff, 0xff, 0xff, 0xfe]),
      u32(3),
      str(READ_ONLY_MSG),
      u32(0),
    ]);
    expect(r.toClient[0]!.equals(expected)).toBe(true);
  });

  it('keeps the packets around a refusal as slices of the input', () => {
    const mon = new SftpMonitor(RO, () => {});
    const a = C.stat(1, '/a');
    const b = C.stat(3, '/b');
    const input = Buffer.concat([a, C.mkdir(2, '/d'), b]);
    const r = mon.fromClient(input);
    expect(r.toServer).toHaveLength(2);
    expect(r.toServer[0]!.equals(a) && r.toServer[1]!.equals(b)).toBe(true);
    expect(r.toServer.every((x) => x.buffer === input.buffer)).toBe(true);
    expect(Buffer.concat(r.toClient).equals(denied(2))).toBe(true);
  });

  it('gives the same bytes and events however the streams are split', () => {
    expectSplitInvariant(roSteps, RO);
  });
});

// ---- zero copy

describe('SftpMonitor: zero copy', () => {
  const ready = (): SftpMonitor => {
    const mon = new SftpMonitor({ readOnly: false }, () => {});
    mon.fromClient(Buffer.concat([C.init(3), C.open(1, '/f', F.READ | F.WRITE)]));
    mon.fromServer(Buffer.concat([S.version(3), S.handle(1, 'h')]));
    return mon;
  };
  const own = (b: Buffer): Buffer => {
    const copy = Buffer.alloc(b.length); // an ArrayBuffer of its own
    b.copy(copy);
    return copy;
  };

  it('forwards a 32 KiB WRITE as the input buffer itself', () => {
    const mon = ready();
    const input = own(C.write(2, 'h', 0, randomBytes(rng(1), 32768)));
    const out = mon.fromClient(input).toServer;
    expect(out).toHaveLength(1);
    expect(out[0]!.buffer === input.buffer).toBe(true);
    expect(out[0]!.byteOffset).toBe(input.byteOffset);
    expect(out[0]!.length).toBe(input.length);
  });

  it('forwards a WRITE that spans chunks as the pieces it arrived in', () => {
    const mon = ready();
    const w = C.write(2, 'h', 0, randomBytes(rng(2), 255 * 1024));
    const pieces = [own(w.subarray(0, 3)), own(w.subarray(3, 32768)), own(w.subarray(32768, 65536)), own(w.subarray(65536))];
    const out: Buffer[] = [];
    // only the packet's first KiB is copied, to parse its header
    const allocs = [vi.spyOn(Buffer, 'allocUnsafe'), vi.spyOn(Buffer, 'alloc'), vi.spyOn(Buffer, 'concat')];
    try {
      for (const p of pieces) out.push(...mon.fromClient(p).toServer);
      const sizes = allocs.flatMap((spy) => spy.mock.calls.map((c) => (typeof c[0] === 'number' ? c[0] : Number(c[1] ?? 0))));
      expect(Math.max(0, ...sizes)).toBeLessThanOrEqual(1024);
    } finally {
      for (const spy of allocs) spy.mockRestore();
    }
    expect(out).toHaveLength(4);
    out.forEach((b, i) => expect(b.buffer === pieces[i]!.buffer).toBe(true));
    expect(Buffer.concat(out).equals(w)).toBe(true);
  });

  it('forwards a 32 KiB DATA reply as the input buffer itself, and counts it', () => {
    const events: SftpEvent[] = [];
    const mon = new SftpMonitor({ readOnly: false }, (e) => events.push(e));
    mon.fromClient(C.open(1, '/f', F.READ));
    mon.fromServer(S.handle(1, 'h'));
    mon.fromClient(C.read(2, 'h', 0, 32768));
    const input = own(S.data(2, randomBytes(rng(3), 32768)));
    const out = mon.fromServer(input);
    expect(out).toHaveLength(1);
    expect(out[0]!.buffer === input.buffer).toBe(true);
    mon.fromClient(C.close(3, 'h'));
    expect(events.at(-1)).toEqual({ op: 'close', path: '/f', bytesRead: 32768, bytesWritten: 0 });
  });

  it('parses a spanning WRITE with an oversized handle from the whole packet', () => {
    const events: SftpEvent[] = [];
    const mon = new SftpMonitor({ readOnly: false }, (e) => events.push(e));
    const handle = Buffer.alloc(3000, 0x68);
    mon.fromClient(C.open(1, '/f', F.WRITE));
    mon.fromServer(S.handle(1, handle));
    const w = C.write(2, handle, 0, Buffer.alloc(5000));
    const out = [...mon.fromClient(w.subarray(0, 2000)).toServer, ...mon.fromClient(w.subarray(2000)).toServer];
    expect(Buffer.concat(out).equals(w)).toBe(true);
    mon.fromClient(C.close(3, handle));
    expect(events.at(-1)).toEqual({ op: 'close', path: '/f', bytesRead: 0, bytesWritten: 5000 });
  });
});

// ---- malformed input

describe('SftpMonitor: malformed packets', () => {
  const fresh = (opts?: { maxPacket?: number }): SftpMonitor => new SftpMonitor({ readOnly: false }, () => {}, opts);
  const cases: [string, (m: SftpMonitor) => unknown, RegExp][] = [
    ['length below 5', (m) => m.fromClient(Buffer.concat([u32(4), Buffer.from([3, 0, 0, 0])])), /length 4, below the minimum of 5/],
    ['length 0 from the server', (m) => m.fromServer(u32(0)), /length 0, below the minimum/],
    ['length above the limit (header alone)', (m) => m.fromClient(u32(0x7fffffff)), /above the limit/],
    [
      'length above a custom limit',
      (m) => m.fromClient(C.write(1, 'h', 0, Buffer.alloc(40000))),
      /length \d+, above the limit of 40000/,
    ],
    ['a path running past the packet', (m) => m.fromClient(packet(3, u32(1), u32(50), Buffer.from('abc'), u32(1))), /filename length 50 runs past the end/],
    ['OPEN without pflags', (m) => m.fromClient(packet(3, u32(1), str('/abc'))), /OPEN from the client: truncated pflags/],
    ['WRITE data running past the packet', (m) => m.fromClient(packet(6, u32(1), str('h'), u64(0), u32(10), Buffer.from('abc'))), /data length 10 runs past/],
    ['READ without a length', (m) => m.fromClient(packet(5, u32(1), str('h'), u64(0))), /READ from the client: truncated len/],
    ['RENAME without a new path', (m) => m.fromClient(packet(18, u32(1), str('/a'))), /truncated newpath length/],
    ['EXTENDED without a name', (m) => m.fromClient(packet(200, u32(1))), /truncated extension name length/],
    ['posix-rename without paths', (m) => m.fromClient(C.ext(1, 'posix-rename@openssh.com', str('/a'))), /truncated newpath/],
  ];
  for (const [what, act, msg] of cases) {
    it(`throws SftpError for ${what}`, () => {
      const m = fresh(what.includes('custom') ? { maxPacket: 40000 } : undefined);
      expect(() => act(m)).toThrow(SftpError);
      expect(() => act(fresh(what.includes('custom') ? { maxPacket: 40000 } : undefined))).toThrow(msg);
    });
  }

  it('throws SftpError for malformed replies to tracked requests', () => {
    const m1 = fresh();
    m1.fromClient(C.open(1, '/f', F.READ));
    expect(() => m1.fromServer(packet(102, u32(1), u32(8), Buffer.from('ab')))).toThrow(/HANDLE from the server: handle length 8 runs past/);
    const m2 = fresh();
    m2.fromClient(C.open(1, '/f', F.READ));
    m2.fromServer(S.handle(1, 'h'));
    m2.fromClient(C.read(2, 'h', 0, 10));
    expect(() => m2.fromServer(packet(103, u32(2), u32(11), Buffer.alloc(10)))).toThrow(SftpError);
    const m3 = fresh();
    m3.fromClient(C.ext(1, 'limits@openssh.com'));
    expect(() => m3.fromServer(S.extReply(1, u64(1), u64(1)))).toThrow(/truncated max-write-length/);
  });

  it('fails closed: after an error every call throws SftpError', () => {
    const m = fresh();
    expect(m.fromClient(Buffer.from([0, 0]))).toEqual({ toServer: [], toClient: [] }); // half a length field
    expect(() => m.fromClient(Buffer.from([0, 1]))).toThrow(/length 1, below the minimum/);
    expect(() => m.fromClient(C.stat(1, '/'))).toThrow(/already failed/);
    expect(() => m.fromServer(S.status(1))).toThrow(/already failed/);
  });

  it('turns an exception from the event handler into an SftpError', () => {
    const m = new SftpMonitor({ readOnly: false }, () => {
      throw new TypeError('boom');
    });
    expect(() => m.fromClient(C.stat(1, '/'))).toThrow(/event handler failed: boom/);
    expect(() => m.fromClient(C.stat(2, '/'))).toThrow(SftpError);
  });

  it('rejects a nonsensical maxPacket', () => {
    expect(() => new SftpMonitor({ readOnly: false }, () => {}, { maxPacket: 100 })).toThrow(SftpError);
  });

  it('accepts empty chunks', () => {
    const m = fresh();
    expect(m.fromClient(Buffer.alloc(0))).toEqual({ toServer: [], toClient: [] });
    expect(m.fromServer(Buffer.alloc(0))).toEqual([]);
  });

  it('2,000 random mutations of a session never throw anything but SftpError', () => {
    const r = rng(12345);
    const started = Date.now();
    let failures = 0;
    for (let t = 0; t < 2000; t++) {
      const script: Step[] = (t % 2 ? golden : roSteps).map(([d, b]) => [d, Buffer.from(b)]);
      const mutations = 1 + Math.floor(r() * 3);
      for (let m = 0; m < mutations; m++) {
        const i = Math.floor(r() * script.length);
        const [d, b] = script[i]!;
        const at = Math.floor(r() * b.length);
        switch (Math.floor(r() * 6)) {
          case 0: // flip a bit
            b[at] = b[at]! ^ (1 << Math.floor(r() * 8));
            break;
          case 1: // a random byte, often in the header
            b[Math.min(at, Math.floor(r() * 14))] = Math.floor(r() * 256);
            break;
          case 2: // truncate
            script[i] = [d, b.subarray(0, at)];
            break;
          case 3: // insert junk
            script[i] = [d, Buffer.concat([b.subarray(0, at), randomBytes(r, 1 + Math.floor(r() * 8)), b.subarray(at)])];
            break;
          case 4: // a length field (of the packet or of a string) set to something odd
            if (b.length >= 4) {
              const odd = [0, 1, 4, 5, 0xffffffff, 0x7fffffff, Math.floor(r() * 2 ** 32)][Math.floor(r() * 7)]!;
              b.writeUInt32BE(odd, r() < 0.3 ? 0 : Math.min(at, b.length - 4));
            }
            break;
          default: // a step moved to the other side
            script[i] = [d === 'c' ? 's' : 'c', b];
        }
      }
      const cuts = (len: number): number[] => Array.from({ length: len }, (_, k) => k + 1).filter(() => r() < 0.1);
      try {
        const policy = t % 2 ? { readOnly: false } : RO;
        drive(script, { c: cuts(streamOf(script, 'c').length), s: cuts(streamOf(script, 's').length) }, policy, undefined, false);
      } catch (err) {
        if (!(err instanceof SftpError)) throw err;
        failures++;
      }
    }
    expect(failures).toBeGreaterThan(100);
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 30_000);
});

// ---- pass-through of a long random session

describe('SftpMonitor: long random session', () => {
  it('is byte-identical in both directions, copies nothing, and counts every byte', () => {
    const r = rng(99);
    const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
    const script: Step[] = [
      ['c', C.init(3)],
      ['s', S.version(3, ['posix-rename@openssh.com', '1'])],
    ];
    let id = 1;
    let written = 0;
    let read = 0;
    let opens = 0;
    const closes: { path: string; bytesRead: number; bytesWritten: number }[] = [];
    for (let op = 0; op < 400; op++) {
      const path = Buffer.concat([Buffer.from('/data/'), randomBytes(r, 1 + Math.floor(r() * 40))]);
      const handle = randomBytes(r, 1 + Math.floor(r() * 256));
      const kind = pick(['upload', 'download', 'meta', 'meta', 'ext']);
      if (kind === 'upload' || kind === 'download') {
        opens++;
        const up = kind === 'upload';
        script.push(['c', C.open(id, path, up ? F.WRITE | F.CREAT | F.TRUNC : F.READ)], ['s', S.handle(id++, handle)]);
        let bytes = 0;
        const n = Math.floor(r() * 5);
        for (let k = 0; k < n; k++) {
          const size = pick([0, 1, 100, 1023, 1024, 1025, 4096, 32768, 65536, Math.floor(r() * 70000)]);
          const data = randomBytes(r, size);
          if (up) script.push(['c', C.write(id, handle, bytes, data)], ['s', S.status(id++)]);
          else script.push(['c', C.read(id, handle, bytes, size)], ['s', S.data(id++, data)]);
          bytes += size;
        }
        script.push(['c', C.close(id, handle)], ['s', S.status(id++)]);
        if (up) written += bytes;
        else read += bytes;
        closes.push({ path: path.toString('utf8'), bytesRead: up ? 0 : bytes, bytesWritten: up ? bytes : 0 });
      } else if (kind === 'meta') {
        const req = pick([C.stat, C.lstat, C.realpath, C.readlink, C.remove, C.mkdir, C.rmdir, C.setstat]);
        script.push(['c', req(id, path)], ['s', pick([S.status(id, 2, 'nope'), S.attrs(id), S.name(id, 'x')])]);
        id++;
      } else {
        script.push(['c', C.ext(id, pick(['posix-rename@openssh.com', 'x@example.com']), str(path), str(path))], ['s', S.status(id++)]);
      }
    }
    const client = streamOf(script, 'c');
    const server = streamOf(script, 's');
    expect(client.length).toBeGreaterThan(1 << 20);
    const cuts = (len: number): number[] => {
      const out: number[] = [];
      for (let at = 0; at < len; ) out.push((at += 1 + Math.floor(r() * pick([16, 1000, 40000]))));
      return out;
    };
    const run = drive(script, { c: cuts(client.length), s: cuts(server.length) });
    expect(run.toServer.equals(client)).toBe(true);
    expect(run.toClient.equals(server)).toBe(true);
    expect(run.replies.length).toBe(0);
    // everything forwarded is a slice of the bytes fed in: no copies
    const inputs = new Set<ArrayBufferLike>(run.inputs.map((b) => b.buffer));
    expect(run.forwarded.length).toBeGreaterThan(100);
    expect(run.forwarded.every((b) => inputs.has(b.buffer))).toBe(true);
    expect(run.events.filter((e) => e.op === 'open')).toHaveLength(opens);
    expect(run.events.filter((e) => e.op === 'close')).toEqual(closes.map((c) => ({ op: 'close', ...c })));
    expect(closes.reduce((s, c) => s + c.bytesWritten, 0)).toBe(written);
    expect(closes.reduce((s, c) => s + c.bytesRead, 0)).toBe(read);
  }, 30_000);
});
