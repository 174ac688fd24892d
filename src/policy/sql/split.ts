// Statement boundaries. A ";" ends a statement except inside a routine or compound body
// (PostgreSQL CREATE FUNCTION … BEGIN ATOMIC … END; MySQL/MariaDB CREATE PROCEDURE … BEGIN … END,
// MariaDB BEGIN NOT ATOMIC / IF / WHILE … at top level). The servers parse those bodies with their
// grammar; we only approximate their extent, so every body statement is also analysed on its own
// (StatementAnalysis.inner): a wrong guess then changes how a statement is labelled, never whether
// it is seen.
import { type Ctx, isIdent, isOp, isWord, matchParen, wordIn } from './tokens.js';

export interface StatementRange {
  readonly from: number;
  readonly to: number;
  /** token range of a routine or compound body inside [from, to) */
  readonly body?: { readonly from: number; readonly to: number };
  /** true when the whole statement is a top-level compound (MariaDB) */
  readonly compound?: boolean;
}

export interface SplitResult {
  readonly ranges: StatementRange[];
  readonly error?: string;
}

const COMPOUND_START = new Set(['begin', 'if', 'case', 'loop', 'while', 'repeat', 'for']);
const END_QUALIFIER = new Set(['if', 'case', 'loop', 'while', 'repeat', 'for']);
const NOT_ROUTINE = new Set([
  'table', 'view', 'index', 'database', 'schema', 'user', 'role', 'server', 'tablespace', 'logfile', 'sequence',
  'temporary', 'unique', 'fulltext', 'spatial', 'package', 'resource',
]);

function nextSemicolon(ctx: Ctx, i: number): number {
  const n = ctx.toks.length;
  while (i < n && ctx.toks[i]!.kind !== 'semicolon') i++;
  return i;
}

export function splitStatements(ctx: Ctx): SplitResult {
  const ranges: StatementRange[] = [];
  const n = ctx.toks.length;
  let error: string | undefined;
  let i = 0;
  while (i < n) {
    if (ctx.toks[i]!.kind === 'semicolon') {
      i++;
      continue;
    }
    const found = ctx.pg ? pgAtomicBody(ctx, i) : mysqlBody(ctx, i);
    if (found === 'unterminated') {
      error ??= 'unterminated compound statement (BEGIN … END)';
      ranges.push({ from: i, to: n, body: { from: i, to: n } });
      break;
    }
    if (found) {
      const end = nextSemicolon(ctx, found.to);
      ranges.push({ from: i, to: end, body: found, ...(found.from === i ? { compound: true } : {}) });
      i = end + 1;
      continue;
    }
    const end = nextSemicolon(ctx, i);
    ranges.push({ from: i, to: end });
    i = end + 1;
  }
  return error === undefined ? { ranges } : { ranges, error };
}

type Body = { from: number; to: number } | 'unterminated' | null;

// CREATE [OR REPLACE] FUNCTION|PROCEDURE … BEGIN ATOMIC … END. Inside, CASE and END are reserved
// words, so counting CASE…END pairs finds the body's END exactly (as psql's psqlscan.l does).
function pgAtomicBody(ctx: Ctx, s: number): Body {
  const { toks } = ctx;
  let k = s;
  if (!isWord(toks[k], 'create')) return null;
  k++;
  if (isWord(toks[k], 'or') && isWord(toks[k + 1], 'replace')) k += 2;
  if (!isWord(toks[k], 'function') && !isWord(toks[k], 'procedure')) return null;
  let depth = 0;
  for (; k < toks.length; k++) {
    const t = toks[k]!;
    if (t.kind === 'semicolon') return null;
    if (isOp(t, '(')) depth++;
    else if (isOp(t, ')')) depth--;
    else if (depth === 0 && isWord(t, 'begin') && isWord(toks[k + 1], 'atomic')) break;
  }
  if (k >= toks.length) return null;
  const begin = k;
  let nest = 1;
  for (k += 2; k < toks.length; k++) {
    const t = toks[k]!;
    if (isWord(t, 'case')) nest++;
    else if (isWord(t, 'end') && --nest === 0) return { from: begin, to: k + 1 };
  }
  return 'unterminated';
}

