// Is a WHERE condition trivially true (every row)? Catches constant conditions (1=1, TRUE, 'a'='a',
// NOT FALSE, 1) and a top-level OR with such a branch. A constant we cannot evaluate counts as
// trivial; only a provably false/NULL constant (1=0) does not. `x = x` is not trivial (NULLs).
import type { Token } from './lexer.js';
import { type Ctx, isOp, matchParen } from './tokens.js';

const CONST_WORDS = new Set([
  'true', 'false', 'null', 'not', 'and', 'or', 'xor', 'is', 'isnull', 'notnull', 'unknown', 'in', 'between',
  'symmetric', 'like', 'ilike', 'similar', 'to', 'escape', 'regexp', 'rlike', 'select', 'exists', 'any', 'all',
  'some', 'case', 'when', 'then', 'else', 'end', 'cast', 'as', 'distinct', 'from', 'current_date',
  'current_time', 'current_timestamp', 'localtime', 'localtimestamp', 'current_user', 'session_user', 'user',
  'current_role', 'current_catalog', 'current_schema', 'div', 'mod', 'collate', 'binary', 'interval', 'array',
  'row', 'values', 'union', 'date', 'time', 'timestamp', 'year', 'month', 'day', 'hour', 'minute', 'second',
  'at', 'zone', 'sounds',
]);

/** Deeper nesting is not worth the (quadratic) effort: such a condition counts as trivial. */
const MAX_NESTING = 64;

export function isTrivialCondition(ctx: Ctx, from: number, to: number, nesting = 0): boolean {
  let a = from;
  let b = to;
  while (a < b && isOp(ctx.toks[a], '(') && matchParen(ctx, a, b) === b - 1) {
    a++;
    b--;
    if (++nesting > MAX_NESTING) return true;
  }
  if (a >= b) return false;
  const ors = splitTop(ctx, a, b, 'or');
  if (ors.length > 1) return ors.some(([x, y]) => isTrivialCondition(ctx, x, y, nesting + 1));
  const ands = splitTop(ctx, a, b, 'and');
  if (ands.length > 1) return ands.every(([x, y]) => isTrivialCondition(ctx, x, y, nesting + 1));
  if (hasColumnRef(ctx, a, b)) return false;
  const v = new ConstEval(ctx, a, b).run();
  return !(v === false || v === null || v === 0);
}

function isConnective(ctx: Ctx, t: Token, which: 'or' | 'and'): boolean {
  if (t.kind === 'word') return t.value === which;
  if (ctx.pg || t.kind !== 'op') return false;
  return which === 'or' ? t.value === '||' : t.value === '&&';
}

function splitTop(ctx: Ctx, from: number, to: number, which: 'or' | 'and'): Array<[number, number]> {
  const parts: Array<[number, number]> = [];
  let depth = 0;
  let betweens = 0;
  let start = from;
  for (let i = from; i < to; i++) {
    const t = ctx.toks[i]!;
    if (isOp(t, '(')) depth++;
    else if (isOp(t, ')')) depth--;
    else if (depth === 0 && t.kind === 'word' && t.value === 'between') betweens++;
    else if (depth === 0 && isConnective(ctx, t, which)) {
      if (which === 'and' && betweens > 0 && t.kind === 'word') {
        betweens--; // BETWEEN x AND y
        continue;
      }
      parts.push([start, i]);
      start = i + 1;
    }
  }
  parts.push([start, to]);
  return parts;
}

function hasColumnRef(ctx: Ctx, from: number, to: number): boolean {
  const { toks } = ctx;
  let typeWords = false; // after :: or CAST(… AS: type names, not columns
  for (let i = from; i < to; i++) {
    const t = toks[i]!;
    if (t.kind === 'op') {
      typeWords = t.value === '::';
      continue;
    }
    const call = isOp(toks[i + 1], '(');
    if (t.kind === 'qident' && !call) return true;
    if (t.kind !== 'word') {
      typeWords = false;
      continue;
    }
    if (t.value === 'as') {
      typeWords = true;
      continue;
    }
    if (typeWords || call || CONST_WORDS.has(t.value)) continue;
    return true;
  }
  return false;
}

type Value = boolean | number | string | null;
const UNKNOWN = Symbol('unknown');
type Result = Value | typeof UNKNOWN;

class Unevaluable extends Error {}

/** A tiny evaluator over literal-only tokens; anything it does not know is UNKNOWN. */
class ConstEval {
  private i: number;
  private nesting = 0;

  constructor(
    private readonly ctx: Ctx,
    from: number,
    private readonly to: number,
  ) {
    this.i = from;
  }

