// Real MySQL-protocol clients through the gateway to a throwaway MariaDB: the mariadb CLI (with and without
// TLS), mysql2 (query and execute, TLS, cleartext plugin), PyMySQL, mariadb-dump and sysbench; masked results
// and blocked statements in each.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { createMysqlDatabase, mariadbAdmin } from '../harness/mariadb.js';
import { startTestGateway, type TestGateway } from '../harness/gateway.js';
import { MY_LISTEN, myConnection, myTarget, myUser } from '../harness/mysql-fixtures.js';

const run = promisify(execFile);
const my = inject('mariadb');
const DB = 'clients';
let gw: TestGateway;
let port = 0;

const NO_DROP = { name: 'no-drop', when: { statements: ['drop', 'truncate'] }, action: 'block' };
const PII = { name: 'pii', columns: [{ match: '*.email', with: 'partial' }, { match: 'people.born', with: 'redact' }], detect: ['email', 'credit_card'], with: 'redact' };

/** The mariadb CLI through the gateway; resolves with stdout/stderr/code, never throws. */
async function cli(user: string, password: string, sql: string, extra: string[] = []): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await run('mariadb', ['--no-defaults', '-h127.0.0.1', `-P${port}`, `-u${user}`, `-p${password}`, ...extra, '-e', sql], { timeout: 20_000 });
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; code?: number };
    return { stdout: err.stdout ?? '', stderr: err.stderr ?? '', code: typeof err.code === 'number' ? err.code : -1 };
  }
}

beforeAll(async () => {
  await createMysqlDatabase(my, DB);
  await mariadbAdmin(
    my,
    `CREATE TABLE ${DB}.people (id INT PRIMARY KEY, email VARCHAR(100), note TEXT, born DATE, score INT);
     INSERT INTO ${DB}.people VALUES (1,'alice@example.com','card 4111 1111 1111 1111','1990-05-17',7),(2,'bob@example.org','hello','1985-01-02',9),(3,NULL,NULL,NULL,NULL);
     CREATE TABLE ${DB}.victim (id INT);
     DELIMITER //
     CREATE PROCEDURE ${DB}.two_results() BEGIN SELECT email FROM ${DB}.people WHERE id = 1; SELECT id, note FROM ${DB}.people ORDER BY id; END //
     DELIMITER ;`,
  );
  gw = await startTestGateway({
    listen: MY_LISTEN,
    identity: { users: [myUser('alice', 'dev'), myUser('carol', 'dev', false)] },
    // fallback allow: CALL is opaque to the analyzer (the default fallback blocks it)
    connections: [myConnection('shop', myTarget(my, DB), 'dev', { guardrails: ['no-drop'], masking: 'pii', fallback: 'allow' })],
    guardrails: [NO_DROP],
    masking: [PII],
  });
  port = gw.gateway.ports.mysql!;
});
afterAll(async () => gw?.stop());

