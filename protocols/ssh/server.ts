// One client connection: authentication (public key, password, keyboard-interactive; local users or JWT
// access tokens), the connection and its allow check, then the upstream login with the gateway-held
// credentials — and only then is the client accepted, so a dead target is a clear message and an
// unauthenticated client never makes the gateway dial anything. Channels are bridged by channels.ts.
import { randomUUID } from 'node:crypto';
import ssh2, { type AuthContext, type Connection, type Client as SshClient, type ParsedKey } from 'ssh2';
import type { Logger } from 'pino';
import type { Config, ConnectionConfig } from '../../src/config/schema.js';
import type { IdentityProvider } from '../../src/identity/provider.js';
import { sessionRecord, type AuditStore } from '../../src/audit/store.js';
import type { Policy, SessionInfo } from '../../src/types.js';
import { isLoopback } from '../postgres/handshake.js';
import { sendBanner } from './banner.js';
import { connectUpstream, targetOf, UpstreamError, type KnownHosts } from './upstream.js';
import { bridgeClient } from './channels.js';

const { utils } = ssh2;

export interface SshContext {
  config: Config;
  identity: IdentityProvider;
  policy: Policy;
  audit: AuditStore;
  log: Logger;
  ownConnection?: ConnectionConfig;
  known: KnownHosts;
  dataDir: string;
  sessions: Set<SshSession>;
  accepting: () => boolean;
  /** how long a client has to authenticate */
  startupDeadlineMs: number;
}

/** What channels.ts needs of an authenticated session. */
export interface SshSession {
  info: SessionInfo;
  conn: ConnectionConfig;
  client: Connection;
  upstream: SshClient;
  log: Logger;
  bytesIn: number;
  bytesOut: number;
  /** session channels open (shell, exec, sftp, forwards) */
  channels: number;
  /** shutting down: no new channels; the connection ends when the last one closes */
  draining: boolean;
  channelClosed(): void;
  shutdown(): void;
  destroy(reason: string): void;
}

const MAX_AUTH_FAILURES = 6;

interface Identity {
  user: string;
  groups: string[];
  method: SessionInfo['authMethod'];
}

/** Public keys of the local users, parsed once per context. */
const keyCache = new WeakMap<Config, Map<string, ParsedKey[]>>();
function userKeys(config: Config, user: string): ParsedKey[] {
  let m = keyCache.get(config);
  if (!m) {
    m = new Map();
    for (const u of config.identity.users) {
      const keys: ParsedKey[] = [];
      for (const line of u.sshKeys) {
        const k = utils.parseKey(line);
        if (k instanceof Error) continue;
        keys.push(Array.isArray(k) ? k[0]! : k);
      }
      m.set(u.name, keys);
    }
    keyCache.set(config, m);
  }
  return m.get(user) ?? [];
}

/**
 * paramiko sends a new SSH_MSG_SERVICE_REQUEST "ssh-userauth" before each authentication method it tries;
 * ssh2 (1.x) disconnects on the second one, so a refused key never falls back to the password. Before
 * authentication succeeds, a repeated request for the same service is simply accepted again, as sshd does.
 */
function allowRepeatedUserauthService(client: Connection): void {
  const proto = (client as unknown as { _protocol?: { _handlers?: Record<string, unknown>; serviceAccept(name: string): void } })._protocol;
  const handlers = proto?._handlers;
  const original = handlers?.SERVICE_REQUEST as ((p: unknown, service: string) => void) | undefined;
  if (!proto || !handlers || typeof original !== 'function') return;
  let accepted = false;
  handlers.SERVICE_REQUEST = (p: unknown, service: string): void => {
    if (accepted && service === 'ssh-userauth' && !(client as unknown as { authenticated?: boolean }).authenticated) {
      proto.serviceAccept(service);
      return;
    }
    if (service === 'ssh-userauth') accepted = true;
    original(p, service);
  };
}

