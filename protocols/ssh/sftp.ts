// SFTP monitor for the SSH gateway's `sftp` subsystem (scp too, since OpenSSH 9 runs it over SFTP).
//
// Speaks version 3 of the file transfer protocol (draft-ietf-secsh-filexfer-02, what OpenSSH implements)
// plus OpenSSH's extensions (its PROTOCOL file, section 4). It sits between the client's channel and the
// target's: it frames both byte streams into packets (uint32 length · byte type · payload), reads only the
// header fields it needs, records the operations for the audit, enforces the read-only policy, and forwards
// the original bytes as slices of the chunks that arrived — it never copies file data. A packet that spans
// chunks is forwarded as the pieces it arrived in; only the parser gets a contiguous copy, and for WRITE and
// DATA (the only big packets) that copy is the first KiB.
//
// Bookkeeping: requests are matched to replies by id. OPEN/OPENDIR remember the path until the server's
// HANDLE binds handle → path; WRITE counts the data it carries, READ counts the DATA that answers it; CLOSE
// reports the counts once the reads still in flight on that handle are answered.
//
// Anything malformed (bad length, truncated field, string running past its packet) throws SftpError and the
// monitor stays failed: every later call throws too. The caller closes the channel.

/** Thrown for malformed SFTP traffic and for any use of a failed monitor; nothing else is thrown. */
export class SftpError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SftpError';
  }
}

export type SftpEvent =
  | { op: 'open'; path: string; mode: 'read' | 'write' | 'readwrite'; create: boolean; truncate: boolean; append: boolean }
  | { op: 'close'; path: string; bytesRead: number; bytesWritten: number }
  | { op: 'remove' | 'mkdir' | 'rmdir' | 'opendir' | 'setstat' | 'readlink' | 'realpath' | 'stat'; path: string }
  | { op: 'rename' | 'symlink' | 'link'; from: string; to: string }
  | { op: 'denied'; request: string; path?: string; reason: string }
  | { op: 'extended'; name: string; path?: string };

export interface SftpPolicy {
  readOnly: boolean;
}

/** Text of the SSH_FX_PERMISSION_DENIED status sent back for a request refused by the read-only policy. */
export const SFTP_READ_ONLY_MESSAGE = 'portcullis: read-only SFTP on this connection';

/**
 * Default cap on a packet's length field. OpenSSH's client and server never exceed 256 KiB
 * (SFTP_MAX_MSG_LENGTH); the rest is headroom for other implementations.
 */
export const SFTP_DEFAULT_MAX_PACKET = 256 * 1024 + 4096;

// Packet types (draft-02 section 3).
const INIT = 1;
const VERSION = 2;
const OPEN = 3;
const CLOSE = 4;
const READ = 5;
const WRITE = 6;
const LSTAT = 7;
const FSTAT = 8;
const SETSTAT = 9;
const FSETSTAT = 10;
const OPENDIR = 11;
const READDIR = 12;
const REMOVE = 13;
const MKDIR = 14;
const RMDIR = 15;
const REALPATH = 16;
const STAT = 17;
const RENAME = 18;
const READLINK = 19;
const SYMLINK = 20;
const STATUS = 101;
const HANDLE = 102;
const DATA = 103;
const NAME = 104;
const ATTRS = 105;
const EXTENDED = 200;
const EXTENDED_REPLY = 201;

const TYPE_NAMES: Record<number, string> = {
  [INIT]: 'INIT', [VERSION]: 'VERSION', [OPEN]: 'OPEN', [CLOSE]: 'CLOSE', [READ]: 'READ', [WRITE]: 'WRITE',
  [LSTAT]: 'LSTAT', [FSTAT]: 'FSTAT', [SETSTAT]: 'SETSTAT', [FSETSTAT]: 'FSETSTAT', [OPENDIR]: 'OPENDIR',
  [READDIR]: 'READDIR', [REMOVE]: 'REMOVE', [MKDIR]: 'MKDIR', [RMDIR]: 'RMDIR', [REALPATH]: 'REALPATH',
  [STAT]: 'STAT', [RENAME]: 'RENAME', [READLINK]: 'READLINK', [SYMLINK]: 'SYMLINK', [STATUS]: 'STATUS',
  [HANDLE]: 'HANDLE', [DATA]: 'DATA', [NAME]: 'NAME', [ATTRS]: 'ATTRS', [EXTENDED]: 'EXTENDED',
  [EXTENDED_REPLY]: 'EXTENDED_REPLY',
};

