// POSIX-shell syntax, as far as a guardrail needs it: a command line becomes simple commands made of
// words, and a word is a list of parts (literal text, quoted or not; parameter expansions; command
// substitutions, whose contents are parsed as commands too). Redirections are taken out of the words;
// here-documents are read. Compound commands (if/while/for/case, `( )`, `{ }`) are flattened: their
// reserved words are skipped and the commands inside are listed like any other.
// Pure and bounded: never throws; a syntax error is recorded and parsing goes on as if the construct
// ended where the text does; a cap that stops parsing marks the result incomplete.
import { decodeAnsiC } from './ansi.js';
import { assignment, emptyCommand, literalOf, type ParseBudget, type Part, type Script, type SyntaxCommand, type Word } from './ast.js';
import { SHELL_LIMITS } from './limits.js';

export { newBudget, type ParseBudget, type Part, type Script, type SyntaxCommand, type Word } from './ast.js';

const META = new Set([' ', '\t', '\n', ';', '&', '|', '(', ')', '<', '>']);
/** at command position: keywords that introduce the next command (skipped) or close a compound one */
const SKIP_WORDS = new Set(['if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'while', 'until', '{', '}', '!', 'esac']);
const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '$', '!', '-', '0']);

/** Parses `text` as a shell script. `depth` counts enclosing substitutions and `sh -c` levels. */
export function parseScript(text: string, depth: number, budget: ParseBudget): Script {
  const p = new Parser(text, budget);
  if (depth > SHELL_LIMITS.depth) {
    budget.incomplete ??= `nested deeper than ${SHELL_LIMITS.depth} levels`;
    return { commands: [], loops: [] };
  }
  return p.script(null, depth);
}

const unquotedLiteral = (w: Word): string | null => (w.parts.every((p) => p.t === 'lit' && !p.q) ? literalOf(w) : null);

type Mode = 'word' | 'dquote' | 'brace' | 'heredoc';

class Parser {
  private pos = 0;

  constructor(
    private readonly src: string,
    private readonly budget: ParseBudget,
  ) {}

  private error(msg: string): void {
    if (this.budget.errors.length < 8 && !this.budget.errors.includes(msg)) this.budget.errors.push(msg);
  }

  private stop(reason: string): void {
    this.budget.incomplete ??= reason;
    this.pos = this.src.length;
  }

