// Guardrail rules compiled once at config load (regexes, globs, sets), and matched per statement.
import type { GuardrailConfig } from '../config/schema.js';
import type { SessionInfo } from '../types.js';
import { commandMatches, type CommandAnalysis } from './command.js';
import { KNOWN_VERBS } from './sql/classify.js';
import { SQL_CATEGORIES, type StatementAnalysis } from './sql/types.js';

export interface CompiledRule {
  readonly name: string;
  readonly action: 'allow' | 'block' | 'review';
  readonly message?: string;
  readonly statements?: ReadonlySet<string>;
  readonly categories?: ReadonlySet<string>;
  readonly tables?: readonly RegExp[];
  /** per table glob: its part after the last dot when it names a schema, else null */
  readonly tableParts?: readonly (RegExp | null)[];
  readonly whereMissing: boolean;
  readonly functions?: ReadonlySet<string>;
  readonly risky?: boolean;
  readonly pattern?: RegExp;
  readonly groups?: ReadonlySet<string>;
  readonly users?: ReadonlySet<string>;
  readonly protocols?: ReadonlySet<string>;
  /** tested against the raw command line and the argv forms of its simple commands (see command.ts) */
  readonly command?: RegExp;
  readonly forward?: RegExp;
  /** has a key only SQL statements can satisfy */
  readonly sqlOnly: boolean;
}

/** Names `statements` may hold besides SQL verbs. */
export const NON_SQL_STATEMENTS = new Set(['shell', 'exec', 'subsystem', 'forward', 'function-call', 'sftp']);

/** `*` any run of characters (dots included), `?` one character; whole name, case-insensitive. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'is');
}

function regex(rule: string, key: string, src: string, flags: string): RegExp {
  try {
    return new RegExp(src, flags);
  } catch (err) {
    throw new Error(`guardrail "${rule}": when.${key} is not a valid regular expression: ${(err as Error).message}`);
  }
}

const lower = (xs: readonly string[]): Set<string> => new Set(xs.map((x) => x.toLowerCase()));

/** Throws an Error naming the rule on a bad regex or category; returns warnings for verbs never reported. */
export function compileRule(g: GuardrailConfig, warnings: string[]): CompiledRule {
  const w = g.when;
  const categories = w.category === undefined ? undefined : lower(typeof w.category === 'string' ? [w.category] : w.category);
  for (const c of categories ?? []) {
    if (!(SQL_CATEGORIES as readonly string[]).includes(c)) {
      throw new Error(`guardrail "${g.name}": unknown category "${c}" (one of ${SQL_CATEGORIES.join(', ')})`);
    }
  }
  const statements = w.statements ? lower(w.statements) : undefined;
  for (const s of statements ?? []) {
    if (!KNOWN_VERBS.has(s) && !NON_SQL_STATEMENTS.has(s)) {
      warnings.push(`guardrail "${g.name}": "${s}" is not a statement the analyser reports; the entry only matches a statement starting with that word`);
    }
  }
  const rule: CompiledRule = {
    name: g.name,
    action: g.action,
    ...(g.message !== undefined ? { message: g.message } : {}),
    ...(statements ? { statements } : {}),
    ...(categories ? { categories } : {}),
    ...(w.tables
      ? {
          tables: w.tables.map(globToRegExp),
          tableParts: w.tables.map((t) => (t.includes('.') ? globToRegExp(t.slice(t.lastIndexOf('.') + 1)) : null)),
        }
      : {}),
    whereMissing: w.where === 'missing',
    ...(w.functions ? { functions: lower(w.functions) } : {}),
    ...(w.risky !== undefined ? { risky: w.risky } : {}),
    ...(w.pattern !== undefined ? { pattern: regex(g.name, 'pattern', w.pattern, 'i') } : {}),
    ...(w.groups ? { groups: new Set(w.groups) } : {}),
    ...(w.users ? { users: new Set(w.users) } : {}),
    ...(w.protocol ? { protocols: new Set(typeof w.protocol === 'string' ? [w.protocol] : w.protocol) } : {}),
    // Case-insensitive like `pattern`: a rule written for `rm -rf` must also catch `rm -Rf`;
    // an allow rule cannot override a block, so the wider match only ever restricts.
    ...(w.command !== undefined ? { command: regex(g.name, 'command', w.command, 'i') } : {}),
    ...(w.forward !== undefined ? { forward: globToRegExp(w.forward) } : {}),
    sqlOnly:
      categories !== undefined || w.tables !== undefined || w.where !== undefined || w.functions !== undefined ||
      w.risky !== undefined || w.pattern !== undefined,
  };
  return rule;
}

