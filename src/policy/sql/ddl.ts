// CREATE / ALTER / DROP / GRANT / REVOKE / RENAME: which kind of object, which category.
import { parseNameListLoose, readName, scanRefs } from './refs.js';
import { Acc, type Ctx, findTopWord, isIdent, isOp, isWord, wordIn } from './tokens.js';

const PRIVILEGE_OBJECTS = new Set(['role', 'user', 'group']);
const ROUTINES = new Set(['function', 'procedure', 'trigger', 'event']);
const CREATE_MODIFIERS = new Set([
  'or', 'replace', 'temp', 'temporary', 'unlogged', 'global', 'local', 'unique', 'recursive', 'materialized',
  'trusted', 'procedural', 'aggregate', 'constraint', 'default', 'online', 'offline', 'fulltext', 'spatial',
  'force', 'no', 'external', 'transient',
]);
const TABLE_LIKE = new Set(['table', 'view', 'sequence']);
const GRANT_OBJECT_TYPES = new Set([
  'schema', 'database', 'sequence', 'function', 'procedure', 'routine', 'language', 'large', 'foreign', 'type',
  'domain', 'tablespace', 'all', 'parameter', 'server',
]);

/** Index of the object word after CREATE/ALTER and their modifiers (DEFINER = u@h, ALGORITHM = x, SQL SECURITY x). */
function objectWord(ctx: Ctx, i: number, to: number): number {
  const { toks } = ctx;
  while (i < to) {
    const t = toks[i]!;
    if (isWord(t, 'definer') && isOp(toks[i + 1], '=')) {
      i += 2;
      if (isWord(toks[i], 'current_user')) {
        i++;
        if (isOp(toks[i], '(') && isOp(toks[i + 1], ')')) i += 2;
      } else {
        if (isIdent(toks[i]) || toks[i]?.kind === 'string') i++;
        if (isOp(toks[i], '@')) i += 2;
      }
    } else if (isWord(t, 'algorithm') && isOp(toks[i + 1], '=')) {
      i += 3;
    } else if (isWord(t, 'sql') && isWord(toks[i + 1], 'security')) {
      i += 3;
    } else if (wordIn(t, CREATE_MODIFIERS)) {
      i++;
    } else {
      return i;
    }
  }
  return i;
}

function skipIfExists(ctx: Ctx, i: number): number {
  const { toks } = ctx;
  if (isWord(toks[i], 'if') && isWord(toks[i + 1], 'not') && isWord(toks[i + 2], 'exists')) return i + 3;
  if (isWord(toks[i], 'if') && isWord(toks[i + 1], 'exists')) return i + 2;
  return i;
}

function untrustedLanguage(ctx: Ctx, from: number, to: number): boolean {
  const at = findTopWord(ctx, from, to, 'language');
  const lang = at >= 0 ? ctx.toks[at + 1] : undefined;
  if (!lang || (lang.kind !== 'word' && lang.kind !== 'string' && lang.kind !== 'qident')) return false;
  const v = lang.value.toLowerCase();
  return v === 'c' || v === 'internal' || (v.startsWith('pl') && v.endsWith('u'));
}

/** `AS '…'` / `AS $$…$$` (a string body), as opposed to BEGIN ATOMIC or RETURN expr. */
function hasStringBody(ctx: Ctx, from: number, to: number): boolean {
  const { toks } = ctx;
  for (let i = from; i < to; i++) {
    if (isWord(toks[i], 'as') && toks[i + 1]?.kind === 'string') return true;
  }
  return false;
}

export function classifyCreate(ctx: Ctx, acc: Acc, a: number, to: number): void {
  const { toks } = ctx;
  const k = objectWord(ctx, a + 1, to);
  const kind = toks[k]?.kind === 'word' ? toks[k]!.value : '';
  acc.category = 'ddl';
  if (PRIVILEGE_OBJECTS.has(kind) && !isWord(toks[k + 1], 'mapping')) {
    acc.category = 'privilege';
    return;
  }
  if (kind === 'rule' && ctx.pg) {
    // CREATE RULE … DO [ALSO|INSTEAD] <actions>: the actions run later, on other statements — unseen here.
    acc.opaque = true;
    scanRefs(ctx, k + 1, to, acc);
    return;
  }
  if (ROUTINES.has(kind)) {
    // The body is analysed separately (split.ts) when it is SQL-standard (BEGIN ATOMIC / MySQL compound).
    // A PostgreSQL body given as a string ($$…$$ or '…') runs later, when called, where a call looks like a
    // read: it cannot be judged here, so the statement is opaque and takes the connection's fallback.
    if (ctx.pg && (kind === 'function' || kind === 'procedure') && hasStringBody(ctx, k, to)) acc.opaque = true;
    if (kind === 'trigger') {
      const on = findTopWord(ctx, k, to, 'on');
      const n = on >= 0 ? readName(ctx, on + 1, to) : null;
      if (n) acc.written.add(n.name);
    }
    if ((kind === 'function' || kind === 'procedure') && untrustedLanguage(ctx, k, to)) acc.risky.add('untrusted-language');
    return;
  }
  if (kind === 'language' && untrustedLanguage(ctx, a, to)) acc.risky.add('untrusted-language');
  if (kind === 'index') {
    const on = findTopWord(ctx, k, to, 'on');
    let i = on + 1;
    if (isWord(toks[i], 'only')) i++;
    const n = on >= 0 ? readName(ctx, i, to) : null;
    if (n) acc.written.add(n.name);
    return;
  }
  if (TABLE_LIKE.has(kind)) {
    const n = readName(ctx, skipIfExists(ctx, k + 1), to);
    if (n) acc.written.add(n.name);
    const as = findTopWord(ctx, k + 1, to, 'as');
    if (as >= 0 && isWord(toks[as + 1], 'execute')) acc.opaque = true; // CREATE TABLE … AS EXECUTE
    scanRefs(ctx, k + 1, to, acc);
    return;
  }
  scanRefs(ctx, k + 1, to, acc);
}

