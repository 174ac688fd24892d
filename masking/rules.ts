// Column rules: `match` globs over dotted names, compiled once per profile.
//   email               column `email` in any table
//   users.ssn, *.email  table.column
//   app.users.ssn       schema.table.column
// `*` is any run of characters, `?` one character; case-insensitive. Names are matched against the
// source column (ColumnInfo.column) when the protocol knows it, so `SELECT email AS e` is still masked.
import type { ColumnInfo } from '../src/types.js';

export interface ColumnRule {
  /** the rule as written, for errors and audit reasons */
  readonly match: string;
  readonly schema: NamePattern | null;
  readonly table: NamePattern | null;
  readonly column: NamePattern;
}

interface NamePattern {
  readonly re: RegExp;
  /** the glob is only `*`s: it also matches a name the protocol could not tell (expression columns) */
  readonly any: boolean;
}

export function compileColumnRule(match: string): ColumnRule {
  const parts = match.split('.');
  if (parts.length > 3) throw new Error(`column pattern "${match}" has more than 3 dotted parts (schema.table.column)`);
  if (parts.some((p) => p === '')) throw new Error(`column pattern "${match}" has an empty part`);
  const [schema, table, column] = [
    parts.length === 3 ? parts[0] : null,
    parts.length >= 2 ? parts[parts.length - 2] : null,
    parts[parts.length - 1],
  ];
  return {
    match,
    schema: schema === null ? null : globPattern(schema),
    table: table === null ? null : globPattern(table),
    column: globPattern(column),
  };
}

function globPattern(glob: string): NamePattern {
  let src = '^';
  for (const ch of glob) {
    if (ch === '*') src += '.*';
    else if (ch === '?') src += '.';
    else src += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  // 's' so that '.' also matches newlines inside quoted identifiers; 'u' so '?' is one code point
  return { re: new RegExp(src + '$', 'isu'), any: /^\*+$/.test(glob) };
}

function matchesPart(p: NamePattern | null, name: string | undefined): boolean {
  if (p === null) return true;
  // an unknown table/schema (computed column, protocol without origin info) only satisfies `*`
  return name === undefined || name === '' ? p.any : p.re.test(name);
}

export function ruleMatches(rule: ColumnRule, col: ColumnInfo): boolean {
  return (
    rule.column.re.test(col.column || col.name) &&
    matchesPart(rule.table, col.table) &&
    matchesPart(rule.schema, col.schema)
  );
}
