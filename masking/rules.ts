// Column rules: `match` globs over dotted names, compiled once per profile.
//   email               column `email` in any table
//   users.ssn, *.email  table.column
//   app.users.ssn       schema.table.column
//   @sensitive          any column whose name is in the built-in dictionary of sensitive names
//   users.@sensitive    the same, in table `users` (schema/table parts are globs as above)
// `*` is any run of characters, `?` one character; case-insensitive. Names are matched against the
// source column (ColumnInfo.column) when the protocol knows it, so `SELECT email AS e` is still masked.
//
// `@sensitive` (masking/names.ts SENSITIVE_COLUMN_NAMES) knows the usual names of personal data and
// credentials: email, e_mail, ssn, social_security_number, passport, national_id, tax_id, date_of_birth,
// iban, bank_account, card_number, cc_number, pan, cvv, phone, phone_number, mobile, telephone, fax,
// password, password_hash, passwd, api_key, secret, client_secret, token, access_token, refresh_token,
// private_key, credentials … A name matches when its words end with such a term, optionally followed
// by qualifiers (address, number, no, hash, encrypted, value…) or digits: `user_email`, `emailAddress`,
// `ssn_hash`, `home_phone2`, `stripe_api_key` match; `email_verified`, `token_type`, `password_changed_at`
// and flags such as `is_mobile` do not. Example profile:
//
//   masking:
//     - name: pii
//       columns:
//         - { match: "@sensitive", with: redact }      # every column named like personal data
//         - { match: "*.email", with: partial }        # first matching rule wins: put it first to keep domains
//       detect: [email, credit_card, iban, us_ssn, phone, secret]
import type { ColumnInfo } from '../src/types.js';
import { isSensitiveColumnName } from './names.js';

/** The column part of a pattern that stands for the built-in dictionary of sensitive names. */
export const SENSITIVE_MATCH = '@sensitive';

export interface ColumnRule {
  /** the rule as written, for errors and audit reasons */
  readonly match: string;
  readonly schema: NamePattern | null;
  readonly table: NamePattern | null;
  readonly column: NamePattern;
}

interface NamePattern {
  /** tests a name; a RegExp for globs, the dictionary for `@sensitive` */
  readonly re: { test(name: string): boolean };
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
  for (const p of [schema, table]) {
    if (p !== null && p.startsWith('@')) throw new Error(`column pattern "${match}": "${p}" can only be the column part`);
  }
  if (column.startsWith('@') && column.toLowerCase() !== SENSITIVE_MATCH) {
    throw new Error(`column pattern "${match}": unknown name set "${column}" (known: ${SENSITIVE_MATCH})`);
  }
  return {
    match,
    schema: schema === null ? null : globPattern(schema),
    table: table === null ? null : globPattern(table),
    column: column.startsWith('@') ? SENSITIVE : globPattern(column),
  };
}

const SENSITIVE: NamePattern = { re: { test: isSensitiveColumnName }, any: false };

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
