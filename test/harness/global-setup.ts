// vitest globalSetup for the integration project: one plain and one TLS PostgreSQL and one MariaDB
// (TLS available) per run, handed to test files with project.provide() (read them with inject('pg'),
// inject('pgSsl') and inject('mariadb')).
/// <reference path="./provided-context.d.ts" />
import type { TestProject } from 'vitest/node';
import { startMariadb, type MariaInfo, type MariaServer } from './mariadb.js';
import { startPostgres, type PgInfo, type PgServer } from './postgres.js';

function info(s: PgServer): PgInfo {
  return { host: s.host, port: s.port, dir: s.dir, ssl: s.ssl, ...(s.caFile ? { caFile: s.caFile } : {}) };
}

function mariaInfo(s: MariaServer): MariaInfo {
  return { host: s.host, port: s.port, dir: s.dir, ssl: s.ssl, ...(s.caFile ? { caFile: s.caFile } : {}), socket: s.socket, ed25519: s.ed25519 };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const results = await Promise.allSettled<PgServer | MariaServer>([startPostgres(), startPostgres({ ssl: true }), startMariadb({ ssl: true })]);
  const servers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(servers.map((s) => s.stop()));
    throw failed.reason;
  }
  const [plain, ssl, maria] = servers as [PgServer, PgServer, MariaServer];
  project.provide('pg', info(plain));
  project.provide('pgSsl', info(ssl));
  project.provide('mariadb', mariaInfo(maria));
  return async () => {
    await Promise.all([plain.stop(), ssl.stop(), maria.stop()]);
  };
}
