// Types of the values test/harness/global-setup.ts hands to integration tests via inject().
import type { MariaInfo } from './mariadb.js';
import type { PgInfo } from './postgres.js';
import type { SshdInfo } from './sshd.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's plain PostgreSQL (no TLS). Use createDatabase() for a database per test file. */
    pg: PgInfo;
    /** The run's PostgreSQL with ssl=on; `caFile` verifies its cert for host=localhost / 127.0.0.1. */
    pgSsl: PgInfo;
    /**
     * The run's MariaDB, with TLS available (not required: plain clients work too); `caFile` verifies
     * its cert for localhost / 127.0.0.1. Use createMysqlDatabase() for a database per test file.
     */
    mariadb: MariaInfo;
    /**
     * The run's OpenSSH sshd on 127.0.0.1: the OS user `pcssh` logs in with `password` or either client
     * key; sftp and TCP forwarding on. Pass sshArgs(info, knownHostsFile) (test/harness/sshd.ts) to ssh.
     */
    sshd: SshdInfo;
  }
}
