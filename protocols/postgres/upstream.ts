// The upstream half: dial the target with the gateway-held credentials, negotiate TLS as the connection
// says, and authenticate (trust, cleartext, md5, SCRAM-SHA-256). The client never sees these secrets.
import net from 'node:net';
import tls from 'node:tls';
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { AuthCode, Backend } from './codes.js';
import { ProtocolError, Reader } from './bytes.js';
import { Framer } from './framer.js';
import {
  decodeErrorFields,
  encodeCancelRequest,
  encodePasswordMessage,
  encodeSASLInitialResponse,
  encodeSSLRequest,
  encodeStartupMessage,
} from './messages.js';
import { ScramClient } from '../../src/identity/scram.js';

export interface UpstreamTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
  tls: 'disable' | 'prefer' | 'require' | 'verify-full';
  /** PEM CA bundle for verify-full (file path) */
  ca?: string;
}

export interface UpstreamSession {
  socket: net.Socket;
  /** ParameterStatus frames exactly as the target sent them */
  parameterFrames: Buffer[];
  parameters: Map<string, string>;
  pid: number;
  secret: number;
  txStatus: number;
  /** bytes the target sent after ReadyForQuery (normally none) */
  leftover: Buffer;
  tls: boolean;
}

/** A failure to reach or log in to the target; message is safe to show to the client. */
export class UpstreamError extends Error {
  constructor(message: string, readonly sqlstate?: string) {
    super(message);
    this.name = 'UpstreamError';
  }
}

const CONNECT_TIMEOUT_MS = 10_000;

export async function connectUpstream(
  target: UpstreamTarget,
  startupParams: Map<string, string>,
  timeoutMs = CONNECT_TIMEOUT_MS,
): Promise<UpstreamSession> {
  const raw = await dial(target.host, target.port, timeoutMs);
  let socket: net.Socket = raw;
  let usingTls = false;
  try {
    if (target.tls !== 'disable') {
      raw.write(encodeSSLRequest());
      const answer = await readBytes(raw, 1, timeoutMs);
      if (answer[0] === 0x53) {
        socket = await startTls(raw, target, timeoutMs);
        usingTls = true;
      } else if (answer[0] !== 0x4e) {
        throw new UpstreamError('target answered SSLRequest with an unexpected byte');
      } else if (target.tls !== 'prefer') {
        throw new UpstreamError('target does not support TLS, but the connection requires it');
      }
    }
    const params = new Map(startupParams);
    params.set('user', target.user);
    params.set('database', target.database);
    socket.write(encodeStartupMessage(params));
    return await authenticate(socket, target, usingTls, timeoutMs);
  } catch (err) {
    socket.destroy();
    raw.destroy();
    if (err instanceof UpstreamError) throw err;
    throw new UpstreamError(`target ${target.host}:${target.port}: ${(err as Error).message}`);
  }
}

