// Types of the values test/harness/global-setup.ts hands to integration tests via inject().
import type { PgInfo } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's plain PostgreSQL (no TLS). Use createDatabase() for a database per test file. */
    pg: PgInfo;
    /** The run's PostgreSQL with ssl=on; `caFile` verifies its cert for host=localhost / 127.0.0.1. */
    pgSsl: PgInfo;
  }
}
