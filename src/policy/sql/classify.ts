// One statement's verb, category and effects. The verb table must cover what ordinary tools send
// (psycopg cursors, pg_dump, mariadb-dump, ORMs), or those land on the connection's fallback.
import { copy, load } from './copy.js';
import { classifyAlter, classifyCreate, classifyDrop, classifyGrant, classifyRename } from './ddl.js';
import { parseNameListLoose, parseTableList, readName, scanRefs, whereOf } from './refs.js';
import { handlerStatement } from './split.js';
import { Acc, type Ctx, findTop, findTopWord, isIdent, isOp, isWord, matchParen, normalize, wordIn } from './tokens.js';
import type { SqlCategory, StatementAnalysis } from './types.js';

const SIMPLE: ReadonlyMap<string, SqlCategory> = new Map<string, SqlCategory>([
  ...['begin', 'commit', 'rollback', 'savepoint', 'release', 'end', 'abort', 'xa'].map((v) => [v, 'transaction'] as const),
  ...['discard', 'listen', 'unlisten', 'notify', 'deallocate', 'fetch', 'move', 'close', 'use', 'unlock', 'help',
    'get', 'signal', 'resignal', 'open', 'leave', 'iterate'].map((v) => [v, 'utility'] as const),
  ...['checkpoint', 'vacuum', 'cluster', 'reindex', 'kill', 'flush', 'optimize', 'repair', 'check', 'checksum',
    'install', 'uninstall', 'purge', 'shutdown', 'restart', 'stop', 'change', 'binlog', 'cache', 'clone', 'backup'].map((v) => [v, 'admin'] as const),
  ...['comment', 'security', 'import'].map((v) => [v, 'ddl'] as const),
]);

/** Every verb classifyRange can report (rules naming anything else get a config warning). */
export const KNOWN_VERBS: ReadonlySet<string> = new Set([
  ...SIMPLE.keys(), 'select', 'values', 'return', 'table', 'insert', 'replace', 'update', 'delete', 'merge',
  'truncate', 'explain', 'describe', 'desc', 'analyze', 'analyse', 'prepare', 'execute', 'call', 'do', 'declare', 'set',
  'reset', 'show', 'lock', 'start', 'load', 'copy', 'create', 'alter', 'drop', 'grant', 'revoke', 'rename',
  'reassign', 'refresh', 'handler', 'compound', 'empty', 'if', 'elseif', 'when', 'while', 'for', 'until', 'case',
]);

/** Words that can start the statement EXPLAIN / PREPARE / DECLARE / COPY wrap. */
const INNER_START = new Set(['select', 'insert', 'update', 'delete', 'merge', 'values', 'table', 'with', 'execute', 'create', 'declare', 'replace']);
const WRITE_VERBS = new Set(['insert', 'update', 'delete', 'merge', 'replace']);
const MAX_DEPTH = 24;

export function emptyStatement(): StatementAnalysis {
  return { verb: 'empty', category: 'utility', opaque: false, tables: { read: [], written: [] }, where: 'n/a', functions: [], risky: [], text: '' };
}

export function classifyRange(ctx: Ctx, from: number, to: number, depth = 0): StatementAnalysis {
  const { toks } = ctx;
  if (from >= to) return emptyStatement();
  let a = from;
  while (a < to && isOp(toks[a], '(')) a++; // (SELECT …) UNION (SELECT …)
  const first = toks[a];
  const acc = new Acc(first?.kind === 'word' ? first.value : normalize(ctx, a, Math.min(a + 1, to)));
  if (first?.kind !== 'word' || depth > MAX_DEPTH) {
    acc.opaque = true;
    scanRefs(ctx, from, to, acc);
    return acc.build(ctx, from, to);
  }
  classifyVerb(ctx, acc, a, to, depth);
  return acc.build(ctx, from, to);
}