  /** Commands up to the end, or up to the `)` that closes a `$(` / `<(` when `term` is ')'. */
  script(term: ')' | null, depth: number): Script {
    const src = this.src;
    const commands: SyntaxCommand[] = [];
    const loops: Script['loops'] = [];
    let cur = emptyCommand();
    let pipeFrom: SyntaxCommand | undefined;
    let parens = 0;
    let cases = 0;
    let casePattern = false;
    let loop: { name?: string; values: Word[]; stage: 'name' | 'in' | 'values' } | null = null;
    let caseHead = 0; // words of `case WORD in` still expected
    const heredocs: Array<{ delim: string; strip: boolean; quoted: boolean; cmd: SyntaxCommand }> = [];

    const end = (): void => {
      if (loop) {
        if (loop.name !== undefined && loop.stage === 'values') loops.push({ name: loop.name, values: loop.values });
        loop = null;
      }
      const c = cur;
      cur = emptyCommand();
      if (c.words.length === 0 && c.assigns.length === 0 && c.others.length === 0 && c.herestrings.length === 0 && c.heredocs.length === 0) return;
      if (++this.budget.commands > SHELL_LIMITS.commands) {
        this.stop(`more than ${SHELL_LIMITS.commands} commands`);
        return;
      }
      if (pipeFrom) c.pipedFrom = pipeFrom;
      pipeFrom = undefined;
      commands.push(c);
    };
    const pipe = (): void => {
      end();
      pipeFrom = commands[commands.length - 1];
    };

    while (this.pos < src.length) {
      const c = src[this.pos]!;
      if (casePattern) {
        // `(pattern | pattern)` up to the `)`; `esac` closes the case
        this.blanks(true);
        if (this.pos >= src.length) break;
        if (src.startsWith('esac', this.pos) && !isWordChar(src[this.pos + 4])) {
          this.pos += 4;
          cases--;
          casePattern = false;
          continue;
        }
        if (src[this.pos] === '(') this.pos++;
        while (this.pos < src.length && src[this.pos] !== ')') {
          if (src[this.pos] === '|' || src[this.pos] === ' ' || src[this.pos] === '\t' || src[this.pos] === '\n') this.pos++;
          else if (this.word('word', false, depth) === null) this.pos++;
        }
        this.pos++;
        casePattern = false;
        continue;
      }
      if (c === ' ' || c === '\t' || c === '\r') {
        this.pos++;
      } else if (c === '\\' && src[this.pos + 1] === '\n') {
        this.pos += 2;
      } else if (c === '\n') {
        this.pos++;
        end();
        for (const h of heredocs.splice(0)) this.heredoc(h, depth);
      } else if (c === '#') {
        while (this.pos < src.length && src[this.pos] !== '\n') this.pos++;
      } else if (c === ')') {
        this.pos++;
        end();
        if (parens > 0) parens--;
        else if (term === ')') return { commands, loops };
        else this.error('unexpected ")"');
      } else if (c === '(') {
        this.pos++;
        const rest = /^[ \t]*\)/.exec(src.slice(this.pos, this.pos + 64));
        if (rest && cur.words.length > 0) {
          // `name () { …; }`: a function definition; the name is not run
          this.pos += rest[0].length;
          cur.words.length = 0;
          end();
        } else {
          end();
          parens++;
        }
      } else if (c === ';') {
        // `;;`, `;&` and `;;&` end a case branch
        const caseEnd = src[this.pos + 1] === ';' || src[this.pos + 1] === '&';
        this.pos += src[this.pos + 1] === ';' ? (src[this.pos + 2] === '&' ? 3 : 2) : caseEnd ? 2 : 1;
        end();
        if (caseEnd && cases > 0) casePattern = true;
      } else if (c === '&') {
        if (src[this.pos + 1] === '>') {
          this.pos += src[this.pos + 2] === '>' ? 3 : 2;
          this.redirectTarget(cur, depth);
        } else {
          this.pos += src[this.pos + 1] === '&' ? 2 : 1;
          end();
        }
      } else if (c === '|') {
        if (src[this.pos + 1] === '|') {
          this.pos += 2;
          end();
        } else {
          this.pos += src[this.pos + 1] === '&' ? 2 : 1;
          pipe();
        }
      } else if ((c === '<' || c === '>') && src[this.pos + 1] === '(') {
        const w = this.word('word', false, depth);
        if (w) cur.others.push(w);
      } else if (c === '<' || c === '>') {
        this.redirect(cur, heredocs, depth);
      } else {
        const startPos = this.pos;
        const w = this.word('word', false, depth);
        if (w === null) {
          this.pos = Math.max(this.pos, startPos + 1);
          continue;
        }
        const lit = unquotedLiteral(w);
        // `2>file`: a file-descriptor number glued to a redirection
        if (lit !== null && /^\d+$/.test(lit) && (src[this.pos] === '<' || src[this.pos] === '>')) continue;
        if (lit !== null && /^\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(lit) && (src[this.pos] === '<' || src[this.pos] === '>')) continue;
        if (loop) {
          if (loop.stage === 'name') {
            loop.name = lit ?? '';
            loop.stage = 'in';
            continue;
          }
          if (loop.stage === 'in') {
            if (lit === 'in') {
              loop.stage = 'values';
              continue;
            }
            loop = null;
          } else {
            loop.values.push(w);
            continue;
          }
        }
        if (caseHead > 0) {
          caseHead--;
          if (caseHead === 0) {
            cases++;
            casePattern = true;
            cur = emptyCommand();
          }
          continue;
        }
        if (cur.words.length === 0 && lit !== null) {
          if (SKIP_WORDS.has(lit)) {
            if (lit === 'esac' && cases > 0) cases--;
            continue;
          }
          if (lit === 'for' || lit === 'select') {
            loop = { values: [], stage: 'name' };
            continue;
          }
          if (lit === 'case') {
            caseHead = 2;
            continue;
          }
          if (lit === 'function') {
            // `function name { …; }`: skip the name
            this.blanks(false);
            this.word('word', false, depth);
            continue;
          }
        }
        if (cur.words.length === 0) {
          const a = assignment(w);
          if (a) {
            cur.assigns.push(a);
            // `a=(1 2 3)`: an array; its elements are not commands
            if (src[this.pos] === '(' && a.value.parts.length === 0) this.skipParens();
            continue;
          }
        }
        cur.words.push(w);
      }
    }
    end();
    if (heredocs.length > 0) for (const h of heredocs.splice(0)) this.heredoc(h, depth);
    if (term === ')') this.error('unterminated "$(" or "("');
    else if (parens > 0) this.error('unterminated "("');
    return { commands, loops };
  }

  private blanks(newlines: boolean): void {
    const src = this.src;
    while (this.pos < src.length) {
      const c = src[this.pos];
      if (c === ' ' || c === '\t' || (newlines && (c === '\n' || c === ';'))) this.pos++;
      else if (c === '\\' && src[this.pos + 1] === '\n') this.pos += 2;
      else break;
    }
  }

  private skipParens(): void {
    let level = 0;
    while (this.pos < this.src.length) {
      const c = this.src[this.pos++];
      if (c === '(') level++;
      else if (c === ')' && --level === 0) return;
    }
  }

  private redirect(cur: SyntaxCommand, heredocs: Array<{ delim: string; strip: boolean; quoted: boolean; cmd: SyntaxCommand }>, depth: number): void {
    const src = this.src;
    if (src.startsWith('<<<', this.pos)) {
      this.pos += 3;
      this.blanks(false);
      const w = this.word('word', false, depth);
      if (w) cur.herestrings.push(w);
      else this.error('here-string without a word');
      return;
    }
    if (src.startsWith('<<', this.pos)) {
      this.pos += 2;
      const strip = src[this.pos] === '-';
      if (strip) this.pos++;
      this.blanks(false);
      const w = this.word('word', false, depth);
      if (!w) {
        this.error('here-document without a delimiter');
        return;
      }
      const quoted = w.parts.some((p) => p.t === 'lit' && p.q);
      const delim = w.parts.map((p) => (p.t === 'lit' ? p.s : p.src)).join('');
      heredocs.push({ delim, strip, quoted, cmd: cur });
      return;
    }
    // < > >> >| <> <& >&
    this.pos++;
    const n = src[this.pos];
    if (n === '>' || n === '|' || n === '&' || (src[this.pos - 1] === '<' && n === '>')) this.pos++;
    this.redirectTarget(cur, depth);
  }

  private redirectTarget(cur: SyntaxCommand, depth: number): void {
    this.blanks(false);
    const w = this.word('word', false, depth);
    if (w) cur.others.push(w);
    else this.error('redirection without a target');
  }

  private heredoc(h: { delim: string; strip: boolean; quoted: boolean; cmd: SyntaxCommand }, depth: number): void {
    const src = this.src;
    const lines: string[] = [];
    let closed = false;
    while (this.pos < src.length) {
      let nl = src.indexOf('\n', this.pos);
      if (nl < 0) nl = src.length;
      let line = src.slice(this.pos, nl);
      this.pos = nl + 1;
      if (h.strip) line = line.replace(/^\t+/, '');
      if (line === h.delim) {
        closed = true;
        break;
      }
      lines.push(line);
    }
    if (!closed) this.pos = src.length; // bash runs it with a warning
    const body = lines.join('\n');
    h.cmd.heredocs.push(body);
    if (!h.quoted && (body.includes('$') || body.includes('`'))) {
      const inner = new Parser(body, this.budget);
      const w = inner.word('heredoc', true, depth);
      if (w) h.cmd.others.push(w);
    }
  }

  /**
   * One word from the current position. `word`: up to an unquoted metacharacter; `dquote`: the inside of
   * "…" up to the closing quote (consumed); `brace`: the operand of ${X:-…} up to its `}` (consumed);
   * `heredoc`: to the end of the text, expanding like "…". Null when no character was taken.
   */
  word(mode: Mode, q: boolean, depth: number): Word | null {
    const src = this.src;
    const parts: Part[] = [];
    const start = this.pos;
    let lit = '';
    const flush = (): void => {
      if (lit) parts.push({ t: 'lit', s: lit, q });
      lit = '';
    };
    let braces = 0;
    while (this.pos < src.length) {
      const c = src[this.pos]!;
      if (mode === 'word' && META.has(c)) {
        if ((c === '<' || c === '>') && src[this.pos + 1] === '(' && this.pos === start) {
          this.pos += 2;
          parts.push(this.substitution(`${c}(`, false, depth));
          continue;
        }
        break;
      }
      if (mode === 'dquote' && c === '"') {
        this.pos++;
        flush();
        return { parts: parts.length ? parts : [{ t: 'lit', s: '', q: true }] };
      }
      if (mode === 'brace') {
        if (c === '{') braces++;
        if (c === '}' && braces-- === 0) {
          this.pos++;
          flush();
          return { parts };
        }
      }
      if (c === '\\') {
        const n = src[this.pos + 1];
        if (n === '\n') {
          this.pos += 2;
        } else if (n === undefined) {
          lit += '\\';
          this.pos++;
        } else if (mode === 'dquote' || mode === 'heredoc') {
          // inside "…" a backslash only escapes $ ` " \ (and " not in a here-document)
          lit += n === '$' || n === '`' || n === '\\' || (n === '"' && mode === 'dquote') ? n : `\\${n}`;
          this.pos += 2;
        } else {
          flush();
          parts.push({ t: 'lit', s: n, q: true });
          this.pos += 2;
        }
      } else if (c === "'" && (mode === 'word' || (mode === 'brace' && !q))) {
        flush();
        const close = src.indexOf("'", this.pos + 1);
        if (close < 0) this.error('unterminated single quote');
        const to = close < 0 ? src.length : close;
        parts.push({ t: 'lit', s: src.slice(this.pos + 1, to), q: true });
        this.pos = to + 1;
      } else if (c === '"' && (mode === 'word' || mode === 'brace')) {
        flush();
        this.pos++;
        const w = this.word('dquote', true, depth);
        if (this.pos > src.length || src[this.pos - 1] !== '"') this.error('unterminated double quote');
        for (const x of w?.parts ?? [{ t: 'lit' as const, s: '', q: true }]) parts.push(x);
      } else if (c === '$') {
        flush();
        const inQuotes = q || mode === 'dquote' || mode === 'heredoc';
        const p = this.dollar(inQuotes, mode === 'word' || (mode === 'brace' && !q), depth);
        for (const x of p) parts.push(x);
      } else if (c === '`') {
        flush();
        parts.push(this.backtick(q || mode === 'dquote' || mode === 'heredoc', depth));
      } else {
        lit += c;
        this.pos++;
      }
    }
    if (mode === 'dquote') this.error('unterminated double quote');
    if (mode === 'brace') this.error('unterminated "${"');
    flush();
    return this.pos === start ? null : { parts };
  }

  private dollar(q: boolean, ansi: boolean, depth: number): Part[] {
    const src = this.src;
    const start = this.pos;
    const n = src[this.pos + 1];
    if (n === "'" && ansi) {
      const r = decodeAnsiC(src, this.pos + 2);
      this.pos = r.end;
      if (!r.closed) this.error("unterminated $'");
      return [{ t: 'lit', s: r.text, q: true }];
    }
    if (n === '"' && ansi) {
      this.pos += 2;
      return [...(this.word('dquote', true, depth)?.parts ?? [{ t: 'lit', s: '', q: true }])];
    }
    if (n === '(') {
      this.pos += 2;
      return [this.substitution('$(', q, depth)];
    }
    if (n === '{') {
      this.pos += 2;
      return [this.braceParam(q, depth, start)];
    }
    if (n === '[') {
      // $[ arithmetic ]
      const close = src.indexOf(']', this.pos);
      this.pos = close < 0 ? src.length : close + 1;
      return [{ t: 'lit', s: src.slice(start, this.pos), q: true }];
    }
    if (n !== undefined && /[A-Za-z_]/.test(n)) {
      let e = this.pos + 1;
      while (e < src.length && /[A-Za-z0-9_]/.test(src[e]!)) e++;
      const name = src.slice(this.pos + 1, e);
      this.pos = e;
      return [{ t: 'var', name, q, op: 'plain', src: src.slice(start, e) }];
    }
    if (n !== undefined && (/\d/.test(n) || SPECIAL_PARAMS.has(n))) {
      this.pos += 2;
      return [{ t: 'var', name: n, q, op: 'plain', src: src.slice(start, this.pos) }];
    }
    this.pos++;
    return [{ t: 'lit', s: '$', q }];
  }

  private braceParam(q: boolean, depth: number, start: number): Part {
    const src = this.src;
    if (depth + 1 > SHELL_LIMITS.depth) {
      this.stop(`nested deeper than ${SHELL_LIMITS.depth} levels`);
      return { t: 'lit', s: src.slice(start), q: true };
    }
    let prefix = '';
    if ((src[this.pos] === '#' || src[this.pos] === '!') && src[this.pos + 1] !== '}') prefix = src[this.pos++]!;
    let e = this.pos;
    if (/[A-Za-z_]/.test(src[e] ?? '')) while (e < src.length && /[A-Za-z0-9_]/.test(src[e]!)) e++;
    else if (/\d/.test(src[e] ?? '')) while (e < src.length && /\d/.test(src[e]!)) e++;
    else if (SPECIAL_PARAMS.has(src[e] ?? '')) e++;
    const name = src.slice(this.pos, e);
    this.pos = e;
    let op: 'plain' | 'default' | 'alt' | 'complex' = prefix ? 'complex' : 'plain';
    let arg: Word | undefined;
    if (src[this.pos] === '}') {
      this.pos++;
    } else {
      const m = /^(:?[-=+?])/.exec(src.slice(this.pos, this.pos + 2));
      if (m && !prefix) {
        const sym = m[1]!.slice(-1);
        op = sym === '-' || sym === '=' ? 'default' : sym === '+' ? 'alt' : 'complex';
        this.pos += m[1]!.length;
      } else {
        op = 'complex';
      }
      arg = this.word('brace', q, depth + 1) ?? { parts: [] };
    }
    if (!name) op = 'complex';
    return { t: 'var', name: name || '?', q, op, ...(arg ? { arg } : {}), src: src.slice(start, this.pos) };
  }

  private substitution(opener: string, q: boolean, depth: number): Part {
    const start = this.pos - opener.length;
    const kind = opener === '$(' ? (this.src[this.pos] === '(' ? 'arithmetic' : 'command') : 'process';
    if (depth + 1 > SHELL_LIMITS.depth) {
      this.stop(`nested deeper than ${SHELL_LIMITS.depth} levels`);
      return { t: 'sub', kind, script: { commands: [], loops: [] }, q, src: this.src.slice(start) };
    }
    const script = this.script(')', depth + 1);
    return { t: 'sub', kind, script, q, src: this.src.slice(start, this.pos) };
  }

  private backtick(q: boolean, depth: number): Part {
    const src = this.src;
    const start = this.pos;
    this.pos++;
    let body = '';
    let closed = false;
    while (this.pos < src.length) {
      const c = src[this.pos]!;
      if (c === '`') {
        this.pos++;
        closed = true;
        break;
      }
      if (c === '\\' && this.pos + 1 < src.length) {
        const n = src[this.pos + 1]!;
        body += n === '`' || n === '\\' || n === '$' || (q && n === '"') ? n : `\\${n}`;
        this.pos += 2;
      } else {
        body += c;
        this.pos++;
      }
    }
    if (!closed) this.error('unterminated backquote');
    const script = parseScript(body, depth + 1, this.budget);
    return { t: 'sub', kind: 'command', script, q, src: src.slice(start, this.pos) };
  }
}

function isWordChar(c: string | undefined): boolean {
  return c !== undefined && !META.has(c);
}

