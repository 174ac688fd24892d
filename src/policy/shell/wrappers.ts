// Commands that run another command: `sudo`, `doas`, `env`, `nohup`, `nice`, `timeout`, `exec`,
// `command`, `builtin`, `time`, `setsid`, `stdbuf`, `ionice`, `chroot`, `xargs`, `busybox` are seen
// through (their options skipped); `sh -c '…'` (bash, zsh, dash, ksh …), `su -c '…'` and `eval …` hand
// a script to a shell, which is parsed in turn; `find … -exec CMD … ;` runs CMD. `ssh host '…'` runs
// on another machine and is left as it is.
import type { Field } from './expand.js';
import { SHELL_LIMITS } from './limits.js';

export interface Unwrapped {
  /** the wrappers seen through, outermost first (base names) */
  readonly wrappers: string[];
  /** what actually runs after the wrappers; empty when they name no command (`sudo -i`) */
  readonly command: Field[];
  /** scripts handed to a shell: `sh -c TEXT [$0 [$1 …]]`, `su -c TEXT`, `eval …` */
  readonly scripts: Array<{ text: string; positional: string[] | null; via: string }>;
  /** commands run by `find -exec` */
  readonly execs: Array<{ argv: Field[]; via: string }>;
  /** the name of a shell that reads its commands from stdin (`bash`, `sh -s`, `sudo -i`), if any */
  readonly stdinShell?: string;
  /** more wrappers than SHELL_LIMITS.wrappers: the command was not reached */
  readonly truncated?: boolean;
}

interface Spec {
  /** short options that take a value (in the same word or the next) */
  readonly short?: string;
  /** long options that take a value (in `--opt=value` or the next word) */
  readonly long?: readonly string[];
}

export const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'ash', 'mksh', 'rbash', 'fish', 'yash', 'posh', 'lksh', 'pdksh']);

export const baseName = (path: string): string => {
  const b = path.replace(/\/+$/, '').replace(/^.*\//, '');
  return b === '' ? path : b;
};

/**
 * Skips options from `argv[from]`: returns the index of the first operand (after `--` if present)
 * and the option letters / long names seen. A lone `-` is an operand.
 */
function options(argv: readonly Field[], from: number, spec: Spec): { at: number; flags: Set<string>; values: Map<string, string> } {
  const flags = new Set<string>();
  const values = new Map<string, string>();
  let i = from;
  while (i < argv.length) {
    const a = argv[i]!.text;
    if (a === '--') return { at: i + 1, flags, values };
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      flags.add(name);
      if (eq >= 0) values.set(name, a.slice(eq + 1));
      else if (spec.long?.includes(name)) values.set(name, argv[++i]?.text ?? '');
      i++;
      continue;
    }
    if (a.length < 2 || a[0] !== '-') break;
    for (let k = 1; k < a.length; k++) {
      const ch = a[k]!;
      flags.add(ch);
      if (spec.short?.includes(ch)) {
        values.set(ch, k + 1 < a.length ? a.slice(k + 1) : (argv[++i]?.text ?? ''));
        break;
      }
    }
    i++;
  }
  return { at: i, flags, values };
}

/** After options: skip `NAME=value` operands (sudo, env). */
function skipAssignments(argv: readonly Field[], i: number): number {
  while (i < argv.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(argv[i]!.text)) i++;
  return i;
}

type Step =
  | { next: Field[] }
  | { stop: true; scripts?: Unwrapped['scripts']; execs?: Unwrapped['execs']; stdinShell?: string };

type Handler = (argv: Field[], split: (text: string) => Field[]) => Step;

const simple =
  (spec: Spec, after: (argv: Field[], at: number) => number = (_a, at) => at): Handler =>
  (argv) => {
    const { at } = options(argv, 1, spec);
    return { next: argv.slice(after(argv, at)) };
  };

