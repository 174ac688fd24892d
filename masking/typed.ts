// Type-valid replacements: a masked cell of a non-text type must still be a value of its type, or
// drivers that parse the text format (ints, dates, uuids, JSON…) fail on "[REDACTED]".
//
// Values are PostgreSQL text-format literals that PostgreSQL itself would print (and that
// protocols/postgres/typed.ts can encode in binary format). MySQL type names are understood too
// where their text form is the same (tinyint, mediumint, datetime, year…).
//
//   strategy   numbers   bool   date / timestamp / timestamptz            uuid         json / jsonb
//   redact     0         f      1970-01-01 / 1970-01-01 00:00:00[+00]      000…000      "[REDACTED]"
//   replace    0         f      as redact                                  as redact    same shape, leaves replaced
//   partial    last 4 digits of a long integer (else 0); dates keep their year; uuids their last 4 hex digits;
//              json keeps its shape with each string leaf partially masked
//   hash       a number / date / timestamp / uuid (version 8) / address derived from the keyed HMAC-SHA-256
//              of the original value, so equal values stay equal (joins, GROUP BY) and the type stays valid
//   null       SQL NULL (always valid)
//
// Booleans are `f` under every strategy but null: any deterministic image of a two-valued type would
// reveal it. Arrays become `{}`. Unknown types give NULL, the only value valid for every type.
import type { MaskingProfileConfig } from '../src/config/schema.js';
import { createStrategy, guessKind, partial, REDACTED, replace, type Strategy } from './strategies.js';

type MaskWith = MaskingProfileConfig['with'];

export type TypeKind =
  | 'string' | 'int1' | 'int2' | 'int3' | 'int4' | 'int8' | 'oid' | 'numeric' | 'float4' | 'float8' | 'bool' | 'date'
  | 'time' | 'timetz' | 'timestamp' | 'timestamptz' | 'interval' | 'uuid' | 'json' | 'inet' | 'cidr' | 'macaddr'
  | 'bytea' | 'year' | 'array';

const KINDS: ReadonlyMap<string, TypeKind> = new Map(
  Object.entries({
    string: ['text', 'varchar', 'character varying', 'bpchar', 'char', 'character', 'name', 'citext', 'xml', 'unknown',
      'tinytext', 'mediumtext', 'longtext', 'enum', 'set', 'blob', 'tinyblob', 'mediumblob', 'longblob', 'binary', 'varbinary'],
    int1: ['tinyint'],
    int2: ['int2', 'smallint', 'smallserial', 'serial2'],
    int3: ['mediumint'],
    int4: ['int4', 'integer', 'int', 'serial', 'serial4'],
    int8: ['int8', 'bigint', 'bigserial', 'serial8'],
    oid: ['oid'],
    numeric: ['numeric', 'decimal', 'dec'],
    float4: ['float4', 'real', 'float'],
    float8: ['float8', 'double precision', 'double'],
    bool: ['bool', 'boolean'],
    date: ['date'],
    time: ['time', 'time without time zone'],
    timetz: ['timetz', 'time with time zone'],
    timestamp: ['timestamp', 'timestamp without time zone', 'datetime'],
    timestamptz: ['timestamptz', 'timestamp with time zone'],
    interval: ['interval'],
    uuid: ['uuid'],
    json: ['json', 'jsonb'],
    inet: ['inet'],
    cidr: ['cidr'],
    macaddr: ['macaddr'],
    bytea: ['bytea'],
    year: ['year'],
  }).flatMap(([kind, names]) => names.map((n) => [n, kind as TypeKind] as const)),
);

/** The kind of a protocol type name ('int4', 'timestamp with time zone', '_text', 'varchar(20)'…), or undefined. */
export function typeKindOf(typeName: string | undefined): TypeKind | undefined {
  if (typeName === undefined || typeName === '') return undefined;
  let t = typeName.trim().toLowerCase();
  if (t.startsWith('pg_catalog.')) t = t.slice(11);
  if (t.startsWith('"') && t.endsWith('"')) t = t.slice(1, -1);
  if (t.startsWith('_') || t.endsWith('[]')) return 'array';
  t = t.replace(/\([^)]*\)/g, '').replace(/\b(unsigned|zerofill)\b/g, '').replace(/\s+/g, ' ').trim();
  return KINDS.get(t);
}

