// A raw MySQL protocol client for tests that need what drivers do not expose: chosen capabilities (with or
// without CLIENT_DEPRECATE_EOF), cursors and COM_STMT_FETCH, odd commands, wrong sequence ids, garbage.
import net from 'node:net';
import { scrambleMysqlNative } from '../../src/identity/mysql.js';
import { Cap } from '../../protocols/mysql/codes.js';
import { decodeColumnDef, decodeErr, decodeGreeting, encodeHandshakeResponse, type ColumnDef, type Err, type Greeting } from '../../protocols/mysql/messages.js';
import { MyReader, MyWriter, packet } from '../../protocols/mysql/packets.js';

export const DEFAULT_TEST_CAPS =
  (Cap.LONG_PASSWORD | Cap.LONG_FLAG | Cap.PROTOCOL_41 | Cap.TRANSACTIONS | Cap.SECURE_CONNECTION | Cap.MULTI_RESULTS |
    Cap.PS_MULTI_RESULTS | Cap.PLUGIN_AUTH | Cap.PLUGIN_AUTH_LENENC_DATA) >>> 0;

export interface Pkt {
  seq: number;
  payload: Buffer;
}

export class MyWire {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;
  greeting!: Greeting;

  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', () => undefined);
  }

  static connect(port: number, host = '127.0.0.1'): Promise<MyWire> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      s.once('connect', () => resolve(new MyWire(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Next packet, or null when the connection closed first. Throws after timeoutMs. */
  async read(timeoutMs = 5000): Promise<Pkt | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buf.length >= 4) {
        const len = this.buf.readUIntLE(0, 3);
        if (this.buf.length >= 4 + len) {
          const p = { seq: this.buf[3]!, payload: Buffer.from(this.buf.subarray(4, 4 + len)) };
          this.buf = this.buf.subarray(4 + len);
          return p;
        }
      }
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a packet');
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Resolves when the gateway closes the connection (or throws after timeoutMs). */
  async closedWithin(timeoutMs = 5000): Promise<Pkt[]> {
    const got: Pkt[] = [];
    for (;;) {
      const p = await this.read(timeoutMs);
      if (!p) return got;
      got.push(p);
    }
  }

  send(seq: number, payload: Buffer): void {
    this.sock.write(packet(seq, payload));
  }

  raw(b: Buffer): void {
    this.sock.write(b);
  }

  command(com: number, body: Buffer | string = Buffer.alloc(0)): void {
    this.send(0, Buffer.concat([Buffer.from([com]), typeof body === 'string' ? Buffer.from(body) : body]));
  }

  end(): void {
    this.sock.destroy();
  }

  /** Greeting, then a HandshakeResponse41 with mysql_native_password; returns the answer (OK or ERR). */
  async login(user: string, password: string, opts: { caps?: number; database?: string } = {}): Promise<Pkt> {
    const g = await this.read();
    if (!g) throw new Error('closed before the greeting');
    this.greeting = decodeGreeting(g.payload);
    let caps = opts.caps ?? DEFAULT_TEST_CAPS;
    if (opts.database) caps |= Cap.CONNECT_WITH_DB;
    this.send(
      1,
      encodeHandshakeResponse({
        caps: caps >>> 0,
        maxPacket: 1 << 24,
        charset: 45,
        user,
        authResponse: scrambleMysqlNative(password, this.greeting.nonce),
        database: opts.database,
        plugin: 'mysql_native_password',
      }),
    );
    let p = await this.read();
    if (!p) throw new Error('closed during login');
    if (p.payload[0] === 0xfe) {
      // AuthSwitch (to mysql_clear_password for users without a native verifier)
      const z = p.payload.indexOf(0, 1);
      const plugin = p.payload.toString('utf8', 1, z);
      const reply = plugin === 'mysql_clear_password' ? Buffer.concat([Buffer.from(password), Buffer.alloc(1)]) : scrambleMysqlNative(password, this.greeting.nonce);
      this.send(p.seq + 1, reply);
      p = await this.read();
      if (!p) throw new Error('closed during login');
    }
    return p;
  }

  /** Reads one whole text or binary result: column definitions and row payloads, with the raw packets. */
  async result(deprecateEof: boolean): Promise<{ ok?: Pkt; err?: Err; columns: ColumnDef[]; rows: Buffer[]; packets: Pkt[]; status: number }> {
    const packets: Pkt[] = [];
    const next = async (): Promise<Pkt> => {
      const p = await this.read();
      if (!p) throw new Error('closed in the middle of a result');
      packets.push(p);
      return p;
    };
    const first = await next();
    if (first.payload[0] === 0x00) return { ok: first, columns: [], rows: [], packets, status: first.payload.readUInt16LE(first.payload.length - 2 - 0) };
    if (first.payload[0] === 0xff) return { err: decodeErr(first.payload, 0, first.payload.length), columns: [], rows: [], packets, status: 0 };
    const n = new MyReader().reset(first.payload, 0, first.payload.length).lenencNum();
    const columns: ColumnDef[] = [];
    for (let i = 0; i < n; i++) {
      const p = await next();
      columns.push(decodeColumnDef(p.payload, 0, p.payload.length));
    }
    if (!deprecateEof) {
      const eof = await next();
      if (eof.payload[0] !== 0xfe) throw new Error('expected EOF after the column definitions');
      if (eof.payload.readUInt16LE(3) & 0x40) return { columns, rows: [], packets, status: eof.payload.readUInt16LE(3) };
    }
    const rows: Buffer[] = [];
    for (;;) {
      const p = await next();
      if (p.payload[0] === 0xff) return { err: decodeErr(p.payload, 0, p.payload.length), columns, rows, packets, status: 0 };
      if (p.payload[0] === 0xfe && p.payload.length < 0xffffff) {
        const status = deprecateEof ? okStatus(p.payload) : p.payload.readUInt16LE(3);
        return { columns, rows, packets, status };
      }
      rows.push(p.payload);
    }
  }
}

/** Status flags of an OK packet (header 0x00 or 0xFE). */
export function okStatus(p: Buffer): number {
  const r = new MyReader().reset(p, 1, p.length);
  r.lenenc();
  r.lenenc();
  return r.u16();
}

/** Text row cells as strings (null for NULL). */
export function textCells(row: Buffer): (string | null)[] {
  const r = new MyReader().reset(row, 0, row.length);
  const out: (string | null)[] = [];
  while (r.remaining() > 0) {
    const b = r.lenencBytes();
    out.push(b === undefined ? null : b.toString('utf8'));
  }
  return out;
}

/** COM_STMT_EXECUTE body for a statement without parameters. */
export function executeBody(stmtId: number, cursor: boolean): Buffer {
  return new MyWriter(16).u32(stmtId).u8(cursor ? 1 : 0).u32(1).payload();
}
