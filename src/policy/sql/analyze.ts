// analyzeSql: lex, split, classify, cached by text plus the lexer settings in force.
// Where the server's reading of the text depends on something we cannot see (the MySQL/MariaDB
// version deciding which /*!NNNNN … */ comments run; a SET sql_mode changing how the rest of a
// multi-statement text is lexed), every reading is analysed and the statements of all are reported,
// so a rule sees whatever the server might run.
import type { SqlLexerSettings } from '../../types.js';
import { classifyRange, emptyStatement } from './classify.js';
import { type LexResult, type VersionedComment, lexSql } from './lexer.js';
import { scanRefs } from './refs.js';
import { type StatementRange, splitStatements, stripControl } from './split.js';
import { Acc, type Ctx, isOp, normalize } from './tokens.js';
import type { SqlAnalysis, StatementAnalysis } from './types.js';

export type { CopyInfo, SqlAnalysis, SqlCategory, StatementAnalysis } from './types.js';
export { SQL_CATEGORIES } from './types.js';

/** analyses held at most (both generations) */
const CACHE_ENTRIES = 2_000;
/** key characters (≈ texts) held at most, in UTF-16 units: bounds the cache's memory */
const CACHE_CHARS = 16 * 1024 * 1024;
const MAX_READINGS = 32;
const MAX_MODE_SWITCHES = 2;

// Two generations instead of a strict LRU: a hit in the old one is promoted, and when the young one
// is full it becomes the old one. O(1) without Map deletions, whose holes make iteration costly.
let young = new Map<string, SqlAnalysis>();
let old = new Map<string, SqlAnalysis>();
let youngChars = 0;

function settingsKey(s: SqlLexerSettings): string {
  return s.dialect === 'postgres'
    ? `p${s.standardConformingStrings === false ? 0 : 1}|`
    : `m${s.noBackslashEscapes ? 1 : 0}${s.ansiQuotes ? 1 : 0}|`;
}

function remember(key: string, value: SqlAnalysis): void {
  if (key.length > CACHE_CHARS / 64) return;
  young.set(key, value);
  youngChars += key.length;
  if (young.size >= CACHE_ENTRIES / 2 || youngChars >= CACHE_CHARS / 2) {
    old = young;
    young = new Map();
    youngChars = 0;
  }
}

export function analyzeSql(text: string, settings: SqlLexerSettings): SqlAnalysis {
  const key = settingsKey(settings) + text;
  const hit = young.get(key);
  if (hit) return hit;
  const aged = old.get(key);
  if (aged) {
    remember(key, aged);
    return aged;
  }
  // Shared between callers: the types are readonly; freezing every node cost more than the analysis itself.
  const result = analyzeUncached(text, settings, 0);
  remember(key, result);
  return result;
}

/** For tests and `policy test`: forget every cached analysis. */
export function clearSqlCache(): void {
  young = new Map();
  old = new Map();
  youngChars = 0;
}

/** Deeper parenthesis nesting than any real query has: refused (unknown → fallback) rather than analysed. */
const MAX_PAREN_DEPTH = 200;

function tooDeep(lex: LexResult): boolean {
  let d = 0;
  for (const t of lex.tokens) {
    if (t.kind !== 'op') continue;
    if (t.value === '(') {
      if (++d > MAX_PAREN_DEPTH) return true;
    } else if (t.value === ')' && d > 0) d--;
  }
  return false;
}

function analyzeUncached(text: string, settings: SqlLexerSettings, depth: number, startInExec = false): SqlAnalysis {
  const base = lexSql(text, settings, { startInExec });
  if (tooDeep(base)) return { statements: [], error: `parentheses nested deeper than ${MAX_PAREN_DEPTH}` };
  const parts = [analyzeLex(text, settings, base, depth)];
  if (settings.dialect === 'mysql' && base.versioned.length > 0) parts.push(...versionReadings(text, settings, base, depth, startInExec));
  const out = union(parts);
  if (out.statements.length === 0 && out.error === undefined) out.statements.push(emptyStatement());
  return out;
}

