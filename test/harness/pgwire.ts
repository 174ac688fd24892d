// Raw PostgreSQL wire protocol for tests that send bytes no driver would (or must read what a driver hides):
// a client over a plain or TLS socket that reads whole backend messages, frame builders, decoders of backend
// messages (ErrorResponse fields, DataRow cells, NotificationResponse) and startup / login helpers.
import net from 'node:net';
import tls from 'node:tls';
import { serialize } from 'pg-protocol';

/** A backend message: its type letter and its body (after the type byte and the length). */
export interface Msg {
  type: string;
  body: Buffer;
}

/** Protocol version 3.0 as a StartupMessage carries it (3 << 16). */
export const PROTOCOL_3_0 = 196608;

/** A raw protocol client over a socket (plain or TLS): write frames, read whole backend messages one at a time. */
export class Raw {
  private buf: Buffer = Buffer.alloc(0);
  private isClosed = false;
  private wake: (() => void) | null = null;
  /** every chunk received, for "this plaintext never arrived" checks */
  readonly received: Buffer[] = [];

  constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.received.push(d);
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.notify();
    });
    sock.on('close', () => {
      this.isClosed = true;
      this.notify();
    });
    sock.on('error', () => undefined);
  }

  /** A plain TCP connection (127.0.0.1 unless told). */
  static connect(port: number, host = '127.0.0.1'): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      s.once('connect', () => resolve(new Raw(s)));
      s.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private complete(): boolean {
    return this.buf.length >= 5 && this.buf.length >= 1 + this.buf.readInt32BE(1);
  }

  private async waitFor(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (this.isClosed) return pred();
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return true;
  }

  /** Writes the buffers as one chunk. */
  write(...b: Buffer[]): void {
    this.sock.write(b.length === 1 ? b[0]! : Buffer.concat(b));
  }

  /** One byte (the answer to SSLRequest / GSSENCRequest); null when the connection closed first. */
  async byte(timeoutMs = 5000): Promise<number | null> {
    if (!(await this.waitFor(() => this.buf.length >= 1, timeoutMs))) {
      if (this.isClosed) return null;
      throw new Error('timed out waiting for a byte');
    }
    const b = this.buf[0]!;
    this.buf = this.buf.subarray(1);
    return b;
  }

  /** The next whole message; null when the connection closed first; 'timeout' when none came in time. */
  async next(timeoutMs: number): Promise<Msg | null | 'timeout'> {
    if (!(await this.waitFor(() => this.complete(), timeoutMs))) return this.isClosed ? null : 'timeout';
    const len = this.buf.readInt32BE(1);
    const m: Msg = { type: String.fromCharCode(this.buf[0]!), body: this.buf.subarray(5, 1 + len) };
    this.buf = this.buf.subarray(1 + len);
    return m;
  }

  /** The next whole message; null when the connection closed first; throws after timeoutMs. */
  async msg(timeoutMs = 5000): Promise<Msg | null> {
    const m = await this.next(timeoutMs);
    if (m === 'timeout') throw new Error(`timed out after ${timeoutMs} ms waiting for a message (${this.buf.length} bytes buffered)`);
    return m;
  }

  /** Messages up to and including the first whose type is in `types` (or until the connection closes). */
  async until(types: string, timeoutMs = 10_000): Promise<Msg[]> {
    const out: Msg[] = [];
    for (;;) {
      const m = await this.msg(timeoutMs);
      if (!m) return out;
      out.push(m);
      if (types.includes(m.type)) return out;
    }
  }

  /** Whatever whole messages arrive within `ms` (never throws). */
  async within(ms: number): Promise<Msg[]> {
    const out: Msg[] = [];
    const deadline = Date.now() + ms;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return out;
      const m = await this.next(left);
      if (m === null || m === 'timeout') return out;
      out.push(m);
    }
  }

  /** Everything the server sends until it closes the connection; throws when it does not close in time. */
  async drainUntilClosed(timeoutMs = 10_000): Promise<Msg[]> {
    const out: Msg[] = [];
    for (;;) {
      const m = await this.msg(timeoutMs);
      if (!m) return out;
      out.push(m);
    }
  }

  /** Whether the connection closed within timeoutMs (what arrives meanwhile stays unread). */
  waitClosed(timeoutMs = 5000): Promise<boolean> {
    return this.waitFor(() => this.isClosed, timeoutMs);
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/** Direct TLS to 127.0.0.1 (no SSLRequest first), certificate unchecked: the client, or the handshake's error. */
export function connectTls(port: number, alpn: string[] | undefined): Promise<{ raw: Raw | null; error?: Error }> {
  return new Promise((resolve) => {
    const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...(alpn ? { ALPNProtocols: alpn } : {}) });
    s.once('secureConnect', () => resolve({ raw: new Raw(s) }));
    s.once('error', (error) => resolve({ raw: null, error }));
  });
}

// ---- frames ---------------------------------------------------------------------------------------------------

