// The gateway's own login to the target with the gateway-held credentials: TLS modes, then
// mysql_native_password, caching_sha2_password (fast and full authentication, RSA key exchange without
// TLS), mysql_clear_password (TLS or a loopback target only) and AuthSwitch between them.
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { constants, createHash, publicEncrypt } from 'node:crypto';
import { scrambleMysqlNative } from '../../src/identity/mysql.js';
import { Cap, GATEWAY_CAPS, Status } from './codes.js';
import { ClosedError, PreludeStream, TimeoutError } from '../postgres/prelude.js';
import { packet, ProtocolError } from './packets.js';
import { decodeErr, decodeGreeting, decodeOk, encodeHandshakeResponse, encodeSslRequest, type Greeting } from './messages.js';

export type UpstreamTls = 'disable' | 'prefer' | 'require' | 'verify-full';

export interface MyTarget {
  host: string;
  port: number;
  user: string;
  password?: string;
  database?: string;
  tls: UpstreamTls;
  /** file with the CA certificate(s) for verify-full */
  ca?: string;
}

export interface ClientWants {
  caps: number;
  charset: number;
  maxPacket: number;
  attrs?: Map<string, string>;
  /** the connection allows LOAD DATA LOCAL INFILE */
  localInfile: boolean;
}

export interface MyUpstream {
  socket: net.Socket;
  greeting: Greeting;
  /** capabilities in force on the gateway → target leg */
  caps: number;
  status: number;
  tls: boolean;
  leftover: Buffer;
}

export class UpstreamError extends Error {}

const CONNECT_TIMEOUT_MS = 10_000;
const MAX_PACKET_SIZE = 0x40000000;

const sha = (alg: string, ...parts: Buffer[]): Buffer => {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return h.digest();
};

/** caching_sha2_password's scramble: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) · nonce). */
export function scrambleCachingSha2(password: string, nonce: Buffer): Buffer {
  if (password.length === 0) return Buffer.alloc(0);
  const p1 = sha('sha256', Buffer.from(password, 'utf8'));
  const p2 = sha('sha256', p1);
  const x = sha('sha256', p2, nonce.subarray(0, 20));
  for (let i = 0; i < x.length; i++) x[i] = x[i]! ^ p1[i]!;
  return x;
}

/** Full authentication without TLS: (password · NUL) XOR nonce, RSA-OAEP encrypted with the server's key. */
export function encryptPasswordRsa(password: string, nonce: Buffer, pem: string): Buffer {
  const pw = Buffer.concat([Buffer.from(password, 'utf8'), Buffer.alloc(1)]);
  for (let i = 0; i < pw.length; i++) pw[i] = pw[i]! ^ nonce[i % nonce.length]!;
  return publicEncrypt({ key: pem, padding: constants.RSA_PKCS1_OAEP_PADDING }, pw);
}

const isLoopbackHost = (h: string): boolean => h === 'localhost' || h.startsWith('127.') || h === '::1';

function authResponse(plugin: string, password: string, nonce: Buffer, secure: boolean, target: MyTarget): Buffer {
  switch (plugin) {
    case 'mysql_native_password':
      return scrambleMysqlNative(password, nonce);
    case 'caching_sha2_password':
      return scrambleCachingSha2(password, nonce);
    case 'mysql_clear_password':
      if (!secure && !isLoopbackHost(target.host)) {
        throw new UpstreamError('the target asks for a cleartext password and the connection to it is not TLS; set target.tls: require');
      }
      return Buffer.concat([Buffer.from(password, 'utf8'), Buffer.alloc(1)]);
    default:
      throw new UpstreamError(`the target asks for authentication plugin ${plugin}, which portcullis does not support`);
  }
}

/** Reads the target's greeting only (its version string for a connection's own port), then hangs up. */
export async function probeGreeting(host: string, port: number, timeoutMs = 3000): Promise<Greeting> {
  const sock = await dial(host, port, timeoutMs);
  try {
    const stream = new PreludeStream(sock, Date.now() + timeoutMs);
    const g = await stream.readMysqlPacket(4096);
    return decodeGreeting(g.payload);
  } finally {
    sock.destroy();
  }
}

