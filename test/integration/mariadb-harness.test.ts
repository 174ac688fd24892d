// Proves the throwaway-MariaDB harness: accounts, TLS and plain over TCP, no anonymous user,
// per-file databases, mysql2, and that startMariadb()/stop() leave nothing behind.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createMysqlDatabase, mariadbAdmin, mariadbBin, MY_ADMIN, MY_ED, MY_NATIVE, startMariadb, type MariaInfo } from '../harness/mariadb.js';
import { run } from '../harness/processes.js';

/** The mariadb CLI over TCP (never the socket); returns the run result (never throws for a failed login). */
function cli(server: MariaInfo, user: string, password: string, sql: string, tls: boolean, extra: string[] = []) {
  const tlsArgs = tls ? ['--ssl', `--ssl-ca=${server.caFile}`, '--skip-ssl-verify-server-cert'] : ['--skip-ssl'];
  return run(
    mariadbBin('mariadb'),
    ['--no-defaults', '--protocol=TCP', `--host=${server.host}`, `--port=${server.port}`, `--user=${user}`, `--password=${password}`, '--batch', '--skip-column-names', '--connect-timeout=10', ...tlsArgs, ...extra, '-e', sql],
    { env: { MYSQL_PWD: undefined, MYSQL_HOST: undefined, MYSQL_TCP_PORT: undefined }, timeoutMs: 20_000 },
  );
}

/** Value column of `SHOW STATUS LIKE 'Ssl_cipher'` in --batch --skip-column-names output (empty without TLS). */
function sslCipher(stdout: string): string {
  const line = stdout.split('\n').find((l) => l.startsWith('Ssl_cipher\t'));
  if (line === undefined) throw new Error(`no Ssl_cipher row in ${JSON.stringify(stdout)}`);
  return line.slice('Ssl_cipher\t'.length);
}

