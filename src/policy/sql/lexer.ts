// Hand-written SQL lexer: one pass, no regex over the raw text.
// Every disagreement with the server's own lexer about where a string, comment or quoted
// identifier ends is a policy bypass, so the rules below follow PostgreSQL's scan.l and
// MySQL/MariaDB's sql_lex.cc closely, and anything ambiguous is reported as an error
// (the statement then takes the connection's fallback).
import type { SqlLexerSettings } from '../../types.js';
import {
  AMP, BACKSLASH, BACKTICK, BANG, CR, DOLLAR, DOT, DQUOTE, HASH, LF, MINUS, NUL, QMARK, SEMI, SLASH, SPACE, SQUOTE, STAR,
  decodeEscape, decodeUnicode, isDigit, isIdentCont, isIdentStart, isSpace, scanMysqlNumber, scanPgNumber,
} from './chars.js';

export type TokenKind = 'word' | 'qident' | 'string' | 'number' | 'param' | 'op' | 'semicolon';

export interface Token {
  readonly kind: TokenKind;
  /** word: lower-cased; qident and string: decoded content; others: the source text */
  readonly value: string;
  /** offsets in the source text, end exclusive */
  readonly start: number;
  readonly end: number;
  /**
   * string: a prefixed (E, B, X, N, U&) literal or one holding backslash escapes, whose decoded value is
   * approximate; semicolon: one inside a MySQL executable comment
   */
  readonly special?: boolean;
}

/** A MySQL executable comment whose execution depends on the server's flavour and version. */
export interface VersionedComment {
  /** null for `/*M!` without digits */
  readonly version: number | null;
  /** `/*M!` (MariaDB only; MySQL treats it as a plain comment) */
  readonly maria: boolean;
}

export interface LexResult {
  readonly tokens: Token[];
  /** set when the text cannot be lexed reliably; tokens then hold what came before */
  readonly error?: string;
  readonly versioned: readonly VersionedComment[];
}

export interface LexOptions {
  /** mysql: decides whether a versioned executable comment runs; default: every one runs */
  readonly runVersioned?: (c: VersionedComment) => boolean;
  /** mysql: the text starts inside an executed comment (the rest of one cut at a special semicolon) */
  readonly startInExec?: boolean;
}

// Longest first. None may contain "--", "/*" or "#" (they start comments).
const MULTI_OPS = ['<=>', '->>', '::', '<=', '>=', '<>', '!=', '=>', ':=', '||', '&&', '->'];

class Lexer {
  private pos = 0;
  private readonly tokens: Token[] = [];
  private readonly versioned: VersionedComment[] = [];
  private error: string | undefined;
  /** mysql: inside an executed comment, whose `*` `/` closes it */
  private inExec = false;
  private readonly pg: boolean;
  private readonly scs: boolean;
  private readonly mysqlEscapes: boolean;
  private readonly ansiQuotes: boolean;

  constructor(
    private readonly text: string,
    settings: SqlLexerSettings,
    private readonly options: LexOptions,
  ) {
    this.pg = settings.dialect === 'postgres';
    this.scs = settings.standardConformingStrings ?? true;
    this.mysqlEscapes = !(settings.noBackslashEscapes ?? false);
    this.ansiQuotes = settings.ansiQuotes ?? false;
    this.inExec = !this.pg && (options.startInExec ?? false);
  }

