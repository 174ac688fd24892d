// Column and table names as evidence: the words of a name ("customerPhone2" → customer, phone, 2),
// the context that makes a weak detector shape believable, and the built-in dictionary of sensitive
// column names behind the `@sensitive` column rule (masking/rules.ts).
//
// Everything here runs when a plan is built (once per result shape), never per row or cell.

/** Lower-case words of an identifier: split at non-alphanumerics, camelCase humps and letter/digit edges. */
export function nameWords(name: string): string[] {
  const spaced = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2') // camelCase
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2') // HTTPHeader → HTTP Header
    .replace(/([A-Za-z])([0-9])|([0-9])([A-Za-z])/g, '$1$3 $2$4'); // phone2, 2fa
  return spaced
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w !== '');
}

/** A term of one or more words, compiled: "social security" → ['social', 'security']. */
export type Term = readonly string[];

export function compileTerms(terms: readonly string[]): Term[] {
  return terms.map((t) => t.split(' '));
}

// "phones" and "emails" name the same thing: a word matches a term word or its plural.
function wordIs(word: string, term: string): boolean {
  return word === term || (word.length === term.length + 1 && word.endsWith('s') && word.startsWith(term)) ||
    (word.length === term.length + 2 && word.endsWith('es') && word.startsWith(term));
}

function matchesAt(words: readonly string[], at: number, term: Term): boolean {
  if (at + term.length > words.length) return false;
  for (let k = 0; k < term.length; k++) if (!wordIs(words[at + k], term[k])) return false;
  return true;
}