function dial(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new UpstreamError(`connecting to ${host}:${port} timed out`));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      sock.on('error', () => undefined);
      resolve(sock);
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(new UpstreamError(`${host}:${port}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    });
  });
}

export async function connectUpstream(target: MyTarget, client: ClientWants): Promise<MyUpstream> {
  const raw = await dial(target.host, target.port, CONNECT_TIMEOUT_MS);
  const deadline = Date.now() + CONNECT_TIMEOUT_MS;
  let stream = new PreludeStream(raw, deadline);
  try {
    const first = await stream.readMysqlPacket(4096);
    const greeting = decodeGreeting(first.payload);
    const server = greeting.caps;
    if (!(server & Cap.PROTOCOL_41)) throw new UpstreamError('the target does not speak protocol 4.1');
    // What the client asked for, limited to what the gateway relays and the target offers.
    let caps = (client.caps & GATEWAY_CAPS & server) >>> 0;
    caps |= Cap.LONG_PASSWORD | Cap.PROTOCOL_41 | Cap.SECURE_CONNECTION | Cap.LONG_FLAG | Cap.TRANSACTIONS;
    // CLIENT_DEPRECATE_EOF only when the client has it too (above): then rows pass as they are. backend.ts
    // translates for a client that has it when the target does not.
    caps |= server & (Cap.PLUGIN_AUTH | Cap.PLUGIN_AUTH_LENENC_DATA | Cap.MULTI_RESULTS | Cap.PS_MULTI_RESULTS | Cap.CONNECT_ATTRS);
    caps &= ~(Cap.CONNECT_WITH_DB | Cap.SSL);
    if (!client.localInfile) caps &= ~Cap.LOCAL_FILES;
    if (target.database) caps |= Cap.CONNECT_WITH_DB;
    let seq = first.seq + 1;
    let secure = false;
    const wantTls = target.tls !== 'disable';
    if (wantTls && server & Cap.SSL) {
      caps |= Cap.SSL;
      stream.unshiftAndDetach();
      raw.write(packet(seq++, encodeSslRequest(caps >>> 0, client.charset, MAX_PACKET_SIZE)));
      const t = await startTls(raw, target);
      stream = new PreludeStream(t, deadline);
      secure = true;
    } else if (target.tls === 'require' || target.tls === 'verify-full') {
      throw new UpstreamError('the target does not offer TLS and target.tls requires it');
    }
    caps >>>= 0;
    const password = target.password ?? '';
    let plugin = greeting.caps & Cap.PLUGIN_AUTH ? greeting.plugin : 'mysql_native_password';
    let nonce = greeting.nonce;
    if (plugin !== 'mysql_native_password' && plugin !== 'caching_sha2_password' && plugin !== 'mysql_clear_password') {
      // Start with native; the target answers with an AuthSwitch to what the account really uses.
      plugin = 'mysql_native_password';
    }
    const sock = stream.socket;
    sock.write(
      packet(
        seq++,
        encodeHandshakeResponse({
          caps,
          maxPacket: MAX_PACKET_SIZE,
          charset: client.charset,
          user: target.user,
          authResponse: authResponse(plugin, password, nonce, secure, target),
          database: target.database,
          plugin,
          attrs: client.attrs,
        }),
      ),
    );
    for (;;) {
      const p = await stream.readMysqlPacket();
      seq = p.seq + 1;
      const b = p.payload;
      const kind = b[0];
      if (kind === 0x00) {
        const ok = decodeOk(b, 0, b.length);
        return { socket: sock, greeting, caps, status: ok.status || Status.AUTOCOMMIT, tls: secure, leftover: stream.detach() };
      }
      if (kind === 0xff) {
        const e = decodeErr(b, 0, b.length);
        throw new UpstreamError(`the target refused the gateway's login: ${e.code} ${e.message}`);
      }
      if (kind === 0xfe) {
        // AuthSwitchRequest: plugin name · NUL · plugin data (NUL-terminated scramble)
        const z = b.indexOf(0, 1);
        plugin = b.toString('utf8', 1, z < 0 ? b.length : z);
        let data = z < 0 ? Buffer.alloc(0) : b.subarray(z + 1);
        if (data.length > 0 && data[data.length - 1] === 0) data = data.subarray(0, data.length - 1);
        if (data.length >= 20) nonce = Buffer.from(data.subarray(0, 20));
        sock.write(packet(seq++, authResponse(plugin, password, nonce, secure, target)));
        continue;
      }
      if (kind === 0x01 && plugin === 'caching_sha2_password') {
        // AuthMoreData: 3 = fast authentication succeeded (OK follows), 4 = full authentication needed
        if (b.length === 2 && b[1] === 3) continue;
        if (b.length === 2 && b[1] === 4) {
          if (secure) sock.write(packet(seq++, Buffer.concat([Buffer.from(password, 'utf8'), Buffer.alloc(1)])));
          else sock.write(packet(seq++, Buffer.from([0x02]))); // request the server's public key
          continue;
        }
        // the public key (PEM)
        const pem = b.toString('utf8', 1);
        if (!pem.includes('BEGIN PUBLIC KEY')) throw new UpstreamError('unexpected data from caching_sha2_password');
        sock.write(packet(seq++, encryptPasswordRsa(password, nonce, pem)));
        continue;
      }
      throw new UpstreamError(`unexpected packet 0x${(kind ?? 0).toString(16)} during the gateway's login`);
    }
  } catch (err) {
    raw.destroy();
    stream.socket.destroy();
    if (err instanceof UpstreamError) throw err;
    if (err instanceof ClosedError) throw new UpstreamError('the target closed the connection during login');
    if (err instanceof TimeoutError) throw new UpstreamError('the target did not complete the login in time');
    if (err instanceof ProtocolError) throw new UpstreamError(`protocol error during login: ${err.message}`);
    throw new UpstreamError((err as Error).message);
  }
}

function startTls(sock: net.Socket, target: MyTarget): Promise<tls.TLSSocket> {
  const verify = target.tls === 'verify-full';
  return new Promise((resolve, reject) => {
    const t = tls.connect({
      socket: sock,
      servername: net.isIP(target.host) ? undefined : target.host,
      rejectUnauthorized: verify,
      ca: verify && target.ca ? fs.readFileSync(target.ca) : undefined,
      checkServerIdentity: verify ? tls.checkServerIdentity : () => undefined,
    });
    t.once('secureConnect', () => {
      t.removeAllListeners('error');
      t.on('error', () => undefined);
      resolve(t);
    });
    t.once('error', (e) => reject(new UpstreamError(`TLS to the target failed: ${e.message}`)));
  });
}