  run(): Result {
    try {
      const v = this.or();
      if (this.i !== this.to) return UNKNOWN;
      if (typeof v === 'number') return this.ctx.pg ? UNKNOWN : v !== 0;
      return typeof v === 'string' ? UNKNOWN : v;
    } catch (e) {
      if (e instanceof Unevaluable) return UNKNOWN;
      throw e;
    }
  }

  private peek(): Token | undefined {
    return this.i < this.to ? this.ctx.toks[this.i] : undefined;
  }

  private accept(kind: 'word' | 'op', value: string): boolean {
    const t = this.peek();
    if (t && t.kind === kind && t.value === value) {
      this.i++;
      return true;
    }
    return false;
  }

  private or(): Result {
    let v = this.and();
    while (this.accept('word', 'or') || (!this.ctx.pg && this.accept('op', '||'))) {
      const w = this.and();
      v = v === true || w === true ? true : v === UNKNOWN || w === UNKNOWN ? UNKNOWN : v === null || w === null ? null : false;
    }
    return v;
  }

  private and(): Result {
    let v = this.not();
    while (this.accept('word', 'and') || (!this.ctx.pg && this.accept('op', '&&'))) {
      const w = this.not();
      v = v === false || w === false ? false : v === UNKNOWN || w === UNKNOWN ? UNKNOWN : v === null || w === null ? null : true;
    }
    return v;
  }

  private not(): Result {
    if (this.accept('word', 'not') || this.accept('op', '!')) {
      this.enter();
      const v = this.not();
      this.nesting--;
      return typeof v === 'boolean' ? !v : v === null ? null : UNKNOWN;
    }
    return this.comparison();
  }

  private enter(): void {
    if (++this.nesting > MAX_NESTING) throw new Unevaluable();
  }

  private comparison(): Result {
    const left = this.primary();
    const t = this.peek();
    if (t?.kind === 'word' && t.value === 'is') {
      this.i++;
      const negate = this.accept('word', 'not');
      const what = this.peek();
      if (what?.kind !== 'word' || !['null', 'true', 'false'].includes(what.value)) throw new Unevaluable();
      this.i++;
      if (left === UNKNOWN) return UNKNOWN;
      const target = what.value === 'null' ? null : what.value === 'true';
      const same = target === null ? left === null : left === target;
      return negate ? !same : same;
    }
    if (t?.kind !== 'op' || !['=', '==', '<>', '!=', '<', '>', '<=', '>=', '<=>'].includes(t.value)) return left;
    this.i++;
    return compare(t.value, left, this.primary());
  }

  private primary(): Result {
    const t = this.peek();
    if (!t) throw new Unevaluable();
    this.i++;
    if (t.kind === 'number') {
      const n = Number(t.value.replace(/_/g, ''));
      return Number.isFinite(n) ? n : UNKNOWN;
    }
    if (t.kind === 'string') return t.special ? UNKNOWN : t.value;
    if (t.kind === 'word' && t.value === 'true') return true;
    if (t.kind === 'word' && t.value === 'false') return false;
    if (t.kind === 'word' && t.value === 'null') return null;
    if (t.kind === 'op' && t.value === '-') {
      this.enter();
      const v = this.primary();
      this.nesting--;
      return typeof v === 'number' ? -v : UNKNOWN;
    }
    if (t.kind === 'op' && t.value === '(') {
      this.enter();
      const v = this.or();
      this.nesting--;
      if (!this.accept('op', ')')) throw new Unevaluable();
      return v;
    }
    throw new Unevaluable();
  }
}

function compare(op: string, a: Result, b: Result): Result {
  if (a === UNKNOWN || b === UNKNOWN) return UNKNOWN;
  if (op === '<=>') {
    if (a === null || b === null) return a === b;
  } else if (a === null || b === null) {
    return null;
  }
  if (typeof a === 'number' && typeof b === 'number') {
    switch (op) {
      case '=': case '==': case '<=>': return a === b;
      case '<>': case '!=': return a !== b;
      case '<': return a < b;
      case '>': return a > b;
      case '<=': return a <= b;
      default: return a >= b;
    }
  }
  if (typeof a === 'boolean' && typeof b === 'boolean') {
    if (op === '=' || op === '==' || op === '<=>') return a === b;
    if (op === '<>' || op === '!=') return a !== b;
    return UNKNOWN;
  }
  // Identical strings are equal under every collation; different ones may still be (case, padding).
  if (typeof a === 'string' && typeof b === 'string' && a === b) {
    if (op === '<>' || op === '!=' || op === '<' || op === '>') return false;
    return true;
  }
  return UNKNOWN;
}
