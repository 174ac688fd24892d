import { describe, expect, it } from 'vitest';
import { analyzeSql, type StatementAnalysis } from '../../../src/policy/sql/analyze.js';
import type { SqlLexerSettings } from '../../../src/types.js';

const PG: SqlLexerSettings = { dialect: 'postgres' };
const MY: SqlLexerSettings = { dialect: 'mysql' };

const one = (text: string, s: SqlLexerSettings = PG): StatementAnalysis => {
  const a = analyzeSql(text, s);
  expect(a.error).toBeUndefined();
  expect(a.statements).toHaveLength(1);
  return a.statements[0]!;
};

describe('analyzeSql: verbs and categories', () => {
  const cases: Array<[string, SqlLexerSettings, string, string]> = [
    ['SELECT 1', PG, 'select', 'read'],
    ['(select 1) union (select 2)', PG, 'select', 'read'],
    ['VALUES (1), (2)', PG, 'values', 'read'],
    ['TABLE users', PG, 'table', 'read'],
    ['insert into t values (1)', PG, 'insert', 'write'],
    ['update t set a = 1 where id = 2', PG, 'update', 'write'],
    ['delete from t where id = 2', PG, 'delete', 'write'],
    ['merge into t using s on t.id = s.id when matched then delete', PG, 'merge', 'write'],
    ['truncate table t', PG, 'truncate', 'write'],
    ['create table t (id int)', PG, 'create', 'ddl'],
    ['create table t2 as select * from t', PG, 'create', 'ddl'],
    ['alter table t add column c int', PG, 'alter', 'ddl'],
    ['drop table t', PG, 'drop', 'ddl'],
    ['create or replace function f() returns int language sql as $$ select 1 $$', PG, 'create', 'ddl'],
    ['create procedure p() language sql as $$ select 1 $$', PG, 'create', 'ddl'],
    ['grant select on t to bob', PG, 'grant', 'privilege'],
    ['revoke all on t from bob', PG, 'revoke', 'privilege'],
    ['alter role bob superuser', PG, 'alter', 'privilege'],
    ['create role bob', PG, 'create', 'privilege'],
    ["create user bob with password 'x'", PG, 'create', 'privilege'],
    ['set role admin', PG, 'set', 'privilege'],
    ['set session authorization admin', PG, 'set', 'privilege'],
    ['begin', PG, 'begin', 'transaction'],
    ['start transaction isolation level serializable', PG, 'start', 'transaction'],
    ['commit', PG, 'commit', 'transaction'],
    ['rollback to savepoint s', PG, 'rollback', 'transaction'],
    ['end', PG, 'end', 'transaction'],
    ['abort', PG, 'abort', 'transaction'],
    ["prepare transaction 'x'", PG, 'prepare', 'transaction'],
    ['vacuum full t', PG, 'vacuum', 'admin'],
    ['checkpoint', PG, 'checkpoint', 'admin'],
    ['alter system set archive_command = \'x\'', PG, 'alter', 'admin'],
    ['call p()', PG, 'call', 'code'],
    ['execute p(1)', PG, 'execute', 'code'],
    ['do $$ begin perform 1; end $$', PG, 'do', 'code'],
    ['frobnicate the database', PG, 'frobnicate', 'unknown'],
    ['kill 42', MY, 'kill', 'admin'],
    ['flush privileges', MY, 'flush', 'admin'],
    ['optimize table t', MY, 'optimize', 'admin'],
    ['rename table a to b', MY, 'rename', 'ddl'],
    ['rename user a to b', MY, 'rename', 'privilege'],
    ['set password = \'x\'', MY, 'set', 'privilege'],
    ['set global general_log = 1', MY, 'set', 'admin'],
    ['do sleep(1)', MY, 'do', 'read'],
    ['drop prepare s', MY, 'deallocate', 'utility'],
  ];
  it.each(cases)('%s', (text, s, verb, category) => {
    const st = one(text, s);
    expect([st.verb, st.category]).toEqual([verb, category]);
  });

  // What psycopg cursors, pg_dump, mariadb-dump and ORMs send must never fall to `unknown`.
  const toolVerbs: Array<[string, SqlLexerSettings, string]> = [
    ['DECLARE "c1" NO SCROLL CURSOR WITH HOLD FOR SELECT * FROM t', PG, 'declare'],
    ['FETCH FORWARD 100 FROM "c1"', PG, 'fetch'],
    ['MOVE NEXT IN c1', PG, 'move'],
    ['CLOSE "c1"', PG, 'close'],
    ['SAVEPOINT sp1', PG, 'savepoint'],
    ['RELEASE SAVEPOINT sp1', PG, 'release'],
    ['SHOW search_path', PG, 'show'],
    ["SET search_path = ''", PG, 'set'],
    ["SELECT pg_catalog.set_config('search_path', '', false)", PG, 'select'],
    ['RESET ALL', PG, 'reset'],
    ['DISCARD ALL', PG, 'discard'],
    ['LOCK TABLE public.t IN ACCESS SHARE MODE', PG, 'lock'],
    ['LISTEN ch', PG, 'listen'],
    ['UNLISTEN *', PG, 'unlisten'],
    ["NOTIFY ch, 'payload'", PG, 'notify'],
    ['EXPLAIN (FORMAT JSON) SELECT 1', PG, 'explain'],
    ['VACUUM (ANALYZE) t', PG, 'vacuum'],
    ['ANALYZE t', PG, 'analyze'],
    ['DEALLOCATE ALL', PG, 'deallocate'],
    ['USE shop', MY, 'use'],
    ['REPLACE INTO t (a) VALUES (1)', MY, 'replace'],
    ['HANDLER t OPEN', MY, 'handler'],
    ['HANDLER t READ FIRST', MY, 'handler'],
    ['LOCK TABLES `t` READ /*!32311 LOCAL */', MY, 'lock'],
    ['UNLOCK TABLES', MY, 'unlock'],
    ['SHOW CREATE TABLE `t`', MY, 'show'],
    ['/*!40101 SET NAMES utf8mb4 */', MY, 'set'],
    ['SET autocommit=0', MY, 'set'],
    ['SHOW VARIABLES LIKE \'sql_mode\'', MY, 'show'],
    ['ANALYZE TABLE t', MY, 'analyze'],
    ['DESCRIBE t', MY, 'describe'],
    ['DESC t', MY, 'desc'],
    ['EXPLAIN SELECT * FROM t', MY, 'explain'],
    ['START TRANSACTION WITH CONSISTENT SNAPSHOT', MY, 'start'],
    ['XA START \'x\'', MY, 'xa'],
  ];
  it.each(toolVerbs)('tool statement %s', (text, s, verb) => {
    const a = analyzeSql(text, s);
    expect(a.error).toBeUndefined();
    for (const st of a.statements) {
      expect(st.verb).toBe(verb);
      expect(st.category).not.toBe('unknown');
      expect(st.opaque).toBe(false);
    }
  });
});

