// Argv-aware analysis of an SSH exec command line, for `when.command` rules.
//
// The text is split the way a POSIX shell would split it into simple commands (quoting, `;` `&&` `||`
// `|` `&` newlines, $( … ), backticks, <( … ), here-documents; compound commands flattened), words are
// expanded as far as the text tells (see shell/expand.ts), and wrappers are seen through (sudo, doas,
// env, nohup, nice, timeout, exec, command, xargs, …; `sh -c '…'`, `su -c '…'` and `eval` are parsed
// recursively; `ssh host '…'` is left as is). A `when.command` regex then matches when it matches the
// raw text OR one of the `forms` of a simple command:
//   - its argv, re-joined with single spaces (words with spaces or shell metacharacters single-quoted,
//     so `echo "rm -rf /"` re-joins as `echo 'rm -rf /'`, not as a deletion);
//   - the command after its wrappers, re-joined the same way;
//   - a canonical form of that command: base name of the program, all short flags combined into one
//     leading cluster in order of first appearance (`rm -r -f` → `rm -rf`; rm's long options
//     --recursive/--force/--dir folded in), then the operands (after `--` too; absolute paths
//     normalized: `//`, `/tmp/..` → `/`), then the remaining long options (`--no-preserve-root`).
// Pure, bounded (shell/limits.ts) and never throwing: a syntax error is reported in `unparseable` and
// parsing goes on as if the construct ended with the text; a cap that cuts the analysis short sets
// `incomplete` (the policy then applies the connection's fallback).
import { argvVariants, echoOutput, expandString, type ExpandCtx, type Field, type VarValue } from './shell/expand.js';
import { SHELL_LIMITS } from './shell/limits.js';
import { newBudget, parseScript, type ParseBudget, type Part, type Script, type SyntaxCommand, type Word } from './shell/syntax.js';
import { baseName, unwrap } from './shell/wrappers.js';

export interface ShellCommand {
  /** the words as the shell splits and expands them, wrappers included, redirections removed */
  argv: string[];
  /** what runs once the wrappers are seen through (empty when they name no command) */
  command: string[];
  /** wrappers seen through, outermost first (`sudo`, `env`, …) */
  wrappers: string[];
  /** 0 at the top level; +1 inside each $( ), ` `, sh -c '…', eval, find -exec … */
  depth: number;
  /** how a nested command is reached: `substitution`, `sh -c`, `eval`, `pipe`, `here-document`, `find -exec` … */
  via?: string;
}

export interface CommandAnalysis {
  /** every simple command the line may run, in source order (a command with several possible expansions is listed once per form) */
  commands: ShellCommand[];
  /** why the text is not plain, complete shell syntax (unterminated quote, …, or a cap); the raw text is matched anyway */
  unparseable?: string;
  /** a cap (length, depth, count) cut the analysis short: some commands may be missing */
  incomplete: boolean;
  /** why some command cannot be known from the text (a name from $(…), a shell reading a pipe or stdin) */
  dynamic: string[];
  /** the strings `when.command` regexes are tested against, besides the raw text */
  forms: string[];
}

const CACHE_SIZE = 512;
const cache = new Map<string, CommandAnalysis>();

/** The analysis of an exec command line; cached by text. Callers must not modify it. */
export function analyzeCommand(text: string): CommandAnalysis {
  const hit = cache.get(text);
  if (hit) return hit;
  const a = analyzeUncached(text);
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  cache.set(text, a);
  return a;
}

/** A `when.command` regex against a command line: the raw text or any form of its simple commands. */
export function commandMatches(re: RegExp, text: string, analysis: CommandAnalysis = analyzeCommand(text)): boolean {
  if (re.test(text)) return true;
  for (const f of analysis.forms) if (re.test(f)) return true;
  return false;
}

interface Env {
  readonly vars: ReadonlyMap<string, readonly VarValue[]>;
  readonly positional: readonly string[] | null;
}

interface Acc {
  readonly budget: ParseBudget;
  readonly commands: ShellCommand[];
  readonly seen: Set<string>;
  readonly dynamic: Set<string>;
  readonly scriptsSeen: Set<string>;
  readonly work: { n: number; lookups: number };
}

function analyzeUncached(text: string): CommandAnalysis {
  const budget = newBudget();
  const acc: Acc = { budget, commands: [], seen: new Set(), dynamic: new Set(), scriptsSeen: new Set(), work: { n: 0, lookups: 0 } };
  try {
    let src = text;
    if (src.length > SHELL_LIMITS.length) {
      budget.incomplete = `longer than ${SHELL_LIMITS.length} characters`;
      src = src.slice(0, SHELL_LIMITS.length);
    }
    const script = parseScript(src, 0, budget);
    const vars = new Map<string, VarValue[]>();
    collectVars(script, vars);
    walk(script, { vars, positional: null }, 0, undefined, acc);
  } catch (err) {
    // a bug must not open a hole: report it as an incomplete analysis
    budget.incomplete ??= `internal error: ${(err as Error)?.message ?? String(err)}`;
  }
  const reasons = [...budget.errors, ...(budget.incomplete ? [budget.incomplete] : [])];
  return {
    commands: acc.commands,
    ...(reasons.length > 0 ? { unparseable: reasons.join('; ') } : {}),
    incomplete: budget.incomplete !== undefined,
    dynamic: [...acc.dynamic],
    forms: formsOf(acc.commands),
  };
}