  run(): LexResult {
    const { text } = this;
    const len = text.length;
    while (this.pos < len && this.error === undefined) {
      const c = text.charCodeAt(this.pos);
      const n = this.pos + 1 < len ? text.charCodeAt(this.pos + 1) : -1;
      if (c === NUL) {
        // MySQL's comment scanner stops at NUL while its length-based loop does not; refuse the ambiguity.
        this.fail('NUL character in SQL text');
      } else if (isSpace(c)) {
        this.pos++;
      } else if (c === MINUS && n === MINUS && this.dashDashIsComment()) {
        this.lineComment();
      } else if (c === HASH && !this.pg) {
        this.lineComment();
      } else if (c === SLASH && n === STAR) {
        if (this.pg) this.pgBlockComment();
        else this.mysqlBlockComment();
      } else if (c === STAR && n === SLASH && this.inExec) {
        this.pos += 2;
        this.inExec = false;
      } else if (c === SQUOTE) {
        if (this.pg) this.pgString(this.pos, this.scs ? 'plain' : 'escape');
        else this.mysqlString(this.pos, SQUOTE, this.mysqlEscapes);
      } else if (c === DQUOTE) {
        if (this.pg || this.ansiQuotes) this.quotedIdent(this.pos, DQUOTE, false);
        else this.mysqlString(this.pos, DQUOTE, this.mysqlEscapes);
      } else if (c === BACKTICK && !this.pg) {
        this.quotedIdent(this.pos, BACKTICK, false);
      } else if (c === SEMI) {
        this.push('semicolon', ';', this.pos, this.pos + 1, this.inExec);
        this.pos++;
      } else if (isDigit(c) || (c === DOT && isDigit(n))) {
        if (this.pg) this.pgNumber();
        else this.mysqlNumber();
      } else if (c === DOLLAR && this.pg) {
        this.pgDollar();
      } else if (c === QMARK && !this.pg) {
        this.push('param', '?', this.pos, this.pos + 1);
        this.pos++;
      } else if (isIdentStart(c) || (c === DOLLAR && !this.pg)) {
        this.wordOrPrefixedLiteral();
      } else {
        this.operator();
      }
    }
    if (this.error === undefined && this.inExec) this.fail('unterminated executable comment');
    if (this.pg && this.error === undefined) this.applyUescape();
    const result: LexResult = { tokens: this.tokens, versioned: this.versioned };
    return this.error === undefined ? result : { ...result, error: this.error };
  }

  private fail(message: string): void {
    this.error ??= message;
  }

  private push(kind: TokenKind, value: string, start: number, end: number, special = false): void {
    this.tokens.push(special ? { kind, value, start, end, special } : { kind, value, start, end });
  }

  private code(i: number): number {
    return i < this.text.length ? this.text.charCodeAt(i) : -1;
  }

  // MySQL: "--" starts a comment only when followed by whitespace or a control character
  // (my_isspace || my_iscntrl), end of input included; otherwise it is two minus signs.
  private dashDashIsComment(): boolean {
    if (this.pg) return true;
    const c = this.code(this.pos + 2);
    return c === -1 || c <= SPACE || c === 127;
  }