describe('analyzeSql: statements, tables, functions', () => {
  it('splits on semicolons and ignores empty statements', () => {
    const a = analyzeSql('select 1;; ; delete from t where id = 1;', PG);
    expect(a.statements.map((s) => s.verb)).toEqual(['select', 'delete']);
    expect(analyzeSql('', PG).statements.map((s) => s.verb)).toEqual(['empty']);
    expect(analyzeSql('-- nothing', PG).statements.map((s) => s.verb)).toEqual(['empty']);
  });

  it('reports tables read and written, lower-cased unless quoted', () => {
    expect(one('SELECT * FROM Public.Users u JOIN "Orders" o ON o.uid = u.id, audit a').tables).toEqual({
      read: ['public.users', 'Orders', 'audit'],
      written: [],
    });
    expect(one('insert into t select * from s').tables).toEqual({ read: ['s'], written: ['t'] });
    expect(one('update t set a = (select max(x) from s) from u where t.id = u.id').tables).toEqual({ read: ['s', 'u'], written: ['t'] });
    expect(one('delete from t using u where t.id = u.id').tables).toEqual({ read: ['u'], written: ['t'] });
    expect(one('select extract(year from ts), substring(x from 2) from t').tables.read).toEqual(['t']);
    expect(one('select a is distinct from b from t').tables.read).toEqual(['t']);
    expect(one('update a join b on a.id = b.id set a.x = b.y where b.z = 1', MY).tables.written).toEqual(['a', 'b']);
    expect(one('delete t1 from t1 join t2 on t1.id = t2.id where t2.x = 1', MY).tables).toEqual({ read: ['t1', 't2'], written: ['t1'] });
    expect(one('drop table if exists a, b cascade').tables.written).toEqual(['a', 'b']);
    expect(one('truncate a, b restart identity').tables.written).toEqual(['a', 'b']);
  });

  it('does not report CTE names as tables', () => {
    const st = one('with x as (select * from t) select * from x');
    expect(st.tables.read).toEqual(['t']);
  });

  it('reports functions, qualified calls both ways, and risky ones', () => {
    const st = one("select pg_catalog.pg_read_file('/etc/passwd'), lower(name) from t");
    expect(st.functions).toEqual(expect.arrayContaining(['pg_read_file', 'pg_catalog.pg_read_file', 'lower']));
    expect(st.risky).toEqual(['pg_read_file']);
    expect(one("select * from pg_ls_dir('.')").risky).toEqual(['pg_ls_dir']);
    expect(one("select dblink_exec('x', 'drop table t')").risky).toEqual(['dblink']);
    expect(one("select lo_import('/etc/passwd'), lo_export(1, '/tmp/x')").risky).toEqual(['lo_import', 'lo_export']);
    expect(one('select pg_terminate_backend(123)').risky).toEqual(['pg_terminate_backend']);
    expect(one("select load_file('/etc/passwd')", MY).risky).toEqual(['load_file']);
    expect(one("select sys_exec('id')", MY).risky).toEqual(['sys_exec']);
    expect(one("select set_config('role', 'postgres', false)").risky).toEqual(['set_config-role']);
    expect(one("select set_config('search_path', '', false)").risky).toEqual([]);
  });

  it('flags INTO OUTFILE and SELECT INTO a new table', () => {
    expect(one("select * from t into outfile '/tmp/x'", MY).risky).toEqual(['into-outfile']);
    expect(one("select * into dumpfile '/tmp/x' from t", MY).risky).toEqual(['into-dumpfile']);
    expect(one('select a into @v from t', MY).risky).toEqual([]);
    const st = one('select * into newt from t');
    expect([st.category, st.tables.written]).toEqual(['ddl', ['newt']]);
  });

  it('flags untrusted languages and ALTER SYSTEM', () => {
    expect(one('create function f() returns int language plpython3u as $$ return 1 $$').risky).toEqual(['untrusted-language']);
    expect(one("create function f() returns int language c as 'lib', 'f'").risky).toEqual(['untrusted-language']);
    expect(one('create function f() returns int language plpgsql as $$ begin return 1; end $$').risky).toEqual([]);
  });
});