/** Kinds whose text form is free text: any strategy output is valid. */
export function isStringKind(kind: TypeKind | undefined): boolean {
  return kind === 'string';
}

const ZERO: Readonly<Record<Exclude<TypeKind, 'string' | 'json'>, string>> = {
  int1: '0', int2: '0', int3: '0', int4: '0', int8: '0', oid: '0', numeric: '0', float4: '0', float8: '0',
  bool: 'f',
  date: '1970-01-01',
  time: '00:00:00',
  timetz: '00:00:00+00',
  timestamp: '1970-01-01 00:00:00',
  timestamptz: '1970-01-01 00:00:00+00',
  interval: '00:00:00',
  uuid: '00000000-0000-0000-0000-000000000000',
  inet: '0.0.0.0',
  cidr: '0.0.0.0/32',
  macaddr: '00:00:00:00:00:00',
  bytea: '\\x',
  year: '1970',
  array: '{}',
};

const JSON_REDACTED = JSON.stringify(REDACTED);
const DAYS = 36_525; // hash-derived dates fall in 1970-01-01 … 2069-12-31
const DAY_MS = 86_400_000;

const byName = new Map<MaskWith, Strategy>();

/**
 * A valid text-format value of `typeName` replacing `original` (its text form), or null (SQL NULL)
 * for the `null` strategy and for types this module does not know. String types get the strategy's
 * ordinary text result. `strategy` is a profile's Strategy (carrying its hashKey) or a strategy name
 * (`hash` by name uses the per-process key; see strategies.ts).
 */
export function typedReplacement(typeName: string, strategy: MaskWith | Strategy, original: string): string | null {
  let s: Strategy;
  if (typeof strategy === 'string') {
    s = byName.get(strategy) ?? createStrategy(strategy);
    byName.set(strategy, s);
  } else {
    s = strategy;
  }
  const kind = typeKindOf(typeName);
  if (kind === undefined || s.name === 'null') return null;
  if (kind === 'string') {
    const b = Buffer.from(original, 'utf8');
    return s.textCell(original, b, 0, b.length);
  }
  return typedValue(kind, s, original, original);
}

/**
 * The engine's form: `text` is the original's text form when known (null for binary-format cells),
 * `data` what a hash digests (the cell's bytes). Never called with kind 'string'.
 */
export function typedValue(kind: TypeKind, s: Strategy, text: string | null, data: string | Buffer): string | null {
  switch (s.name) {
    case 'null':
      return null;
    case 'hash':
      return hashed(kind, (s.digest ?? defaultDigest)(data));
    case 'partial':
      return partialTyped(kind, text);
    case 'replace':
      if (kind === 'json') return text === null ? JSON_REDACTED : (mapJson(text, (v) => replace(guessKind(v), v)) ?? JSON_REDACTED);
      if (kind === 'inet') return '192.0.2.1';
      if (kind === 'cidr') return '192.0.2.0/24';
      return zero(kind);
    default:
      return zero(kind);
  }
}

function zero(kind: TypeKind): string {
  return kind === 'json' || kind === 'string' ? JSON_REDACTED : ZERO[kind];
}

function defaultDigest(data: string | Buffer): Buffer {
  const s = byName.get('hash') ?? createStrategy('hash');
  byName.set('hash', s);
  return s.digest!(data);
}

