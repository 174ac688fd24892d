// Character classes, number scanners and escape decoding shared by the lexer's dialects.

export const NUL = 0;
export const TAB = 9;
export const LF = 10;
export const CR = 13;
export const SPACE = 32;
export const BANG = 33; // '!'
export const DQUOTE = 34; // '"'
export const HASH = 35; // '#'
export const DOLLAR = 36; // '$'
export const AMP = 38; // '&'
export const SQUOTE = 39; // "'"
export const STAR = 42; // '*'
export const PLUS = 43; // '+'
export const MINUS = 45; // '-'
export const DOT = 46; // '.'
export const SLASH = 47; // '/'
export const SEMI = 59; // ';'
export const QMARK = 63; // '?'
export const BACKSLASH = 92; // '\\'
export const BACKTICK = 96; // '`'

// PostgreSQL {space} and MySQL my_isspace agree: \t \n \v \f \r and space.
export const isSpace = (c: number): boolean => c === SPACE || (c >= TAB && c <= CR);
export const isDigit = (c: number): boolean => c >= 48 && c <= 57;
export const isHex = (c: number): boolean => isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
const isLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
// Both servers treat every byte >= 0x80 as an identifier character; here every UTF-16 unit >= 0x80.
export const isIdentStart = (c: number): boolean => isLetter(c) || c === 95 || c >= 0x80;
export const isIdentCont = (c: number): boolean => isIdentStart(c) || isDigit(c) || c === DOLLAR;

const at = (text: string, i: number): number => (i < text.length ? text.charCodeAt(i) : -1);

/** End of an exponent (e[+-]digits) starting at i, or i when there is none. */
function exponent(text: string, i: number): number {
  if ((at(text, i) | 0x20) !== 101) return i;
  let j = i + 1;
  if (at(text, j) === PLUS || at(text, j) === MINUS) j++;
  if (!isDigit(at(text, j))) return i;
  while (isDigit(at(text, j))) j++;
  return j;
}

/** PostgreSQL numeric literal starting at i (a digit, or "." then a digit): its end. */
export function scanPgNumber(text: string, i: number): number {
  const digitOr_ = (c: number): boolean => isDigit(c) || c === 95;
  const c1 = at(text, i + 1) | 0x20;
  if (text.charCodeAt(i) === 48 && (c1 === 120 || c1 === 111 || c1 === 98)) {
    // 0x.. 0o.. 0b.. (PostgreSQL 16); older servers read "0" then an identifier, same verdicts.
    i += 2;
    while (isHex(at(text, i)) || at(text, i) === 95) i++;
    return i;
  }
  while (digitOr_(at(text, i))) i++;
  if (at(text, i) === DOT && at(text, i + 1) !== DOT) {
    i++;
    while (digitOr_(at(text, i))) i++;
  }
  return exponent(text, i);
}

/**
 * MySQL token starting with a digit or "." (sql_lex.cc MY_LEX_NUMBER_IDENT): digits followed by
 * identifier characters form an identifier ("1union" is one word), except an exponent
 * ("1e0union" is 1e0 then "union") and a decimal point.
 */
export function scanMysqlNumber(text: string, start: number): { end: number; word: boolean } {
  let i = start;
  if (text.charCodeAt(i) === DOT) {
    i++;
    while (isDigit(at(text, i))) i++;
    return { end: exponent(text, i), word: false };
  }
  const c1 = at(text, i + 1);
  if (text.charCodeAt(i) === 48 && (c1 === 120 || c1 === 98)) {
    let j = i + 2;
    const ok = c1 === 120 ? isHex : (c: number): boolean => c === 48 || c === 49;
    while (ok(at(text, j))) j++;
    if (j > i + 2 && !isIdentCont(at(text, j))) return { end: j, word: false };
  }
  while (isDigit(at(text, i))) i++;
  const c = at(text, i);
  if (c !== -1 && isIdentCont(c)) {
    const e = exponent(text, i);
    if (e > i) return { end: e, word: false };
    while (isIdentCont(at(text, i))) i++;
    return { end: i, word: true };
  }
  if (c === DOT) {
    i++;
    while (isDigit(at(text, i))) i++;
    i = exponent(text, i);
  }
  return { end: i, word: false };
}

export function decodeEscape(c: number): string {
  switch (c) {
    case 110: return '\n'; // n
    case 116: return '\t'; // t
    case 114: return '\r'; // r
    case 98: return '\b'; // b
    case 102: return '\f'; // f
    case 48: return '\0'; // 0
    case 90: return '\x1a'; // Z (mysql)
    default: return String.fromCharCode(c);
  }
}

/** U& escapes: \XXXX, \+XXXXXX and a doubled escape character. */
export function decodeUnicode(s: string, esc: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== esc) {
      out += s[i];
      continue;
    }
    if (s[i + 1] === esc) {
      out += esc;
      i++;
      continue;
    }
    const long = s[i + 1] === '+';
    const hex = long ? s.slice(i + 2, i + 8) : s.slice(i + 1, i + 5);
    if (hex.length === (long ? 6 : 4) && /^[0-9a-fA-F]+$/.test(hex)) {
      const cp = parseInt(hex, 16);
      out += cp <= 0x10ffff ? String.fromCodePoint(cp) : '\ufffd';
      i += long ? 7 : 4;
    } else {
      out += s[i];
    }
  }
  return out;
}