describe('analyzeSql: WHERE', () => {
  const cases: Array<[string, string]> = [
    ['delete from t', 'missing'],
    ['delete from t where id = 1', 'present'],
    ['delete from t where 1=1', 'trivial'],
    ['delete from t where true', 'trivial'],
    ["delete from t where 'a'='a'", 'trivial'],
    ['delete from t where NOT false', 'trivial'],
    ['delete from t where (1 = 1)', 'trivial'],
    ['delete from t where id = 5 or 1=1', 'trivial'],
    ['delete from t where 1=1 and id = 2', 'present'],
    ['delete from t where x = x', 'present'],
    ['delete from t where 1 = 0', 'present'],
    ['delete from t where 2 > 1', 'trivial'],
    ['delete from t where id between 1 and 10', 'present'],
    ['delete from t where exists (select 1 from u where u.id = t.id)', 'present'],
    ['update t set a = (select 1 from u where true) ', 'missing'],
    ['update t set a = 1 where current of c', 'present'],
    ['update t set a = 1 where 1::int = 1', 'trivial'],
    ['select * from t where 1=1', 'n/a'],
  ];
  it.each(cases)('%s → %s', (text, where) => {
    expect(one(text).where).toBe(where);
  });

  it('understands MySQL truthiness', () => {
    expect(one('delete from t where 1', MY).where).toBe('trivial');
    expect(one('delete from t where 0', MY).where).toBe('present');
    expect(one('delete from t where id = 1 || 1', MY).where).toBe('trivial');
    expect(one('delete from t order by id limit 1', MY).where).toBe('missing');
  });
});

