// Proves the throwaway-server harness: roles, auth methods, TLS, per-file databases, helpers.
import { existsSync } from 'node:fs';
import net from 'node:net';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createDatabase,
  PG_APP_DB,
  PG_ROLES,
  pgBin,
  psqlAdmin,
  startPostgres,
  type PgInfo,
  type PgRoleKind,
} from '../harness/postgres.js';
import { freePort, run, waitForPort } from '../harness/processes.js';

/** psql over TCP with PGPASSWORD; returns the run result (never throws for a failed login). */
function psql(server: PgInfo, user: string, password: string | undefined, sql: string, conn: Record<string, string> = {}) {
  const params = { host: server.host, port: String(server.port), dbname: PG_APP_DB, user, sslmode: 'disable', ...conn };
  const dsn = Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return run(pgBin('psql'), ['-X', '-q', '-At', '-w', '-d', dsn, '-c', sql], {
    env: { PGPASSWORD: password, PGSSLMODE: undefined, PGUSER: undefined, PGDATABASE: undefined },
    timeoutMs: 20_000,
  });
}

describe('harness: plain PostgreSQL', () => {
  const pg = inject('pg');

  it('is provided by globalSetup', () => {
    expect(pg.host).toBe('127.0.0.1');
    expect(pg.port).toBeGreaterThan(0);
    expect(pg.ssl).toBe(false);
    expect(existsSync(pg.dir)).toBe(true);
  });

  it.each(Object.keys(PG_ROLES) as PgRoleKind[])('%s role logs in over 127.0.0.1 with its password', async (kind) => {
    const role = PG_ROLES[kind];
    const r = await psql(pg, role.user, role.password || undefined, 'SELECT current_user');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(role.user);
  });

  it.each(['md5', 'scram', 'clear'] as const)('%s role is refused with a wrong password', async (kind) => {
    const r = await psql(pg, PG_ROLES[kind].user, 'wrong-password', 'SELECT 1');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/password authentication failed/);
  });

  it('stores md5 and SCRAM verifiers as asked', async () => {
    const out = await psqlAdmin(
      pg,
      `SELECT rolname || '=' || left(rolpassword, 5) FROM pg_authid WHERE rolname IN ('md5_user','scram_user') ORDER BY 1`,
    );
    const [md5, scram] = out.trim().split('\n');
    expect(md5).toMatch(/^md5_user=md5[0-9a-f]{2}$/);
    expect(scram).toBe('scram_user=SCRAM');
  });

  it('refuses TLS on the plain server', async () => {
    const r = await psql(pg, PG_ROLES.scram.user, PG_ROLES.scram.password, 'SELECT 1', { sslmode: 'require' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/does not support SSL/i);
  });

  describe('createDatabase', () => {
    let db = '';
    beforeAll(async () => {
      db = await createDatabase('harness test');
    });

    it('makes a per-file database the test roles can use', async () => {
      expect(db).toMatch(/^harness_test_[a-z0-9]+$/);
      const r = await psql(pg, PG_ROLES.scram.user, PG_ROLES.scram.password, 'CREATE TABLE t (x int); INSERT INTO t VALUES (1); SELECT count(*) FROM t', { dbname: db });
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe('1');
    });
  });
});

describe('harness: TLS PostgreSQL', () => {
  const pgSsl = inject('pgSsl');

  it('accepts sslmode=verify-full with the CA for host=localhost', async () => {
    expect(pgSsl.caFile).toBeTruthy();
    const r = await psql(pgSsl, PG_ROLES.scram.user, PG_ROLES.scram.password, 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()', {
      host: 'localhost',
      sslmode: 'verify-full',
      sslrootcert: pgSsl.caFile!,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('t');
  });

  it('verify-full also holds for the IP SAN 127.0.0.1', async () => {
    const r = await psql(pgSsl, PG_ROLES.md5.user, PG_ROLES.md5.password, 'SELECT 1', {
      sslmode: 'verify-full',
      sslrootcert: pgSsl.caFile!,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('1');
  });

  it('fails verify-full against the system CAs (the cert really is from our CA)', async () => {
    const r = await psql(pgSsl, PG_ROLES.scram.user, PG_ROLES.scram.password, 'SELECT 1', {
      host: 'localhost',
      sslmode: 'verify-full',
      sslrootcert: 'system',
    });
    expect(r.code).not.toBe(0);
  });
});

describe('harness: own servers and helpers', () => {
  it('starts two extra servers in parallel on distinct ports and dirs, and removes them on stop', async () => {
    const [a, b] = await Promise.all([startPostgres(), startPostgres()]);
    try {
      expect(a.port).not.toBe(b.port);
      expect(a.dir).not.toBe(b.dir);
      expect((await psqlAdmin(a, 'SELECT 40 + 2')).trim()).toBe('42');
      expect((await psqlAdmin(b, 'SELECT current_database()')).trim()).toBe(PG_APP_DB);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    expect(existsSync(a.dir)).toBe(false);
    expect(existsSync(b.dir)).toBe(false);
  });

  it('psqlAdmin throws with the server error', async () => {
    await expect(psqlAdmin(inject('pg'), 'SELECT * FROM no_such_table')).rejects.toThrow(/no_such_table/);
  });

  it('run() passes stdin/env and reports exit codes; waitForPort waits for a listener', async () => {
    const r = await run('sh', ['-c', 'cat; echo "$HARNESS_X" >&2; exit 3'], { input: 'hello', env: { HARNESS_X: 'x1' } });
    expect(r).toMatchObject({ code: 3, stdout: 'hello', stderr: 'x1\n', timedOut: false });
    const t = await run('sleep', ['5'], { timeoutMs: 200 });
    expect(t.timedOut).toBe(true);

    const port = await freePort();
    await expect(waitForPort('127.0.0.1', port, 300)).rejects.toThrow(/not reachable/);
    const srv = net.createServer((s) => s.destroy());
    setTimeout(() => srv.listen(port, '127.0.0.1'), 200);
    try {
      await waitForPort('127.0.0.1', port, 5_000);
    } finally {
      srv.close();
    }
  });
});
