// The shape the shell parser (syntax.ts) produces: scripts of simple commands made of words; a word is
// literal text (quoted or not), parameter expansions and substitutions.

export type Part =
  | { readonly t: 'lit'; readonly s: string; readonly q: boolean }
  | {
      readonly t: 'var';
      /** NAME, a digit, or one of @ * # ? $ ! - */
      readonly name: string;
      readonly q: boolean;
      /** plain `$X`/`${X}`; default `${X:-w}`/`${X-w}`/`${X:=w}`; alt `${X:+w}`; complex: anything else */
      readonly op: 'plain' | 'default' | 'alt' | 'complex';
      readonly arg?: Word;
      readonly src: string;
    }
  | {
      readonly t: 'sub';
      /** `$(` command substitution (also ` `), `<(` / `>(` process substitution, `$((` arithmetic (parsed as commands too: bash falls back to that) */
      readonly kind: 'command' | 'process' | 'arithmetic';
      readonly script: Script;
      readonly q: boolean;
      readonly src: string;
    };

export interface Word {
  readonly parts: readonly Part[];
}

export interface SyntaxCommand {
  readonly words: Word[];
  readonly assigns: Array<{ name: string; value: Word }>;
  /** here-document bodies (`<<EOF`), as written */
  readonly heredocs: string[];
  /** here-strings (`<<< word`) */
  readonly herestrings: Word[];
  /** redirection targets and unquoted here-document bodies: their substitutions run too */
  readonly others: Word[];
  /** the previous simple command of the pipeline, when stdin is a pipe */
  pipedFrom?: SyntaxCommand;
}

export interface Script {
  readonly commands: SyntaxCommand[];
  /** `for NAME in WORDS`: NAME takes each value */
  readonly loops: Array<{ name: string; values: Word[] }>;
}

/** Shared by every parse of one analysis. */
export interface ParseBudget {
  commands: number;
  /** syntax errors: parsing went on */
  readonly errors: string[];
  /** set when a cap stopped the analysis: some commands may be missing */
  incomplete?: string;
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function newBudget(): ParseBudget {
  return { commands: 0, errors: [] };
}

/** The literal text of a word when it has no expansion (for reserved words, delimiters, names). */
export function literalOf(w: Word): string | null {
  let s = '';
  for (const part of w.parts) {
    if (part.t !== 'lit') return null;
    s += part.s;
  }
  return s;
}

export function emptyCommand(): SyntaxCommand {
  return { words: [], assigns: [], heredocs: [], herestrings: [], others: [] };
}

/** `NAME=value` / `NAME+=value` with an unquoted NAME: an assignment, not a command word. */
export function assignment(w: Word): { name: string; value: Word } | null {
  const first = w.parts[0];
  if (!first || first.t !== 'lit' || first.q) return null;
  const eq = first.s.indexOf('=');
  if (eq <= 0) return null;
  const name = first.s.slice(0, first.s[eq - 1] === '+' ? eq - 1 : eq);
  if (!NAME_RE.test(name)) return null;
  const rest = first.s.slice(eq + 1);
  return { name, value: { parts: [...(rest ? [{ t: 'lit' as const, s: rest, q: false }] : []), ...w.parts.slice(1)] } };
}
