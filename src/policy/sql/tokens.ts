// Token-level helpers and the accumulator every statement classifier fills.
import type { Token } from './lexer.js';
import type { CopyInfo, SqlCategory, StatementAnalysis } from './types.js';

export interface Ctx {
  readonly toks: readonly Token[];
  readonly text: string;
  readonly pg: boolean;
}

export const isWord = (t: Token | undefined, v?: string): boolean =>
  t !== undefined && t.kind === 'word' && (v === undefined || t.value === v);

export const isOp = (t: Token | undefined, v: string): boolean => t !== undefined && t.kind === 'op' && t.value === v;

export const isIdent = (t: Token | undefined): boolean => t !== undefined && (t.kind === 'word' || t.kind === 'qident');

export const wordIn = (t: Token | undefined, set: ReadonlySet<string>): boolean =>
  t !== undefined && t.kind === 'word' && set.has(t.value);

/** Index of the ")" matching the "(" at i, or `to` when unbalanced. */
export function matchParen(ctx: Ctx, i: number, to: number): number {
  let depth = 0;
  for (let k = i; k < to; k++) {
    const t = ctx.toks[k]!;
    if (t.kind !== 'op') continue;
    if (t.value === '(') depth++;
    else if (t.value === ')' && --depth === 0) return k;
  }
  return to;
}

/** First index in [from, to) at parenthesis depth 0 whose token satisfies pred, or -1. */
export function findTop(ctx: Ctx, from: number, to: number, pred: (t: Token, i: number) => boolean): number {
  let depth = 0;
  for (let k = from; k < to; k++) {
    const t = ctx.toks[k]!;
    if (t.kind === 'op' && (t.value === '(' || t.value === '[')) depth++;
    else if (t.kind === 'op' && (t.value === ')' || t.value === ']')) depth = Math.max(0, depth - 1);
    else if (depth === 0 && pred(t, k)) return k;
  }
  return -1;
}

export const findTopWord = (ctx: Ctx, from: number, to: number, ...words: string[]): number =>
  findTop(ctx, from, to, (t) => t.kind === 'word' && words.includes(t.value));

/** Comments removed, whitespace collapsed to one space, unquoted words lower-cased. */
export function normalize(ctx: Ctx, from: number, to: number): string {
  let out = '';
  let prevEnd = -1;
  for (let i = from; i < to; i++) {
    const t = ctx.toks[i]!;
    if (out !== '' && t.start > prevEnd) out += ' ';
    out += t.kind === 'word' ? t.value : ctx.text.slice(t.start, t.end);
    prevEnd = t.end;
  }
  return out;
}

export class Acc {
  category: SqlCategory = 'unknown';
  opaque = false;
  where: StatementAnalysis['where'] = 'n/a';
  copy: CopyInfo | undefined;
  readonly read = new Set<string>();
  readonly written = new Set<string>();
  readonly functions = new Set<string>();
  readonly risky = new Set<string>();
  readonly inner: StatementAnalysis[] = [];
  /** token indices a verb handler consumed ("from" of DELETE FROM …) that the generic scan must skip */
  readonly handled = new Set<number>();

  constructor(public verb: string) {}

  /** Take another statement's references; its tables count as read when asRead. */
  absorb(s: StatementAnalysis, asRead = false): void {
    for (const t of s.tables.read) this.read.add(t);
    for (const t of s.tables.written) (asRead ? this.read : this.written).add(t);
    for (const f of s.functions) this.functions.add(f);
    for (const r of s.risky) this.risky.add(r);
    if (s.opaque) this.opaque = true;
  }

  build(ctx: Ctx, from: number, to: number): StatementAnalysis {
    const out: StatementAnalysis = {
      verb: this.verb,
      category: this.category,
      opaque: this.opaque,
      tables: { read: [...this.read], written: [...this.written] },
      where: this.where,
      functions: [...this.functions],
      risky: [...this.risky],
      text: normalize(ctx, from, to),
    };
    if (this.copy) out.copy = this.copy;
    if (this.inner.length) out.inner = this.inner;
    return out;
  }
}
