// Word expansion as the shell does it, to the extent the text tells: variables assigned anywhere in
// the command line (every value they may take: `X=/tmp; false || X=/; rm -rf $X` yields both), `$IFS`
// and unquoted expansions split fields, `{a,b}` and `{1..3}` brace expansion, $(echo …) folded to its
// output, positional parameters of `sh -c '…' a b`. What cannot be known is expanded twice: once as
// empty (an unset variable, what `r${x}m` relies on) and once as its literal text, marked dynamic.
import { SHELL_LIMITS } from './limits.js';
import type { ParseBudget, Part, Script, Word } from './ast.js';

export interface Field {
  readonly text: string;
  /** holds an expansion whose value is unknown (shown literally, e.g. `$HOME`, `$(date)`) */
  readonly dyn: boolean;
  /** holds an unquoted * ? or [ (a pathname pattern) */
  readonly glob: boolean;
}

/** A value assigned to a variable: `X=word` (not split) or a `for X in words` item (split into fields). */
export interface VarValue {
  readonly word: Word;
  readonly split: boolean;
}

export interface ExpandCtx {
  readonly vars: ReadonlyMap<string, readonly VarValue[]>;
  /** $0, $1 …; null at the top level (sshd runs `$SHELL -c TEXT`: $0 is a shell, no arguments) */
  readonly positional: readonly string[] | null;
  readonly unknown: 'empty' | 'literal';
  readonly budget: ParseBudget;
  readonly visiting: Set<string>;
  /** values of variables already expanded in this context */
  readonly memo: Map<string, Value[]>;
  /** characters produced and variables looked up so far, all expansions of one analysis together */
  readonly work: { n: number; lookups: number };
}

/** A run of characters with the same properties. q: quoted; b: may take part in brace expansion; d: dynamic. */
type Unit = { readonly s: string; readonly q: boolean; readonly b: boolean; readonly d: boolean };
/** null: a field break */
type U = Unit | null;

export interface Value {
  readonly text: string;
  readonly dyn: boolean;
}

/** variable look-ups in one analysis (a chain like X2=$X1$X1 … doubles at each step) */
const LOOKUP_LIMIT = 100_000;
/** an unknown expansion is shown literally, up to this many characters */
const LITERAL_MAX = 1024;
const EMPTY_QUOTED: Unit = { s: '', q: true, b: false, d: false };

/** push(...src) without putting every element on the call stack */
function append<T>(dst: T[], src: readonly T[]): void {
  for (const x of src) dst.push(x);
}

const literalText = (src: string): string => (src.length > LITERAL_MAX ? `${src.slice(0, LITERAL_MAX)}…` : src);

/** Every way `w` may expand, each a list of fields (at least one alternative, possibly with no field). */
export function expandWord(w: Word, ctx: ExpandCtx): Field[][] {
  const out: Field[][] = [];
  const seen = new Set<string>();
  for (const units of partsUnits(w.parts, ctx)) {
    const fields: Field[] = [];
    for (const b of braceExpand(units, ctx)) append(fields, split(b));
    const key = fields.map((f) => f.text).join('\0') + (fields.some((f) => f.dyn) ? '\x01' : '');
    if (!seen.has(key)) {
      seen.add(key);
      out.push(fields);
    }
  }
  return out;
}

/** Every string `w` may expand to without field splitting (assignment values, `sh -c` texts). */
export function expandString(w: Word, ctx: ExpandCtx): Value[] {
  const out: Value[] = [];
  const seen = new Set<string>();
  for (const units of partsUnits(w.parts, ctx)) {
    let text = '';
    let dyn = false;
    for (const u of units) {
      text += u === null ? ' ' : u.s;
      if (u?.d) dyn = true;
    }
    if (!seen.has(text)) {
      seen.add(text);
      out.push({ text, dyn });
    }
  }
  return out;
}