/**
 * MySQL runs /*!NNNNN … *\/ when its version is >= NNNNN and treats /*M! as a comment; MariaDB runs
 * /*M!NNNNNN when new enough and skips /*!50700–/*!99999. A server is thus a flavour and a version
 * threshold: analyse the text as each distinct one would read it.
 */
function versionReadings(text: string, settings: SqlLexerSettings, base: LexResult, depth: number, startInExec: boolean): SqlAnalysis[] {
  const versions = new Set<number>();
  const addVersions = (list: readonly VersionedComment[]): boolean => {
    let added = false;
    for (const c of list) {
      if (c.version !== null && !versions.has(c.version)) {
        versions.add(c.version);
        added = true;
      }
    }
    return added;
  };
  addVersions(base.versioned);
  const done = new Set<string>();
  const out: SqlAnalysis[] = [];
  for (let changed = true; changed; ) {
    changed = false;
    const thresholds = [-1, ...[...versions].sort((x, y) => x - y)];
    for (const flavour of ['mysql', 'mariadb'] as const) {
      for (const v of thresholds) {
        const key = `${flavour}:${v}`;
        if (done.has(key)) continue;
        done.add(key);
        if (done.size > MAX_READINGS) return [{ statements: [], error: 'too many versioned comments to analyse' }];
        const lex = lexSql(text, settings, { runVersioned: (c) => runsOn(flavour, v, c), startInExec });
        if (addVersions(lex.versioned)) changed = true;
        out.push(analyzeLex(text, settings, lex, depth));
      }
    }
  }
  return out;
}

function runsOn(flavour: 'mysql' | 'mariadb', threshold: number, c: VersionedComment): boolean {
  if (flavour === 'mysql') return !c.maria && c.version !== null && c.version <= threshold;
  if (c.version === null) return true;
  if (!c.maria && c.version >= 50700 && c.version <= 99999) return false;
  return c.version <= threshold;
}

function analyzeLex(text: string, settings: SqlLexerSettings, lex: LexResult, depth: number): SqlAnalysis {
  const ctx: Ctx = { toks: lex.tokens, text, pg: settings.dialect === 'postgres' };
  const split = splitStatements(ctx);
  const statements = split.ranges.map((r) => statementFor(ctx, r));
  const error = lex.error ?? split.error;
  const own: SqlAnalysis = error === undefined ? { statements } : { statements, error };
  if (ctx.pg) return own;
  return union([own, ...afterModeSwitch(text, settings, ctx, split.ranges, statements, depth)]);
}

function statementFor(ctx: Ctx, r: StatementRange): StatementAnalysis {
  if (!r.body) return classifyRange(ctx, r.from, r.to);
  const body = bodyStatements(ctx, r.body.from, r.body.to);
  if (r.compound) {
    // MariaDB BEGIN NOT ATOMIC / IF / WHILE … at top level: code whose statements are all visible
    const acc = new Acc('compound');
    acc.category = 'code';
    for (const s of body) acc.absorb(s);
    acc.inner.push(...body);
    return acc.build(ctx, r.from, r.to);
  }
  const outer = classifyRange(ctx, r.from, r.to);
  return { ...outer, inner: [...(outer.inner ?? []), ...body] };
}

/** Each ";"-separated piece of a body, control flow stripped, analysed as if it ran. */
function bodyStatements(ctx: Ctx, from: number, to: number): StatementAnalysis[] {
  const out: StatementAnalysis[] = [];
  let p = from;
  while (p < to) {
    let q = p;
    while (q < to && ctx.toks[q]!.kind !== 'semicolon') q++;
    const strip = stripControl(ctx, p, q);
    for (const c of strip.conditions) {
      const acc = new Acc(c.verb);
      acc.category = 'read';
      scanRefs(ctx, c.from, c.to, acc);
      if (acc.functions.size > 0 || acc.read.size > 0) out.push(acc.build(ctx, c.from, c.to));
    }
    if (strip.start < q) out.push(classifyRange(ctx, strip.start, q, 1));
    p = q + 1;
  }
  return out;
}

