// The analyser sits in front of every query: it must never throw, and hostile input (deep nesting,
// long lists) must not make it quadratic.
import { describe, expect, it } from 'vitest';
import { analyzeSql } from '../../../src/policy/sql/analyze.js';
import type { SqlLexerSettings } from '../../../src/types.js';

const ALL: SqlLexerSettings[] = [
  { dialect: 'postgres' },
  { dialect: 'postgres', standardConformingStrings: false },
  { dialect: 'mysql' },
  { dialect: 'mysql', noBackslashEscapes: true },
  { dialect: 'mysql', ansiQuotes: true },
];

const FRAGMENTS = [
  'select', 'from', 'where', 'delete', 'update', 'set', 'insert', 'into', 'values', 'with', 'as', '(', ')', ',', ';',
  "'", '"', '`', '$$', '$a$', "E'", "U&'", 'U&"', '/*', '*/', '/*!', '/*!50100', '/*M!', '--', ' -- ', '#', '\n', '\\',
  'begin', 'end', 'if', 'then', 'case', 'when', 'create', 'procedure', 'function', 'begin atomic', 'not atomic',
  'declare', 'handler', 'for', 'do', 'copy', 'to', 'program', 'stdin', 'explain', 'analyze', 'prepare', 'execute',
  'call', '1=1', 'or', 'and', 'not', 'x', 't', '1', '=', '::', '?', '$1', 'uescape', "'!'", 'drop', 'table', 'join',
  'on', 'using', 'returning', 'loop', 'while', 'repeat', 'until', 'label:', 'sql_mode', "'NO_BACKSLASH_ESCAPES'",
  '1e0', '0x1f', '.', '*',
];

describe('robustness', () => {
  it('never throws on random fragment soup', () => {
    let seed = 42;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let k = 0; k < 3000; k++) {
      let text = '';
      const len = 1 + rnd(40);
      for (let j = 0; j < len; j++) text += FRAGMENTS[rnd(FRAGMENTS.length)]! + (rnd(3) ? ' ' : '');
      for (const s of ALL) {
        const a = analyzeSql(text, s);
        expect(Array.isArray(a.statements)).toBe(true);
      }
    }
  });

  const N = 20_000;
  const hostile: Array<[string, string]> = [
    ['nested parentheses in WHERE', 'delete from t where ' + '('.repeat(N) + '1=1' + ')'.repeat(N)],
    ['a long NOT chain', 'delete from t where ' + 'not '.repeat(N) + 'false'],
    ['a long FROM list', 'select * from ' + Array.from({ length: N }, (_, i) => 't' + i).join(', ')],
    ['many statements', 'select 1;'.repeat(N)],
    ['a long OR chain', 'delete from t where ' + 'id = 1 or '.repeat(N) + 'id = 2'],
    ['nested subqueries', 'select ' + '(select '.repeat(N) + '1' + ')'.repeat(N)],
    ['nested CASE', 'select ' + 'case when 1 then '.repeat(N) + '1' + ' end'.repeat(N)],
  ];
  it.each(hostile)('stays fast on %s', (_name, text) => {
    const started = Date.now();
    for (const s of [ALL[0]!, ALL[2]!]) {
      const a = analyzeSql(text, s);
      // either analysed, or (nesting past the cap) refused as unknown: never a hang
      expect(a.statements.length > 0 || /nested deeper/.test(a.error ?? '')).toBe(true);
    }
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a nested trivial condition still counts as trivial; nesting past the cap is unknown (fallback)', () => {
    const a = analyzeSql('delete from t where ' + '('.repeat(150) + '1=1' + ')'.repeat(150), { dialect: 'postgres' });
    expect(a.statements[0]!.where).toBe('trivial');
    const deep = analyzeSql('delete from t where ' + '('.repeat(N) + '1=1' + ')'.repeat(N), { dialect: 'postgres' });
    expect(deep.error).toMatch(/nested deeper/);
  });
});