// SSH_FXP_OPEN pflags.
const FXF_READ = 0x01;
const FXF_WRITE = 0x02;
const FXF_APPEND = 0x04;
const FXF_CREAT = 0x08;
const FXF_TRUNC = 0x10;
const FXF_EXCL = 0x20;
const FLAG_NAMES: [number, string][] = [
  [FXF_READ, 'READ'], [FXF_WRITE, 'WRITE'], [FXF_APPEND, 'APPEND'], [FXF_CREAT, 'CREAT'], [FXF_TRUNC, 'TRUNC'], [FXF_EXCL, 'EXCL'],
];

const FX_PERMISSION_DENIED = 3;

/** Extension requests that change nothing on the server: the only ones forwarded under the read-only policy. */
const READ_ONLY_EXTENSIONS = new Set([
  'statvfs@openssh.com',
  'fstatvfs@openssh.com',
  'limits@openssh.com',
  'expand-path@openssh.com',
  'home-directory',
  'users-groups-by-id@openssh.com',
]);
/** Extensions that change the server besides posix-rename and hardlink (handled like RENAME). */
const KNOWN_WRITES = new Set(['fsync@openssh.com', 'lsetstat@openssh.com', 'copy-data']);

/** Big WRITE (client) and DATA (server) packets spanning chunks are parsed from a copy of this many bytes. */
const PREFIX = 1024;
/** Bounds on the bookkeeping; far above what a client needs (OpenSSH keeps 64 requests in flight). */
const MAX_PENDING = 65536;
const MAX_HANDLES = 65536;

type Mode = 'read' | 'write' | 'readwrite';

interface HandleState {
  path: string;
  mode: Mode;
  kind: 'file' | 'dir';
  bytesRead: number;
  bytesWritten: number;
  /** READ requests on this handle not answered yet */
  inflight: number;
  /** CLOSE was sent: the 'close' event goes out when inflight reaches 0 */
  closing: boolean;
}

type Pending =
  | { k: 'open'; path: string; mode: Mode; kind: 'file' | 'dir' }
  | { k: 'read'; h: HandleState }
  | { k: 'limits' };

/** undefined: forward the packet as it arrived. */
type Decision = undefined | { reply: Buffer } | { replace: Buffer };

interface Part {
  buf: Buffer;
  start: number;
  end: number;
}

interface Sink {
  whole(buf: Buffer, start: number, end: number): void;
  spanning(parts: Part[], total: number): void;
}

/** Thrown by Cursor when a field lies beyond the bytes copied from a spanning packet; caught in this file. */
const INCOMPLETE = Symbol('incomplete');

/** Bounds-checked reads over one packet. `end` is where the packet ends, `avail` how much of it is in `buf`. */
class Cursor {
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  off = 0;
  end = 0;
  avail = 0;
  /** start of the last string read */
  s = 0;
  what = 'SFTP packet';

  reset(buf: Buffer, start: number, end: number, avail: number): this {
    this.buf = buf;
    this.start = start;
    this.off = start + 4;
    this.end = end;
    this.avail = avail;
    this.what = 'SFTP packet';
    return this;
  }

  remaining(): number {
    return this.end - this.off;
  }