/** Does any term occur as consecutive whole words of `words`? ("home_phone_no" contains "phone"). */
export function containsTerm(words: readonly string[], terms: readonly Term[]): boolean {
  for (let at = 0; at < words.length; at++) for (const t of terms) if (matchesAt(words, at, t)) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Built-in dictionary of sensitive column names (the `@sensitive` column rule).
//
// A name is sensitive when its words END with one of these terms, optionally followed by qualifier
// words (SENSITIVE_QUALIFIERS) and digits: `email`, `user_email`, `billingEmailAddress`, `ssn_hash`,
// `phone2`, `stripe_api_key`, `refresh_token` are; `email_verified`, `token_type`, `password_changed_at`,
// `phone_count` are not (they describe the value, they are not it). Names that start like a flag
// (`is_…`, `has_…`) are never sensitive: `is_mobile` is a boolean, not a phone number.

export const SENSITIVE_COLUMN_NAMES: readonly string[] = Object.freeze([
  // contact
  'email', 'e mail', 'emailaddress', 'mail address',
  'phone', 'phone number', 'phonenumber', 'telephone', 'tel', 'mobile', 'mobile phone', 'mobilephone', 'cellphone',
  'cell phone', 'fax', 'msisdn',
  // government identifiers
  'ssn', 'social security', 'social security number', 'socsec', 'sin', 'national id', 'national insurance',
  'tax id', 'taxpayer id', 'tin', 'itin', 'passport', 'driver license', 'drivers license', 'driving licence',
  'date of birth', 'dob', 'birth date', 'birthdate', 'birthday',
  // payment
  'iban', 'bank account', 'card number', 'cardnumber', 'credit card', 'creditcard', 'debit card', 'cc number', 'ccnum',
  'cc', 'pan', 'cvv', 'cvc', 'card cvv', 'pin',
  // credentials
  'password', 'passwd', 'pwd', 'passphrase', 'api key', 'apikey', 'secret', 'client secret', 'secret key',
  'token', 'access token', 'refresh token', 'auth token', 'session token', 'id token', 'bearer token',
  'access key', 'private key', 'credential', 'credentials', 'otp secret', 'totp secret', 'recovery code',
]);

/** Words allowed after a dictionary term: `email_address`, `ssn_hash`, `card_number_enc`. */
export const SENSITIVE_QUALIFIERS: ReadonlySet<string> = new Set([
  'address', 'addr', 'number', 'no', 'num', 'nr', 'nbr', 'hash', 'hashed', 'digest', 'enc', 'encrypted', 'cipher',
  'ciphertext', 'plain', 'plaintext', 'clear', 'raw', 'value', 'val', 'text', 'txt', 'str', 'string', 'primary',
  'secondary', 'alt', 'old', 'new', 'last', 'prev', 'previous', 'digits',
]);

const FLAG_PREFIXES = new Set(['is', 'has', 'can', 'should', 'allow', 'allows', 'enable', 'enabled', 'use', 'uses', 'needs', 'require', 'requires']);

const SENSITIVE_TERMS: readonly Term[] = compileTerms(SENSITIVE_COLUMN_NAMES);

/** Is `name` (a column name) in the built-in dictionary of sensitive names? */
export function isSensitiveColumnName(name: string): boolean {
  const words = nameWords(name);
  if (words.length === 0 || FLAG_PREFIXES.has(words[0])) return false;
  // drop trailing digits and qualifiers, then the term must end the name
  let end = words.length;
  while (end > 0 && (/^\d+$/.test(words[end - 1]) || SENSITIVE_QUALIFIERS.has(words[end - 1]))) end--;
  if (end === 0) return false;
  for (const t of SENSITIVE_TERMS) if (end - t.length >= 0 && matchesAt(words, end - t.length, t)) return true;
  // a qualifier can itself be the term's last word ("phone number", "card number")
  if (end < words.length) {
    for (const t of SENSITIVE_TERMS) {
      for (let stop = end + 1; stop <= words.length; stop++) {
        if (stop - t.length >= 0 && matchesAt(words, stop - t.length, t)) return true;
      }
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Context confidence (issue 3, item 6). Each detection has a confidence; it is reported when the
// confidence reaches CONTEXT_THRESHOLD:
//
//   a detector's strict shape (validated: Luhn, mod 97, SSA ranges…)     0.9   always reported
//   a loose shape only (undashed SSN, bare digit run as a phone…)        0.3   never on its own
//   + the column's name (source column or alias) names the entity        +0.4
//   + the table's name names the entity                                   +0.2
//
// So a loose shape is reported in a column named like the entity (0.7) or in a table named like it
// (0.5), never in an anonymous column. The scores are per column, not per cell: the engine picks the
// detector's loose variant for the whole column when building the plan, and cells cost the same.

export const CONTEXT_THRESHOLD = 0.5;
export const STRICT_CONFIDENCE = 0.9;
export const LOOSE_CONFIDENCE = 0.3;
export const COLUMN_CONTEXT_BOOST = 0.4;
export const TABLE_CONTEXT_BOOST = 0.2;

export interface NameContext {
  /** words of the source column and of the name the client sees */
  readonly column: readonly (readonly string[])[];
  /** words of the source table, when known */
  readonly table: readonly string[];
}

export function nameContext(col: { name: string; column?: string; table?: string }): NameContext {
  const column: string[][] = [];
  if (col.column) column.push(nameWords(col.column));
  if (col.name && col.name !== col.column) column.push(nameWords(col.name));
  return { column, table: col.table ? nameWords(col.table) : [] };
}

/** Confidence of a loose-shape match in a column with this context. */
export function looseConfidence(terms: readonly Term[], ctx: NameContext): number {
  let score = LOOSE_CONFIDENCE;
  if (ctx.column.some((w) => containsTerm(w, terms))) score += COLUMN_CONTEXT_BOOST;
  if (containsTerm(ctx.table, terms)) score += TABLE_CONTEXT_BOOST;
  return Math.round(score * 100) / 100;
}

/** Do the words end with one of the terms? ("clientSecret" ends with "secret"; "tokenType" does not end with "token"). */
export function endsWithTerm(words: readonly string[], terms: readonly Term[]): boolean {
  for (const t of terms) if (words.length >= t.length && matchesAt(words, words.length - t.length, t)) return true;
  return false;
}