/** Assignments anywhere in the script (and its substitutions): every value a variable may take. */
function collectVars(script: Script, vars: Map<string, VarValue[]>): void {
  const add = (name: string, v: VarValue): void => {
    const list = vars.get(name) ?? [];
    if (list.length < SHELL_LIMITS.variants) list.push(v);
    vars.set(name, list);
  };
  for (const loop of script.loops) for (const w of loop.values) add(loop.name, { word: w, split: true });
  for (const cmd of script.commands) {
    for (const a of cmd.assigns) add(a.name, { word: a.value, split: false });
    for (const sub of substitutions(cmd)) collectVars(sub.script, vars);
  }
}

const SUB_VIA = { command: 'substitution', process: 'process substitution', arithmetic: 'arithmetic' } as const;

/** The scripts of $( ), ` ` and <( ) inside a command's words, assignments, redirections, here-strings. */
function substitutions(cmd: SyntaxCommand): Array<{ script: Script; via: string }> {
  const out: Array<{ script: Script; via: string }> = [];
  const fromParts = (parts: readonly Part[]): void => {
    for (const p of parts) {
      if (p.t === 'sub') out.push({ script: p.script, via: SUB_VIA[p.kind] });
      else if (p.t === 'var' && p.arg) fromParts(p.arg.parts);
    }
  };
  const words: Word[] = [...cmd.words, ...cmd.assigns.map((a) => a.value), ...cmd.others, ...cmd.herestrings];
  for (const w of words) fromParts(w.parts);
  return out;
}

function ctxFor(env: Env, unknown: 'empty' | 'literal', acc: Acc): ExpandCtx {
  return { vars: env.vars, positional: env.positional, unknown, budget: acc.budget, visiting: new Set(), memo: new Map(), work: acc.work };
}

function walk(script: Script, env: Env, depth: number, via: string | undefined, acc: Acc): void {
  for (const loop of script.loops) {
    for (const w of loop.values) for (const p of w.parts) if (p.t === 'sub') walk(p.script, env, depth + 1, SUB_VIA[p.kind], acc);
  }
  for (const cmd of script.commands) {
    if (acc.budget.incomplete && acc.commands.length >= SHELL_LIMITS.commands) return;
    for (const sub of substitutions(cmd)) walk(sub.script, env, depth + 1, sub.via, acc);
    if (cmd.words.length === 0) continue;
    for (const mode of ['empty', 'literal'] as const) {
      const ctx = ctxFor(env, mode, acc);
      for (const argv of argvVariants(cmd.words, ctx)) run(argv, cmd, env, ctx, depth, via, acc);
    }
  }
}

/** One expanded simple command: record it, then whatever it hands to a shell. */
function run(argv: Field[], cmd: SyntaxCommand | null, env: Env, ctx: ExpandCtx, depth: number, via: string | undefined, acc: Acc): void {
  if (argv.length === 0) return;
  const u = unwrap(argv, (s) => splitString(s, env, depth, acc));
  if (u.truncated) acc.budget.incomplete ??= `more than ${SHELL_LIMITS.wrappers} wrappers`;
  record(acc, {
    argv: argv.map((f) => f.text),
    command: u.command.map((f) => f.text),
    wrappers: u.wrappers,
    depth,
    ...(via !== undefined ? { via } : {}),
  });
  const name = u.command[0];
  if (name?.dyn) acc.dynamic.add(`the command name comes from an expansion: ${name.text}`);
  else if (name?.glob && name.text !== '[' && name.text !== '[[') acc.dynamic.add(`the command name is a pathname pattern: ${name.text}`);

  for (const s of u.scripts) {
    inner(s.text, s.positional ?? env.positional, env, depth + 1, s.via, acc);
  }
  for (const e of u.execs) {
    if (depth + 1 > SHELL_LIMITS.depth) acc.budget.incomplete ??= `nested deeper than ${SHELL_LIMITS.depth} levels`;
    else run(e.argv, null, env, ctx, depth + 1, e.via, acc);
  }
  if (u.stdinShell === undefined) return;
  // a shell reading its commands from stdin: here-strings, here-documents, `echo … | sh`
  const sh = u.stdinShell;
  let seen = false;
  for (const w of cmd?.herestrings ?? []) {
    for (const v of expandString(w, ctx)) inner(v.text, null, env, depth + 1, 'here-string', acc);
    seen = true;
  }
  for (const body of cmd?.heredocs ?? []) {
    inner(body, null, env, depth + 1, 'here-document', acc);
    seen = true;
  }
  const from = cmd?.pipedFrom;
  if (from) {
    for (const fargv of argvVariants(from.words, ctx)) {
      const fu = unwrap(fargv, (s) => splitString(s, env, depth, acc));
      const out = echoOutput(fu.command.map((f) => f.text));
      if (out !== null) inner(out, null, env, depth + 1, 'pipe', acc);
      else acc.dynamic.add(`${sh} reads commands from the output of ${fu.command[0]?.text ?? 'a command'}`);
    }
    seen = true;
  }
  if (!seen) acc.dynamic.add(`${sh} reads commands from stdin`);
}