async function victimExists(): Promise<boolean> {
  const out = await mariadbAdmin(my, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='${DB}' AND TABLE_NAME='victim'`);
  return out.trim() === '1';
}

describe('mariadb CLI', () => {
  it('logs in with mysql_native_password without TLS from loopback; rows are masked', async () => {
    const r = await cli('alice#shop', 'alice-pw', 'SELECT id, email, note, born, score FROM people ORDER BY id', ['--skip-ssl', '--batch']);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('id\temail\tnote\tborn\tscore');
    expect(lines[1]).toBe('1\ta***@example.com\tcard [REDACTED]\t1970-01-01\t7');
    expect(lines[2]).toBe('2\tb***@example.org\thello\t1970-01-01\t9');
    expect(lines[3]).toBe('3\tNULL\tNULL\tNULL\tNULL');
    expect(r.stdout).not.toContain('alice@example.com');
    expect(r.stdout).not.toContain('4111');
  });

  it('uses TLS on the client leg with --ssl (mysql_clear_password inside it)', async () => {
    const r = await cli('carol#shop', 'carol-pw', 'status', ['--ssl']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/SSL:\s+Cipher in use is/);
    const q = await cli('carol#shop', 'carol-pw', 'SELECT email FROM people WHERE id = 2', ['--ssl', '--batch', '--skip-column-names']);
    expect(q.stdout.trim()).toBe('b***@example.org');
  });

  it('blocks a DROP with ERROR 1142 naming the rule, and the table survives', async () => {
    const r = await cli('alice#shop', 'alice-pw', 'DROP TABLE victim', ['--skip-ssl']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/ERROR 1142 \(42000\).*no-drop/);
    expect(await victimExists()).toBe(true);
  });

  it('judges every statement of a multi-statement text', async () => {
    const r = await cli('alice#shop', 'alice-pw', 'SELECT 1; DROP TABLE victim', ['--skip-ssl', '--batch']);
    expect(r.stderr).toMatch(/ERROR 1142/);
    expect(await victimExists()).toBe(true);
  });

  it('returns each result set of a CALL, each masked by its own columns', async () => {
    const r = await cli('alice#shop', 'alice-pw', 'CALL two_results()', ['--skip-ssl', '--batch']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('email\na***@example.com\n');
    expect(r.stdout).toContain('1\tcard [REDACTED]');
    expect(r.stdout).not.toContain('alice@example.com');
  });

  it('--compress is not negotiated: the session runs uncompressed', async () => {
    const r = await cli('alice#shop', 'alice-pw', 'SELECT email FROM people WHERE id = 1', ['--skip-ssl', '--compress', '--batch', '--skip-column-names']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('a***@example.com\n');
  });

  it('answers wrong passwords, unknown connections and missing connections with the table codes', async () => {
    expect((await cli('alice#shop', 'nope', 'SELECT 1', ['--skip-ssl'])).stderr).toMatch(/ERROR 1045 \(28000\)/);
    expect((await cli('carol#shop', 'nope', 'SELECT 1', ['--skip-ssl'])).stderr).toMatch(/ERROR 1045 \(28000\)/);
    expect((await cli('alice#nowhere', 'alice-pw', 'SELECT 1', ['--skip-ssl'])).stderr).toMatch(/ERROR 1049 \(42000\).*nowhere/);
    expect((await cli('alice', 'alice-pw', 'SELECT 1', ['--skip-ssl'])).stderr).toMatch(/ERROR 1049 \(42000\).*USER#CONNECTION/);
  });
});

describe('mysql2', () => {
  it('masks text-protocol and binary-protocol (execute) rows alike, with valid values for typed columns', async () => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'alice#shop', password: 'alice-pw', dateStrings: true });
    try {
      const [q] = await c.query('SELECT id, email, note, born, score FROM people ORDER BY id');
      const [e] = await c.execute('SELECT id, email, note, born, score FROM people WHERE id <= ? ORDER BY id', [3]);
      for (const rows of [q, e] as Array<Record<string, unknown>[]>) {
        expect(rows).toHaveLength(3);
        expect(rows[0]).toEqual({ id: 1, email: 'a***@example.com', note: 'card [REDACTED]', born: '1970-01-01', score: 7 });
        expect(rows[2]).toEqual({ id: 3, email: null, note: null, born: null, score: null });
      }
    } finally {
      await c.end();
    }
  });

  it('blocks in query and in execute (prepare) before the target sees it', async () => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'alice#shop', password: 'alice-pw' });
    try {
      await expect(c.query('DROP TABLE victim')).rejects.toMatchObject({ errno: 1142, sqlState: '42000' });
      await expect(c.execute('DROP TABLE victim')).rejects.toMatchObject({ errno: 1142 });
      // the session goes on
      const [rows] = await c.query('SELECT 41 + 1 AS n');
      expect(rows).toEqual([{ n: 42 }]);
    } finally {
      await c.end();
    }
    expect(await victimExists()).toBe(true);
  });

  it('does not let a client without multipleStatements run two statements', async () => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'alice#shop', password: 'alice-pw' });
    try {
      await expect(c.query('SELECT 1; SELECT 2')).rejects.toMatchObject({ errno: 1064 });
    } finally {
      await c.end();
    }
    const m = await mysql.createConnection({ host: '127.0.0.1', port, user: 'alice#shop', password: 'alice-pw', multipleStatements: true });
    try {
      const [sets] = await m.query('SELECT 1 AS a; SELECT email FROM people WHERE id = 2');
      expect(sets).toEqual([[{ a: 1 }], [{ email: 'b***@example.org' }]]);
    } finally {
      await m.end();
    }
  });

  it('works over TLS, and a cleartext-password user needs enableCleartextPlugin', async () => {
    const ssl = { rejectUnauthorized: false };
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'carol#shop', password: 'carol-pw', ssl, enableCleartextPlugin: true } as mysql.ConnectionOptions);
    try {
      const [rows] = await c.query("SHOW SESSION STATUS LIKE 'Ssl_version'");
      expect(rows).toBeDefined();
      const [e] = await c.execute('SELECT email FROM people WHERE id = ?', [1]);
      expect(e).toEqual([{ email: 'a***@example.com' }]);
    } finally {
      await c.end();
    }
    await expect(mysql.createConnection({ host: '127.0.0.1', port, user: 'carol#shop', password: 'carol-pw', ssl })).rejects.toThrow(/mysql_clear_password|cleartext/i);
  });

  it('error messages that echo a value do not leak it on a masked connection', async () => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'alice#shop', password: 'alice-pw' });
    try {
      await c.query('CREATE TABLE IF NOT EXISTS uniq (email VARCHAR(100) UNIQUE, n INT)');
      await c.query("INSERT INTO uniq VALUES ('dup@example.com', 1)");
      const dup = await c.query("INSERT INTO uniq VALUES ('dup@example.com', 2)").catch((e: { errno: number; message: string }) => e);
      expect(dup).toMatchObject({ errno: 1062 });
      expect((dup as { message: string }).message).not.toContain('dup@example.com');
      expect((dup as { message: string }).message).toContain("Duplicate entry '[REDACTED]'");
      await c.query("SET SESSION sql_mode = 'STRICT_ALL_TABLES'");
      const bad = await c.query('INSERT INTO uniq (n) SELECT note FROM people WHERE id = 2').catch((e: { errno: number; message: string }) => e);
      expect(bad).toMatchObject({ errno: 1366 });
      expect((bad as { message: string }).message).toMatch(/Incorrect integer value: '\[REDACTED\]' for column/);
    } finally {
      await c.end();
    }
  });

  it('returns the result sets of a CALL through execute', async () => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'alice#shop', password: 'alice-pw' });
    try {
      const [sets] = (await c.execute('CALL two_results()')) as unknown as [unknown[]];
      expect(sets[0]).toEqual([{ email: 'a***@example.com' }]);
      expect((sets[1] as Array<{ note: string | null }>).map((r) => r.note)).toEqual(['card [REDACTED]', 'hello', null]);
    } finally {
      await c.end();
    }
  });
});

describe('PyMySQL', () => {
  it('queries masked rows and gets 1142 for a blocked statement', async () => {
    const script = `
import json, sys, pymysql
c = pymysql.connect(host='127.0.0.1', port=int(sys.argv[1]), user='alice#shop', password='alice-pw', database='${DB}')
cur = c.cursor()
cur.execute("SELECT id, email, note FROM people WHERE id = %s", (1,))
row = cur.fetchone()
try:
    cur.execute("DROP TABLE victim")
    err = None
except pymysql.err.MySQLError as e:
    err = e.args[0]
print(json.dumps({"row": list(row), "err": err}))
`;
    const r = await run('/usr/bin/python3', ['-c', script, String(port)], { timeout: 20_000 });
    expect(JSON.parse(r.stdout)).toEqual({ row: [1, 'a***@example.com', 'card [REDACTED]'], err: 1142 });
    expect(await victimExists()).toBe(true);
  });
});

describe('mariadb-dump', () => {
  it('dumps schema and masked data (character_set_results=binary still scanned)', async () => {
    const r = await run('mariadb-dump', ['--no-defaults', '-h127.0.0.1', `-P${port}`, '-ualice#shop', '-palice-pw', '--skip-ssl', '--skip-lock-tables', DB, 'people'], {
      timeout: 20_000,
      maxBuffer: 16 << 20,
    });
    expect(r.stdout).toContain('CREATE TABLE `people`');
    expect(r.stdout).toContain("'a***@example.com'");
    expect(r.stdout).toContain("'card [REDACTED]'");
    expect(r.stdout).not.toContain('alice@example.com');
    expect(r.stdout).not.toContain('4111');
  });
});

describe('sysbench', () => {
  it('runs oltp_point_select and oltp_read_only with server-side prepared statements', async () => {
    const common = ['--db-driver=mysql', '--mysql-host=127.0.0.1', `--mysql-port=${port}`, '--mysql-user=alice#shop', '--mysql-password=alice-pw', `--mysql-db=${DB}`, '--mysql-ssl=off', '--tables=1', '--table-size=200'];
    const before = await mariadbAdmin(my, "SHOW GLOBAL STATUS LIKE 'Com_stmt_execute'");
    await run('sysbench', ['oltp_read_only', ...common, 'prepare'], { timeout: 60_000 });
    for (const test of ['oltp_point_select', 'oltp_read_only']) {
      const r = await run('sysbench', [test, ...common, '--threads=2', '--time=2', '--db-ps-mode=auto', 'run'], { timeout: 60_000 });
      const q = /queries:\s+(\d+)/.exec(r.stdout);
      expect(q, r.stdout).not.toBeNull();
      expect(Number(q![1])).toBeGreaterThan(50);
      expect(r.stdout).toMatch(/ignored errors:\s+0 /);
    }
    const after = await mariadbAdmin(my, "SHOW GLOBAL STATUS LIKE 'Com_stmt_execute'");
    expect(Number(after.split('\t')[1]) - Number(before.split('\t')[1])).toBeGreaterThan(50);
  }, 120_000);
});