function classifyVerb(ctx: Ctx, acc: Acc, a: number, to: number, depth: number): void {
  const { toks } = ctx;
  const verb = acc.verb;
  const next = toks[a + 1];
  const simple = SIMPLE.get(verb);
  if (simple) {
    acc.category = simple;
    if (verb === 'end' && !ctx.pg) acc.category = 'unknown'; // a stray END is no MySQL statement
    if (acc.category === 'unknown') acc.opaque = true;
    return;
  }
  switch (verb) {
    case 'select':
      acc.category = 'read';
      selectInto(ctx, acc, a, to);
      return scanRefs(ctx, a, to, acc);
    case 'values':
    case 'return':
      acc.category = 'read';
      return scanRefs(ctx, a, to, acc);
    case 'table': {
      acc.category = 'read';
      const n = readName(ctx, a + 1, to);
      if (n) acc.read.add(n.name);
      return;
    }
    case 'insert':
    case 'replace':
      return insertLike(ctx, acc, a, to);
    case 'update':
      return update(ctx, acc, a, to);
    case 'delete':
      return del(ctx, acc, a, to);
    case 'merge':
      return merge(ctx, acc, a, to);
    case 'truncate': {
      acc.category = 'write';
      let i = a + 1;
      if (isWord(toks[i], 'table')) i++;
      parseNameListLoose(ctx, i, to, acc.written, new Set(['restart', 'continue', 'cascade', 'restrict']));
      return;
    }
    case 'with':
      return withQuery(ctx, acc, a, to, depth);
    case 'explain':
    case 'describe':
    case 'desc':
      return explain(ctx, acc, a, to, depth);
    case 'analyze':
    case 'analyse': {
      // MariaDB ANALYZE [FORMAT=x] <statement> runs the statement; otherwise table statistics
      const i = isWord(next, 'format') && isOp(toks[a + 2], '=') ? a + 4 : a + 1;
      if (!ctx.pg && wordIn(toks[i], INNER_START) && !isWord(toks[i], 'table')) return explainTarget(ctx, acc, i, to, depth, true);
      acc.category = 'admin';
      return;
    }
    case 'prepare':
      return prepare(ctx, acc, a, to, depth);
    case 'execute':
    case 'call':
      acc.category = 'code';
      acc.opaque = true;
      return scanRefs(ctx, a, to, acc);
    case 'do':
      if (ctx.pg) {
        acc.category = 'code';
        acc.opaque = true;
        return;
      }
      acc.category = 'read'; // MySQL DO expr: expressions only, all visible
      return scanRefs(ctx, a, to, acc);
    case 'declare':
      return declare(ctx, acc, a, to, depth);
    case 'set':
      return set(ctx, acc, a, to, depth);
    case 'reset':
      if (isWord(next, 'role') || isWord(next, 'session')) acc.category = 'privilege';
      else if (!ctx.pg && !isWord(next, 'all')) acc.category = 'admin'; // RESET MASTER / REPLICA / QUERY CACHE
      else acc.category = 'utility';
      return;
    case 'show':
      acc.category = 'utility';
      return scanRefs(ctx, a, to, acc);
    case 'lock':
      if (isWord(next, 'instance')) {
        acc.category = 'admin';
        return;
      }
      acc.category = 'utility';
      parseNameListLoose(ctx, isWord(next, 'table') || isWord(next, 'tables') ? a + 2 : a + 1, to, acc.read, new Set(['in', 'nowait']));
      return;
    case 'start':
      acc.category = isWord(next, 'transaction') ? 'transaction' : 'admin';
      return;
    case 'load':
      return load(ctx, acc, a, to);
    case 'copy':
      return copy(ctx, acc, a, to, depth, classifyRange);
    case 'create':
      return classifyCreate(ctx, acc, a, to);
    case 'alter':
      return classifyAlter(ctx, acc, a, to);
    case 'drop':
      return classifyDrop(ctx, acc, a, to);
    case 'grant':
    case 'revoke':
      return classifyGrant(ctx, acc, a, to);
    case 'rename':
      return classifyRename(ctx, acc, a, to);
    case 'reassign':
      acc.category = 'privilege';
      return;
    case 'refresh': {
      acc.category = 'write';
      const v = findTopWord(ctx, a + 1, to, 'view');
      let i = v + 1;
      if (isWord(toks[i], 'concurrently')) i++;
      const n = v >= 0 ? readName(ctx, i, to) : null;
      if (n) acc.written.add(n.name);
      return;
    }
    case 'handler': {
      acc.category = 'read';
      const n = readName(ctx, a + 1, to);
      if (n) acc.read.add(n.name);
      return;
    }
    default:
      acc.category = 'unknown';
      acc.opaque = true;
      scanRefs(ctx, a, to, acc);
  }
}

