// Tables and functions a statement refers to, and the state of its WHERE clause.
// Over-reporting a function or a table read is harmless (a rule may match too eagerly);
// missing one is a bypass, so the scans below err on the side of recording.
import { Acc, type Ctx, findTop, isIdent, isOp, isWord, matchParen, wordIn } from './tokens.js';
import { isTrivialCondition } from './trivial.js';
import type { StatementAnalysis } from './types.js';

/** Reason reported in `risky` for a function call; dblink* share one reason. */
const RISKY_FUNCTIONS: ReadonlyMap<string, string> = new Map(
  [
    'pg_read_file', 'pg_read_binary_file', 'pg_ls_dir', 'pg_stat_file', 'pg_ls_logdir', 'pg_ls_waldir',
    'pg_ls_tmpdir', 'pg_ls_archive_statusdir', 'pg_ls_logicalmapdir', 'pg_ls_logicalsnapdir', 'pg_ls_replslotdir',
    'lo_import', 'lo_export', 'pg_terminate_backend', 'pg_cancel_backend', 'pg_reload_conf', 'pg_rotate_logfile',
    'pg_promote', 'pg_file_write', 'pg_file_rename', 'pg_file_unlink', 'pg_file_sync', 'pg_logdir_ls',
    'pg_switch_wal', 'pg_create_restore_point', 'pg_backup_start', 'pg_backup_stop', 'pg_start_backup',
    'pg_stop_backup', 'pg_drop_replication_slot', 'pg_create_physical_replication_slot',
    'pg_create_logical_replication_slot', 'query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema',
    'cursor_to_xml', 'load_file', 'sys_exec', 'sys_eval', 'sys_get', 'sys_set',
  ].map((f) => [f, f]),
);

// Words that take a parenthesised operand without being function calls.
const NOT_FUNCTIONS = new Set([
  'in', 'exists', 'values', 'any', 'all', 'some', 'as', 'on', 'using', 'over', 'filter', 'within', 'into',
  'from', 'join', 'table', 'and', 'or', 'not', 'select', 'where', 'when', 'then', 'else', 'case', 'returning',
  'set', 'by', 'partition', 'window', 'primary', 'key', 'unique', 'check', 'references', 'foreign', 'default',
  'constraint', 'index', 'with', 'recursive', 'union', 'intersect', 'except', 'lateral', 'sets', 'do', 'array',
  'like', 'ilike', 'to', 'is', 'between', 'distinct', 'limit', 'offset', 'only', 'row', 'rows', 'having',
  'group', 'order', 'materialized', 'update', 'delete', 'insert', 'return', 'if', 'elseif', 'while', 'until',
  'conflict', 'include', 'range', 'cube', 'rollup', 'exclude', 'columns', 'ordinality',
]);

// "name (" after these is a table or routine being defined or filled, not a call.
const NAME_CONTEXT = new Set(['into', 'table', 'references', 'function', 'procedure', 'copy', 'view', 'trigger', 'type']);

// Words that end a FROM item instead of being its alias.
const ALIAS_STOP = new Set([
  'where', 'join', 'inner', 'left', 'right', 'full', 'outer', 'cross', 'natural', 'on', 'using', 'group',
  'order', 'limit', 'offset', 'having', 'window', 'union', 'intersect', 'except', 'set', 'returning', 'for',
  'fetch', 'into', 'values', 'select', 'lateral', 'tablesample', 'partition', 'force', 'use', 'ignore',
  'straight_join', 'when', 'then', 'do', 'default', 'with', 'procedure', 'lock', 'and', 'or', 'as', 'window',
  'qualify', 'connect', 'start', 'pivot', 'unpivot', 'natural', 'from', 'to', 'in', 'else', 'end', 'is',
]);

export interface NameAt {
  readonly name: string;
  readonly next: number;
}

/** ident [. ident]* (a trailing `.*` is kept, as in GRANT … ON db.*). */
export function readName(ctx: Ctx, i: number, to: number): NameAt | null {
  const t = ctx.toks[i];
  if (i >= to || !isIdent(t)) return null;
  let name = t!.value;
  let k = i + 1;
  while (k + 1 < to && isOp(ctx.toks[k], '.')) {
    const p = ctx.toks[k + 1]!;
    if (isIdent(p)) name += '.' + p.value;
    else if (isOp(p, '*')) name += '.*';
    else break;
    k += 2;
  }
  return { name, next: k };
}

/** FROM-list items: `name [AS] alias, (subquery) alias, …`; returns where the list stops. */
export function parseTableList(ctx: Ctx, i: number, to: number, out: Set<string>): number {
  const { toks } = ctx;
  while (i < to) {
    while (wordIn(toks[i], SKIP_BEFORE_ITEM)) i++;
    if (isOp(toks[i], '(')) {
      i = matchParen(ctx, i, to) + 1;
    } else {
      const n = readName(ctx, i, to);
      if (!n) return i;
      if (isOp(toks[n.next], '(')) {
        i = matchParen(ctx, n.next, to) + 1; // table function: recorded by the function scan
      } else {
        if (ctx.pg || n.name !== 'dual') out.add(n.name);
        i = n.next;
        if (isOp(toks[i], '*')) i++; // inheritance marker
      }
    }
    if (isWord(toks[i], 'as')) i++;
    if (isIdent(toks[i]) && !wordIn(toks[i], ALIAS_STOP)) i++;
    if (isOp(toks[i], '(')) i = matchParen(ctx, i, to) + 1; // column aliases
    if (!isOp(toks[i], ',')) return i;
    i++;
  }
  return i;
}

