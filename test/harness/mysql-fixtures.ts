// Gateway config pieces the MySQL tests share: targets on the run's throwaway MariaDB, connections, users.
import type { MariaInfo } from './mariadb.js';
import { MY_NATIVE } from './mariadb.js';
import { testHash } from './gateway.js';

/** A target on the run's MariaDB as the native-password account, without TLS unless `tls` says otherwise. */
export function myTarget(server: MariaInfo, database: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { host: server.host, port: server.port, database, user: MY_NATIVE.user, password: MY_NATIVE.password, tls: 'disable', ...extra };
}

/** A mysql connection's config: `name` to `target`, allowed to `group`; `extra` adds to it or overrides. */
export function myConnection(name: string, target: Record<string, unknown>, group: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, protocol: 'mysql', target, allow: [group], ...extra };
}

/**
 * A config user with password `${name}-pw`. `native: true` (default) stores the MySQL verifier too, so MySQL
 * clients log in with mysql_native_password; `native: false` makes the gateway switch to mysql_clear_password.
 */
export function myUser(name: string, group: string, native = true): Record<string, unknown> {
  const hash = testHash(`${name}-pw`);
  return { name, groups: [group], password: { hash: native ? hash : hash.split(';')[0] } };
}

export const MY_LISTEN = { mysql: { host: '127.0.0.1', port: 0 } };
