// COPY (PostgreSQL) and LOAD (both): data moving between the database and files or programs.
import { readName, scanRefs } from './refs.js';
import { Acc, type Ctx, findTopWord, isIdent, isOp, isWord, matchParen } from './tokens.js';
import type { StatementAnalysis } from './types.js';

/** Bare words that are values of a COPY option rather than the next option (HEADER true, FREEZE off…). */
const COPY_OPTION_VALUES = new Set(['true', 'false', 'on', 'off', 'match', '0', '1']);

export type Classify = (ctx: Ctx, from: number, to: number, depth: number) => StatementAnalysis;

function unknown(ctx: Ctx, acc: Acc, a: number, to: number): void {
  acc.category = 'unknown';
  acc.opaque = true;
  scanRefs(ctx, a, to, acc);
}

export function load(ctx: Ctx, acc: Acc, a: number, to: number): void {
  const { toks } = ctx;
  if (ctx.pg) {
    acc.category = 'admin';
    acc.risky.add('load-library');
    return;
  }
  if (!isWord(toks[a + 1], 'data') && !isWord(toks[a + 1], 'xml')) {
    acc.category = 'admin'; // LOAD INDEX INTO CACHE
    return;
  }
  acc.category = 'write';
  const infile = findTopWord(ctx, a + 1, to, 'infile');
  const local = findTopWord(ctx, a + 1, infile < 0 ? to : infile, 'local') >= 0;
  acc.risky.add(local ? 'load-data-local-infile' : 'load-data-infile');
  const table = findTopWord(ctx, a + 1, to, 'table');
  const n = table >= 0 ? readName(ctx, table + 1, to) : null;
  if (n) acc.written.add(n.name);
}

/** COPY [BINARY] {t [(cols)] | (query)} {FROM|TO} {STDIN|STDOUT|'file'|PROGRAM 'cmd'} [[WITH] opts] */
export function copy(ctx: Ctx, acc: Acc, a: number, to: number, depth: number, classify: Classify): void {
  const { toks } = ctx;
  let i = a + 1;
  let format: 'text' | 'csv' | 'binary' | undefined;
  if (isWord(toks[i], 'binary')) {
    format = 'binary';
    i++;
  }
  let table: string | undefined;
  let columns: string[] | undefined;
  let target: StatementAnalysis | undefined;
  if (isOp(toks[i], '(')) {
    const close = matchParen(ctx, i, to);
    target = classify(ctx, i + 1, close, depth + 1);
    i = close + 1;
  } else {
    const n = readName(ctx, i, to);
    if (!n) return unknown(ctx, acc, a, to);
    table = n.name;
    i = n.next;
    if (isOp(toks[i], '(')) {
      const close = matchParen(ctx, i, to);
      columns = [];
      for (let k = i + 1; k < close; k++) if (isIdent(toks[k])) columns.push(toks[k]!.value);
      i = close + 1;
    }
  }
  const dir = toks[i];
  if (!isWord(dir, 'from') && !isWord(dir, 'to')) return unknown(ctx, acc, a, to);
  const direction = dir!.value as 'from' | 'to';
  i++;
  let endpoint: 'stdio' | 'program' | 'file' = 'file';
  if (isWord(toks[i], 'program')) endpoint = 'program';
  else if (isWord(toks[i], 'stdin') || isWord(toks[i], 'stdout')) endpoint = 'stdio';
  // Options, new style `WITH (HEADER, DELIMITER '|')` or old style `WITH CSV HEADER DELIMITER '|'`: the masking
  // of COPY output must split rows exactly as the server wrote them.
  const options: Record<string, string | true> = {};
  const where0 = findTopWord(ctx, i + 1, to, 'where');
  const optEnd = where0 >= 0 ? where0 : to;
  for (let k = i + 1; k < optEnd; k++) {
    const t = toks[k]!;
    if (t.kind !== 'word') continue;
    const name = t.value.toLowerCase();
    if (name === 'with') continue;
    if (name === 'format' && (toks[k + 1]?.kind === 'word' || toks[k + 1]?.kind === 'string')) {
      const f = toks[k + 1]!.value.toLowerCase();
      if (f === 'csv' || f === 'binary' || f === 'text') format = f;
      else options.format = f;
      k++;
    } else if (name === 'csv' || name === 'binary') {
      format = name;
    } else if (name === 'force' && toks[k + 1]?.kind === 'word') {
      // old style FORCE QUOTE / FORCE NOT NULL col, …
      options['force_' + toks[k + 1]!.value.toLowerCase()] = true;
      k++;
    } else if (isOp(toks[k + 1], '(')) {
      // FORCE_QUOTE (a, b) / FORCE_NOT_NULL (a): a column list, not more options
      options[name] = true;
      k = matchParen(ctx, k + 1, to);
    } else {
      const v = toks[k + 1];
      if (v && (v.kind === 'string' || (v.kind === 'word' && COPY_OPTION_VALUES.has(v.value.toLowerCase())))) {
        options[name] = v.kind === 'string' ? v.value : v.value.toLowerCase();
        k++;
      } else {
        options[name] = true;
      }
    }
  }
  acc.copy = {
    query: target !== undefined,
    direction,
    endpoint,
    ...(table ? { table } : {}),
    ...(columns ? { columns } : {}),
    ...(format ? { format } : {}),
    ...(Object.keys(options).length ? { options } : {}),
  };
  acc.category = direction === 'from' ? 'write' : 'read';
  if (table) (direction === 'from' ? acc.written : acc.read).add(table);
  if (target) {
    acc.absorb(target);
    acc.inner.push(target);
    if (target.category !== 'read') acc.category = target.category === 'utility' ? 'read' : target.category;
  }
  if (endpoint === 'program') acc.risky.add('copy-program');
  if (endpoint === 'file') acc.risky.add('copy-file');
  const where = findTopWord(ctx, i, to, 'where');
  if (where >= 0) scanRefs(ctx, where, to, acc);
}
