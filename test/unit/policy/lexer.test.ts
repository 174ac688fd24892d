import { describe, expect, it } from 'vitest';
import { lexSql, type Token } from '../../../src/policy/sql/lexer.js';
import type { SqlLexerSettings } from '../../../src/types.js';

const PG: SqlLexerSettings = { dialect: 'postgres' };
const PG_OFF: SqlLexerSettings = { dialect: 'postgres', standardConformingStrings: false };
const MY: SqlLexerSettings = { dialect: 'mysql' };
const MY_NBE: SqlLexerSettings = { dialect: 'mysql', noBackslashEscapes: true };
const MY_ANSI: SqlLexerSettings = { dialect: 'mysql', ansiQuotes: true };

const kinds = (text: string, s: SqlLexerSettings): string[] => lexSql(text, s).tokens.map((t: Token) => `${t.kind}:${t.value}`);
const words = (text: string, s: SqlLexerSettings): string[] => lexSql(text, s).tokens.filter((t) => t.kind === 'word').map((t) => t.value);

describe('lexer: postgres', () => {
  it('produces the basic token kinds and lower-cases words', () => {
    expect(kinds(`SELECT a.b, "Q""x", 'it''s', 1.5e3, $1 FROM t;`, PG)).toEqual([
      'word:select', 'word:a', 'op:.', 'word:b', 'op:,', 'qident:Q"x', 'op:,', "string:it's", 'op:,',
      'number:1.5e3', 'op:,', 'param:$1', 'word:from', 'word:t', 'semicolon:;',
    ]);
  });

  it('skips -- comments to the end of the line (\\n or \\r)', () => {
    expect(words('select 1 -- drop table x\nfrom t', PG)).toEqual(['select', 'from', 't']);
    expect(words('select 1 -- drop\rfrom t', PG)).toEqual(['select', 'from', 't']);
  });

  it('nests /* */ comments', () => {
    expect(words('select /* a /* drop */ table */ 1', PG)).toEqual(['select']);
    expect(lexSql('select /* a /* b */', PG).error).toMatch(/unterminated/);
  });

  it('reads E strings with backslash escapes', () => {
    const r = lexSql(`select E'\\'' ; drop table x; --'`, PG);
    expect(r.tokens.map((t) => t.value)).toEqual(['select', "'", ';', 'drop', 'table', 'x', ';']);
    expect(kinds(`select e'a\\\\' , 1`, PG)).toEqual(['word:select', 'string:a\\', 'op:,', 'number:1']);
  });

  it('treats a backslash as literal in plain strings only when standard_conforming_strings is on', () => {
    expect(words(`select '\\' ; drop table x; --'`, PG)).toContain('drop');
    expect(words(`select '\\' ; drop table x; --'`, PG_OFF)).toEqual(['select']);
  });

  it('continues a literal across whitespace holding a newline, in the same mode', () => {
    // E'a' continued by '\' …': the continuation is still an E string, so \' does not end it
    const text = `select E'a'\n'\\' ; ' ; drop table t; --'`;
    expect(words(text, PG)).toEqual(['select', 'drop', 'table', 't']);
    expect(kinds(`select 'a' -- c\n 'b'`, PG)).toEqual(['word:select', 'string:ab']);
    expect(kinds(`select 'a' 'b'`, PG)).toEqual(['word:select', 'string:a', 'string:b']);
  });

  it('reads dollar quotes with and without tags; $1 is a parameter', () => {
    expect(kinds('select $$ drop table x $$, $fn$ $$ ; drop $fn$, $1', PG)).toEqual([
      'word:select', 'string: drop table x ', 'op:,', 'string: $$ ; drop ', 'op:,', 'param:$1',
    ]);
    expect(lexSql('select $a$ never closed $b$', PG).error).toMatch(/dollar/);
    expect(kinds('select a$b$c', PG)).toEqual(['word:select', 'word:a$b$c']);
  });

  it('reads quoted identifiers with doubled quotes and refuses empty ones', () => {
    expect(kinds('select "a""b"', PG)).toEqual(['word:select', 'qident:a"b']);
    expect(lexSql('select ""', PG).error).toMatch(/zero-length/);
    expect(lexSql('select "abc', PG).error).toMatch(/unterminated quoted identifier/);
  });

  it('decodes U& strings and identifiers, with UESCAPE', () => {
    expect(kinds(`select U&"\\0070g_read_file"`, PG)).toEqual(['word:select', 'qident:pg_read_file']);
    expect(kinds(`select U&'d\\0061t\\+000061'`, PG)).toEqual(['word:select', 'string:data']);
    expect(kinds(`select U&"!0070g" UESCAPE '!'`, PG)).toEqual(['word:select', 'qident:pg']);
    expect(lexSql(`select U&'x'`, PG_OFF).error).toMatch(/Unicode/);
  });

  it('reads B and X strings, which end at the first quote', () => {
    expect(kinds(`select B'0101', X'1F'`, PG)).toEqual(['word:select', 'string:0101', 'op:,', 'string:1F']);
  });

  it('reports unterminated strings', () => {
    expect(lexSql(`select 'abc`, PG).error).toMatch(/unterminated quoted string/);
    expect(lexSql(`select E'abc\\'`, PG).error).toMatch(/unterminated/);
  });

  it('does not treat # as a comment', () => {
    expect(words('select a # b', PG)).toEqual(['select', 'a', 'b']);
  });

  it('refuses NUL characters', () => {
    expect(lexSql('select 1\0; drop table x', PG).error).toMatch(/NUL/);
  });
});