function mysqlBody(ctx: Ctx, s: number): Body {
  const { toks } = ctx;
  let k = s;
  if (isIdent(toks[k]) && isOp(toks[k + 1], ':')) k += 2;
  const t = toks[k];
  if (isWord(t, 'begin')) {
    if (isWord(toks[k + 1], 'not') && isWord(toks[k + 2], 'atomic')) return trackCompound(ctx, s, s);
    return null; // BEGIN [WORK]: a transaction
  }
  if (wordIn(t, COMPOUND_START)) return trackCompound(ctx, s, s);
  // ALTER EVENT … DO <body> replaces a stored body as CREATE EVENT does
  if (!isWord(toks[s], 'create') && !isWord(toks[s], 'alter')) return null;
  const bs = routineBodyStart(ctx, s);
  if (bs < 0 || bs >= toks.length || toks[bs]!.kind === 'semicolon') return null;
  let c = bs;
  if (isIdent(toks[c]) && isOp(toks[c + 1], ':')) c += 2;
  if (wordIn(toks[c], COMPOUND_START) && !isIfCall(ctx, c)) return trackCompound(ctx, bs, bs);
  return { from: bs, to: nextSemicolon(ctx, bs) };
}

/** IF(a, b, c) the function, as opposed to IF (cond) THEN. */
function isIfCall(ctx: Ctx, k: number): boolean {
  const { toks } = ctx;
  if (!isWord(toks[k], 'if') || !isOp(toks[k + 1], '(')) return false;
  const close = matchParen(ctx, k + 1, toks.length);
  if (isWord(toks[close + 1], 'then')) return false;
  let depth = 0;
  for (let i = k + 1; i < close; i++) {
    if (isOp(toks[i], '(')) depth++;
    else if (isOp(toks[i], ')')) depth--;
    else if (depth === 1 && isOp(toks[i], ',')) return true;
  }
  return false;
}

/**
 * BEGIN/IF/CASE/LOOP/WHILE/REPEAT/FOR … END [qualifier]: count openers at statement starts
 * (CASE anywhere, since a CASE expression also ends with END).
 */
function trackCompound(ctx: Ctx, from: number, c: number): Body {
  const { toks } = ctx;
  let depth = 0;
  let stmtStart = true;
  for (let k = c; k < toks.length; k++) {
    const t = toks[k]!;
    if (t.kind === 'semicolon') {
      stmtStart = true;
      continue;
    }
    if (t.kind === 'word') {
      const v = t.value;
      if (stmtStart && isOp(toks[k + 1], ':') && !COMPOUND_START.has(v)) {
        k++;
        continue;
      }
      if (v === 'case' || (stmtStart && COMPOUND_START.has(v) && !isIfCall(ctx, k))) {
        depth++;
        if (v === 'begin' && isWord(toks[k + 1], 'not') && isWord(toks[k + 2], 'atomic')) k += 2;
        stmtStart = v === 'begin' || v === 'loop' || v === 'repeat';
        continue;
      }
      if (v === 'end') {
        depth--;
        if (wordIn(toks[k + 1], END_QUALIFIER)) k++;
        if (depth <= 0) return { from, to: k + 1 };
        stmtStart = false;
        continue;
      }
      if (v === 'then' || v === 'else' || v === 'do') {
        stmtStart = true;
        continue;
      }
    }
    stmtStart = false;
  }
  return 'unterminated';
}

const TYPE_MODIFIERS = new Set(['unsigned', 'signed', 'zerofill', 'binary', 'ascii', 'unicode', 'byte', 'varying', 'precision']);

/** MySQL CREATE … PROCEDURE|FUNCTION|TRIGGER|EVENT: index of the body's first token, or -1. */
function routineBodyStart(ctx: Ctx, s: number): number {
  const { toks } = ctx;
  let k = s + 1;
  let kind = '';
  // DEFINER = user@host, OR REPLACE, AGGREGATE, IF NOT EXISTS … before the object word
  for (; k < toks.length && k < s + 40; k++) {
    const t = toks[k]!;
    if (t.kind === 'semicolon' || isOp(t, '(')) return -1;
    if (t.kind !== 'word') continue;
    if (t.value === 'procedure' || t.value === 'function' || t.value === 'trigger' || t.value === 'event') {
      kind = t.value;
      k++;
      break;
    }
    if (NOT_ROUTINE.has(t.value)) return -1;
  }
  if (!kind) return -1;
  if (isWord(toks[k], 'if') && isWord(toks[k + 1], 'not') && isWord(toks[k + 2], 'exists')) k += 3;
  if (kind === 'trigger') {
    for (; k < toks.length && toks[k]!.kind !== 'semicolon'; k++) {
      if (isWord(toks[k], 'each') && isWord(toks[k + 1], 'row')) {
        k += 2;
        if (isWord(toks[k], 'follows') || isWord(toks[k], 'precedes')) k += 2;
        return k;
      }
    }
    return -1;
  }
  if (kind === 'event') {
    for (; k < toks.length && toks[k]!.kind !== 'semicolon'; k++) if (isWord(toks[k], 'do')) return k + 1;
    return -1;
  }
  // name [. name] ( params )
  if (!isIdent(toks[k])) return -1;
  k++;
  if (isOp(toks[k], '.') && isIdent(toks[k + 1])) k += 2;
  if (!isOp(toks[k], '(')) return -1; // CREATE FUNCTION f RETURNS … SONAME: a loadable function, no body
  k = matchParen(ctx, k, toks.length) + 1;
  if (kind === 'function' && isWord(toks[k], 'returns')) {
    k += 2;
    if (isOp(toks[k], '(')) k = matchParen(ctx, k, toks.length) + 1;
    for (;;) {
      const t = toks[k];
      if (isWord(t, 'charset') || isWord(t, 'collate')) k += 2;
      else if (isWord(t, 'character') && isWord(toks[k + 1], 'set')) k += 3;
      else if (wordIn(t, TYPE_MODIFIERS)) k++;
      else break;
    }
  }
  for (;;) {
    const t = toks[k];
    const n1 = toks[k + 1];
    if (isWord(t, 'comment') && n1?.kind === 'string') k += 2;
    else if (isWord(t, 'language')) k += 2;
    else if (isWord(t, 'not') && isWord(n1, 'deterministic')) k += 2;
    else if (isWord(t, 'deterministic')) k++;
    else if ((isWord(t, 'contains') || isWord(t, 'no')) && isWord(n1, 'sql')) k += 2;
    else if ((isWord(t, 'reads') || isWord(t, 'modifies')) && isWord(n1, 'sql')) k += 3;
    else if (isWord(t, 'sql') && isWord(n1, 'security')) k += 3;
    else break;
  }
  return k;
}