function partsUnits(parts: readonly Part[], ctx: ExpandCtx): U[][] {
  let alts: Array<{ us: U[]; len: number }> = [{ us: [], len: 0 }];
  const add = (a: { us: U[]; len: number }, o: readonly U[]): void => {
    for (const u of o) {
      const n = u === null ? 1 : u.s.length;
      if (a.len + n > SHELL_LIMITS.wordLength) {
        ctx.budget.incomplete ??= `a word expands to more than ${SHELL_LIMITS.wordLength} characters`;
        return;
      }
      a.len += n;
      a.us.push(u);
    }
  };
  for (const part of parts) {
    const opts = partUnits(part, ctx);
    if (opts.length === 1) {
      for (const a of alts) add(a, opts[0]!);
      continue;
    }
    const next: Array<{ us: U[]; len: number }> = [];
    outer: for (const a of alts) {
      for (const o of opts) {
        if (next.length >= SHELL_LIMITS.variants) {
          ctx.budget.incomplete ??= `a word has more than ${SHELL_LIMITS.variants} possible values`;
          break outer;
        }
        const copy = { us: a.us.slice(), len: a.len };
        add(copy, o);
        next.push(copy);
      }
    }
    alts = next;
  }
  return alts.map((a) => a.us);
}

function partUnits(part: Part, ctx: ExpandCtx): U[][] {
  if (part.t === 'lit') {
    ctx.work.n += part.s.length;
    if (part.s === '') return [part.q ? [EMPTY_QUOTED] : []];
    return [[{ s: part.s, q: part.q, b: !part.q, d: false }]];
  }
  const values = part.t === 'var' ? varValues(part, ctx) : subValues(part, ctx);
  return values.map((v) => valueUnits(v, part.q, ctx));
}

function valueUnits(v: Value | Value[], q: boolean, ctx: ExpandCtx): U[] {
  // an array: "$@" (one field per positional parameter)
  if (Array.isArray(v)) {
    const out: U[] = [];
    v.forEach((one, i) => {
      if (i > 0) out.push(null);
      append(out, valueUnits(one, q, ctx));
    });
    return out;
  }
  ctx.work.n += v.text.length;
  if (ctx.work.n > SHELL_LIMITS.work) {
    ctx.budget.incomplete ??= 'expansions produce too much text';
    return [];
  }
  // an unknown value shown literally stays one piece
  if (q || v.dyn) return [v.text === '' ? EMPTY_QUOTED : { s: v.text, q: true, b: false, d: v.dyn }];
  const out: U[] = [];
  for (const piece of v.text.split(/([ \t\n]+)/)) {
    if (piece === '') continue;
    if (/^[ \t\n]/.test(piece)) out.push(null);
    else out.push({ s: piece, q: false, b: false, d: false });
  }
  return out;
}

type VarPart = Extract<Part, { t: 'var' }>;

/** The values a parameter expansion may take; an inner array is "$@"-like (one field each). */
function varValues(part: VarPart, ctx: ExpandCtx): Array<Value | Value[]> {
  const literal: Value = { text: literalText(part.src), dyn: true };
  const unknown = (): Value[] => (ctx.unknown === 'empty' ? [{ text: '', dyn: false }] : [literal]);
  const arg = (): Value[] => (part.arg ? expandString(part.arg, ctx) : [{ text: '', dyn: false }]);
  const name = part.name;

  // set: the values when known to be set; 'unset' when known unset; 'unknown' otherwise
  let set: Array<Value | Value[]> | 'unset' | 'unknown';
  if (/^\d+$/.test(name)) {
    const n = Number(name);
    if (ctx.positional) set = n < ctx.positional.length ? [{ text: ctx.positional[n]!, dyn: false }] : 'unset';
    else if (n === 0) set = ctx.unknown === 'empty' ? [{ text: 'sh', dyn: false }] : [literal];
    else set = 'unset';
  } else if (name === '@' || name === '*') {
    const args = (ctx.positional ?? []).slice(1).map((text) => ({ text, dyn: false }));
    set = args.length === 0 ? 'unset' : name === '@' ? [args] : [{ text: args.map((a) => a.text).join(' '), dyn: false }];
  } else if (name === '#') {
    set = [{ text: String(Math.max(0, (ctx.positional?.length ?? 1) - 1)), dyn: false }];
  } else if (name.length === 1 && !/[A-Za-z_]/.test(name)) {
    return [literal]; // $? $$ $! $-
  } else if (ctx.vars.has(name) && !ctx.visiting.has(name)) {
    set = variable(name, ctx);
  } else if (name === 'IFS') {
    set = [{ text: ' \t\n', dyn: false }];
  } else {
    set = 'unknown';
  }

  // "$@" with no arguments is no word at all
  if (name === '@' && set === 'unset' && part.op === 'plain') return [[]];
  switch (part.op) {
    case 'plain':
      return set === 'unset' ? [{ text: '', dyn: false }] : set === 'unknown' ? unknown() : set;
    case 'default':
      return set === 'unset' ? arg() : set === 'unknown' ? (ctx.unknown === 'empty' ? arg() : [literal]) : set;
    case 'alt':
      return set === 'unset' ? [{ text: '', dyn: false }] : set === 'unknown' ? (ctx.unknown === 'empty' ? [{ text: '', dyn: false }, ...arg()] : [literal]) : arg();
    case 'complex':
      // ${#X}, ${X#pat}, ${X/a/b}, ${!X} …: not computed
      if (ctx.unknown === 'literal') return [literal];
      return set === 'unset' || set === 'unknown' ? [{ text: '', dyn: false }] : set;
  }
}

