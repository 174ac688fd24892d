// An in-process portcullis gateway for integration tests, configured from a plain object and wired to the
// run's throwaway servers. Listens on free ports on 127.0.0.1; data (store, keys) in a temp dir.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { configSchema, type Config } from '../../src/config/schema.js';
import { hashPassword } from '../../src/identity/passwords.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { SqliteAuditStore } from '../../src/audit/sqlite.js';

export interface TestGateway {
  gateway: Gateway;
  port: number;
  dataDir: string;
  audit: SqliteAuditStore;
  config: Config;
  stop(): Promise<void>;
}

const hashCache = new Map<string, string>();
/** Stored hash for a test password (PBKDF2 is slow: cache per process). */
export function testHash(password: string): string {
  let h = hashCache.get(password);
  if (!h) {
    h = hashPassword(password, { mysql: true });
    hashCache.set(password, h);
  }
  return h;
}

/** Build a gateway from a config object (keys as in portcullis.yaml); ports default to free ones. */
export async function startTestGateway(raw: Record<string, unknown>, opts: { startupDeadlineMs?: number; partialPacketTimeoutMs?: number } = {}): Promise<TestGateway> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-gw-'));
  const listen = (raw.listen as Record<string, unknown> | undefined) ?? { postgres: { host: '127.0.0.1', port: 0 } };
  const config = configSchema.parse({ dataDir, ...raw, listen });
  const audit = new SqliteAuditStore(path.join(dataDir, 'portcullis.db'));
  const level = process.env.PORTCULLIS_TEST_LOG ?? 'silent';
  const logger = pino({ level }, pino.destination(2));
  const gateway = await startGateway(config, { logger, audit, startupDeadlineMs: opts.startupDeadlineMs, partialPacketTimeoutMs: opts.partialPacketTimeoutMs });
  return {
    gateway,
    port: gateway.ports.postgres ?? 0,
    dataDir,
    audit,
    config,
    async stop() {
      await gateway.close(500);
      audit.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