  // PostgreSQL ends a line comment at \n or \r, MySQL only at \n (sql_lex.cc MY_LEX_COMMENT).
  private lineComment(): void {
    const { text } = this;
    let i = this.pos;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === LF || (this.pg && c === CR)) break;
      i++;
    }
    this.pos = i;
  }

  // scan.l xc: comments nest.
  private pgBlockComment(): void {
    const { text } = this;
    let depth = 1;
    let i = this.pos + 2;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      const n = this.code(i + 1);
      if (c === SLASH && n === STAR) {
        depth++;
        i += 2;
      } else if (c === STAR && n === SLASH) {
        depth--;
        i += 2;
        if (depth === 0) {
          this.pos = i;
          return;
        }
      } else {
        i++;
      }
    }
    this.fail('unterminated /* comment');
  }

  private mysqlBlockComment(): void {
    const start = this.pos;
    const c2 = this.code(start + 2);
    const maria = c2 === 77 /* 'M' */ && this.code(start + 3) === BANG;
    if (c2 !== BANG && !maria) {
      // A plain comment (optimizer hints included) ends at the first "*/": no nesting.
      this.pos = this.skipPlainComment(start + 2);
      return;
    }
    if (this.inExec) {
      this.fail('nested executable comment');
      return;
    }
    let p = start + (maria ? 4 : 3);
    let digits = 0;
    while (digits < 6 && isDigit(this.code(p + digits))) digits++;
    if (digits < 5) digits = 0;
    if (!maria && digits === 0) {
      // "/*!" without a version runs on every server.
      this.pos = p;
      this.inExec = true;
      return;
    }
    const comment: VersionedComment = { version: digits ? Number(this.text.slice(p, p + digits)) : null, maria };
    this.versioned.push(comment);
    if (this.options.runVersioned?.(comment) ?? true) {
      this.pos = p + digits;
      this.inExec = true;
      return;
    }
    // Skipped: the server allows one nested comment level (MariaDB) or none (MySQL for /*M!);
    // refuse the case where that difference matters.
    const text = this.text;
    for (let i = start + 2; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === STAR && this.code(i + 1) === SLASH) {
        this.pos = i + 2;
        return;
      }
      if (c === SLASH && this.code(i + 1) === STAR) {
        this.fail('comment nested inside a versioned comment');
        return;
      }
    }
    this.fail('unterminated /* comment');
  }

  private skipPlainComment(from: number): number {
    const end = this.text.indexOf('*/', from);
    if (end < 0) {
      this.fail('unterminated /* comment');
      return this.text.length;
    }
    return end + 2;
  }

  /**
   * PostgreSQL '…' literals. mode: plain ('' doubling only), escape (E'' or standard_conforming_strings
   * off: backslash escapes too), bits (B''/X'': ends at the first quote), unicode (U&'': doubling only).
   * A literal followed by whitespace holding a newline and another quote continues in the same mode
   * (scan.l quotecontinue), so the continuation must be read with the same rules.
   */
  private pgString(start: number, mode: 'plain' | 'escape' | 'bits' | 'unicode', special = false): void {
    const { text } = this;
    const quoteAt = text.indexOf("'", start);
    let i = quoteAt + 1;
    let value = '';
    let escaped = special;
    for (;;) {
      if (i >= text.length) {
        this.fail('unterminated quoted string');
        this.pos = text.length;
        return;
      }
      const c = text.charCodeAt(i);
      if (c === SQUOTE) {
        if (mode !== 'bits' && this.code(i + 1) === SQUOTE) {
          value += "'";
          i += 2;
          continue;
        }
        i++;
        const next = this.quoteContinuation(i);
        if (next < 0) break;
        i = next;
        continue;
      }
      if (c === BACKSLASH && mode === 'escape') {
        if (i + 1 >= text.length) {
          i++;
          continue;
        }
        value += decodeEscape(text.charCodeAt(i + 1));
        escaped = true;
        i += 2;
        continue;
      }
      value += text[i];
      i++;
    }
    if (mode === 'unicode') value = decodeUnicode(value, '\\');
    this.push('string', value, start, i, escaped || mode !== 'plain');
    this.pos = i;
  }

  /** Position after the opening quote of a continuation, or -1. */
  private quoteContinuation(from: number): number {
    const { text } = this;
    let i = from;
    let newline = false;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === LF || c === CR) {
        newline = true;
        i++;
      } else if (isSpace(c)) {
        i++;
      } else if (c === MINUS && this.code(i + 1) === MINUS) {
        while (i < text.length && text.charCodeAt(i) !== LF && text.charCodeAt(i) !== CR) i++;
      } else {
        break;
      }
    }
    return newline && this.code(i) === SQUOTE ? i + 1 : -1;
  }

  // MySQL '…' and "…" literals: doubled quotes, and backslash escapes unless NO_BACKSLASH_ESCAPES.
  private mysqlString(start: number, quote: number, escapes: boolean, special = false): void {
    const { text } = this;
    let i = text.indexOf(String.fromCharCode(quote), start) + 1;
    let value = '';
    let escaped = special;
    for (;;) {
      if (i >= text.length) {
        this.fail('unterminated quoted string');
        this.pos = text.length;
        return;
      }
      const c = text.charCodeAt(i);
      if (c === quote) {
        if (this.code(i + 1) === quote) {
          value += text[i];
          i += 2;
          continue;
        }
        i++;
        break;
      }
      if (c === BACKSLASH && escapes) {
        if (i + 1 >= text.length) {
          i++;
          continue;
        }
        value += decodeEscape(text.charCodeAt(i + 1));
        escaped = true;
        i += 2;
        continue;
      }
      value += text[i];
      i++;
    }
    this.push('string', value, start, i, escaped);
    this.pos = i;
  }

  // MySQL X'…' and B'…': no escapes, no doubling; the server accepts only hex/bit digits.
  private mysqlBits(start: number): void {
    const close = this.text.indexOf("'", start + 2);
    if (close < 0) {
      this.fail('unterminated quoted string');
      this.pos = this.text.length;
      return;
    }
    this.push('string', this.text.slice(start + 2, close), start, close + 1, true);
    this.pos = close + 1;
  }

  /** "…", `…`, U&"…": doubled quote characters; PostgreSQL refuses an empty one. */
  private quotedIdent(start: number, quote: number, unicode: boolean): void {
    const { text } = this;
    const q = String.fromCharCode(quote);
    let i = text.indexOf(q, start) + 1;
    let value = '';
    for (;;) {
      const close = text.indexOf(q, i);
      if (close < 0) {
        this.fail('unterminated quoted identifier');
        this.pos = text.length;
        return;
      }
      value += text.slice(i, close);
      if (this.code(close + 1) === quote) {
        value += q;
        i = close + 2;
        continue;
      }
      i = close + 1;
      break;
    }
    if (this.pg && value === '') this.fail('zero-length delimited identifier');
    this.push('qident', unicode ? decodeUnicode(value, '\\') : value, start, i, unicode);
    this.pos = i;
  }

  private pgNumber(): void {
    const start = this.pos;
    this.pos = scanPgNumber(this.text, start);
    this.push('number', this.text.slice(start, this.pos), start, this.pos);
  }

  private mysqlNumber(): void {
    const start = this.pos;
    const { end, word } = scanMysqlNumber(this.text, start);
    const raw = this.text.slice(start, end);
    this.push(word ? 'word' : 'number', word ? raw.toLowerCase() : raw, start, end);
    this.pos = end;
  }

  // $1 parameter, $$…$$ / $tag$…$tag$ dollar quote, or a lone "$" (scan.l dolqfailed).
  private pgDollar(): void {
    const { text } = this;
    const start = this.pos;
    let i = start + 1;
    if (isDigit(this.code(i))) {
      while (isDigit(this.code(i))) i++;
      this.push('param', text.slice(start, i), start, i);
      this.pos = i;
      return;
    }
    if (isIdentStart(this.code(i))) {
      i++;
      while (i < text.length && isIdentCont(text.charCodeAt(i)) && text.charCodeAt(i) !== DOLLAR) i++;
    }
    if (this.code(i) !== DOLLAR) {
      this.push('op', '$', start, start + 1);
      this.pos = start + 1;
      return;
    }
    const delim = text.slice(start, i + 1);
    const close = text.indexOf(delim, i + 1);
    if (close < 0) {
      this.fail('unterminated dollar-quoted string');
      this.pos = text.length;
      return;
    }
    this.push('string', text.slice(i + 1, close), start, close + delim.length);
    this.pos = close + delim.length;
  }

  private wordOrPrefixedLiteral(): void {
    const { text } = this;
    const start = this.pos;
    const c = text.charCodeAt(start) | 0x20;
    const n = this.code(start + 1);
    if (n === SQUOTE) {
      if (this.pg) {
        if (c === 101 /* e */) return this.pgString(start, 'escape', true);
        if (c === 98 || c === 120 /* b x */) return this.pgString(start, 'bits', true);
        if (c === 110 /* n */) return this.pgString(start, this.scs ? 'plain' : 'escape', true);
      } else {
        if (c === 98 || c === 120) return this.mysqlBits(start);
        if (c === 110) return this.mysqlString(start, SQUOTE, this.mysqlEscapes, true);
      }
    }
    if (this.pg && c === 117 /* u */ && n === AMP) {
      const q = this.code(start + 2);
      if (q === SQUOTE) {
        if (!this.scs) {
          this.fail('unsafe use of string constant with Unicode escapes');
          return;
        }
        return this.pgString(start, 'unicode', true);
      }
      if (q === DQUOTE) return this.quotedIdent(start, DQUOTE, true);
    }
    let i = start + 1;
    while (i < text.length && isIdentCont(text.charCodeAt(i))) i++;
    this.push('word', text.slice(start, i).toLowerCase(), start, i);
    this.pos = i;
  }

  private operator(): void {
    const { text } = this;
    const start = this.pos;
    for (const op of MULTI_OPS) {
      if (text.startsWith(op, start)) {
        this.push('op', op, start, start + op.length);
        this.pos = start + op.length;
        return;
      }
    }
    // One UTF-16 unit; surrogate pairs only occur in identifiers (>= 0x80), never here.
    this.push('op', text[start] ?? '', start, start + 1);
    this.pos = start + 1;
  }

  // U&'…' UESCAPE 'c' / U&"…" UESCAPE 'c': re-decode with the declared escape character.
  private applyUescape(): void {
    const t = this.tokens;
    for (let i = 0; i + 2 < t.length; i++) {
      const tok = t[i]!;
      if (!tok.special || t[i + 1]!.kind !== 'word' || t[i + 1]!.value !== 'uescape') continue;
      const raw = this.text.slice(tok.start, tok.end);
      if (!/^u&/i.test(raw)) continue;
      const esc = t[i + 2]!;
      if (esc.kind !== 'string' || esc.value.length !== 1 || /[0-9a-fA-F+'"\s]/.test(esc.value)) {
        this.fail('invalid Unicode escape character');
        return;
      }
      const quote = raw[2] === "'" ? "'" : '"';
      const inner = raw.slice(3, raw.lastIndexOf(quote)).split(quote + quote).join(quote);
      t.splice(i, 3, { ...tok, value: decodeUnicode(inner, esc.value), end: esc.end });
    }
  }
}

export function lexSql(text: string, settings: SqlLexerSettings, options: LexOptions = {}): LexResult {
  return new Lexer(text, settings, options).run();
}