/** Every value a variable assigned in the text may hold (memoized per context). */
function variable(name: string, ctx: ExpandCtx): Value[] {
  const memo = ctx.memo.get(name);
  if (memo) return memo;
  if (++ctx.work.lookups > LOOKUP_LIMIT) {
    ctx.budget.incomplete ??= 'too many variable expansions';
    return [];
  }
  ctx.visiting.add(name);
  const vals: Value[] = [];
  for (const v of ctx.vars.get(name)!) {
    if (!v.split) append(vals, expandString(v.word, ctx));
    else for (const fields of expandWord(v.word, ctx)) for (const f of fields) vals.push({ text: f.text, dyn: f.dyn });
  }
  ctx.visiting.delete(name);
  const out = dedupe(vals);
  ctx.memo.set(name, out);
  return out;
}

function dedupe(vals: Value[]): Value[] {
  const seen = new Set<string>();
  return vals.filter((v) => (seen.has(v.text) ? false : (seen.add(v.text), true)));
}

/** $( … ) and ` … `: the output of `echo …` / `printf …` is known; anything else is not. */
function subValues(part: Extract<Part, { t: 'sub' }>, ctx: ExpandCtx): Value[] {
  const folded = fold(part.script, ctx);
  if (folded) return folded;
  return [ctx.unknown === 'empty' ? { text: '', dyn: false } : { text: literalText(part.src), dyn: true }];
}

function fold(script: Script, ctx: ExpandCtx): Value[] | null {
  if (script.commands.length !== 1 || script.loops.length > 0) return null;
  const cmd = script.commands[0]!;
  if (cmd.words.length === 0 || cmd.pipedFrom) return null;
  const out: Value[] = [];
  for (const argv of argvVariants(cmd.words, ctx)) {
    const text = echoOutput(argv.map((f) => f.text));
    if (text === null) return null;
    out.push({ text: text.replace(/\n+$/, ''), dyn: argv.some((f) => f.dyn) });
  }
  return out.length > 0 ? dedupe(out) : null;
}