function dial(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    s.setNoDelay(true);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new UpstreamError(`target ${host}:${port} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new UpstreamError(`target ${host}:${port} unreachable (${err.code ?? err.message})`));
    });
  });
}

function startTls(raw: net.Socket, target: UpstreamTarget, timeoutMs: number): Promise<tls.TLSSocket> {
  const verify = target.tls === 'verify-full';
  const options: tls.ConnectionOptions = {
    socket: raw,
    rejectUnauthorized: verify,
    servername: net.isIP(target.host) ? undefined : target.host,
  };
  if (verify && target.ca) options.ca = fs.readFileSync(target.ca);
  if (verify) {
    options.checkServerIdentity = (_host, cert) => tls.checkServerIdentity(target.host, cert);
  }
  return new Promise((resolve, reject) => {
    const s = tls.connect(options);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new UpstreamError('TLS handshake with the target timed out'));
    }, timeoutMs);
    s.once('secureConnect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(new UpstreamError(`TLS with the target failed: ${err.message}`));
    });
  });
}

/** Read exactly n bytes before any framing (the SSLRequest answer). */
function readBytes(s: net.Socket, n: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => done(new UpstreamError('target did not answer')), timeoutMs);
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d]);
      if (got.length >= n) {
        if (got.length > n) return done(new UpstreamError('target sent unexpected bytes after the TLS answer'));
        done(null);
      }
    };
    const onEnd = (): void => done(new UpstreamError('target closed the connection'));
    const onErr = (e: Error): void => done(new UpstreamError(`target connection failed: ${e.message}`));
    function done(err: Error | null): void {
      clearTimeout(timer);
      s.off('data', onData).off('end', onEnd).off('error', onErr);
      s.pause();
      if (err) reject(err);
      else resolve(got);
    }
    s.on('data', onData).once('end', onEnd).once('error', onErr);
    s.resume();
  });
}

/** Frame-at-a-time reading of the startup exchange. */
class StartupReader {
  private framer = new Framer(1 << 24);
  private frames: Buffer[] = [];
  private waiter: ((err: Error | null) => void) | null = null;
  private failure: Error | null = null;
  leftover = Buffer.alloc(0);

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData);
    socket.once('end', this.onEnd);
    socket.once('error', this.onError);
    // readBytes() paused the socket explicitly; a new 'data' listener alone would not restart it.
    socket.resume();
  }

  private onData = (d: Buffer): void => {
    try {
      const got = this.framer.push(d);
      if (got) {
        let off = 0;
        while (off < got.end) {
          const len = 1 + got.buf.readInt32BE(off + 1);
          this.frames.push(got.buf.subarray(off, off + len));
          off += len;
        }
      }
    } catch (err) {
      this.failure = err as Error;
    }
    this.wake();
  };
  private onEnd = (): void => {
    this.failure ??= new UpstreamError('target closed the connection during startup');
    this.wake();
  };
  private onError = (e: Error): void => {
    this.failure ??= new UpstreamError(`target connection failed: ${e.message}`);
    this.wake();
  };

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.(null);
  }

  async next(timeoutMs: number): Promise<Buffer> {
    for (;;) {
      const f = this.frames.shift();
      if (f) return f;
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new UpstreamError('target did not complete startup in time')), timeoutMs);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Stop reading; anything already framed beyond ReadyForQuery is returned. */
  detach(): Buffer {
    this.socket.off('data', this.onData).off('end', this.onEnd).off('error', this.onError);
    this.socket.pause();
    const rest = this.frames.length ? Buffer.concat(this.frames) : Buffer.alloc(0);
    this.frames = [];
    return rest;
  }
}

async function authenticate(
  socket: net.Socket,
  target: UpstreamTarget,
  usingTls: boolean,
  timeoutMs: number,
): Promise<UpstreamSession> {
  const reader = new StartupReader(socket);
  const r = new Reader();
  const parameterFrames: Buffer[] = [];
  const parameters = new Map<string, string>();
  let pid = 0;
  let secret = 0;
  let scram: ScramClient | null = null;
  try {
    for (;;) {
      const f = await reader.next(timeoutMs);
      r.reset(f, 5, f.length);
      switch (f[0]) {
        case Backend.Authentication: {
          const code = r.int32();
          if (code === AuthCode.Ok) break;
          const password = target.password;
          if (password === undefined || password === '') {
            throw new UpstreamError('target asks for a password, but the connection has none configured', '28P01');
          }
          if (code === AuthCode.CleartextPassword) {
            socket.write(encodePasswordMessage(password));
          } else if (code === AuthCode.MD5Password) {
            const salt = r.bytes(4);
            const inner = createHash('md5').update(password + target.user).digest('hex');
            const outer = createHash('md5').update(inner).update(salt).digest('hex');
            socket.write(encodePasswordMessage('md5' + outer));
          } else if (code === AuthCode.SASL) {
            const mechs: string[] = [];
            for (let m = r.cstring(); m !== ''; m = r.cstring()) mechs.push(m);
            if (!mechs.includes('SCRAM-SHA-256')) {
              throw new UpstreamError(`target offers no supported SASL mechanism (${mechs.join(', ')})`);
            }
            scram = new ScramClient(target.user, password);
            socket.write(encodeSASLInitialResponse('SCRAM-SHA-256', scram.clientFirst()));
          } else if (code === AuthCode.SASLContinue) {
            if (!scram) throw new UpstreamError('target sent SASLContinue out of order');
            socket.write(encodePasswordMessage(Buffer.from(scram.handleServerFirst(r.rest().toString('utf8')))));
          } else if (code === AuthCode.SASLFinal) {
            if (!scram || !scram.verifyServerFinal(r.rest().toString('utf8'))) {
              throw new UpstreamError('target failed SCRAM server verification');
            }
          } else {
            throw new UpstreamError(`target asks for an unsupported authentication method (${code})`);
          }
          break;
        }
        case Backend.ParameterStatus: {
          const name = r.cstring();
          parameters.set(name, r.cstring());
          parameterFrames.push(f);
          break;
        }
        case Backend.BackendKeyData:
          pid = r.int32();
          secret = r.int32();
          break;
        case Backend.NoticeResponse:
        case Backend.NegotiateProtocolVersion:
          break;
        case Backend.ErrorResponse: {
          const fields = decodeErrorFields(r);
          throw new UpstreamError(fields.get('M') ?? 'target refused the connection', fields.get('C'));
        }
        case Backend.ReadyForQuery: {
          const txStatus = r.byte();
          const leftover = reader.detach();
          return { socket, parameterFrames, parameters, pid, secret, txStatus, leftover, tls: usingTls };
        }
        default:
          throw new ProtocolError(`unexpected message 0x${f[0]!.toString(16)} from target during startup`);
      }
    }
  } catch (err) {
    reader.detach();
    throw err;
  }
}

/** Send a CancelRequest for a target session on a new connection (fire and forget). */
export function sendCancel(t: { host: string; port: number; pid: number; secret: number }): void {
  const s = net.connect({ host: t.host, port: t.port });
  s.setTimeout(5000, () => s.destroy());
  s.once('connect', () => s.end(encodeCancelRequest(t.pid, t.secret)));
  s.on('error', () => s.destroy());
}
