// Wires config, store, identity, policy, masking and the listeners; graceful shutdown.
import tls from 'node:tls';
import path from 'node:path';
import type { Logger } from 'pino';
import { DEFAULT_PORTS, type Config, type ConnectionConfig, type TlsMode } from './config/schema.js';
import { IdentityProvider } from './identity/provider.js';
import { GuardrailPolicy } from './policy/guardrails.js';
import { buildResultMaskers } from '../masking/engine.js';
import { SqliteAuditStore } from './audit/sqlite.js';
import type { AuditStore } from './audit/store.js';
import { ensureGatewayTls } from './tls.js';
import { CancelRegistry, type PgContext } from '../protocols/postgres/handshake.js';
import { listenPostgres, ownPortConnections, type PgListener } from '../protocols/postgres/listener.js';
import { CatalogResolver } from '../protocols/postgres/catalog.js';
import { sendCancel, type UpstreamTarget } from '../protocols/postgres/upstream.js';
import { DEFAULT_SERVER_VERSION, type MyContext } from '../protocols/mysql/handshake.js';
import { listenMysql, ownMysqlPortConnections, type MyListener } from '../protocols/mysql/listener.js';
import { probeGreeting } from '../protocols/mysql/upstream.js';
import { ensureHostKeys } from '../protocols/ssh/hostkeys.js';
import { listenSsh, ownSshPortConnections, type SshListener } from '../protocols/ssh/listener.js';
import { KnownHosts } from '../protocols/ssh/upstream.js';
import type { SshContext } from '../protocols/ssh/server.js';