describe('analyzeSql: compound forms', () => {
  it('treats a data-modifying CTE as a write and judges its body too', () => {
    const st = one('WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d');
    expect([st.verb, st.category, st.risky]).toEqual(['select', 'write', ['data-modifying-cte']]);
    expect(st.inner?.map((i) => [i.verb, i.where])).toEqual([['delete', 'missing']]);
    const read = one('with x as (select 1) select * from x');
    expect([read.category, read.risky]).toEqual(['read', []]);
  });

  it('EXPLAIN plans, EXPLAIN ANALYZE runs', () => {
    expect([one('explain select * from t').category, one('explain delete from t').category]).toEqual(['read', 'read']);
    const st = one('explain analyze delete from t');
    expect([st.category, st.risky, st.inner?.[0]?.verb]).toEqual(['write', ['explain-analyze-write'], 'delete']);
    expect(one('explain (analyze, buffers) update t set a = 1').category).toBe('write');
    expect(one('explain (analyze false) update t set a = 1').category).toBe('read');
    expect(one('explain analyze select 1').category).toBe('read');
  });

  it('PREPARE takes the category of what it prepares', () => {
    const st = one('prepare p (int) as delete from t where id = $1');
    expect([st.verb, st.category, st.where, st.opaque]).toEqual(['prepare', 'write', 'present', false]);
    expect(one("prepare s from 'drop table x'", MY).opaque).toBe(true);
  });

  it('DECLARE CURSOR reports the tables its query reads', () => {
    const st = one('declare c cursor for select * from secret');
    expect([st.category, st.tables.read, st.inner?.[0]?.verb]).toEqual(['utility', ['secret'], 'select']);
  });

  it('describes COPY', () => {
    expect(one('COPY t TO STDOUT').copy).toEqual({ table: 't', query: false, direction: 'to', endpoint: 'stdio' });
    const from = one("COPY public.t (a, b) FROM STDIN WITH (FORMAT csv, HEADER true)");
    expect([from.category, from.tables.written, from.copy]).toEqual([
      'write', ['public.t'], { table: 'public.t', columns: ['a', 'b'], query: false, direction: 'from', endpoint: 'stdio', format: 'csv', options: { header: 'true' } },
    ]);
    // the options masking needs to split COPY output exactly as the server writes it
    expect(one("COPY t TO STDOUT WITH (DELIMITER '|', NULL 'n/a', FORCE_QUOTE (a, b))").copy?.options).toEqual({ delimiter: '|', null: 'n/a', force_quote: true });
    expect(one("COPY t TO STDOUT WITH CSV HEADER DELIMITER ';' QUOTE ''''").copy).toMatchObject({ format: 'csv', options: { header: true, delimiter: ';', quote: "'" } });
    const prog = one("COPY t TO PROGRAM 'gzip > /tmp/x'");
    expect([prog.risky, prog.copy?.endpoint]).toEqual([['copy-program'], 'program']);
    expect(one("COPY t FROM '/etc/passwd'").risky).toEqual(['copy-file']);
    const q = one('COPY (SELECT * FROM t) TO STDOUT BINARY');
    expect([q.category, q.tables.read, q.copy?.query, q.copy?.format]).toEqual(['read', ['t'], true, 'binary']);
    expect(one('COPY (DELETE FROM t RETURNING *) TO STDOUT').category).toBe('write');
  });

  it('judges the statements of routine bodies', () => {
    const a = analyzeSql('CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; DELETE FROM t; END; DROP TABLE y', PG);
    expect(a.statements.map((s) => s.verb)).toEqual(['create', 'drop']);
    expect(a.statements[0]!.inner?.map((s) => [s.verb, s.where])).toEqual([['select', 'n/a'], ['delete', 'missing']]);
    const m = analyzeSql(
      'CREATE DEFINER=`root`@`localhost` PROCEDURE p() BEGIN DECLARE x INT; IF x > 0 THEN DELETE FROM t; ELSE UPDATE t SET a = 1 WHERE id = 2; END IF; END',
      MY,
    );
    expect(m.statements).toHaveLength(1);
    expect(m.statements[0]!.inner?.map((s) => s.verb)).toEqual(['declare', 'delete', 'update']);
  });

  it('sees MariaDB compound statements at top level', () => {
    const st = one('BEGIN NOT ATOMIC DROP TABLE x; END', MY);
    expect([st.verb, st.category, st.inner?.[0]?.verb]).toEqual(['compound', 'code', 'drop']);
    expect(one('IF 1=1 THEN DROP TABLE x; END IF', MY).inner?.[0]?.verb).toBe('drop');
  });

  it('judges MariaDB SET STATEMENT … FOR as its statement', () => {
    expect(one('SET STATEMENT max_statement_time=1 FOR DROP TABLE x', MY).verb).toBe('drop');
  });
});

describe('analyzeSql: readings the server may choose', () => {
  it('analyses versioned comments as run and as skipped', () => {
    const a = analyzeSql('delete from t where id = 3 /*!50000 or 1=1 */ /*!99999 and false */', MY);
    expect(a.statements.map((s) => s.where)).toContain('trivial');
  });

  it('re-reads the rest of a multi-statement text after SET sql_mode', () => {
    const a = analyzeSql("SET sql_mode='NO_BACKSLASH_ESCAPES'; SELECT '\\' ; DROP TABLE x; -- '", MY);
    expect(a.statements.map((s) => s.verb)).toContain('drop');
  });
});

describe('analyzeSql: cache', () => {
  it('returns the same analysis object for the same text and settings', () => {
    const a = analyzeSql('select * from cached_table where id = 1', PG);
    expect(analyzeSql('select * from cached_table where id = 1', PG)).toBe(a);
    expect(analyzeSql('select * from cached_table where id = 1', { dialect: 'postgres', standardConformingStrings: false })).not.toBe(a);
  });
});