  private need(n: number, field: string): void {
    if (n > this.end - this.off) throw new SftpError(`${this.what}: truncated ${field}`);
    if (n > this.avail - this.off) throw INCOMPLETE;
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.off++]!;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }

  /** As a number: exact below 2^53, which is all the comparisons here need. */
  u64(field: string): number {
    this.need(8, field);
    const v = this.buf.readUInt32BE(this.off) * 0x1_0000_0000 + this.buf.readUInt32BE(this.off + 4);
    this.off += 8;
    return v;
  }

  skip(n: number, field: string): void {
    if (n > this.end - this.off) throw new SftpError(`${this.what}: truncated ${field}`);
    this.off += n;
  }

  /** Reads a string's length and steps over its bytes (which need not be in `buf`); its start is in `s`. */
  str(field: string): number {
    const n = this.u32(`${field} length`);
    if (n > this.end - this.off) {
      throw new SftpError(`${this.what}: ${field} length ${n} runs past the end of the packet`);
    }
    this.s = this.off;
    this.off += n;
    return n;
  }

  /** A string decoded as UTF-8 (paths are bytes; invalid sequences become U+FFFD). */
  text(field: string): string {
    const n = this.str(field);
    if (this.s + n > this.avail) throw INCOMPLETE;
    return this.buf.toString('utf8', this.s, this.s + n);
  }

  /** A string as a map key, byte for byte (handles). */
  key(field: string): string {
    const n = this.str(field);
    if (this.s + n > this.avail) throw INCOMPLETE;
    return this.buf.toString('latin1', this.s, this.s + n);
  }

  /** Whether the rest of the packet starts with a complete string. */
  startsWithString(): boolean {
    const left = this.end - this.off;
    return left >= 4 && this.avail - this.off >= 4 && this.buf.readUInt32BE(this.off) <= left - 4;
  }
}

/** Splits one direction's byte stream into packets, keeping only an incomplete packet's pieces. */
class Deframer {
  private parts: Part[] = [];
  private have = 0;
  /** size of the packet being assembled, length field included; 0 while the length field is incomplete */
  private need = 0;

  constructor(
    private readonly max: number,
    private readonly side: string,
  ) {}

  buffered(): number {
    return this.have;
  }

  private total(length: number): number {
    if (length < 5) throw new SftpError(`SFTP packet from the ${this.side} has length ${length}, below the minimum of 5`);
    if (length > this.max) {
      throw new SftpError(`SFTP packet from the ${this.side} has length ${length}, above the limit of ${this.max}`);
    }
    return 4 + length;
  }

  push(chunk: Buffer, sink: Sink): void {
    const len = chunk.length;
    let off = 0;
    if (this.have > 0) {
      if (this.need === 0) {
        const take = Math.min(4 - this.have, len);
        if (take > 0) this.parts.push({ buf: chunk, start: 0, end: take });
        this.have += take;
        off = take;
        if (this.have < 4) return;
        this.need = this.total(gather(this.parts, 4).readUInt32BE(0));
      }
      const take = Math.min(this.need - this.have, len - off);
      if (take > 0) {
        this.parts.push({ buf: chunk, start: off, end: off + take });
        this.have += take;
        off += take;
      }
      if (this.have < this.need) return;
      const parts = this.parts;
      const total = this.need;
      this.parts = [];
      this.have = 0;
      this.need = 0;
      sink.spanning(parts, total);
    }
    while (len - off >= 4) {
      const total = this.total(chunk.readUInt32BE(off));
      if (len - off < total) {
        this.need = total;
        break;
      }
      sink.whole(chunk, off, off + total);
      off += total;
    }
    if (off < len) {
      this.parts = [{ buf: chunk, start: off, end: len }];
      this.have = len - off; // `need` is set above when the length field is complete, else still 0
    }
  }
}

/** Copy of the first n bytes held in parts. */
function gather(parts: Part[], n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let at = 0;
  for (const p of parts) {
    if (at >= n) break;
    const k = Math.min(p.end - p.start, n - at);
    p.buf.copy(out, at, p.start, p.start + k);
    at += k;
  }
  return out;
}

/** Output list that merges adjacent slices of the same chunk into one. */
class Out {
  list: Buffer[] = [];
  private buf: Buffer | null = null;
  private start = 0;
  private end = 0;

  add(buf: Buffer, start: number, end: number): void {
    if (this.buf === buf && this.end === start) {
      this.end = end;
      return;
    }
    this.flush();
    this.buf = buf;
    this.start = start;
    this.end = end;
  }

  push(b: Buffer): void {
    this.flush();
    this.list.push(b);
  }

  private flush(): void {
    const b = this.buf;
    if (b === null) return;
    this.list.push(this.start === 0 && this.end === b.length ? b : b.subarray(this.start, this.end));
    this.buf = null;
  }

  take(): Buffer[] {
    this.flush();
    const l = this.list;
    this.list = [];
    return l;
  }
}