// PostgreSQL SELECT … INTO t creates a table; MySQL INTO OUTFILE/DUMPFILE writes a server file.
function selectInto(ctx: Ctx, acc: Acc, a: number, to: number): void {
  const into = findTopWord(ctx, a + 1, to, 'into');
  if (into < 0) return;
  const { toks } = ctx;
  if (!ctx.pg) {
    if (isWord(toks[into + 1], 'outfile')) acc.risky.add('into-outfile');
    else if (isWord(toks[into + 1], 'dumpfile')) acc.risky.add('into-dumpfile');
    return;
  }
  let i = into + 1;
  while (wordIn(toks[i], new Set(['temporary', 'temp', 'unlogged', 'table', 'global', 'local']))) i++;
  const n = readName(ctx, i, to);
  if (n) acc.written.add(n.name);
  acc.category = 'ddl';
}

function insertLike(ctx: Ctx, acc: Acc, a: number, to: number): void {
  const { toks } = ctx;
  acc.category = 'write';
  let i = a + 1;
  while (wordIn(toks[i], new Set(['low_priority', 'delayed', 'high_priority', 'ignore']))) i++;
  if (isWord(toks[i], 'into')) i++;
  const n = readName(ctx, i, to);
  if (n) acc.written.add(n.name);
  scanRefs(ctx, a, to, acc);
}

function update(ctx: Ctx, acc: Acc, a: number, to: number): void {
  const { toks } = ctx;
  acc.category = 'write';
  const setAt = findTopWord(ctx, a + 1, to, 'set');
  const end = setAt < 0 ? to : setAt;
  // every table of the (MySQL multi-table) update list may be written
  let expect = true;
  for (let i = a + 1; i < end; i++) {
    const t = toks[i]!;
    if (isOp(t, '(')) {
      i = matchParen(ctx, i, end);
      expect = false;
      continue;
    }
    if (isOp(t, ',') || isWord(t, 'join')) {
      if (isWord(t, 'join')) acc.handled.add(i);
      expect = true;
      continue;
    }
    if (wordIn(t, new Set(['low_priority', 'ignore', 'only']))) continue;
    if (!expect) continue;
    const n = readName(ctx, i, end);
    if (n) {
      acc.written.add(n.name);
      i = n.next - 1;
    }
    expect = false;
  }
  acc.where = whereOf(ctx, a, to);
  scanRefs(ctx, a, to, acc);
}

function del(ctx: Ctx, acc: Acc, a: number, to: number): void {
  const { toks } = ctx;
  acc.category = 'write';
  let i = a + 1;
  while (wordIn(toks[i], new Set(['low_priority', 'quick', 'ignore']))) i++;
  if (isWord(toks[i], 'from')) {
    acc.handled.add(i);
    const stop = parseTableList(ctx, i + 1, to, acc.written);
    if (isWord(toks[stop], 'using')) parseTableList(ctx, stop + 1, to, acc.read);
  } else {
    // MySQL DELETE t1, t2 FROM t1 JOIN t2 …
    const fromAt = findTopWord(ctx, i, to, 'from');
    parseNameListLoose(ctx, i, fromAt < 0 ? to : fromAt, acc.written);
  }
  acc.where = whereOf(ctx, a, to);
  scanRefs(ctx, a, to, acc);
}

function merge(ctx: Ctx, acc: Acc, a: number, to: number): void {
  const { toks } = ctx;
  acc.category = 'write';
  const i = isWord(toks[a + 1], 'into') ? a + 2 : a + 1;
  const n = readName(ctx, i, to);
  if (n) acc.written.add(n.name);
  const using = findTopWord(ctx, i, to, 'using');
  if (using >= 0) parseTableList(ctx, using + 1, to, acc.read);
  scanRefs(ctx, a, to, acc);
}