const HANDLERS: Record<string, Handler> = {
  sudo: (argv) => {
    const o = options(argv, 1, {
      short: 'ugCprtUTDR',
      long: ['user', 'group', 'close-from', 'host', 'prompt', 'role', 'type', 'other-user', 'command-timeout', 'chdir', 'chroot', 'login-class'],
    });
    if (o.flags.has('e') || o.flags.has('edit')) return { next: [] }; // sudoedit: the operands are files
    const rest = argv.slice(skipAssignments(argv, o.at));
    if (rest.length === 0 && (o.flags.has('s') || o.flags.has('i') || o.flags.has('shell') || o.flags.has('login'))) return { stop: true, stdinShell: 'sudo' };
    return { next: rest };
  },
  doas: (argv) => {
    const o = options(argv, 1, { short: 'uC' });
    const rest = argv.slice(o.at);
    if (rest.length === 0 && o.flags.has('s')) return { stop: true, stdinShell: 'doas' };
    return { next: rest };
  },
  env: (argv, split) => {
    const o = options(argv, 1, { short: 'uCSPa', long: ['unset', 'chdir', 'split-string', 'argv0'] });
    let at = o.at;
    // a lone `-` means -i
    while (argv[at]?.text === '-') at++;
    const rest = argv.slice(skipAssignments(argv, at));
    const s = o.values.get('S') ?? o.values.get('split-string');
    return { next: s !== undefined ? [...split(s), ...rest] : rest };
  },
  nohup: simple({}),
  nice: (argv) => {
    let i = 1;
    for (; i < argv.length; i++) {
      const a = argv[i]!.text;
      if (a === '--') {
        i++;
        break;
      }
      if (a === '-n' || a === '--adjustment') i++;
      else if (!/^(-n.+|--adjustment=.*|-\d+|--?\d+|-[+-]?\d+)$/.test(a)) break;
    }
    return { next: argv.slice(i) };
  },
  timeout: simple({ short: 'sk', long: ['signal', 'kill-after'] }, (argv, at) => Math.min(at + 1, argv.length)),
  exec: simple({ short: 'a' }),
  command: simple({}),
  builtin: simple({}),
  time: simple({ short: 'fo', long: ['format', 'output'] }),
  setsid: simple({}),
  stdbuf: simple({ short: 'ioe', long: ['input', 'output', 'error'] }),
  ionice: simple({ short: 'cnpPu', long: ['class', 'classdata', 'pid', 'pgid', 'uid'] }),
  chroot: (argv) => {
    const o = options(argv, 1, { long: ['userspec', 'groups'] });
    const rest = argv.slice(o.at + 1);
    return rest.length === 0 ? { stop: true, stdinShell: 'chroot' } : { next: rest };
  },
  xargs: simple({ short: 'adEILnPs', long: ['arg-file', 'delimiter', 'max-args', 'max-procs', 'max-chars', 'process-slot-var'] }),
  busybox: (argv) => (argv[1] && !argv[1].text.startsWith('-') ? { next: argv.slice(1) } : { next: [] }),
  su: (argv) => suLike(argv, 'su'),
  runuser: (argv) => suLike(argv, 'runuser'),
  eval: (argv) => ({ stop: true, scripts: [{ text: argv.slice(1).map((f) => f.text).join(' '), positional: null, via: 'eval' }] }),
  find: (argv) => {
    const execs: Unwrapped['execs'] = [];
    for (let i = 1; i < argv.length; i++) {
      const a = argv[i]!.text;
      if (a !== '-exec' && a !== '-execdir' && a !== '-ok' && a !== '-okdir') continue;
      let j = i + 1;
      while (j < argv.length && argv[j]!.text !== ';' && argv[j]!.text !== '+') j++;
      if (j > i + 1) execs.push({ argv: argv.slice(i + 1, j), via: `find ${a}` });
      i = j;
    }
    return { stop: true, execs };
  },
};

/** `su [-] [user] -c CMD` (options may follow the user); `runuser -u USER CMD …` runs CMD directly. */
function suLike(argv: Field[], name: string): Step {
  if (name === 'runuser') {
    const o = options(argv, 1, { short: 'ugGcsw', long: ['user', 'group', 'supp-group', 'command', 'shell', 'session-command', 'whitelist-environment'] });
    if (o.values.has('u') || o.values.has('user')) return { next: argv.slice(o.at) };
  }
  let cmd: string | undefined;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!.text;
    if (a === '--') break;
    if (a === '-c' || a === '--command' || a === '--session-command') cmd = argv[++i]?.text ?? '';
    else if (a.startsWith('--command=') || a.startsWith('--session-command=')) cmd = a.slice(a.indexOf('=') + 1);
    else if (/^-[^-]*c/.test(a)) cmd = a.slice(a.indexOf('c') + 1) || (argv[++i]?.text ?? '');
    else if (/^-[sgGw]$/.test(a) || a === '--shell' || a === '--group' || a === '--supp-group') i++;
  }
  if (cmd !== undefined) return { stop: true, scripts: [{ text: cmd, positional: null, via: `${name} -c` }] };
  return { stop: true, stdinShell: name };
}

/** `sh [options] -c TEXT [$0 [$1 …]]`, `sh script`, or a shell reading stdin. */
function shell(argv: Field[], name: string): Step {
  let i = 1;
  let cmdMode = false;
  let stdin = false;
  for (; i < argv.length; i++) {
    const a = argv[i]!.text;
    if (a === '--' || a === '-') {
      i++;
      break;
    }
    if (a === '--rcfile' || a === '--init-file') {
      i++;
      continue;
    }
    if (a.startsWith('--')) continue;
    if (a.length < 2 || (a[0] !== '-' && a[0] !== '+')) break;
    let takesNext = false;
    for (const ch of a.slice(1)) {
      if (ch === 'c') cmdMode = true;
      else if (ch === 's') stdin = true;
      else if (ch === 'o' || ch === 'O') takesNext = true;
    }
    if (takesNext) i++;
  }
  const operands = argv.slice(i).map((f) => f.text);
  if (cmdMode) {
    if (operands.length === 0) return { stop: true };
    return { stop: true, scripts: [{ text: operands[0]!, positional: operands.length > 1 ? operands.slice(1) : [name], via: `${name} -c` }] };
  }
  if (operands.length > 0 && !stdin) return { stop: true }; // a script file: not visible here
  return { stop: true, stdinShell: name };
}

export function unwrap(argv: Field[], split: (text: string) => Field[]): Unwrapped {
  const wrappers: string[] = [];
  const scripts: Unwrapped['scripts'] = [];
  const execs: Unwrapped['execs'] = [];
  let cur = argv;
  let stdinShell: string | undefined;
  let truncated = false;
  for (let n = 0; cur.length > 0; n++) {
    const name = baseName(cur[0]!.text);
    const handler = SHELLS.has(name) ? (a: Field[]) => shell(a, name) : Object.hasOwn(HANDLERS, name) ? HANDLERS[name]! : null;
    if (!handler) break;
    if (n >= SHELL_LIMITS.wrappers) {
      truncated = true;
      break;
    }
    const step = handler(cur, split);
    if ('next' in step) {
      wrappers.push(name);
      cur = step.next;
      continue;
    }
    for (const x of step.scripts ?? []) scripts.push(x);
    for (const x of step.execs ?? []) execs.push(x);
    stdinShell = step.stdinShell;
    break;
  }
  return { wrappers, command: cur, scripts, execs, ...(stdinShell !== undefined ? { stdinShell } : {}), ...(truncated ? { truncated } : {}) };
}