export function handleSshClient(client: Connection, remote: string, ctx: SshContext): void {
  const log = ctx.log.child({ client: remote });
  let failures = 0;
  let settled = false;
  let busy = false;
  const deadline = setTimeout(() => {
    if (!settled) {
      log.info('authentication timed out');
      client.end();
    }
  }, ctx.startupDeadlineMs);
  deadline.unref();
  let clientGone = false;
  // A protocol error leaves ssh2's parser with whatever length it read (a bogus 256 MB one included) while the
  // socket stays half open: drop the socket at once, so garbage cannot make it allocate.
  client.on('error', (err) => {
    log.debug({ err: err.message }, 'client connection error');
    (client as unknown as { _sock?: { destroy(): void } })._sock?.destroy();
  });
  allowRepeatedUserauthService(client);
  client.on('close', () => {
    clientGone = true;
    clearTimeout(deadline);
  });

  const fail = (actx: AuthContext, why: string, banner?: string): void => {
    failures++;
    log.info({ user: actx.username, method: actx.method, why }, 'authentication failed');
    if (banner) sendBanner(client, `portcullis: ${banner}`);
    if (failures >= MAX_AUTH_FAILURES) {
      actx.reject();
      client.end();
      return;
    }
    actx.reject(['publickey', 'password', 'keyboard-interactive']);
  };

  client.on('authentication', (actx) => {
    if (settled || busy || failures >= MAX_AUTH_FAILURES) return actx.reject();
    if (!ctx.accepting()) {
      sendBanner(client, 'portcullis: the gateway is shutting down');
      return actx.reject();
    }
    // USER#CONNECTION, or USER on a connection's own port
    const hash = actx.username.lastIndexOf('#');
    const user = hash >= 0 ? actx.username.slice(0, hash) : actx.username;
    const suffix = hash >= 0 ? actx.username.slice(hash + 1) : undefined;
    let connName: string;
    if (ctx.ownConnection) {
      if (suffix !== undefined) return fail(actx, 'suffix on own port', 'this port belongs to one connection; log in as USER without #CONNECTION');
      connName = ctx.ownConnection.name;
    } else {
      if (!suffix) {
        if (actx.method === 'none') return actx.reject(['publickey', 'password', 'keyboard-interactive']);
        return fail(actx, 'no connection', "no connection named; log in as 'USER#CONNECTION' (ssh -p 12222 'alice#web@gateway')");
      }
      connName = suffix;
    }
    if (user === '') return fail(actx, 'empty user');

    const finish = (id: Identity): void => {
      const conn = ctx.ownConnection ?? ctx.config.connections.find((c) => c.name === connName && c.protocol === 'ssh');
      if (!conn) return fail(actx, 'unknown connection', `unknown connection '${connName}'`);
      if (!ctx.identity.mayUse(id, conn)) return fail(actx, 'not allowed', `user '${id.user}' may not use connection '${conn.name}'`);
      busy = true;
      connectUpstream(targetOf(conn, id.user), ctx.known, log.child({ connection: conn.name }))
        .then((upstream) => {
          busy = false;
          if (settled || clientGone) {
            upstream.end();
            return;
          }
          settled = true;
          clearTimeout(deadline);
          start(id, conn, upstream);
          actx.accept();
        })
        .catch((err: unknown) => {
          busy = false;
          const detail = err instanceof UpstreamError ? err.message : 'connection failed';
          log.warn({ connection: conn.name, err: detail }, 'target unreachable or refused the gateway');
          // not the client's fault: no failure counted against it, but no way in either
          sendBanner(client, `portcullis: cannot reach the target of connection '${conn.name}': ${detail}`);
          actx.reject();
          client.end();
        });
    };

    switch (actx.method) {
      case 'none':
        return actx.reject(['publickey', 'password', 'keyboard-interactive']);
      case 'publickey': {
        const algo = actx.key.algo;
        if (algo.startsWith('sk-') || algo.includes('-cert-')) {
          return fail(actx, 'unsupported key type', `${algo.startsWith('sk-') ? 'FIDO (sk-*) keys' : 'OpenSSH certificates'} are not supported; use a plain ed25519/RSA/ECDSA key or a password`);
        }
        const match = userKeys(ctx.config, user).find((k) => k.getPublicSSH().equals(actx.key.data));
        if (!match) return fail(actx, 'unknown key');
        // the client asks whether this key would do (no signature yet): yes, without dialling anything
        if (!actx.signature || !actx.blob) return actx.accept();
        if (match.verify(actx.blob, actx.signature, actx.hashAlgo) !== true) return fail(actx, 'bad signature');
        const local = ctx.identity.localUser(user);
        return finish({ user, groups: [...(local?.groups ?? [])], method: 'publickey' });
      }
      case 'password':
        busy = true;
        return void ctx.identity.authenticatePassword(user, actx.password).then((res) => {
          busy = false;
          if (!res.ok) return fail(actx, res.reason);
          finish({ user: res.user, groups: res.groups, method: res.method });
        });
      case 'keyboard-interactive':
        return actx.prompt([{ prompt: 'Password (or access token): ', echo: false }], 'portcullis', '', (answers) => {
          const secret = answers[0] ?? '';
          busy = true;
          void ctx.identity.authenticatePassword(user, secret).then((res) => {
            busy = false;
            if (!res.ok) return fail(actx, res.reason);
            finish({ user: res.user, groups: res.groups, method: res.method });
          });
        });
      default:
        return actx.reject(['publickey', 'password', 'keyboard-interactive']);
    }
  });

  const start = (id: Identity, conn: ConnectionConfig, upstream: SshClient): void => {
    const info: SessionInfo = {
      id: randomUUID(),
      user: id.user,
      groups: id.groups,
      authMethod: id.method,
      connection: conn.name,
      protocol: 'ssh',
      clientAddress: remote,
    };
    const slog = ctx.log.child({ session: info.id, user: info.user, connection: info.connection });
    let closed = false;
    const session: SshSession = {
      info,
      conn,
      client,
      upstream,
      log: slog,
      bytesIn: 0,
      bytesOut: 0,
      channels: 0,
      draining: false,
      channelClosed: () => {
        session.channels = Math.max(0, session.channels - 1);
        if (session.draining && session.channels === 0) end('gateway shutdown');
      },
      // graceful: idle connections end now, busy ones when their last channel closes
      shutdown: () => {
        session.draining = true;
        if (session.channels === 0) end('gateway shutdown');
      },
      destroy: (reason) => end(reason),
    };
    const end = (reason: string): void => {
      if (closed) return;
      closed = true;
      ctx.sessions.delete(session);
      upstream.end();
      client.end();
      slog.info({ reason }, 'session closed');
      ctx.audit.endSession(info.id, { endedAt: Date.now(), reason, bytesIn: session.bytesIn, bytesOut: session.bytesOut });
    };
    ctx.audit.startSession(sessionRecord(info, true));
    ctx.sessions.add(session);
    slog.info({ auth: id.method, loopback: isLoopback(remote) }, 'session started');
    client.on('close', () => end('client closed'));
    // The target went away: open channels first tell their clients (stderr, exit 255), then the connection ends.
    upstream.on('close', () => {
      session.draining = true;
      if (session.channels === 0) end('target closed');
      else setTimeout(() => end('target closed'), 2000).unref();
    });
    upstream.on('error', (err) => slog.debug({ err: err.message, stack: err.stack }, 'target connection error'));
    bridgeClient(session, ctx);
  };
}
