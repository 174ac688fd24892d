// The gateway's own SSH login to the target: the gateway-held private key or password, and the target's host
// key checked against the connection's pinned fingerprint (strict) or remembered on first use (tofu).
import ssh2, { type Client as SshClient } from 'ssh2';
import type { Logger } from 'pino';
import type { ConnectionConfig } from '../../src/config/schema.js';
import type { AuditStore } from '../../src/audit/store.js';
import { fingerprint } from './hostkeys.js';

const { Client } = ssh2;

export class UpstreamError extends Error {}

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  privateKey?: string;
  password?: string;
  /** 'SHA256:…' pinned in config */
  hostKey?: string;
  hostKeyPolicy: 'strict' | 'tofu';
}

export function targetOf(conn: ConnectionConfig, user: string): SshTarget {
  return {
    host: conn.target.host,
    port: conn.target.port ?? 22,
    user: conn.target.user ?? user,
    privateKey: conn.target.privateKey,
    password: conn.target.password,
    hostKey: conn.target.hostKey,
    hostKeyPolicy: conn.hostKeyPolicy ?? (conn.target.hostKey ? 'strict' : 'tofu'),
  };
}

/** Trust-on-first-use host keys, kept in the store (shared by every gateway on that store). */
export class KnownHosts {
  constructor(private readonly store: Pick<AuditStore, 'knownHostKey' | 'rememberHostKey'>) {}
  get(key: string): string | undefined {
    return this.store.knownHostKey(key);
  }
  set(key: string, fp: string): void {
    this.store.rememberHostKey(key, fp);
  }
}

const READY_TIMEOUT_MS = 10_000;

export function connectUpstream(target: SshTarget, known: KnownHosts, log: Logger): Promise<SshClient> {
  return new Promise((resolve, reject) => {
    const conn = new Client();
    let hostKeyProblem: string | null = null;
    const key = `${target.host}:${target.port}`;
    conn.on('ready', () => resolve(conn));
    conn.on('error', (err: Error & { level?: string }) => {
      if (hostKeyProblem) return reject(new UpstreamError(hostKeyProblem));
      const level = err.level === 'client-authentication' ? 'the target refused the gateway\'s credentials' : err.message;
      reject(new UpstreamError(level));
    });
    try {
      conn.connect({
        host: target.host,
        port: target.port,
        username: target.user,
        ...(target.privateKey ? { privateKey: target.privateKey } : {}),
        ...(target.password ? { password: target.password } : {}),
        readyTimeout: READY_TIMEOUT_MS,
        keepaliveInterval: 0,
        hostVerifier: (blob: Buffer) => {
          const fp = fingerprint(blob);
          if (target.hostKeyPolicy === 'strict' || target.hostKey) {
            if (!target.hostKey) {
              hostKeyProblem = 'no hostKey fingerprint is configured for the target (hostKeyPolicy: strict)';
              return false;
            }
            if (fp !== target.hostKey) {
              hostKeyProblem = `the target's host key ${fp} does not match the configured ${target.hostKey}`;
              log.error({ target: key, got: fp, want: target.hostKey }, 'TARGET HOST KEY MISMATCH');
              return false;
            }
            return true;
          }
          const seen = known.get(key);
          if (!seen) {
            known.set(key, fp);
            log.warn({ target: key, fingerprint: fp }, 'TRUST ON FIRST USE: remembered the target host key; pin it with target.hostKey');
            return true;
          }
          if (seen !== fp) {
            hostKeyProblem = `the target's host key changed: ${fp}, remembered ${seen}`;
            log.error({ target: key, got: fp, remembered: seen }, 'TARGET HOST KEY CHANGED');
            return false;
          }
          return true;
        },
      });
    } catch (err) {
      reject(new UpstreamError((err as Error).message));
    }
  });
}
