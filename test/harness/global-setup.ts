// vitest globalSetup for the integration project: one plain and one TLS PostgreSQL per run,
// handed to test files with project.provide() (read them with inject('pg') / inject('pgSsl')).
/// <reference path="./provided-context.d.ts" />
import type { TestProject } from 'vitest/node';
import { startPostgres, type PgInfo, type PgServer } from './postgres.js';

function info(s: PgServer): PgInfo {
  return { host: s.host, port: s.port, dir: s.dir, ssl: s.ssl, ...(s.caFile ? { caFile: s.caFile } : {}) };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const results = await Promise.allSettled([startPostgres(), startPostgres({ ssl: true })]);
  const servers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(servers.map((s) => s.stop()));
    throw failed.reason;
  }
  const [plain, ssl] = servers as [PgServer, PgServer];
  project.provide('pg', info(plain));
  project.provide('pgSsl', info(ssl));
  return async () => {
    await Promise.all([plain.stop(), ssl.stop()]);
  };
}
