// vitest globalSetup for the integration project: one plain and one TLS PostgreSQL, one MariaDB
// (TLS available) and one OpenSSH sshd per run, handed to test files with project.provide() (read them
// with inject('pg'), inject('pgSsl'), inject('mariadb') and inject('sshd')).
/// <reference path="./provided-context.d.ts" />
import type { TestProject } from 'vitest/node';
import { startMariadb, type MariaInfo, type MariaServer } from './mariadb.js';
import { startPostgres, type PgInfo, type PgServer } from './postgres.js';
import { startSshd, type SshdInfo, type SshdServer } from './sshd.js';

function info(s: PgServer): PgInfo {
  return { host: s.host, port: s.port, dir: s.dir, ssl: s.ssl, ...(s.caFile ? { caFile: s.caFile } : {}) };
}

function mariaInfo(s: MariaServer): MariaInfo {
  return { host: s.host, port: s.port, dir: s.dir, ssl: s.ssl, ...(s.caFile ? { caFile: s.caFile } : {}), socket: s.socket, ed25519: s.ed25519 };
}

function sshdInfo(s: SshdServer): SshdInfo {
  const { host, port, dir, user, password, privateKeyFile, privateKeyRsaFile, hostKeyFingerprint, hostPublicKey, sftpServer } = s;
  return { host, port, dir, user, password, privateKeyFile, privateKeyRsaFile, hostKeyFingerprint, hostPublicKey, sftpServer };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const results = await Promise.allSettled<PgServer | MariaServer | SshdServer>([
    startPostgres(),
    startPostgres({ ssl: true }),
    startMariadb({ ssl: true }),
    startSshd(),
  ]);
  const servers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(servers.map((s) => s.stop()));
    throw failed.reason;
  }
  const [plain, ssl, maria, sshd] = servers as [PgServer, PgServer, MariaServer, SshdServer];
  project.provide('pg', info(plain));
  project.provide('pgSsl', info(ssl));
  project.provide('mariadb', mariaInfo(maria));
  project.provide('sshd', sshdInfo(sshd));
  return async () => {
    await Promise.all([plain.stop(), ssl.stop(), maria.stop(), sshd.stop()]);
  };
}