const SKIP_BEFORE_ITEM = new Set(['only', 'lateral']);

/** Names at the start of [i, to) and after every top-level comma (LOCK, TRUNCATE, DROP lists). */
export function parseNameListLoose(ctx: Ctx, i: number, to: number, out: Set<string>, stop?: ReadonlySet<string>): void {
  let expectName = true;
  let depth = 0;
  for (let k = i; k < to; k++) {
    const t = ctx.toks[k]!;
    if (depth === 0 && stop && wordIn(t, stop)) return;
    if (isOp(t, '(')) depth++;
    else if (isOp(t, ')')) depth--;
    else if (depth === 0 && isOp(t, ',')) {
      expectName = true;
      continue;
    }
    if (expectName && depth === 0) {
      if (wordIn(t, SKIP_BEFORE_ITEM)) continue;
      const n = readName(ctx, k, to);
      if (n) {
        out.add(n.name);
        k = n.next - 1;
      }
      expectName = false;
    }
  }
}

function isCallAt(ctx: Ctx, i: number): boolean {
  const { toks } = ctx;
  const t = toks[i]!;
  if (!isOp(toks[i + 1], '(')) return false;
  if (t.kind !== 'word' && t.kind !== 'qident') return false;
  if (t.kind === 'word' && NOT_FUNCTIONS.has(t.value)) return false;
  // `schema.fn(` is a call even when the part before the dot is a keyword-like word
  if (isOp(toks[i - 1], '.')) return true;
  return !wordIn(toks[i - 1], NAME_CONTEXT);
}

function recordCall(ctx: Ctx, i: number, acc: Acc): void {
  const { toks } = ctx;
  const bare = toks[i]!.value.toLowerCase();
  let qualified = bare;
  for (let k = i - 1; k >= 1 && isOp(toks[k], '.') && isIdent(toks[k - 1]); k -= 2) {
    qualified = toks[k - 1]!.value.toLowerCase() + '.' + qualified;
  }
  acc.functions.add(bare);
  if (qualified !== bare) acc.functions.add(qualified);
  const reason = RISKY_FUNCTIONS.get(bare) ?? (bare.startsWith('dblink') ? 'dblink' : undefined);
  if (reason) acc.risky.add(reason);
  if (bare === 'set_config') {
    // set_config('role', …) is SET ROLE; pg_dump's set_config('search_path', …) is routine.
    const arg = toks[i + 2];
    const name = arg?.kind === 'string' ? arg.value.toLowerCase() : undefined;
    if (name === undefined || name === 'role' || name === 'session_authorization') acc.risky.add('set_config-role');
  }
}

/**
 * The generic pass over a statement's tokens: every function call, every FROM/JOIN source
 * (subqueries included), `(TABLE t)`. Tokens in acc.handled were consumed by the verb's own parser.
 */
export function scanRefs(ctx: Ctx, from: number, to: number, acc: Acc): void {
  const { toks } = ctx;
  const funcParen: boolean[] = [];
  // per parenthesis depth: inside a FROM clause, where `, item` adds a source even after a JOIN … ON
  const inFrom: boolean[] = [false];
  let listEnd = from; // a FROM list already parsed up to here: its commas need no second pass
  for (let i = from; i < to; i++) {
    const t = toks[i]!;
    const depth = funcParen.length;
    if (t.kind === 'op') {
      if (t.value === '(') {
        funcParen.push(i > from && isCallAt(ctx, i - 1));
        inFrom[depth + 1] = false;
      } else if (t.value === ')') {
        funcParen.pop();
      } else if (t.value === ',' && inFrom[depth] && i >= listEnd) {
        listEnd = parseTableList(ctx, i + 1, to, acc.read);
      }
      continue;
    }
    if (t.kind !== 'word' && t.kind !== 'qident') continue;
    if (isCallAt(ctx, i)) recordCall(ctx, i, acc);
    if (t.kind !== 'word') continue;
    if (FROM_END.has(t.value)) inFrom[depth] = false;
    if (acc.handled.has(i)) continue;
    const inCall = depth > 0 && funcParen[depth - 1] === true;
    if (t.value === 'from' && !inCall && !isWord(toks[i - 1], 'distinct')) {
      inFrom[depth] = true;
      listEnd = Math.max(listEnd, parseTableList(ctx, i + 1, to, acc.read));
    } else if (t.value === 'join') {
      listEnd = Math.max(listEnd, parseTableList(ctx, i + 1, to, acc.read));
    } else if (t.value === 'table' && isOp(toks[i - 1], '(')) {
      const n = readName(ctx, i + 1, to);
      if (n) acc.read.add(n.name);
    }
  }
}

const FROM_END = new Set([
  'where', 'group', 'having', 'order', 'limit', 'offset', 'window', 'union', 'intersect', 'except', 'returning',
  'for', 'into', 'set', 'values', 'select', 'fetch', 'procedure', 'lock',
]);

const WHERE_END = new Set(['returning', 'order', 'limit', 'offset', 'group', 'having', 'window', 'for']);

/** UPDATE/DELETE: the top-level WHERE clause of [from, to). */
export function whereOf(ctx: Ctx, from: number, to: number): StatementAnalysis['where'] {
  const w = findTop(ctx, from, to, (t) => t.kind === 'word' && t.value === 'where');
  if (w < 0) return 'missing';
  const endAt = findTop(ctx, w + 1, to, (t) => t.kind === 'word' && WHERE_END.has(t.value));
  const end = endAt < 0 ? to : endAt;
  if (end <= w + 1) return 'missing';
  return isTrivialCondition(ctx, w + 1, end) ? 'trivial' : 'present';
}