function partialTyped(kind: TypeKind, text: string | null): string {
  if (text === null) return zero(kind);
  const t = text.trim();
  switch (kind) {
    case 'int4': case 'int8': case 'numeric': {
      // a long integer (an account or card number kept as a number) keeps its last 4 digits
      const m = /^-?(\d{8,})$/.exec(t);
      return m ? String(Number(m[1].slice(-4))) : '0';
    }
    case 'date': case 'timestamp': case 'timestamptz': {
      const m = /^(\d{4})-\d\d-\d\d/.exec(t);
      if (!m || / BC$/.test(t)) return zero(kind);
      const day = `${m[1]}-01-01`;
      return kind === 'date' ? day : kind === 'timestamp' ? `${day} 00:00:00` : `${day} 00:00:00+00`;
    }
    case 'uuid':
      return /^[0-9a-fA-F-]{32,36}$/.test(t) ? `00000000-0000-0000-0000-00000000${t.slice(-4).toLowerCase()}` : zero(kind);
    case 'json':
      return mapJson(t, (v) => partial(guessKind(v), v)) ?? JSON_REDACTED;
    default:
      return zero(kind);
  }
}

function hashed(kind: TypeKind, d: Buffer): string {
  switch (kind) {
    case 'int1': return String(d[0] & 0x7f);
    case 'int2': return String(d.readUInt16BE(0) & 0x7fff);
    case 'int3': return String(d.readUInt32BE(0) & 0x7fffff);
    case 'int4': case 'oid': case 'numeric': case 'float8': return String(d.readUInt32BE(0) & 0x7fffffff);
    case 'int8': return (d.readBigUInt64BE(0) & 0x7fffffffffffffffn).toString();
    case 'float4': return String(d.readUInt32BE(0) & 0xffffff); // exact in a float4
    case 'bool': return 'f';
    case 'date': return isoDate(d.readUInt32BE(0) % DAYS);
    case 'timestamp': return timestampOf(d.readUInt32BE(0) % (DAYS * 86_400));
    case 'timestamptz': return timestampOf(d.readUInt32BE(0) % (DAYS * 86_400)) + '+00';
    case 'time': case 'interval': return timeOf(d.readUInt32BE(0) % 86_400);
    case 'timetz': return timeOf(d.readUInt32BE(0) % 86_400) + '+00';
    case 'uuid': {
      const b = Buffer.from(d.subarray(0, 16));
      b[6] = (b[6] & 0x0f) | 0x80; // version 8 (custom), RFC 9562
      b[8] = (b[8] & 0x3f) | 0x80; // variant 10
      const h = b.toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
    case 'inet': return `10.${d[0]}.${d[1]}.${d[2]}`;
    case 'cidr': return `10.${d[0]}.${d[1]}.${d[2]}/32`;
    case 'macaddr': return ['02', ...[...d.subarray(0, 5)].map((x) => x.toString(16).padStart(2, '0'))].join(':');
    case 'bytea': return '\\x' + d.toString('hex', 0, 8);
    case 'year': return String(1901 + (d[0] % 255));
    case 'json': return JSON.stringify('hash:' + d.toString('hex', 0, 8));
    case 'array': return '{}';
    case 'string': return 'hash:' + d.toString('hex', 0, 8);
  }
}

function isoDate(days: number): string {
  return new Date(days * DAY_MS).toISOString().slice(0, 10);
}

function timeOf(secs: number): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(Math.floor(secs / 3600))}:${p(Math.floor(secs / 60) % 60)}:${p(secs % 60)}`;
}

function timestampOf(secs: number): string {
  return `${isoDate(Math.floor(secs / 86_400))} ${timeOf(secs % 86_400)}`;
}

/**
 * A JSON document with the same shape: keys kept, string leaves through `leaf`, numbers 0, booleans
 * false, nulls kept. undefined when `text` is not JSON.
 */
export function mapJson(text: string, leaf: (value: string) => string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return leaf(v);
    if (typeof v === 'number') return 0;
    if (typeof v === 'boolean') return false;
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      // no prototype: a "__proto__" key stays an ordinary key
      const out = Object.create(null) as Record<string, unknown>;
      for (const [k, x] of Object.entries(v)) out[k] = walk(x);
      return out;
    }
    return v;
  };
  return JSON.stringify(walk(doc));
}