function record(acc: Acc, c: ShellCommand): void {
  const key = `${c.depth}\0${c.via ?? ''}\0${c.argv.join('\0')}`;
  if (acc.seen.has(key)) return;
  acc.seen.add(key);
  if (acc.commands.length >= SHELL_LIMITS.commands) {
    acc.budget.incomplete ??= `more than ${SHELL_LIMITS.commands} commands`;
    return;
  }
  acc.commands.push(c);
}

/** A script handed to a shell (sh -c, su -c, eval, a here-document …): parsed and walked one level down. */
function inner(text: string, positional: readonly string[] | null, env: Env, depth: number, via: string, acc: Acc): void {
  if (depth > SHELL_LIMITS.depth) {
    acc.budget.incomplete ??= `nested deeper than ${SHELL_LIMITS.depth} levels`;
    return;
  }
  const key = `${depth}\0${via}\0${positional?.join('\0') ?? ''}\0${text}`;
  if (acc.scriptsSeen.has(key)) return;
  acc.scriptsSeen.add(key);
  acc.work.n += text.length;
  if (acc.work.n > SHELL_LIMITS.work) {
    acc.budget.incomplete ??= 'expansions produce too much text';
    return;
  }
  const script = parseScript(text, depth, acc.budget);
  const vars = new Map<string, VarValue[]>();
  for (const [k, v] of env.vars) vars.set(k, [...v]);
  collectVars(script, vars);
  walk(script, { vars, positional }, depth, via, acc);
}

/** `env -S 'a b'`: the string split into words like the shell would (first command's words only). */
function splitString(text: string, env: Env, depth: number, acc: Acc): Field[] {
  const script = parseScript(text, depth, acc.budget);
  const first = script.commands[0];
  if (!first) return [];
  return argvVariants(first.words, ctxFor(env, 'empty', acc))[0] ?? [];
}

// ---- forms -------------------------------------------------------------------------------------------

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** A word as the shell would need it written: bare when safe, else single-quoted. */
export function shellQuote(s: string): string {
  if (s === '') return "''";
  return SAFE.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export const joinArgv = (argv: readonly string[]): string => argv.map(shellQuote).join(' ');

/** Long options folded into the short-flag cluster of the canonical form. */
const LONG_AS_SHORT: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  rm: { recursive: 'r', force: 'f', dir: 'd' },
  cp: { recursive: 'r', force: 'f' },
  chmod: { recursive: 'R' },
  chown: { recursive: 'R' },
  chgrp: { recursive: 'R' },
};

function normalizePath(p: string): string {
  if (!p.startsWith('/')) return p;
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return `/${out.join('/')}`;
}

/** `rm -r -f -- //` → `rm -rf /`; see the file comment. */
export function canonicalForm(command: readonly string[]): string {
  if (command.length === 0) return '';
  const name = baseName(command[0]!);
  // find's operators (-name, -exec …) are words, not flag clusters
  if (name === 'find') return joinArgv([name, ...command.slice(1)]);
  const longMap = LONG_AS_SHORT[name] ?? {};
  let letters = '';
  const operands: string[] = [];
  const longs: string[] = [];
  let ended = false;
  for (const a of command.slice(1)) {
    if (ended || a === '-' || !a.startsWith('-')) operands.push(normalizePath(a));
    else if (a === '--') ended = true;
    else if (a.startsWith('--')) {
      const short = longMap[a.slice(2)];
      if (short !== undefined) letters += short;
      else longs.push(a);
    } else letters += a.slice(1);
  }
  const cluster = [...new Set(letters)].join('');
  return joinArgv([name, ...(cluster ? [`-${cluster}`] : []), ...operands, ...longs]);
}

function formsOf(commands: readonly ShellCommand[]): string[] {
  const out = new Set<string>();
  for (const c of commands) {
    out.add(joinArgv(c.argv));
    if (c.command.length > 0) {
      out.add(joinArgv(c.command));
      out.add(canonicalForm(c.command));
    }
  }
  out.delete('');
  return [...out];
}