function statusPacket(id: number, code: number, message: string): Buffer {
  const msg = Buffer.from(message, 'utf8');
  const b = Buffer.allocUnsafe(4 + 1 + 4 + 4 + 4 + msg.length + 4);
  b.writeUInt32BE(b.length - 4, 0);
  b[4] = STATUS;
  b.writeUInt32BE(id, 5);
  b.writeUInt32BE(code, 9);
  b.writeUInt32BE(msg.length, 13);
  msg.copy(b, 17);
  b.writeUInt32BE(0, 17 + msg.length); // language tag ""
  return b;
}

function describeFlags(pflags: number): string {
  const names: string[] = [];
  let rest = pflags >>> 0;
  for (const [bit, name] of FLAG_NAMES) {
    if (rest & bit) names.push(name);
    rest &= ~bit;
  }
  if (rest !== 0) names.push(`0x${(rest >>> 0).toString(16)}`);
  return names.join('|') || '0';
}

function typeName(t: number): string {
  return TYPE_NAMES[t] ?? `type ${t}`;
}

const RO = 'read-only policy';

export class SftpMonitor {
  private readonly max: number;
  private readonly cur = new Cursor();
  private readonly fromClientFrames: Deframer;
  private readonly fromServerFrames: Deframer;
  private readonly toServer = new Out();
  private readonly toClient = new Out();
  private replies: Buffer[] = [];
  private readonly clientSink: Sink;
  private readonly serverSink: Sink;
  private readonly pending = new Map<number, Pending>();
  private readonly handles = new Map<string, HandleState>();
  /** closed file handles waiting for their last READ replies */
  private readonly draining = new Set<HandleState>();
  private failure: SftpError | null = null;
  private ended = false;
  private clientVer: number | undefined;
  private serverVer: number | undefined;

  constructor(
    private readonly policy: SftpPolicy,
    private readonly onEvent: (e: SftpEvent) => void,
    opts: { maxPacket?: number } = {},
  ) {
    const max = opts.maxPacket ?? SFTP_DEFAULT_MAX_PACKET;
    if (!Number.isInteger(max) || max < 34000 || max > 0xffffffff) {
      throw new SftpError(`maxPacket must be an integer from 34000 to 2^32-1, not ${max}`);
    }
    this.max = max;
    this.fromClientFrames = new Deframer(max, 'client');
    this.fromServerFrames = new Deframer(max, 'server');
    this.clientSink = {
      whole: (buf, start, end) => this.whole(true, buf, start, end),
      spanning: (parts, total) => this.spanning(true, parts, total),
    };
    this.serverSink = {
      whole: (buf, start, end) => this.whole(false, buf, start, end),
      spanning: (parts, total) => this.spanning(false, parts, total),
    };
  }

  /** Version in the client's INIT (as sent; see fromClient for versions above 3). */
  get clientVersion(): number | undefined {
    return this.clientVer;
  }

  /** Version in the server's VERSION. Parsing stays version 3 whatever it says. */
  get serverVersion(): number | undefined {
    return this.serverVer;
  }

  /** Bytes held back on each side waiting for the rest of a packet. */
  buffered(): { client: number; server: number } {
    return { client: this.fromClientFrames.buffered(), server: this.fromServerFrames.buffered() };
  }

  /**
   * Bytes from the client. Returns what to forward to the server (slices of the chunks passed in, whole
   * packets only) and what to answer the client directly (refusals; whole packets, safe to write between
   * the packets fromServer returns). An INIT asking for a version above 3 is forwarded as version 3, so
   * that both ends speak the only version parsed here.
   */
  fromClient(chunk: Buffer): { toServer: Buffer[]; toClient: Buffer[] } {
    this.check();
    try {
      this.fromClientFrames.push(chunk, this.clientSink);
      const replies = this.replies;
      this.replies = [];
      return { toServer: this.toServer.take(), toClient: replies };
    } catch (err) {
      throw this.fail(err);
    }
  }

  /**
   * Bytes from the server: returns what to forward to the client, whole packets only, as slices of the
   * chunks passed in. One exception: a limits@openssh.com reply allowing packets larger than maxPacket
   * (or unlimited) is forwarded as a copy lowered to maxPacket, so that clients stay within it.
   */
  fromServer(chunk: Buffer): Buffer[] {
    this.check();
    try {
      this.fromServerFrames.push(chunk, this.serverSink);
      return this.toClient.take();
    } catch (err) {
      throw this.fail(err);
    }
  }