export function classifyAlter(ctx: Ctx, acc: Acc, a: number, to: number): void {
  const { toks } = ctx;
  const k = objectWord(ctx, a + 1, to);
  const kind = toks[k]?.kind === 'word' ? toks[k]!.value : '';
  acc.category = 'ddl';
  if ((PRIVILEGE_OBJECTS.has(kind) && !isWord(toks[k + 1], 'mapping')) || (kind === 'default' && isWord(toks[k + 1], 'privileges'))) {
    acc.category = 'privilege';
  } else if (kind === 'system') {
    acc.category = 'admin';
    acc.risky.add('alter-system');
  } else if (kind === 'table') {
    let i = skipIfExists(ctx, k + 1);
    if (isWord(toks[i], 'only')) i++;
    const n = readName(ctx, i, to);
    if (n) acc.written.add(n.name);
  }
}

export function classifyDrop(ctx: Ctx, acc: Acc, a: number, to: number): void {
  const { toks } = ctx;
  let k = a + 1;
  while (isWord(toks[k], 'temporary') || isWord(toks[k], 'materialized') || isWord(toks[k], 'foreign')) k++;
  const kind = toks[k]?.kind === 'word' ? toks[k]!.value : '';
  if (!ctx.pg && kind === 'prepare') {
    // MySQL DROP PREPARE is DEALLOCATE PREPARE
    acc.verb = 'deallocate';
    acc.category = 'utility';
    return;
  }
  acc.category = PRIVILEGE_OBJECTS.has(kind) && !isWord(toks[k + 1], 'mapping') ? 'privilege' : 'ddl';
  if (TABLE_LIKE.has(kind) || kind === 'tables') {
    parseNameListLoose(ctx, skipIfExists(ctx, k + 1), to, acc.written, new Set(['cascade', 'restrict']));
  } else if (kind === 'index' && !ctx.pg) {
    const on = findTopWord(ctx, k, to, 'on');
    const n = on >= 0 ? readName(ctx, on + 1, to) : null;
    if (n) acc.written.add(n.name);
  } else if (kind === 'trigger' && ctx.pg) {
    const on = findTopWord(ctx, k, to, 'on');
    const n = on >= 0 ? readName(ctx, on + 1, to) : null;
    if (n) acc.written.add(n.name);
  }
}

/** GRANT/REVOKE: privilege; objects of `ON [TABLE] a, b` are reported as written. */
export function classifyGrant(ctx: Ctx, acc: Acc, a: number, to: number): void {
  const { toks } = ctx;
  acc.category = 'privilege';
  const on = findTopWord(ctx, a + 1, to, 'on');
  if (on < 0) return;
  let i = on + 1;
  if (isWord(toks[i], 'table')) i++;
  else if (wordIn(toks[i], GRANT_OBJECT_TYPES)) return;
  parseNameListLoose(ctx, i, to, acc.written, new Set(['to', 'from']));
}

/** MySQL RENAME TABLE a TO b, c TO d / RENAME USER. */
export function classifyRename(ctx: Ctx, acc: Acc, a: number, to: number): void {
  const { toks } = ctx;
  if (isWord(toks[a + 1], 'user')) {
    acc.category = 'privilege';
    return;
  }
  acc.category = 'ddl';
  let expect = true;
  for (let i = a + 2; i < to; i++) {
    const t = toks[i]!;
    if (isOp(t, ',') || isWord(t, 'to')) {
      expect = true;
      continue;
    }
    if (!expect) continue;
    const n = readName(ctx, i, to);
    if (n) {
      acc.written.add(n.name);
      i = n.next - 1;
    }
    expect = false;
  }
}