export interface Gateway {
  /** bound ports: 'postgres' for the shared listener, and each connection with its own port by name */
  ports: Record<string, number>;
  audit: AuditStore;
  sessions(): number;
  close(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  logger: Logger;
  configPath?: string;
  /** open the store here instead of config.store (tests) */
  audit?: AuditStore;
  /** how long a client has to complete startup, TLS and authentication (default 15 s) */
  startupDeadlineMs?: number;
  /** mysql: how long the rest of a started packet may take after login (default 30 s, as net_read_timeout) */
  partialPacketTimeoutMs?: number;
}

export async function startGateway(config: Config, opts: StartOptions): Promise<Gateway> {
  const log = opts.logger;
  if (config.store && 'postgres' in config.store) {
    throw new Error('store.postgres is not built yet; use store: { sqlite: FILE } (the default)');
  }
  const sqliteFile = config.store && 'sqlite' in config.store ? config.store.sqlite : path.join(config.dataDir, 'portcullis.db');
  const audit = opts.audit ?? new SqliteAuditStore(sqliteFile);
  const identity = new IdentityProvider(config);
  const policy = new GuardrailPolicy(config);
  const maskers = buildResultMaskers(config);
  const material = await ensureGatewayTls(config, log);
  const secureContext = tls.createSecureContext({ cert: material.cert, key: material.key });
  // Sessions of every protocol: what shutdown and an audit failure need from each.
  const sessions = new Set<{ shutdown(): void; destroy(reason: string): void }>();
  const threads: MyContext['threads'] = new Map();
  const cancels = new CancelRegistry();
  const catalogs = new Map<string, CatalogResolver>();
  let accepting = true;
  let closing: Promise<void> | null = null;

  if (audit instanceof SqliteAuditStore) {
    audit.onError = (err) => {
      // Fail closed: without the audit nothing may be answered or forwarded.
      log.fatal({ err: err.message }, 'audit store failed; closing every session');
      for (const s of sessions) s.destroy('audit store failure');
    };
  }

  const baseCtx = (tlsMode: TlsMode, clientAuth: 'password' | 'scram', own?: ConnectionConfig): PgContext => ({
    config,
    identity,
    policy,
    maskers,
    audit,
    log,
    secureContext,
    tlsMode,
    clientAuth,
    ownConnection: own,
    cancels,
    catalog: (conn: ConnectionConfig, target: UpstreamTarget) => {
      const key = `${conn.name}\u0000${target.database}`;
      let c = catalogs.get(key);
      if (!c) {
        c = new CatalogResolver(target);
        catalogs.set(key, c);
      }
      return c;
    },
    sessions: sessions as PgContext['sessions'],
    sendCancel,
    accepting: () => accepting,
    startupDeadlineMs: opts.startupDeadlineMs ?? 15_000,
  });

  const myCtx = (tlsMode: TlsMode, serverVersion: string, own?: ConnectionConfig): MyContext => ({
    config,
    identity,
    policy,
    maskers,
    audit,
    log,
    secureContext,
    tlsMode,
    ownConnection: own,
    serverVersion,
    sessions: sessions as MyContext['sessions'],
    accepting: () => accepting,
    startupDeadlineMs: opts.startupDeadlineMs ?? 15_000,
    threads,
    ...(opts.partialPacketTimeoutMs !== undefined ? { partialPacketTimeoutMs: opts.partialPacketTimeoutMs } : {}),
  });

  const sshCtx = (own?: ConnectionConfig): SshContext => ({
    config,
    identity,
    policy,
    audit,
    log,
    ownConnection: own,
    known: new KnownHosts(audit),
    dataDir: config.dataDir,
    sessions: sessions as SshContext['sessions'],
    accepting: () => accepting,
    startupDeadlineMs: opts.startupDeadlineMs ?? 15_000,
  });

  const listeners: Array<PgListener | MyListener | SshListener> = [];
  const ports: Record<string, number> = {};
  const pgConnections = config.connections.filter((c) => c.protocol === 'postgres');
  try {
    const pgCfg = config.listen.postgres;
    if (pgCfg || pgConnections.some((c) => !c.listen)) {
      const l = await listenPostgres(
        baseCtx(pgCfg?.tls ?? config.tls.mode, pgCfg?.clientAuth ?? 'password'),
        pgCfg?.host ?? '0.0.0.0',
        pgCfg?.port ?? DEFAULT_PORTS.postgres,
      );
      listeners.push(l);
      ports.postgres = l.port;
    }
    for (const conn of ownPortConnections(config.connections)) {
      const l = await listenPostgres(
        baseCtx(conn.listen!.tls ?? pgCfg?.tls ?? config.tls.mode, pgCfg?.clientAuth ?? 'password', conn),
        conn.listen!.host ?? pgCfg?.host ?? '0.0.0.0',
        conn.listen!.port,
      );
      listeners.push(l);
      ports[conn.name] = l.port;
    }
    const myCfg = config.listen.mysql;
    const myConnections = config.connections.filter((c) => c.protocol === 'mysql');
    if (myCfg || myConnections.some((c) => !c.listen)) {
      const l = await listenMysql(
        myCtx(myCfg?.tls ?? config.tls.mode, myCfg?.serverVersion ?? DEFAULT_SERVER_VERSION),
        myCfg?.host ?? '0.0.0.0',
        myCfg?.port ?? DEFAULT_PORTS.mysql,
      );
      listeners.push(l);
      ports.mysql = l.port;
    }
    for (const conn of ownMysqlPortConnections(config.connections)) {
      // The greeting goes out before the client names anything: on a connection's own port it can be the
      // target's own version string, so clients pick the features the target really has.
      let version = conn.serverVersion;
      if (!version) {
        try {
          version = (await probeGreeting(conn.target.host, conn.target.port ?? 3306)).version;
        } catch (err) {
          version = myCfg?.serverVersion ?? DEFAULT_SERVER_VERSION;
          log.warn({ connection: conn.name, err: (err as Error).message, version }, 'could not read the target version; announcing the default');
        }
      }
      const l = await listenMysql(
        myCtx(conn.listen!.tls ?? myCfg?.tls ?? config.tls.mode, version, conn),
        conn.listen!.host ?? myCfg?.host ?? '0.0.0.0',
        conn.listen!.port,
      );
      listeners.push(l);
      ports[conn.name] = l.port;
    }
    const sshCfg = config.listen.ssh;
    const sshConnections = config.connections.filter((c) => c.protocol === 'ssh');
    if (sshCfg || sshConnections.length > 0) {
      const hostKeys = ensureHostKeys(config.dataDir, log);
      log.info({ fingerprints: hostKeys.fingerprints }, 'ssh host keys');
      if (sshCfg || sshConnections.some((c) => !c.listen)) {
        const l = await listenSsh(sshCtx(), hostKeys.keys, sshCfg?.host ?? '0.0.0.0', sshCfg?.port ?? DEFAULT_PORTS.ssh);
        listeners.push(l);
        ports.ssh = l.port;
      }
      for (const conn of ownSshPortConnections(config.connections)) {
        const l = await listenSsh(sshCtx(conn), hostKeys.keys, conn.listen!.host ?? sshCfg?.host ?? '0.0.0.0', conn.listen!.port);
        listeners.push(l);
        ports[conn.name] = l.port;
      }
    }
  } catch (err) {
    for (const l of listeners) await l.close();
    audit.close();
    throw err;
  }

  return {
    ports,
    audit,
    sessions: () => sessions.size,
    close(graceMs = 5000) {
      closing ??= (async () => {
        accepting = false;
        const closed = Promise.all(listeners.map((l) => l.close()));
        for (const s of sessions) s.shutdown();
        const deadline = Date.now() + graceMs;
        while (sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        for (const s of [...sessions]) s.destroy('gateway shutdown (grace period over)');
        await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
        for (const c of catalogs.values()) c.close();
        if (!opts.audit) audit.close();
        else audit.flush();
        log.info('gateway stopped');
      })();
      return closing;
    },
  };
}