/** What `echo …` or a plain `printf FORMAT` / `printf %s …` prints; null for anything else. */
export function echoOutput(argv: readonly string[]): string | null {
  const name = argv[0]?.replace(/^.*\//, '');
  if (name === 'echo') {
    let i = 1;
    let escapes = false;
    while (i < argv.length && /^-[neE]+$/.test(argv[i]!)) {
      if (argv[i]!.includes('e')) escapes = true;
      i++;
    }
    const text = argv.slice(i).join(' ');
    return escapes ? unescape(text, true) : text;
  }
  if (name === 'printf' && argv.length >= 2) {
    const fmt = argv[1]!;
    if (fmt === '%s' || fmt === '%s\\n') return argv.slice(2).join(fmt === '%s' ? '' : '\n');
    if (fmt === '%b' || fmt === '%b\\n') return argv.slice(2).map((a) => unescape(a, true)).join(fmt === '%b' ? '' : '\n');
    if (!fmt.includes('%')) return unescape(fmt, false);
  }
  return null;
}

const ESCAPES: Readonly<Record<string, string>> = { a: '\x07', b: '\b', e: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'" };

/** printf's / echo -e's backslash escapes; `echo0`: octal is written \0NNN (echo -e, %b) rather than \NNN. */
function unescape(s: string, echo0: boolean): string {
  return s.replace(/\\(x[0-9a-fA-F]{1,2}|0[0-7]{0,3}|[1-7][0-7]{0,2}|.)/g, (m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) {
      if (echo0 && e[0] !== '0') return m;
      const digits = echo0 ? e.slice(1) : e;
      return String.fromCharCode(parseInt(digits || '0', 8) & 0xff);
    }
    return ESCAPES[e] ?? m;
  });
}

/** Every argv a list of words may expand to (cross product of the words' alternatives, capped). */
export function argvVariants(words: readonly Word[], ctx: ExpandCtx): Field[][] {
  let alts: Field[][] = [[]];
  for (const w of words) {
    const opts = expandWord(w, ctx);
    if (opts.length === 1) {
      for (const a of alts) append(a, opts[0]!);
      continue;
    }
    const next: Field[][] = [];
    outer: for (const a of alts) {
      for (const o of opts) {
        if (next.length >= SHELL_LIMITS.variants) {
          ctx.budget.incomplete ??= `a command has more than ${SHELL_LIMITS.variants} possible forms`;
          break outer;
        }
        next.push([...a, ...o]);
      }
    }
    alts = next;
  }
  return alts;
}

function split(units: readonly U[]): Field[] {
  const out: Field[] = [];
  let text = '';
  let any = false;
  let dyn = false;
  let glob = false;
  const flush = (): void => {
    if (any) out.push({ text, dyn, glob });
    text = '';
    any = dyn = glob = false;
  };
  for (const u of units) {
    if (u === null) {
      flush();
      continue;
    }
    any = true;
    text += u.s;
    if (u.d) dyn = true;
    if (!u.q && /[*?[]/.test(u.s)) glob = true;
  }
  flush();
  return out;
}

/** Bash brace expansion over the unquoted literal characters: `{a,b}c` → ac bc; `{1..3}`; nested. */
function braceExpand(units: readonly U[], ctx: ExpandCtx): U[][] {
  if (!units.some((u) => u !== null && u.b && u.s.includes('{'))) return [units as U[]];
  // one unit per character of the literal text, where braces may be
  const chars: U[] = [];
  for (const u of units) {
    if (u === null || !u.b) chars.push(u);
    else for (const c of u.s) chars.push({ s: c, q: false, b: true, d: false });
  }
  const out: U[][] = [];
  const go = (us: readonly U[]): void => {
    if (out.length >= SHELL_LIMITS.fields) {
      ctx.budget.incomplete ??= `brace expansion yields more than ${SHELL_LIMITS.fields} words`;
      return;
    }
    const found = findBrace(us);
    if (!found) {
      out.push([...us]);
      return;
    }
    const { open, close, items } = found;
    const pre = us.slice(0, open);
    const post = us.slice(close + 1);
    for (const item of items) go([...pre, ...item, ...post]);
  };
  go(chars);
  return out;
}

const isB = (u: U, c: string): boolean => u !== null && u.b && u.s === c;

function findBrace(us: readonly U[]): { open: number; close: number; items: U[][] } | null {
  for (let i = 0; i < us.length; i++) {
    if (!isB(us[i]!, '{')) continue;
    let level = 0;
    const commas: number[] = [];
    for (let j = i + 1; j < us.length; j++) {
      const u = us[j]!;
      if (isB(u, '{')) level++;
      else if (isB(u, '}')) {
        if (level-- > 0) continue;
        const inner = us.slice(i + 1, j);
        if (commas.length > 0) {
          const items: U[][] = [];
          let from = i + 1;
          for (const c of [...commas, j]) {
            items.push(us.slice(from, c));
            from = c + 1;
          }
          return { open: i, close: j, items };
        }
        const seq = sequence(inner);
        if (seq) return { open: i, close: j, items: seq };
        break;
      } else if (level === 0 && isB(u, ',')) commas.push(j);
    }
  }
  return null;
}

function sequence(inner: readonly U[]): U[][] | null {
  if (!inner.every((u) => u !== null && u.b)) return null;
  const s = inner.map((u) => u!.s).join('');
  const num = /^(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?$/.exec(s);
  const chr = /^([A-Za-z])\.\.([A-Za-z])(?:\.\.(-?\d+))?$/.exec(s);
  if (!num && !chr) return null;
  const from = num ? Number(num[1]) : chr![1]!.charCodeAt(0);
  const to = num ? Number(num[2]) : chr![2]!.charCodeAt(0);
  const step = Math.max(1, Math.abs(Number((num ?? chr)![3] ?? 1)) || 1);
  const out: U[][] = [];
  const dir = from <= to ? 1 : -1;
  for (let v = from; dir > 0 ? v <= to : v >= to; v += dir * step) {
    if (out.length >= SHELL_LIMITS.fields) break; // a long numeric range hides no command
    const text = num ? String(v) : String.fromCharCode(v);
    out.push([{ s: text, q: false, b: false, d: false }]);
  }
  return out;
}
