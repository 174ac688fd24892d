// startup → tls → auth → upstream → ready: everything before the relay, for one client connection.
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config, ConnectionConfig, TlsMode } from '../../src/config/schema.js';
import type { IdentityProvider } from '../../src/identity/provider.js';
import { ScramServer, mockScramVerifier } from '../../src/identity/scram.js';
import { sessionRecord, type AuditStore } from '../../src/audit/store.js';
import type { Policy, ResultMasker, SessionInfo } from '../../src/types.js';
import { AuthCode, CANCEL_REQUEST, Frontend, GSSENC_REQUEST, SSL_REQUEST } from './codes.js';
import { ProtocolError, Reader } from './bytes.js';
import { PreludeStream, ClosedError, TimeoutError } from './prelude.js';
import {
  decodeStartupParams,
  encodeAuthentication,
  encodeBackendKeyData,
  encodeErrorResponse,
  encodeNegotiateProtocolVersion,
  encodeReadyForQuery,
  type ErrorFields,
} from './messages.js';
import { errors } from './errors.js';
import { isUnsafeEncoding, selectConnection, startupParam as startupParamCi, vetOptions, vetStartupParams } from './select.js';
import { connectUpstream, UpstreamError, type UpstreamTarget } from './upstream.js';
import { PgSession } from './session.js';
import type { CatalogResolver } from './catalog.js';


export interface CancelTarget {
  host: string;
  port: number;
  pid: number;
  secret: number;
}

/** Maps the BackendKeyData the gateway handed out to the target session it stands for. */
export class CancelRegistry {
  private keys = new Map<number, { secret: number; target: CancelTarget }>();

  issue(target: CancelTarget): { pid: number; secret: number } {
    let pid: number;
    do pid = randomBytes(4).readUInt32BE(0) & 0x7fffffff;
    while (pid === 0 || this.keys.has(pid));
    const secret = randomBytes(4).readInt32BE(0);
    this.keys.set(pid, { secret, target });
    return { pid, secret };
  }

  lookup(pid: number, secret: number): CancelTarget | undefined {
    const k = this.keys.get(pid);
    return k && k.secret === secret ? k.target : undefined;
  }

  release(pid: number): void {
    this.keys.delete(pid);
  }
}

export interface PgContext {
  config: Config;
  identity: IdentityProvider;
  policy: Policy;
  maskers: Map<string, ResultMasker>;
  audit: AuditStore;
  log: Logger;
  secureContext: tls.SecureContext | null;
  tlsMode: TlsMode;
  clientAuth: 'password' | 'scram';
  /** set when this listener is a connection's own port */
  ownConnection?: ConnectionConfig;
  cancels: CancelRegistry;
  catalog: (conn: ConnectionConfig, target: UpstreamTarget) => CatalogResolver;
  sessions: Set<PgSession>;
  sendCancel: (t: CancelTarget) => void;
  /** false while shutting down */
  accepting: () => boolean;
  /** how long a client has to complete startup, TLS and authentication */
  startupDeadlineMs: number;
}

export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  return addr.startsWith('127.') || addr === '::1' || addr.startsWith('::ffff:127.');
}