describe('lexer: mysql', () => {
  it('needs whitespace or a control character after --', () => {
    expect(words('select 1 -- drop table x\nfrom t', MY)).toEqual(['select', 'from', 't']);
    expect(words('select 1--1\nfrom t', MY)).toEqual(['select', 'from', 't']);
    expect(kinds('select 1--1', MY)).toEqual(['word:select', 'number:1', 'op:-', 'op:-', 'number:1']);
    expect(words('select 1 --', MY)).toEqual(['select']);
  });

  it('ends -- and # comments at \\n only', () => {
    expect(words('select 1 # drop\rtable x\nfrom t', MY)).toEqual(['select', 'from', 't']);
  });

  it('does not nest /* */ comments', () => {
    expect(words('select /* a /* b */ c */ 1', MY)).toEqual(['select', 'c']);
  });

  it('lexes executable comments as SQL', () => {
    expect(words('/*! DROP TABLE x */', MY)).toEqual(['drop', 'table', 'x']);
    expect(words('/*!50100 DROP TABLE x */', MY)).toEqual(['drop', 'table', 'x']);
    expect(words('/*M!100100 DROP TABLE x */', MY)).toEqual(['drop', 'table', 'x']);
    expect(lexSql('/*!50100 drop */', MY).versioned).toEqual([{ version: 50100, maria: false }]);
    expect(lexSql('/*! drop */', MY).versioned).toEqual([]);
  });

  it('can skip versioned comments for a given server', () => {
    const r = lexSql('select 1 /*!99999 , 2 */', MY, { runVersioned: () => false });
    expect(r.tokens.map((t) => t.value)).toEqual(['select', '1']);
    expect(lexSql('/*!99999 a /* b */ c */', MY, { runVersioned: () => false }).error).toMatch(/nested/);
  });

  it('keeps */ inside a string of an executable comment', () => {
    expect(kinds(`/*! select '*/' */`, MY)).toEqual(['word:select', 'string:*/']);
    expect(lexSql('/*! select 1', MY).error).toMatch(/unterminated/);
  });

  it('reads strings with backslash escapes unless NO_BACKSLASH_ESCAPES', () => {
    expect(words(`select '\\' ; drop table x; -- '`, MY)).toEqual(['select']);
    expect(words(`select '\\' ; drop table x; -- '`, MY_NBE)).toEqual(['select', 'drop', 'table', 'x']);
    expect(kinds(`select 'it''s', "a""b"`, MY)).toEqual(['word:select', "string:it's", 'op:,', 'string:a"b']);
  });

  it('reads "…" as an identifier under ANSI_QUOTES', () => {
    expect(kinds('select "drop"', MY)).toEqual(['word:select', 'string:drop']);
    expect(kinds('select "drop"', MY_ANSI)).toEqual(['word:select', 'qident:drop']);
  });

  it('reads backtick identifiers with doubled backticks', () => {
    expect(kinds('select `a``b` from `drop`', MY)).toEqual(['word:select', 'qident:a`b', 'word:from', 'qident:drop']);
    expect(lexSql('select `abc', MY).error).toMatch(/unterminated quoted identifier/);
  });

  it('reads ? as a parameter and X/B strings', () => {
    expect(kinds(`select ?, X'1f', b'01', N'x'`, MY)).toEqual([
      'word:select', 'param:?', 'op:,', 'string:1f', 'op:,', 'string:01', 'op:,', 'string:x',
    ]);
  });

  it('reads digits followed by letters as one identifier, except an exponent', () => {
    expect(kinds('select 1union', MY)).toEqual(['word:select', 'word:1union']);
    expect(kinds('select 1e0union', MY)).toEqual(['word:select', 'number:1e0', 'word:union']);
    expect(kinds('select 0x1F, 0x1g', MY)).toEqual(['word:select', 'number:0x1F', 'op:,', 'word:0x1g']);
  });

  it('reports unterminated strings and comments', () => {
    expect(lexSql(`select 'abc`, MY).error).toMatch(/unterminated quoted string/);
    expect(lexSql(`select "abc\\"`, MY).error).toMatch(/unterminated quoted string/);
    expect(lexSql('select /* abc', MY).error).toMatch(/unterminated/);
  });
});