describe('harness: MariaDB', () => {
  const maria = inject('mariadb');

  it('is provided by globalSetup, with TLS and a CA file', () => {
    expect(maria.host).toBe('127.0.0.1');
    expect(maria.port).toBeGreaterThan(0);
    expect(maria.ssl).toBe(true);
    expect(maria.caFile).toBeTruthy();
    expect(readFileSync(maria.caFile!, 'utf8')).toContain('BEGIN CERTIFICATE');
    expect(existsSync(maria.socket)).toBe(true);
  });

  it('the CLI logs in over TCP as pc_native with TLS', async () => {
    const r = await cli(maria, MY_NATIVE.user, MY_NATIVE.password, "SELECT VERSION(), CURRENT_USER(); SHOW STATUS LIKE 'Ssl_cipher'", true);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [first, ...rest] = r.stdout.split('\n');
    expect(first).toMatch(/^\d+\.\d+\.\d+-MariaDB\S*\tpc_native@%$/);
    expect(sslCipher(rest.join('\n'))).toMatch(/^[A-Z0-9_-]+$/);
  });

  it('the CLI logs in over TCP as pc_native without TLS', async () => {
    const r = await cli(maria, MY_NATIVE.user, MY_NATIVE.password, "SELECT VERSION(); SHOW STATUS LIKE 'Ssl_cipher'", false);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [first, ...rest] = r.stdout.split('\n');
    expect(first).toMatch(/-MariaDB/);
    expect(sslCipher(rest.join('\n'))).toBe('');
  });

  it('the server cert verifies against caFile for 127.0.0.1 (--ssl-verify-server-cert)', async () => {
    const ok = await cli(maria, MY_ADMIN.user, MY_ADMIN.password, 'SELECT 1', true, ['--ssl-verify-server-cert']);
    expect(ok.stderr).toBe('');
    expect(ok.stdout.trim()).toBe('1');
  });

  it('pc_admin has ALL WITH GRANT OPTION, pc_native ALL without it, both mysql_native_password', async () => {
    const r = await cli(maria, MY_ADMIN.user, MY_ADMIN.password, `SHOW GRANTS FOR '${MY_ADMIN.user}'@'%'; SHOW GRANTS FOR '${MY_NATIVE.user}'@'%'`, false);
    expect(r.stderr).toBe('');
    const [admin, native] = r.stdout.trim().split('\n');
    expect(admin).toMatch(/^GRANT ALL PRIVILEGES ON \*\.\* TO `pc_admin`@`%` IDENTIFIED BY PASSWORD '\*[0-9A-F]{40}' WITH GRANT OPTION$/);
    expect(native).toMatch(/^GRANT ALL PRIVILEGES ON \*\.\* TO `pc_native`@`%` IDENTIFIED BY PASSWORD '\*[0-9A-F]{40}'$/);
  });

  it('refuses a wrong password', async () => {
    const r = await cli(maria, MY_NATIVE.user, 'wrong-password', 'SELECT 1', false);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/ERROR 1045 .*Access denied for user 'pc_native'/);
  });

  it('has no anonymous user: an unknown user is refused with 1045 (CLI and mysql2)', async () => {
    expect((await mariadbAdmin(maria, "SELECT COUNT(*) FROM mysql.global_priv WHERE User = ''")).trim()).toBe('0');
    const r = await cli(maria, 'no_such_user', '', 'SELECT 1', false);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/ERROR 1045 .*Access denied for user 'no_such_user'/);
    const err = await mysql
      .createConnection({ host: maria.host, port: maria.port, user: 'no_such_user', password: '' })
      .then(async (c) => {
        await c.end();
        return undefined;
      })
      .catch((e: { errno?: number }) => e);
    expect(err?.errno).toBe(1045);
  });

  it('mysql2 connects as pc_native, plain and with TLS verified against caFile', async () => {
    const plain = await mysql.createConnection({ host: maria.host, port: maria.port, user: MY_NATIVE.user, password: MY_NATIVE.password });
    try {
      const [rows] = await plain.query<mysql.RowDataPacket[]>("SELECT 6 * 7 AS n, CURRENT_USER() AS u, @@character_set_server AS cs");
      expect(rows).toEqual([{ n: 42, u: 'pc_native@%', cs: 'utf8mb4' }]);
    } finally {
      await plain.end();
    }
    const tls = await mysql.createConnection({
      host: maria.host,
      port: maria.port,
      user: MY_NATIVE.user,
      password: MY_NATIVE.password,
      ssl: { ca: readFileSync(maria.caFile!, 'utf8'), rejectUnauthorized: true },
    });
    try {
      const [rows] = await tls.query<mysql.RowDataPacket[]>("SHOW STATUS LIKE 'Ssl_version'");
      expect(rows[0]?.Value).toMatch(/^TLSv1\.[23]$/);
    } finally {
      await tls.end();
    }
    // the cert really is from our CA: the system CAs do not verify it
    const untrusted = await mysql
      .createConnection({ host: maria.host, port: maria.port, user: MY_NATIVE.user, password: MY_NATIVE.password, ssl: { rejectUnauthorized: true } })
      .then(async (c) => {
        await c.end();
        return undefined;
      })
      .catch((e: Error) => e);
    expect(untrusted?.message).toMatch(/certificate/i);
  });

  it.runIf(maria.ed25519 /* only when the server could install the auth_ed25519 plugin */)('pc_ed25519 logs in with the ed25519 plugin', async () => {
    const r = await cli(maria, MY_ED.user, MY_ED.password, 'SELECT CURRENT_USER()', false);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('pc_ed25519@%');
    const plugin = await mariadbAdmin(maria, `SELECT JSON_VALUE(Priv, '$.plugin') FROM mysql.global_priv WHERE User = '${MY_ED.user}'`);
    expect(plugin.trim()).toBe('ed25519');
  });

  it('mariadbAdmin throws with the server error', async () => {
    await expect(mariadbAdmin(maria, 'SELECT * FROM mysql.no_such_table')).rejects.toThrow(/no_such_table/);
  });

  describe('createMysqlDatabase', () => {
    const db = `harness_${Math.random().toString(36).slice(2, 8)}`;
    beforeAll(async () => {
      await createMysqlDatabase(maria, db);
    });

    it('makes a database pc_native can use (CLI and mysql2)', async () => {
      const r = await cli(maria, MY_NATIVE.user, MY_NATIVE.password, 'CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2); SELECT COUNT(*) FROM t', true, [`--database=${db}`]);
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe('2');
      const c = await mysql.createConnection({ host: maria.host, port: maria.port, user: MY_NATIVE.user, password: MY_NATIVE.password, database: db });
      try {
        const [rows] = await c.query<mysql.RowDataPacket[]>('SELECT SUM(x) AS s FROM t');
        expect(Number(rows[0]?.s)).toBe(3);
      } finally {
        await c.end();
      }
    });

    it('refuses to create the same database twice', async () => {
      await expect(createMysqlDatabase(maria, db)).rejects.toThrow(/database exists/i);
    });
  });
});

describe('harness: own MariaDB', () => {
  it('starts a plain server, and stop() ends mariadbd and removes its dir', async () => {
    const s = await startMariadb();
    let pid = 0;
    try {
      expect(s.ssl).toBe(false);
      expect(s.caFile).toBeUndefined();
      expect(s.port).not.toBe(inject('mariadb').port);
      pid = Number(readFileSync(path.join(s.dir, 'mysqld.pid'), 'utf8').trim());
      expect(pid).toBeGreaterThan(0);
      expect((await mariadbAdmin(s, 'SELECT 40 + 2')).trim()).toBe('42');
      // no TLS on a plain server (the 10.11 CLI falls back to plain with --ssl; verifying the cert makes TLS required)
      const r = await cli(s, MY_NATIVE.user, MY_NATIVE.password, 'SELECT 1', false, ['--ssl', '--ssl-verify-server-cert']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/server does not support it/);
    } finally {
      await s.stop();
    }
    expect(existsSync(s.dir)).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  });
});