export async function handleClient(raw: net.Socket, ctx: PgContext): Promise<void> {
  raw.setNoDelay(true);
  raw.on('error', () => undefined);
  const remote = raw.remoteAddress ?? 'unknown';
  const log = ctx.log.child({ client: remote });
  const deadline = Date.now() + ctx.startupDeadlineMs;
  const stream = new PreludeStream(raw, deadline);
  let secure = false;
  const refuse = (f: ErrorFields, why: string): void => {
    log.info({ code: f.code, why }, 'connection refused');
    stream.detach();
    stream.socket.end(encodeErrorResponse(f));
    setTimeout(() => stream.socket.destroy(), 2000).unref();
  };
  try {
    if (!ctx.accepting()) return refuse(errors.shuttingDown(), 'shutting down');
    // ---- startup: SSLRequest / GSSENCRequest / direct TLS / CancelRequest / StartupMessage
    let startup: Buffer | null = null;
    while (!startup) {
      const first = await stream.peekByte();
      if (first === 0x16) {
        // sslnegotiation=direct: a TLS ClientHello with ALPN "postgresql" instead of SSLRequest.
        if (secure || !ctx.secureContext || ctx.tlsMode === 'off') throw new ProtocolError('unexpected TLS handshake');
        const t = await upgrade(stream, ctx.secureContext, true, deadline);
        stream.replaceSocket(t);
        secure = true;
        continue;
      }
      // Int32 len · Int32 code · ...
      const msg = await stream.readUntyped();
      const code = msg.readInt32BE(4);
      if (code === SSL_REQUEST) {
        if (secure) throw new ProtocolError('SSLRequest inside TLS');
        if (ctx.secureContext && ctx.tlsMode !== 'off') {
          // Bytes after SSLRequest and before our answer would be read as plaintext (CVE-2021-23214): refuse.
          if (stream.buffered() > 0) throw new ProtocolError('data received after SSLRequest before the TLS handshake');
          stream.socket.write('S');
          const t = await upgrade(stream, ctx.secureContext, false, deadline);
          stream.replaceSocket(t);
          secure = true;
        } else {
          stream.socket.write('N');
        }
      } else if (code === GSSENC_REQUEST) {
        stream.socket.write('N');
      } else if (code === CANCEL_REQUEST) {
        // Int32 16 · Int32 80877102 · Int32 pid · Int32 secret — arrives on a fresh connection, no identity.
        if (msg.length === 16) {
          const target = ctx.cancels.lookup(msg.readInt32BE(8), msg.readInt32BE(12));
          if (target) ctx.sendCancel(target);
          log.debug({ routed: Boolean(target) }, 'cancel request');
        }
        stream.detach();
        stream.socket.end();
        return;
      } else if (code >>> 16 === 3) {
        startup = msg;
      } else {
        return refuse(errors.unsupportedProtocol(code >>> 16, code & 0xffff), 'protocol version');
      }
    }

    // ---- StartupMessage: Int32 len · Int32 version · { String name · String value }* · Byte1(0)
    const minor = startup.readInt32BE(4) & 0xffff;
    const params = decodeStartupParams(new Reader().reset(startup, 8, startup.length));
    const unknownOptions = [...params.keys()].filter((k) => k.startsWith('_pq_.'));
    if (minor > 0 || unknownOptions.length > 0) {
      // We speak 3.0 on both legs; newer clients downgrade on this answer.
      stream.socket.write(encodeNegotiateProtocolVersion(0, unknownOptions));
    }
    for (const k of unknownOptions) params.delete(k);
    const rawUser = params.get('user');
    if (!rawUser) return refuse(errors.protocol('no PostgreSQL user name specified in startup packet'), 'no user');
    const replication = startupParamCi(params, 'replication');
    if (replication !== undefined && !['false', 'off', 'no', '0'].includes(replication.toLowerCase())) {
      return refuse(errors.replication(), 'replication');
    }
    const options = startupParamCi(params, 'options');
    if (options) {
      const bad = vetOptions(options);
      if (bad) return refuse(errors.badOption(bad), 'options');
    }
    const badParam = vetStartupParams(params);
    if (badParam) return refuse(errors.badOption(badParam), 'startup parameter');
    for (const [k, v] of params) {
      if (k.toLowerCase() === 'client_encoding' && isUnsafeEncoding(v)) return refuse(errors.badEncoding(v), 'encoding');
    }

    const sel = selectConnection(rawUser, params.get('database'), ctx.ownConnection?.name);
    if (!sel.ok) {
      if (sel.reason === 'suffix-on-own-port') return refuse(errors.suffixOnOwnPort(), 'suffix on own port');
      if (sel.reason === 'bad-user') return refuse(errors.protocol('empty user name'), 'empty user');
      return refuse(errors.noConnection(), 'no connection');
    }

    // ---- TLS policy, then authentication
    const loopback = isLoopback(remote);
    if (ctx.tlsMode === 'require' && !secure) return refuse(errors.tlsRequiredAlways(), 'tls required');
    let identity: { user: string; groups: string[]; method: SessionInfo['authMethod'] };
    if (ctx.clientAuth === 'scram') {
      const got = await scramExchange(stream, ctx, sel.user);
      if (!got) return refuse(errors.badPassword(sel.user), 'bad scram proof');
      identity = { user: sel.user, groups: [...(ctx.identity.localUser(sel.user)?.groups ?? [])], method: 'scram' };
    } else {
      // Refuse before asking: a password must never cross the wire in clear from off the host.
      if (!secure && !loopback) return refuse(errors.tlsRequired(), 'password without tls');
      stream.socket.write(encodeAuthentication(AuthCode.CleartextPassword));
      const pm = await stream.readTyped();
      if (pm[0] !== Frontend.Password) throw new ProtocolError('expected a password message');
      const secret = new Reader().reset(pm, 5, pm.length).cstring();
      if (secret === '') return refuse(errors.noPassword(), 'empty password');
      const res = await ctx.identity.authenticatePassword(sel.user, secret);
      if (!res.ok) {
        log.info({ user: sel.user, reason: res.reason }, 'authentication failed');
        return refuse(errors.badPassword(sel.user), 'bad password');
      }
      identity = { user: res.user, groups: res.groups, method: res.method };
    }

    // ---- the connection and its allow list
    const conn =
      ctx.ownConnection ?? ctx.config.connections.find((c) => c.name === sel.connection && c.protocol === 'postgres');
    if (!conn) return refuse(errors.unknownConnection(sel.connection), 'unknown connection');
    if (!ctx.identity.mayUse(identity, conn)) return refuse(errors.notAllowed(identity.user, conn.name), 'not allowed');

    // ---- upstream with the gateway-held credentials
    const target: UpstreamTarget = {
      host: conn.target.host,
      port: conn.target.port ?? 5432,
      database: sel.database ?? conn.target.database ?? 'postgres',
      user: conn.target.user ?? identity.user,
      password: conn.target.password,
      tls: conn.target.tls ?? 'prefer',
      ca: conn.target.ca,
    };
    const forward = new Map<string, string>();
    for (const [k, v] of params) {
      const lk = k.toLowerCase();
      if (lk !== 'user' && lk !== 'database' && lk !== 'replication') forward.set(k, v);
    }
    let up;
    try {
      up = await connectUpstream(target, forward);
    } catch (err) {
      const detail = err instanceof UpstreamError ? err.message : 'connection failed';
      log.warn({ connection: conn.name, err: detail }, 'target unreachable or refused the gateway');
      return refuse(errors.upstream(conn.name, detail), 'upstream');
    }
    // The lexer must read strings as the target will: trust what the target reports, not what was asked.
    const targetEncoding = up.parameters.get('client_encoding');
    if (targetEncoding && isUnsafeEncoding(targetEncoding)) {
      up.socket.destroy();
      return refuse(errors.badEncoding(targetEncoding), 'encoding reported by target');
    }
    const scs = up.parameters.get('standard_conforming_strings');

    const info: SessionInfo = {
      id: randomUUID(),
      user: identity.user,
      groups: identity.groups,
      authMethod: identity.method,
      connection: conn.name,
      protocol: 'postgres',
      clientAddress: remote,
      database: target.database,
    };
    const slog = ctx.log.child({ session: info.id, user: info.user, connection: info.connection });
    const key = ctx.cancels.issue({ host: target.host, port: target.port, pid: up.pid, secret: up.secret });
    const masker = conn.masking ? ctx.maskers.get(conn.masking) ?? null : null;
    const session = new PgSession(info, stream.socket, up.socket, {
      policy: ctx.policy,
      masker,
      catalog: masker ? ctx.catalog(conn, target) : null,
      audit: ctx.audit,
      log: slog,
      onClose: (s) => {
        ctx.sessions.delete(s);
        ctx.cancels.release(key.pid);
      },
      standardConformingStrings: scs === undefined ? true : scs === 'on',
    });
    ctx.audit.startSession(sessionRecord(info, secure));
    ctx.sessions.add(session);
    slog.info({ database: target.database, tls: secure, auth: identity.method, upstreamTls: up.tls }, 'session started');
    const clientRest = stream.detach();
    // AuthenticationOk · ParameterStatus* (the target's) · BackendKeyData (ours) · ReadyForQuery
    const hello = Buffer.concat([
      encodeAuthentication(AuthCode.Ok),
      ...up.parameterFrames,
      encodeBackendKeyData(key.pid, key.secret),
      encodeReadyForQuery(up.txStatus),
    ]);
    ctx.audit.afterCommit(() => stream.socket.write(hello));
    session.start(clientRest, up.leftover);
  } catch (err) {
    if (err instanceof ClosedError) {
      stream.socket.destroy();
      return;
    }
    if (err instanceof TimeoutError) return refuse(errors.protocol('startup timed out'), 'timeout');
    if (err instanceof ProtocolError) return refuse(errors.protocol(err.message), 'malformed startup');
    log.error({ err }, 'handshake failed');
    return refuse(errors.internal(), 'internal');
  }
}