export function appliesToSession(r: CompiledRule, s: SessionInfo): boolean {
  if (r.users && !r.users.has(s.user)) return false;
  if (r.groups && !s.groups.some((g) => r.groups!.has(g))) return false;
  if (r.protocols && !r.protocols.has(s.protocol)) return false;
  return true;
}

/**
 * A table matches a glob as written, by its bare name, and as `schema.table` when written `db.schema.table`.
 * search_path is not known, so a bare name also matches a schema-qualified glob by its table part
 * (`public.salaries` catches `salaries`; `hr.*` catches every unqualified table): it errs toward matching.
 */
function tableMatches(globs: readonly RegExp[], tableParts: readonly (RegExp | null)[], s: StatementAnalysis): string | undefined {
  for (const name of [...s.tables.written, ...s.tables.read]) {
    const parts = name.split('.');
    const bare = parts[parts.length - 1]!;
    const schemaTable = parts.length >= 3 ? parts.slice(-2).join('.') : name;
    for (let i = 0; i < globs.length; i++) {
      const g = globs[i]!;
      if (g.test(name) || g.test(bare) || g.test(schemaTable)) return name;
      const tp = tableParts[i];
      if (parts.length === 1 && tp && tp.test(bare)) return name;
    }
  }
  return undefined;
}

export interface SqlMatch {
  /** what the rule objects to, e.g. "DROP statements" */
  readonly phrase: string;
  readonly plural: boolean;
}

/** null when the rule does not match the statement; else what it matched, for the message. */
export function matchSql(r: CompiledRule, s: StatementAnalysis): SqlMatch | null {
  if (r.command || r.forward) return null;
  if (r.statements && !r.statements.has(s.verb)) return null;
  if (r.categories && !r.categories.has(s.category)) return null;
  const table = r.tables ? tableMatches(r.tables, r.tableParts ?? [], s) : undefined;
  if (r.tables && table === undefined) return null;
  const whereless = (s.verb === 'update' || s.verb === 'delete') && (s.where === 'missing' || s.where === 'trivial');
  if (r.whereMissing && !whereless) return null;
  const fn = r.functions ? s.functions.find((f) => r.functions!.has(f)) : undefined;
  if (r.functions && fn === undefined) return null;
  if (r.risky !== undefined && s.risky.length > 0 !== r.risky) return null;
  if (r.pattern && !r.pattern.test(s.text)) return null;
  const verb = s.verb.toUpperCase();
  if (r.whereMissing) {
    return { phrase: s.where === 'trivial' ? `${verb} with a trivially true WHERE clause` : `${verb} without a WHERE clause`, plural: false };
  }
  if (fn !== undefined) return { phrase: `calling ${fn}()`, plural: false };
  if (r.risky) return { phrase: `a risky statement (${s.risky.join(', ')})`, plural: false };
  if (table !== undefined) return { phrase: `access to table ${table}`, plural: false };
  if (r.statements) return { phrase: `${verb} statements`, plural: true };
  if (r.categories) return { phrase: `${s.category === 'ddl' ? 'DDL' : s.category} statements`, plural: true };
  if (r.pattern) return { phrase: 'a statement matching a forbidden pattern', plural: false };
  return { phrase: 'this statement', plural: false };
}

export type NonSqlCommand =
  | { kind: 'exec'; command: string }
  | { kind: 'shell' }
  | { kind: 'subsystem'; name: string }
  | { kind: 'forward'; host: string; port: number }
  | { kind: 'function-call' };

/** `analysis`: the exec command's analysis when the caller has it (computed, and cached, otherwise). */
export function matchNonSql(r: CompiledRule, cmd: NonSqlCommand, analysis?: CommandAnalysis): boolean {
  if (r.sqlOnly) return false;
  if (r.command && cmd.kind !== 'exec') return false;
  if (r.forward && cmd.kind !== 'forward') return false;
  if (r.statements) {
    const named = r.statements.has(cmd.kind) || (cmd.kind === 'subsystem' && r.statements.has(cmd.name.toLowerCase()));
    if (!named) return false;
  }
  if (r.command && cmd.kind === 'exec' && !commandMatches(r.command, cmd.command, analysis)) return false;
  if (r.forward && cmd.kind === 'forward' && !r.forward.test(`${cmd.host}:${cmd.port}`)) return false;
  return true;
}