/** WITH [RECURSIVE] name [(cols)] AS [[NOT] MATERIALIZED] (body), … main */
function withQuery(ctx: Ctx, acc: Acc, a: number, to: number, depth: number): void {
  const { toks } = ctx;
  let i = a + 1;
  if (isWord(toks[i], 'recursive')) i++;
  const names: string[] = [];
  const bodies: StatementAnalysis[] = [];
  for (;;) {
    if (!isIdent(toks[i])) return unknownShape(ctx, acc, a, to);
    names.push(toks[i]!.value);
    i++;
    if (isOp(toks[i], '(')) i = matchParen(ctx, i, to) + 1;
    if (!isWord(toks[i], 'as')) return unknownShape(ctx, acc, a, to);
    i++;
    if (isWord(toks[i], 'not')) i++;
    if (isWord(toks[i], 'materialized')) i++;
    if (!isOp(toks[i], '(')) return unknownShape(ctx, acc, a, to);
    const close = matchParen(ctx, i, to);
    bodies.push(classifyRange(ctx, i + 1, close, depth + 1));
    i = close + 1;
    // SEARCH … SET col / CYCLE … SET col USING path
    while (isWord(toks[i], 'search') || isWord(toks[i], 'cycle')) {
      const stop = findTop(ctx, i, to, (t) => t.kind === 'op' ? t.value === ',' : t.kind === 'word' && INNER_START.has(t.value));
      i = stop < 0 ? to : stop;
    }
    if (!isOp(toks[i], ',')) break;
    i++;
  }
  const main = classifyRange(ctx, i, to, depth + 1);
  acc.verb = main.verb;
  acc.category = main.category;
  acc.where = main.where;
  if (main.copy) acc.copy = main.copy;
  acc.absorb(main);
  if (main.inner) acc.inner.push(...main.inner);
  let modifying = false;
  for (const body of bodies) {
    acc.absorb(body);
    acc.inner.push(body);
    if (body.category === 'write' || WRITE_VERBS.has(body.verb) || body.risky.includes('data-modifying-cte')) modifying = true;
  }
  if (modifying) {
    acc.risky.add('data-modifying-cte');
    if (acc.category === 'read' || acc.category === 'utility') acc.category = 'write';
  }
  for (const n of names) acc.read.delete(n);
}

function unknownShape(ctx: Ctx, acc: Acc, a: number, to: number): void {
  acc.category = 'unknown';
  acc.opaque = true;
  scanRefs(ctx, a, to, acc);
}

/** EXPLAIN [ANALYZE] [VERBOSE] stmt, EXPLAIN (opts) stmt, MySQL EXPLAIN/DESCRIBE [FORMAT=x] stmt | table. */
function explain(ctx: Ctx, acc: Acc, a: number, to: number, depth: number): void {
  const { toks } = ctx;
  let i = a + 1;
  let analyze = false;
  if (isOp(toks[i], '(')) {
    const close = matchParen(ctx, i, to);
    for (let k = i + 1; k < close; k++) {
      if (!isWord(toks[k], 'analyze') && !isWord(toks[k], 'analyse')) continue;
      const v = toks[k + 1];
      const off = v && (v.kind === 'word' || v.kind === 'number' || v.kind === 'string') && ['false', 'off', '0', 'no'].includes(v.value.toLowerCase());
      if (!off) analyze = true;
    }
    i = close + 1;
  }
  for (;;) {
    const t = toks[i];
    if (isWord(t, 'analyze') || isWord(t, 'analyse')) analyze = true;
    if (wordIn(t, new Set(['analyze', 'analyse', 'verbose', 'extended', 'partitions']))) i++;
    else if (isWord(t, 'format') && isOp(toks[i + 1], '=')) i += 3;
    else break;
  }
  if (wordIn(toks[i], INNER_START) || isOp(toks[i], '(')) return explainTarget(ctx, acc, i, to, depth, analyze);
  acc.category = 'utility'; // MySQL DESCRIBE t / EXPLAIN t / EXPLAIN FOR CONNECTION n
  const n = isWord(toks[i], 'for') ? null : readName(ctx, i, to);
  if (n) acc.read.add(n.name);
}

function explainTarget(ctx: Ctx, acc: Acc, i: number, to: number, depth: number, analyze: boolean): void {
  const target = classifyRange(ctx, i, to, depth + 1);
  if (!analyze) {
    // planned, not run: only the tables it would touch, as reads
    acc.category = 'read';
    acc.absorb(target, true);
    acc.risky.clear();
    acc.opaque = false;
    return;
  }
  acc.absorb(target);
  acc.inner.push(target);
  acc.category = target.category === 'read' || target.category === 'utility' ? 'read' : target.category;
  if (target.category === 'write' || WRITE_VERBS.has(target.verb)) acc.risky.add('explain-analyze-write');
}