function upgrade(stream: PreludeStream, secureContext: tls.SecureContext, direct: boolean, deadline: number): Promise<tls.TLSSocket> {
  const sock = stream.unshiftAndDetach();
  return new Promise((resolve, reject) => {
    // The startup deadline covers the TLS handshake too: a client that stalls in it must not hold a slot.
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new ClosedError('TLS handshake timed out'));
    }, Math.max(0, deadline - Date.now()));
    const t = new tls.TLSSocket(sock, {
      isServer: true,
      secureContext,
      ALPNProtocols: ['postgresql'],
    });
    t.on('error', () => undefined);
    const onError = (e: Error): void => {
      clearTimeout(timer);
      reject(new ClosedError(`TLS handshake failed: ${e.message}`));
    };
    t.once('error', onError);
    t.once('secure', () => {
      clearTimeout(timer);
      t.off('error', onError);
      if (direct && t.alpnProtocol !== 'postgresql') {
        t.destroy();
        return reject(new ClosedError('direct TLS without ALPN "postgresql"'));
      }
      resolve(t);
    });
  });
}

/** SCRAM-SHA-256 against the stored verifier; unknown users get a mock exchange that fails at the end. */
async function scramExchange(stream: PreludeStream, ctx: PgContext, user: string): Promise<boolean> {
  const verifier = ctx.identity.scramVerifier(user);
  const server = new ScramServer(verifier ?? mockScramVerifier(user));
  stream.socket.write(encodeAuthentication(AuthCode.SASL, ['SCRAM-SHA-256']));
  // SASLInitialResponse: Byte1('p') · Int32 len · String mechanism · Int32 n · Byte[n]
  const first = await stream.readTyped();
  if (first[0] !== Frontend.Password) throw new ProtocolError('expected SASLInitialResponse');
  const r = new Reader().reset(first, 5, first.length);
  const mech = r.cstring();
  if (mech !== 'SCRAM-SHA-256') throw new ProtocolError(`unsupported SASL mechanism ${mech}`);
  const n = r.int32();
  const clientFirst = r.bytes(n).toString('utf8');
  let serverFirst: string;
  try {
    serverFirst = server.handleClientFirst(clientFirst);
  } catch (err) {
    throw new ProtocolError(`bad SCRAM client-first message: ${(err as Error).message}`);
  }
  stream.socket.write(encodeAuthentication(AuthCode.SASLContinue, Buffer.from(serverFirst)));
  const fin = await stream.readTyped();
  if (fin[0] !== Frontend.Password) throw new ProtocolError('expected SASLResponse');
  let result: { ok: boolean; serverFinal?: string };
  try {
    result = server.handleClientFinal(fin.toString('utf8', 5));
  } catch {
    return false;
  }
  if (!result.ok || !verifier || !result.serverFinal) return false;
  stream.socket.write(encodeAuthentication(AuthCode.SASLFinal, Buffer.from(result.serverFinal)));
  return true;
}