/**
 * MySQL parses a multi-statement text one statement at a time, so a SET sql_mode (or an EXECUTE of
 * one) changes how the rest is lexed. Re-read the rest under the new mode, or every mode if unknown.
 */
function afterModeSwitch(
  text: string,
  settings: SqlLexerSettings,
  ctx: Ctx,
  ranges: readonly StatementRange[],
  statements: readonly StatementAnalysis[],
  depth: number,
): SqlAnalysis[] {
  for (let r = 0; r < ranges.length - 1; r++) {
    const modes = modesAfter(ctx, ranges[r]!, statements[r]!, settings);
    if (!modes) continue;
    if (depth >= MAX_MODE_SWITCHES) return [{ statements: [], error: 'too many sql_mode changes in one query' }];
    const semicolon = ctx.toks[ranges[r]!.to];
    if (!semicolon) return [];
    const rest = text.slice(semicolon.end);
    return modes.map((m) => analyzeUncached(rest, m, depth + 1, semicolon.special === true));
  }
  return [];
}

function modesAfter(ctx: Ctx, range: StatementRange, s: StatementAnalysis, settings: SqlLexerSettings): SqlLexerSettings[] | null {
  const all = [false, true].flatMap((nbe) => [false, true].map((aq) => ({ dialect: 'mysql' as const, noBackslashEscapes: nbe, ansiQuotes: aq })));
  const others = all.filter((m) => m.noBackslashEscapes !== !!settings.noBackslashEscapes || m.ansiQuotes !== !!settings.ansiQuotes);
  if (s.verb === 'execute' || s.verb === 'compound') return others;
  if (s.verb !== 'set') return null;
  const { toks } = ctx;
  const mentions: number[] = [];
  for (let i = range.from; i < range.to; i++) {
    const t = toks[i]!;
    if ((t.kind === 'word' || t.kind === 'qident') && t.value.toLowerCase() === 'sql_mode') mentions.push(i);
  }
  if (mentions.length === 0) return null;
  const at = mentions[0]!;
  const value = toks[at + 2];
  const literal = mentions.length === 1 && (isOp(toks[at + 1], '=') || isOp(toks[at + 1], ':=')) && value?.kind === 'string' && at + 3 === range.to;
  if (!literal) return others;
  const flags = value.value.toUpperCase().split(',').map((f) => f.trim());
  const mode = {
    dialect: 'mysql' as const,
    noBackslashEscapes: flags.includes('NO_BACKSLASH_ESCAPES'),
    ansiQuotes: flags.includes('ANSI_QUOTES') || flags.includes('ANSI'),
  };
  return mode.noBackslashEscapes === !!settings.noBackslashEscapes && mode.ansiQuotes === !!settings.ansiQuotes ? null : [mode];
}

function union(parts: SqlAnalysis[]): SqlAnalysis {
  if (parts.length === 1) return parts[0]!;
  const seen = new Set<string>();
  const statements: StatementAnalysis[] = [];
  let error: string | undefined;
  for (const p of parts) {
    error ??= p.error;
    for (const s of p.statements) {
      const key = JSON.stringify(s);
      if (seen.has(key)) continue;
      seen.add(key);
      statements.push(s);
    }
  }
  return error === undefined ? { statements } : { statements, error };
}


/** Exposed for `policy test`: the normalized text of a whole query, as patterns see one statement. */
export function normalizeSql(text: string, settings: SqlLexerSettings): string {
  const lex = lexSql(text, settings);
  return normalize({ toks: lex.tokens, text, pg: settings.dialect === 'postgres' }, 0, lex.tokens.length);
}