export interface ControlStrip {
  /** where the statement proper starts */
  readonly start: number;
  /** conditions skipped on the way (IF … THEN, WHILE … DO): still scanned for functions and tables */
  readonly conditions: Array<{ from: number; to: number; verb: string }>;
}

const SIMPLE_PREFIX = new Set(['else', 'loop', 'repeat']);

/** Strip the control flow in front of one ";"-separated piece of a body. */
export function stripControl(ctx: Ctx, p: number, q: number): ControlStrip {
  const { toks } = ctx;
  const conditions: ControlStrip['conditions'] = [];
  const findWord = (from: number, w: string): number => {
    let depth = 0;
    for (let k = from; k < q; k++) {
      const t = toks[k]!;
      if (isOp(t, '(')) depth++;
      else if (isOp(t, ')')) depth--;
      else if (depth === 0 && isWord(t, w)) return k;
    }
    return -1;
  };
  while (p < q) {
    const t = toks[p]!;
    const v = t.kind === 'word' ? t.value : '';
    if (isIdent(t) && isOp(toks[p + 1], ':')) {
      p += 2;
    } else if (v === 'begin') {
      p++;
      if (isWord(toks[p], 'not') && isWord(toks[p + 1], 'atomic')) p += 2;
      else if (isWord(toks[p], 'atomic')) p++;
    } else if (v === 'end') {
      p++;
      if (wordIn(toks[p], END_QUALIFIER)) p++;
      if (p + 1 === q && isIdent(toks[p])) p++; // END label
    } else if (v === 'if' || v === 'elseif' || v === 'when' || v === 'while' || v === 'for' || v === 'until') {
      const stop = v === 'while' || v === 'for' ? 'do' : v === 'until' ? 'end' : 'then';
      const at = findWord(p + 1, stop);
      if (at < 0) break;
      conditions.push({ from: p + 1, to: at, verb: v });
      p = v === 'until' ? at : at + 1;
    } else if (v === 'case') {
      const at = findWord(p + 1, 'when');
      if (at < 0) break;
      if (at > p + 1) conditions.push({ from: p + 1, to: at, verb: 'case' });
      p = at;
    } else if (SIMPLE_PREFIX.has(v)) {
      p++;
    } else if (v === 'declare' && handlerStatement(ctx, p, q) > 0) {
      p = handlerStatement(ctx, p, q);
    } else {
      break;
    }
  }
  return { start: p, conditions };
}

/** DECLARE {CONTINUE|EXIT|UNDO} HANDLER FOR cond[, cond] <statement>: index of the statement. */
export function handlerStatement(ctx: Ctx, p: number, q: number): number {
  const { toks } = ctx;
  if (!isWord(toks[p + 2], 'handler') || !isWord(toks[p + 3], 'for')) return -1;
  let k = p + 4;
  while (k < q) {
    if (isWord(toks[k], 'sqlstate')) {
      k++;
      if (isWord(toks[k], 'value')) k++;
      k++;
    } else if (isWord(toks[k], 'not') && isWord(toks[k + 1], 'found')) {
      k += 2;
    } else {
      k++;
    }
    if (!isOp(toks[k], ',')) break;
    k++;
  }
  return k;
}