/** A StartupMessage with exactly these parameters (unlike serialize.startup, which adds client_encoding=UTF8). */
export function startup(params: Record<string, string>, version = PROTOCOL_3_0): Buffer {
  const body = Buffer.concat([...Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`)), Buffer.from([0])]);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(version, 4);
  return Buffer.concat([head, body]);
}

/** An 8-byte untyped request: length 8 and a request code (80877103 SSLRequest, 80877104 GSSENCRequest). */
export function untyped(code: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeInt32BE(8, 0);
  b.writeInt32BE(code, 4);
  return b;
}

/** A typed frame with an arbitrary declared length and body. */
export function frame(code: string, body: Buffer, declaredLen = 4 + body.length): Buffer {
  const head = Buffer.alloc(5);
  head.write(code, 0, 'latin1');
  head.writeInt32BE(declaredLen, 1);
  return Buffer.concat([head, body]);
}

/** FunctionCall: OID, binary int4 args, binary result. */
export function functionCall(oid: number, args: number[]): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(4 + 2 + 2 + 2);
  head.writeInt32BE(oid, 0);
  head.writeInt16BE(1, 4); // one argument format code…
  head.writeInt16BE(1, 6); // …binary, for every argument
  head.writeInt16BE(args.length, 8);
  parts.push(head);
  for (const a of args) {
    const v = Buffer.alloc(8);
    v.writeInt32BE(4, 0);
    v.writeInt32BE(a, 4);
    parts.push(v);
  }
  parts.push(Buffer.from([0, 1])); // result format: binary
  return frame('F', Buffer.concat(parts));
}

// ---- backend messages -------------------------------------------------------------------------------------------

/** The fields of an ErrorResponse or NoticeResponse body by their code letter (S, C, M, H, …). */
export function errorFields(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < body.length && body[off] !== 0) {
    const end = body.indexOf(0, off + 1);
    out[String.fromCharCode(body[off]!)] = body.toString('utf8', off + 1, end);
    off = end + 1;
  }
  return out;
}

/** The code of an Authentication message (0 ok, 3 cleartext password, 10 SASL); undefined for anything else. */
export function authCode(m: Msg | null): number | undefined {
  return m?.type === 'R' ? m.body.readInt32BE(0) : undefined;
}

/** Type letters of a message list, e.g. "12TDCZ". */
export const types = (msgs: Msg[]): string => msgs.map((m) => m.type).join('');

/** Type letters, with the fields of every ErrorResponse / NoticeResponse: for failure messages. */
export function describeMsgs(msgs: Msg[]): string {
  return msgs
    .map((m) => (m.type === 'E' || m.type === 'N' ? `${m.type}(${JSON.stringify(errorFields(m.body))})` : m.type))
    .join(' ');
}

/** Cells of a DataRow as raw buffers (null for SQL NULL). */
export function cells(body: Buffer): (Buffer | null)[] {
  const n = body.readInt16BE(0);
  const out: (Buffer | null)[] = [];
  let off = 2;
  for (let i = 0; i < n; i++) {
    const len = body.readInt32BE(off);
    off += 4;
    if (len < 0) out.push(null);
    else {
      out.push(body.subarray(off, off + len));
      off += len;
    }
  }
  return out;
}

/** Cells of a DataRow as text (null for SQL NULL). */
export const textCells = (body: Buffer): (string | null)[] => cells(body).map((c) => (c ? c.toString('utf8') : null));

/** Every DataRow of a message list, as text cells. */
export const rowsOf = (msgs: Msg[]): (string | null)[][] => msgs.filter((m) => m.type === 'D').map((m) => textCells(m.body));

/** NotificationResponse: pid, channel, payload. */
export function notification(body: Buffer): { pid: number; channel: string; payload: string } {
  const pid = body.readInt32BE(0);
  const e1 = body.indexOf(0, 4);
  const e2 = body.indexOf(0, e1 + 1);
  return { pid, channel: body.toString('utf8', 4, e1), payload: body.toString('utf8', e1 + 1, e2) };
}

// ---- startup and login -------------------------------------------------------------------------------------------

/**
 * Connects and logs in: sends `startupMessage`, then `password` when given (the server must ask for a cleartext
 * password), or nothing (trust). Throws unless the login reaches ReadyForQuery.
 */
export async function login(port: number, startupMessage: Buffer, password?: string): Promise<Raw> {
  const r = await Raw.connect(port);
  try {
    r.write(startupMessage);
    if (password !== undefined) {
      const ask = await r.msg();
      if (authCode(ask) !== 3) throw new Error(`expected a cleartext password request, got ${ask ? describeMsgs([ask]) : 'a close'}`);
      r.write(serialize.password(password));
    }
    const rest = await r.until('ZE');
    if (rest[rest.length - 1]?.type !== 'Z') throw new Error(`login failed: ${describeMsgs(rest)}`);
    return r;
  } catch (err) {
    r.destroy();
    throw err;
  }
}

/**
 * A cleartext login attempt on a raw connection: StartupMessage, then the password if one is asked for.
 * Everything up to ReadyForQuery or ErrorResponse; never throws for a refused login.
 */
export async function tryLogin(r: Raw, params: Record<string, string>, password: string, version = PROTOCOL_3_0): Promise<Msg[]> {
  r.write(startup(params, version));
  const first = await r.until('RE');
  const ask = first[first.length - 1];
  if (authCode(ask ?? null) !== 3) return first;
  r.write(serialize.password(password));
  return [...first, ...(await r.until('ZE'))];
}

/** A simple query on a logged-in raw connection: the text of every DataRow's first column, and every message. */
export async function rawQuery(r: Raw, sql: string): Promise<{ values: string[]; msgs: Msg[] }> {
  r.write(serialize.query(sql));
  const msgs = await r.until('Z');
  const values = msgs
    .filter((m) => m.type === 'D')
    .map((m) => {
      const len = m.body.readInt32BE(2);
      return m.body.toString('utf8', 6, 6 + len);
    });
  return { values, msgs };
}

/** The fields of the first message after a StartupMessage with these parameters if it is an ErrorResponse, else null. */
export async function startupError(port: number, params: Record<string, string>): Promise<Record<string, string> | null> {
  const r = await Raw.connect(port);
  try {
    r.write(startup(params));
    const m = await r.msg(10_000);
    return m?.type === 'E' ? errorFields(m.body) : null;
  } finally {
    r.destroy();
  }
}
