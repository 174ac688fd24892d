// greeting → TLS → HandshakeResponse41 → authentication → upstream → OK: everything before the relay.
import type net from 'node:net';
import tls from 'node:tls';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config, ConnectionConfig, TlsMode } from '../../src/config/schema.js';
import type { IdentityProvider } from '../../src/identity/provider.js';
import { verifyMysqlNativeScramble } from '../../src/identity/mysql.js';
import { decideNow, refusalOf } from '../../src/policy/enforce.js';
import { sessionRecord, type AuditStore } from '../../src/audit/store.js';
import type { Policy, ResultMasker, SessionInfo } from '../../src/types.js';
import { ClosedError, PreludeStream, TimeoutError } from '../postgres/prelude.js';
import { isLoopback } from '../postgres/handshake.js';
import { Cap, GATEWAY_CAPS, Status, UTF8MB4_GENERAL_CI } from './codes.js';
import { packet, ProtocolError } from './packets.js';
import {
  decodeHandshakeResponse,
  encodeAuthSwitch,
  encodeErr,
  encodeGreeting,
  encodeOk,
  isSslRequest,
  type Err,
  type HandshakeResponse,
} from './messages.js';
import { errors } from './errors.js';
import { connectUpstream, UpstreamError, type MyTarget } from './upstream.js';
import { MySession } from './session.js';
import { unsafeCollation } from './charsets.js';

/** What a MySQL 8.0 server of the same era announces; clients pick features from it. */
export const DEFAULT_SERVER_VERSION = '8.0.40-portcullis';

export interface MyContext {
  config: Config;
  identity: IdentityProvider;
  policy: Policy;
  maskers: Map<string, ResultMasker>;
  audit: AuditStore;
  log: Logger;
  secureContext: tls.SecureContext | null;
  tlsMode: TlsMode;
  /** set when this listener is a connection's own port */
  ownConnection?: ConnectionConfig;
  /** version string of the greeting */
  serverVersion: string;
  sessions: Set<MySession>;
  accepting: () => boolean;
  startupDeadlineMs: number;
  /** after login, how long the rest of a started packet may take (default: session.ts) */
  partialPacketTimeoutMs?: number;
  /** connection ids handed out in greetings → the session that holds them (KILL translation) */
  threads: Map<number, MySession>;
}

let nextThreadId = 1 + (randomBytes(2).readUInt16LE(0) & 0x3fff);

/** A 20-byte scramble of printable bytes (clients read it as NUL-terminated). */
function makeNonce(): Buffer {
  const b = randomBytes(20);
  for (let i = 0; i < 20; i++) b[i] = 0x21 + (b[i]! % 94);
  return b;
}