  /**
   * The channel is gone: emits 'close' (with the counts so far) for every file handle still open or waiting
   * for READ replies, then forgets everything. Works after a failure too; the monitor is unusable afterwards.
   */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    const left = [...this.draining];
    for (const h of this.handles.values()) if (h.kind === 'file') left.push(h);
    this.draining.clear();
    this.handles.clear();
    this.pending.clear();
    for (const h of left) this.emitClose(h);
  }

  private check(): void {
    if (this.failure) throw new SftpError(`SFTP stream already failed: ${this.failure.message}`);
    if (this.ended) throw new SftpError('SFTP monitor already ended');
  }

  private fail(err: unknown): SftpError {
    const e =
      err instanceof SftpError
        ? err
        : new SftpError(`SFTP monitor internal error: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    this.failure = e;
    return e;
  }

  private emit(e: SftpEvent): void {
    try {
      this.onEvent(e);
    } catch (err) {
      throw new SftpError(`SFTP event handler failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  // ---- framing → decisions → output

  private whole(client: boolean, buf: Buffer, start: number, end: number): void {
    this.cur.reset(buf, start, end, end);
    const d = client ? this.request(this.cur) : this.response(this.cur);
    if (d === undefined) (client ? this.toServer : this.toClient).add(buf, start, end);
    else this.divert(client, d);
  }

  private spanning(client: boolean, parts: Part[], total: number): void {
    let d: Decision;
    let parsed = false;
    // A big WRITE or DATA is parsed from a copy of its first KiB: its payload is skipped, never read.
    if (total > PREFIX) {
      const head = gather(parts, PREFIX);
      if (head[4] === (client ? WRITE : DATA)) {
        try {
          this.cur.reset(head, 0, total, PREFIX);
          d = client ? this.request(this.cur) : this.response(this.cur);
          parsed = true;
        } catch (err) {
          if (err !== INCOMPLETE) throw err; // a handle longer than the copy: parse the whole packet
        }
      }
    }
    if (!parsed) {
      const whole = gather(parts, total);
      this.cur.reset(whole, 0, total, total);
      d = client ? this.request(this.cur) : this.response(this.cur);
    }
    if (d === undefined) {
      const out = client ? this.toServer : this.toClient;
      for (const p of parts) out.add(p.buf, p.start, p.end);
    } else this.divert(client, d);
  }

  private divert(client: boolean, d: { reply: Buffer } | { replace: Buffer }): void {
    if ('reply' in d) this.replies.push(d.reply);
    else (client ? this.toServer : this.toClient).push(d.replace);
  }

  // ---- client → server
  // Handlers read every field they need before any side effect: a spanning WRITE may be parsed twice.

  private request(c: Cursor): Decision {
    const type = c.u8('type');
    c.what = `SFTP ${typeName(type)} from the client`;
    if (type === INIT) {
      const v = c.u32('version');
      this.clientVer = v;
      if (v <= 3) return undefined;
      const copy = Buffer.from(c.buf.subarray(c.start, c.end));
      copy.writeUInt32BE(3, 5);
      return { replace: copy };
    }
    const id = c.u32('request id');
    const ro = this.policy.readOnly;
    switch (type) {
      case OPEN: {
        const path = c.text('filename');
        const pflags = c.u32('pflags');
        if (ro && (pflags & ~FXF_READ) !== 0) return this.deny(id, 'open', path, `${RO}: open ${describeFlags(pflags)}`);
        const mode: Mode = pflags & FXF_WRITE ? (pflags & FXF_READ ? 'readwrite' : 'write') : 'read';
        this.emit({
          op: 'open',
          path,
          mode,
          create: (pflags & FXF_CREAT) !== 0,
          truncate: (pflags & FXF_TRUNC) !== 0,
          append: (pflags & FXF_APPEND) !== 0,
        });
        this.track(id, { k: 'open', path, mode, kind: 'file' });
        return undefined;
      }
      case OPENDIR: {
        const path = c.text('path');
        this.emit({ op: 'opendir', path });
        this.track(id, { k: 'open', path, mode: 'read', kind: 'dir' });
        return undefined;
      }
      case CLOSE: {
        const key = c.key('handle');
        const h = this.handles.get(key);
        if (h !== undefined) {
          this.handles.delete(key);
          if (h.kind === 'file') {
            h.closing = true;
            if (h.inflight === 0) this.emitClose(h);
            else this.draining.add(h);
          }
        }
        return undefined;
      }
      case READ: {
        const h = this.handles.get(c.key('handle'));
        c.skip(8, 'offset');
        c.u32('len');
        if (h !== undefined && h.kind === 'file') {
          this.track(id, { k: 'read', h });
          h.inflight++;
        }
        return undefined;
      }
      case WRITE: {
        const h = this.handles.get(c.key('handle'));
        c.skip(8, 'offset');
        const n = c.str('data');
        if (ro) return this.deny(id, 'write', h?.path, RO);
        if (h !== undefined) h.bytesWritten += n;
        return undefined;
      }
      case READDIR:
        c.str('handle');
        return undefined;
      case STAT:
      case LSTAT:
        this.emit({ op: 'stat', path: c.text('path') });
        return undefined;
      case FSTAT:
        this.emit({ op: 'stat', path: this.handles.get(c.key('handle'))?.path ?? '' });
        return undefined;
      case REALPATH:
        this.emit({ op: 'realpath', path: c.text('path') });
        return undefined;
      case READLINK:
        this.emit({ op: 'readlink', path: c.text('path') });
        return undefined;
      case SETSTAT: {
        const path = c.text('path');
        if (ro) return this.deny(id, 'setstat', path, RO);
        this.emit({ op: 'setstat', path });
        return undefined;
      }
      case FSETSTAT: {
        const path = this.handles.get(c.key('handle'))?.path;
        if (ro) return this.deny(id, 'fsetstat', path, RO);
        this.emit({ op: 'setstat', path: path ?? '' });
        return undefined;
      }
      case REMOVE:
      case MKDIR:
      case RMDIR: {
        const path = c.text(type === REMOVE ? 'filename' : 'path');
        const op = type === REMOVE ? 'remove' : type === MKDIR ? 'mkdir' : 'rmdir';
        if (ro) return this.deny(id, op, path, RO);
        this.emit({ op, path });
        return undefined;
      }
      case RENAME: {
        const from = c.text('oldpath');
        const to = c.text('newpath');
        if (ro) return this.deny(id, 'rename', from, RO);
        this.emit({ op: 'rename', from, to });
        return undefined;
      }
      case SYMLINK: {
        // OpenSSH sends (targetpath, linkpath), the reverse of draft-02: `from` is the first string.
        const from = c.text('targetpath');
        const to = c.text('linkpath');
        if (ro) return this.deny(id, 'symlink', from, RO);
        this.emit({ op: 'symlink', from, to });
        return undefined;
      }
      case EXTENDED:
        return this.extended(c, id, ro);
      default: {
        const name = typeName(type);
        if (ro) return this.deny(id, name, undefined, `${RO}: unexpected packet type ${type}`);
        this.emit({ op: 'extended', name });
        return undefined;
      }
    }
  }

  private extended(c: Cursor, id: number, ro: boolean): Decision {
    const name = c.text('extension name');
    let path: string | undefined;
    switch (name) {
      case 'posix-rename@openssh.com':
      case 'hardlink@openssh.com': {
        const from = c.text('oldpath');
        const to = c.text('newpath');
        if (ro) return this.deny(id, name, from, RO);
        this.emit({ op: name === 'hardlink@openssh.com' ? 'link' : 'rename', from, to });
        return undefined;
      }
      case 'fsync@openssh.com':
      case 'fstatvfs@openssh.com':
        path = this.handles.get(c.key('handle'))?.path;
        break;
      case 'lsetstat@openssh.com':
      case 'statvfs@openssh.com':
      case 'expand-path@openssh.com':
        path = c.text('path');
        break;
      case 'copy-data': {
        c.str('read-from-handle');
        c.skip(16, 'read-from-offset and read-data-length');
        path = this.handles.get(c.key('write-to-handle'))?.path;
        c.skip(8, 'write-to-offset');
        break;
      }
      case 'home-directory':
        path = `~${c.text('username')}`;
        break;
      case 'limits@openssh.com':
      case 'users-groups-by-id@openssh.com':
        break;
      default:
        if (c.startsWithString()) path = c.text('argument');
    }
    if (ro && !READ_ONLY_EXTENSIONS.has(name)) {
      return this.deny(id, name, path, KNOWN_WRITES.has(name) ? RO : `${RO}: extension not known to be read-only`);
    }
    this.emit(path === undefined ? { op: 'extended', name } : { op: 'extended', name, path });
    if (name === 'limits@openssh.com') this.track(id, { k: 'limits' });
    return undefined;
  }

  private deny(id: number, request: string, path: string | undefined, reason: string): Decision {
    this.emit(path === undefined ? { op: 'denied', request, reason } : { op: 'denied', request, path, reason });
    return { reply: statusPacket(id, FX_PERMISSION_DENIED, SFTP_READ_ONLY_MESSAGE) };
  }

  private track(id: number, p: Pending): void {
    const old = this.pending.get(id);
    if (old === undefined) {
      if (this.pending.size >= MAX_PENDING) throw new SftpError(`more than ${MAX_PENDING} SFTP requests in flight`);
    } else if (old.k === 'read') this.answered(old.h, 0); // the client reused an id: that READ is lost
    this.pending.set(id, p);
  }

  // ---- server → client

  private response(c: Cursor): Decision {
    const type = c.u8('type');
    c.what = `SFTP ${typeName(type)} from the server`;
    if (type === VERSION) {
      this.serverVer = c.u32('version');
      return undefined;
    }
    if (type !== EXTENDED_REPLY && (type < STATUS || type > ATTRS)) return undefined;
    const id = c.u32('request id');
    const p = this.pending.get(id);
    if (p === undefined) return undefined;
    switch (p.k) {
      case 'open': {
        const key = type === HANDLE ? c.key('handle') : undefined;
        this.pending.delete(id);
        if (key !== undefined) this.bind(key, p);
        return undefined;
      }
      case 'read': {
        const n = type === DATA ? c.str('data') : 0;
        this.pending.delete(id);
        this.answered(p.h, n);
        return undefined;
      }
      case 'limits': {
        const d = type === EXTENDED_REPLY ? this.limits(c) : undefined;
        this.pending.delete(id);
        return d;
      }
    }
  }

  private bind(key: string, p: { path: string; mode: Mode; kind: 'file' | 'dir' }): void {
    const old = this.handles.get(key);
    if (old === undefined) {
      if (this.handles.size >= MAX_HANDLES) throw new SftpError(`more than ${MAX_HANDLES} SFTP handles open`);
    } else if (old.kind === 'file') {
      // the server handed out a handle it had not closed: report the old file before forgetting it
      old.closing = true;
      if (old.inflight === 0) this.emitClose(old);
      else this.draining.add(old);
    }
    this.handles.set(key, { path: p.path, mode: p.mode, kind: p.kind, bytesRead: 0, bytesWritten: 0, inflight: 0, closing: false });
  }

  private answered(h: HandleState, bytes: number): void {
    h.inflight--;
    h.bytesRead += bytes;
    if (h.closing && h.inflight === 0) this.emitClose(h);
  }

  private emitClose(h: HandleState): void {
    this.draining.delete(h);
    this.emit({ op: 'close', path: h.path, bytesRead: h.bytesRead, bytesWritten: h.bytesWritten });
  }

  /** limits@openssh.com reply: lower limits above maxPacket (or 0, "no limit") to what this monitor accepts. */
  private limits(c: Cursor): Decision {
    const at = c.off;
    const packet = c.u64('max-packet-length');
    const read = c.u64('max-read-length');
    const write = c.u64('max-write-length');
    c.u64('max-open-handles');
    const data = this.max - 1024;
    if (packet !== 0 && packet <= this.max && read !== 0 && read <= data && write !== 0 && write <= data) return undefined;
    const copy = Buffer.from(c.buf.subarray(c.start, c.end));
    const rel = at - c.start;
    copy.writeBigUInt64BE(BigInt(packet !== 0 && packet <= this.max ? packet : this.max), rel);
    copy.writeBigUInt64BE(BigInt(read !== 0 && read <= data ? read : data), rel + 8);
    copy.writeBigUInt64BE(BigInt(write !== 0 && write <= data ? write : data), rel + 16);
    return { replace: copy };
  }
}