function prepare(ctx: Ctx, acc: Acc, a: number, to: number, depth: number): void {
  const { toks } = ctx;
  if (isWord(toks[a + 1], 'transaction')) {
    acc.category = 'transaction'; // two-phase commit
    return;
  }
  if (!ctx.pg) {
    // PREPARE s FROM '…' | @var: runs later through EXECUTE; treated as dynamic SQL
    acc.category = 'code';
    acc.opaque = true;
    return;
  }
  let i = a + 2;
  if (isOp(toks[i], '(')) i = matchParen(ctx, i, to) + 1;
  if (!isWord(toks[i], 'as')) return unknownShape(ctx, acc, a, to);
  const target = classifyRange(ctx, i + 1, to, depth + 1);
  acc.category = target.category;
  acc.where = target.where;
  acc.absorb(target);
  acc.inner.push(target);
}

/** DECLARE c CURSOR FOR query (the query runs on FETCH); DECLARE … HANDLER FOR cond stmt; variables. */
function declare(ctx: Ctx, acc: Acc, a: number, to: number, depth: number): void {
  const { toks } = ctx;
  acc.category = 'utility';
  const cursor = findTopWord(ctx, a + 1, to, 'cursor', 'handler');
  const forAt = cursor >= 0 ? findTopWord(ctx, cursor + 1, to, 'for') : -1;
  if (forAt < 0) return scanRefs(ctx, a, to, acc);
  const start = isWord(toks[cursor], 'handler') ? handlerStatement(ctx, a, to) : forAt + 1;
  if (start < 0) return scanRefs(ctx, a, to, acc);
  const target = classifyRange(ctx, start, to, depth + 1);
  acc.absorb(target, isWord(toks[cursor], 'cursor'));
  acc.inner.push(target);
}

function set(ctx: Ctx, acc: Acc, a: number, to: number, depth: number): void {
  const { toks } = ctx;
  let i = a + 1;
  const next = toks[i];
  if (!ctx.pg && isWord(next, 'statement')) {
    // MariaDB SET STATEMENT var=val [, …] FOR <statement>: judged as the statement itself
    const forAt = findTopWord(ctx, i + 1, to, 'for');
    if (forAt < 0) return unknownShape(ctx, acc, a, to);
    const target = classifyRange(ctx, forAt + 1, to, depth + 1);
    acc.verb = target.verb;
    acc.category = target.category;
    acc.where = target.where;
    acc.absorb(target);
    if (target.inner) acc.inner.push(...target.inner);
    return scanRefs(ctx, a, forAt, acc);
  }
  acc.category = 'utility';
  if (isWord(next, 'global') || isWord(next, 'persist') || isWord(next, 'persist_only')) acc.category = 'admin';
  if (isOp(next, '@') && isOp(toks[i + 1], '@') && (isWord(toks[i + 2], 'global') || isWord(toks[i + 2], 'persist'))) acc.category = 'admin';
  while (isWord(toks[i], 'session') || isWord(toks[i], 'local')) i++;
  const v = toks[i];
  if (wordIn(v, new Set(['role', 'session_authorization', 'authorization', 'password'])) || (isWord(v, 'default') && isWord(toks[i + 1], 'role'))) {
    acc.category = 'privilege';
  } else if (isWord(v, 'transaction') || isWord(v, 'characteristics')) {
    acc.category = 'transaction';
  }
  // MySQL variables that hold SQL the server runs later (every login, replica start, server start): what they
  // will run cannot be judged now — opaque, the connection's fallback decides.
  if (!ctx.pg) {
    for (let k = a + 1; k < to; k++) {
      if (wordIn(toks[k], STORED_SQL_VARIABLES)) {
        acc.opaque = true;
        break;
      }
    }
  }
  scanRefs(ctx, a, to, acc);
}

const STORED_SQL_VARIABLES = new Set(['init_connect', 'init_slave', 'init_replica', 'init_file']);