export async function handleMysqlClient(raw: net.Socket, ctx: MyContext): Promise<void> {
  raw.setNoDelay(true);
  raw.on('error', () => undefined);
  const remote = raw.remoteAddress ?? 'unknown';
  const log = ctx.log.child({ client: remote });
  const deadline = Date.now() + ctx.startupDeadlineMs;
  const stream = new PreludeStream(raw, deadline);
  let seq = 0;
  const refuse = (e: Err, why: string): void => {
    log.info({ code: e.code, why }, 'connection refused');
    stream.detach();
    stream.socket.end(packet(seq & 0xff, encodeErr(e)));
    setTimeout(() => stream.socket.destroy(), 2000).unref();
  };
  const read = async (): Promise<Buffer> => {
    const p = await stream.readMysqlPacket();
    if (p.seq !== (seq & 0xff)) throw new ProtocolError(`sequence id ${p.seq}, expected ${seq & 0xff}`);
    seq++;
    return p.payload;
  };
  const send = (payload: Buffer): void => {
    stream.socket.write(packet(seq++ & 0xff, payload));
  };
  try {
    if (!ctx.accepting()) return refuse(errors.shuttingDown(), 'shutting down');
    const threadId = nextThreadId++ & 0x7fffffff;
    const nonce = makeNonce();
    const offerTls = ctx.secureContext !== null && ctx.tlsMode !== 'off';
    const serverCaps = (GATEWAY_CAPS | (offerTls ? Cap.SSL : 0)) >>> 0;
    send(
      encodeGreeting({
        version: ctx.serverVersion,
        connectionId: threadId,
        nonce,
        caps: serverCaps,
        charset: UTF8MB4_GENERAL_CI,
        status: Status.AUTOCOMMIT,
        plugin: 'mysql_native_password',
        mariaCaps: 0,
      }),
    );
    let p = await read();
    let secure = false;
    if (isSslRequest(p, 0, p.length)) {
      if (!offerTls) throw new ProtocolError('SSL requested but not offered');
      // No answer to an SSL request in this protocol: the ClientHello may already follow it in the same read,
      // and goes back to the socket for the TLS layer.
      const t = await upgrade(stream, ctx.secureContext!, deadline);
      stream.replaceSocket(t);
      secure = true;
      p = await read();
    }
    const hello: HandshakeResponse = decodeHandshakeResponse(p, 0, p.length);
    if (hello.caps & Cap.SSL && !secure) throw new ProtocolError('the client claims SSL without an SSL request');
    // What is in force is what both sides announced: clients announce more than they will use (mysql2 sets
    // CLIENT_QUERY_ATTRIBUTES; --compress sets CLIENT_COMPRESS) and use a capability only when the server has it.
    hello.caps = (hello.caps & serverCaps) >>> 0;
    if (unsafeCollation(hello.charset)) return refuse(errors.charset(unsafeCollation(hello.charset)!), 'charset');

    // ---- which connection
    const hash = hello.user.lastIndexOf('#');
    const user = hash >= 0 ? hello.user.slice(0, hash) : hello.user;
    const suffix = hash >= 0 ? hello.user.slice(hash + 1) : undefined;
    if (user === '') return refuse(errors.badPassword(hello.user), 'empty user');
    let connName: string;
    if (ctx.ownConnection) {
      if (suffix !== undefined) return refuse(errors.suffixOnOwnPort(), 'suffix on own port');
      connName = ctx.ownConnection.name;
    } else {
      if (!suffix) return refuse(errors.noConnection(), 'no connection');
      connName = suffix;
    }

    // ---- TLS policy, then authentication
    const loopback = isLoopback(remote);
    if (ctx.tlsMode === 'require' && !secure) return refuse(errors.tlsRequiredAlways(), 'tls required');
    let identity: { user: string; groups: string[]; method: SessionInfo['authMethod'] };
    const verifier = ctx.identity.mysqlNativeVerifier(user);
    if (verifier) {
      let response = hello.authResponse;
      if ((hello.plugin ?? 'mysql_native_password') !== 'mysql_native_password') {
        send(encodeAuthSwitch('mysql_native_password', Buffer.concat([nonce, Buffer.alloc(1)])));
        response = await read();
      }
      if (!verifyMysqlNativeScramble(verifier, nonce, response)) {
        log.info({ user }, 'authentication failed (mysql_native_password)');
        return refuse(errors.badPassword(user), 'bad scramble');
      }
      identity = { user, groups: [...(ctx.identity.localUser(user)?.groups ?? [])], method: 'password' };
    } else {
      // Refuse before switching: a password must never cross the wire in clear from off the host.
      if (!secure && !loopback) return refuse(errors.tlsRequired(), 'password without tls');
      let secret: Buffer;
      if (hello.plugin === 'mysql_clear_password') secret = hello.authResponse;
      else {
        send(encodeAuthSwitch('mysql_clear_password', Buffer.alloc(0)));
        try {
          secret = await read();
        } catch (err) {
          if (err instanceof ClosedError) {
            log.info({ user }, 'client closed instead of sending a cleartext password (plugin not enabled?)');
            stream.socket.destroy();
            return;
          }
          throw err;
        }
      }
      const text = secret.toString('utf8').replace(/\0+$/, '');
      const res = await ctx.identity.authenticatePassword(user, text);
      if (!res.ok) {
        log.info({ user, reason: res.reason }, 'authentication failed');
        return refuse(errors.badPassword(user), 'bad password');
      }
      identity = { user: res.user, groups: res.groups, method: res.method };
    }

    // ---- the connection and its allow list
    const conn = ctx.ownConnection ?? ctx.config.connections.find((c) => c.name === connName && c.protocol === 'mysql');
    if (!conn) return refuse(errors.unknownConnection(connName), 'unknown connection');
    if (!ctx.identity.mayUse(identity, conn)) return refuse(errors.notAllowed(identity.user, conn.name), 'not allowed');

    // ---- the database the client asks for is judged like COM_INIT_DB (`USE db`)
    if (hello.database) {
      const use = `USE \`${hello.database.replace(/`/g, '``')}\``;
      const pre: SessionInfo = { id: 'login', user: identity.user, groups: identity.groups, authMethod: identity.method, connection: conn.name, protocol: 'mysql', clientAddress: remote };
      const d = decideNow(ctx.policy, pre, { kind: 'sql', dialect: 'mysql', text: use, via: 'query', lexer: { dialect: 'mysql' } }, log);
      if (d.action !== 'allow') {
        const r = refusalOf(d);
        return refuse(errors.blocked(r.rule, r.message), 'database refused by policy');
      }
    }

    // ---- upstream with the gateway-held credentials
    const database = hello.database || conn.target.database || undefined;
    const target: MyTarget = {
      host: conn.target.host,
      port: conn.target.port ?? 3306,
      user: conn.target.user ?? identity.user,
      password: conn.target.password,
      database,
      tls: conn.target.tls ?? 'prefer',
      ca: conn.target.ca,
    };
    const attrs = new Map<string, string>();
    for (const k of ['_client_name', '_client_version', 'program_name']) {
      const v = hello.attrs.get(k);
      if (v !== undefined) attrs.set(k, v);
    }
    attrs.set('portcullis_user', identity.user);
    let up;
    try {
      up = await connectUpstream(target, {
        caps: hello.caps,
        charset: hello.charset || UTF8MB4_GENERAL_CI,
        maxPacket: hello.maxPacket,
        attrs,
        localInfile: conn.localInfile === true,
      });
    } catch (err) {
      const detail = err instanceof UpstreamError ? err.message : 'connection failed';
      log.warn({ connection: conn.name, err: detail }, 'target unreachable or refused the gateway');
      return refuse(errors.upstream(conn.name, detail), 'upstream');
    }

    const info: SessionInfo = {
      id: randomUUID(),
      user: identity.user,
      groups: identity.groups,
      authMethod: identity.method,
      connection: conn.name,
      protocol: 'mysql',
      clientAddress: remote,
      ...(database ? { database } : {}),
    };
    const slog = ctx.log.child({ session: info.id, user: info.user, connection: info.connection });
    const masker = conn.masking ? ctx.maskers.get(conn.masking) ?? null : null;
    const session = new MySession(info, stream.socket, up.socket, {
      policy: ctx.policy,
      masker,
      audit: ctx.audit,
      log: slog,
      clientCaps: hello.caps,
      upstreamCaps: up.caps,
      threadId,
      upstreamThreadId: up.greeting.connectionId,
      targetVersion: up.greeting.version,
      localInfile: conn.localInfile === true,
      threads: ctx.threads,
      ...(ctx.partialPacketTimeoutMs !== undefined ? { partialPacketTimeoutMs: ctx.partialPacketTimeoutMs } : {}),
      onClose: (s) => {
        ctx.sessions.delete(s);
        ctx.threads.delete(threadId);
      },
    });
    ctx.audit.startSession(sessionRecord(info, secure));
    ctx.sessions.add(session);
    ctx.threads.set(threadId, session);
    slog.info({ database, tls: secure, auth: identity.method, upstreamTls: up.tls, target: up.greeting.version }, 'session started');
    const clientRest = stream.detach();
    // The OK goes out once the target has told the gateway its sql_mode (the session's first probe): the
    // client's first command is then read as the target will read it.
    const ok = packet(seq & 0xff, encodeOk({ status: up.status }));
    session.start(clientRest, up.leftover, ok);
  } catch (err) {
    if (err instanceof ClosedError) {
      stream.socket.destroy();
      return;
    }
    if (err instanceof TimeoutError) return refuse(errors.protocol('handshake timed out'), 'timeout');
    if (err instanceof ProtocolError || err instanceof RangeError) return refuse(errors.protocol(err.message), 'malformed handshake');
    log.error({ err }, 'handshake failed');
    return refuse(errors.internal(), 'internal');
  }
}

function upgrade(stream: PreludeStream, secureContext: tls.SecureContext, deadline: number): Promise<tls.TLSSocket> {
  const sock = stream.unshiftAndDetach();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new ClosedError('TLS handshake timed out'));
    }, Math.max(0, deadline - Date.now()));
    const t = new tls.TLSSocket(sock, { isServer: true, secureContext });
    t.on('error', () => undefined);
    t.once('error', (e) => {
      clearTimeout(timer);
      reject(new ClosedError(`TLS handshake failed: ${e.message}`));
    });
    t.once('secure', () => {
      clearTimeout(timer);
      resolve(t);
    });
  });
}
