// Reads whole messages from a client socket before the relay starts (PostgreSQL and MySQL framing) (startup and authentication), with a
// deadline so that a silent or slow client cannot hold a slot.
import type net from 'node:net';
import { ProtocolError } from './bytes.js';

/** Startup packets are small; PostgreSQL caps them at 10,000 bytes. */
export const MAX_STARTUP_PACKET = 10_000;
/** Password, SASL and token messages before authentication. */
export const MAX_AUTH_MESSAGE = 64 * 1024;

export class TimeoutError extends Error {}
export class ClosedError extends Error {}

export class PreludeStream {
  private chunks: Buffer[] = [];
  private size = 0;
  private waiter: (() => void) | null = null;
  private ended = false;
  private failure: Error | null = null;

  constructor(
    public socket: net.Socket,
    private readonly deadline: number,
  ) {
    this.attach(socket);
  }

  private onData = (d: Buffer): void => {
    this.chunks.push(d);
    this.size += d.length;
    this.wake();
  };
  private onEnd = (): void => {
    this.ended = true;
    this.wake();
  };
  private onError = (e: Error): void => {
    this.failure = e;
    this.wake();
  };

  private attach(s: net.Socket): void {
    s.on('data', this.onData).on('end', this.onEnd).on('close', this.onEnd).on('error', this.onError);
    s.resume();
  }

  /** Stop reading and hand back whatever was read beyond the last message. */
  detach(): Buffer {
    this.socket.off('data', this.onData).off('end', this.onEnd).off('close', this.onEnd).off('error', this.onError);
    this.socket.pause();
    const rest = this.take(this.size);
    return rest;
  }

  /** Bytes received but not consumed yet. */
  buffered(): number {
    return this.size;
  }

  /** Give unread bytes back to the socket and stop reading (before a TLS upgrade). */
  unshiftAndDetach(): net.Socket {
    const rest = this.detach();
    if (rest.length) this.socket.unshift(rest);
    return this.socket;
  }

  /** Continue on another socket (after TLS was established on top of the old one). */
  replaceSocket(s: net.Socket): void {
    this.socket = s;
    this.ended = false;
    this.attach(s);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  async peekByte(): Promise<number> {
    await this.fill(1);
    return this.chunks[0]![0]!;
  }

  /** Untyped startup-phase message: Int32 len · body. Returns the whole message including the length. */
  async readUntyped(): Promise<Buffer> {
    await this.fill(4);
    const head = this.peek(4);
    const len = head.readInt32BE(0);
    if (len < 8 || len > MAX_STARTUP_PACKET) throw new ProtocolError(`invalid startup packet length ${len}`);
    await this.fill(len);
    return this.take(len);
  }

  /** Typed message: Byte1 code · Int32 len · body. */
  async readTyped(max = MAX_AUTH_MESSAGE): Promise<Buffer> {
    await this.fill(5);
    const head = this.peek(5);
    const len = head.readInt32BE(1);
    if (len < 4 || len > max) throw new ProtocolError(`invalid message length ${len}`);
    await this.fill(1 + len);
    return this.take(1 + len);
  }

  /**
   * MySQL packet: 3-byte little-endian length · sequence id · payload (one packet; authentication
   * packets are far below the 16 MiB continuation size).
   */
  async readMysqlPacket(max = MAX_AUTH_MESSAGE): Promise<{ seq: number; payload: Buffer }> {
    await this.fill(4);
    const head = this.peek(4);
    const len = head.readUIntLE(0, 3);
    const seq = head[3]!;
    if (len > max) throw new ProtocolError(`packet of ${len} bytes is too large during authentication`);
    await this.fill(4 + len);
    const whole = this.take(4 + len);
    return { seq, payload: whole.subarray(4) };
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!.subarray(0, n);
    const all = Buffer.concat(this.chunks, this.size);
    this.chunks = [all];
    return all.subarray(0, n);
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.size = rest.length;
    return out;
  }

  private async fill(n: number): Promise<void> {
    while (this.size < n) {
      if (this.failure) throw this.failure;
      if (this.ended) throw new ClosedError('client closed the connection');
      const left = this.deadline - Date.now();
      if (left <= 0) throw new TimeoutError('client did not complete startup in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}
