import { describe, expect, it } from 'vitest';
import { createStrategy, REDACTED } from '../../../masking/strategies.js';
import { mapJson, typedReplacement, typeKindOf } from '../../../masking/typed.js';
import { encodeBinary } from '../../../protocols/postgres/typed.js';

const OIDS: Record<string, number> = { int2: 21, int4: 23, int8: 20, float4: 700, float8: 701, bool: 16, date: 1082, timestamp: 1114, timestamptz: 1184, uuid: 2950 };

// What PostgreSQL accepts as text input for each type (a conservative subset of its parsers).
const VALID: Record<string, RegExp> = {
  int2: /^-?\d{1,5}$/, int4: /^-?\d{1,10}$/, int8: /^-?\d{1,19}$/, numeric: /^-?\d+(\.\d+)?$/, float4: /^-?\d+(\.\d+)?$/, float8: /^-?\d+(\.\d+)?$/,
  bool: /^[tf]$/, date: /^\d{4}-\d\d-\d\d$/, timestamp: /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/, timestamptz: /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00$/,
  time: /^\d\d:\d\d:\d\d$/, timetz: /^\d\d:\d\d:\d\d\+00$/, interval: /^\d\d:\d\d:\d\d$/,
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, inet: /^\d+\.\d+\.\d+\.\d+$/, cidr: /^\d+\.\d+\.\d+\.\d+\/\d+$/,
  macaddr: /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, bytea: /^\\x([0-9a-f]{2})*$/, _text: /^\{\}$/,
};
const RANGE: Record<string, [bigint, bigint]> = { int2: [-32768n, 32767n], int4: [-2147483648n, 2147483647n], int8: [-(2n ** 63n), 2n ** 63n - 1n] };
const ORIGINAL: Record<string, string> = {
  int2: '12', int4: '123456789', int8: '4111111111111111', numeric: '12.50', float4: '1.5', float8: '2.25', bool: 't', date: '1985-07-13',
  timestamp: '1985-07-13 10:11:12', timestamptz: '1985-07-13 10:11:12+02', time: '10:11:12', timetz: '10:11:12+02', interval: '1 day',
  uuid: '6ba7b810-9dad-11d1-80b4-00c04fd430c8', inet: '10.1.2.3', cidr: '10.1.0.0/16', macaddr: '08:00:2b:01:02:03', bytea: '\\xdeadbeef', _text: '{a,b}',
};

describe('typedReplacement', () => {
  const strategies = ['redact', 'partial', 'replace', 'hash'] as const;
  for (const [type, re] of Object.entries(VALID)) {
    it(`gives ${type} a valid value under every strategy`, () => {
      for (const w of strategies) {
        const v = typedReplacement(type, createStrategy(w, 'k'), ORIGINAL[type]);
        expect(v, `${type} ${w}`).toMatch(re);
        if (RANGE[type]) {
          const n = BigInt(v!);
          expect(n >= RANGE[type][0] && n <= RANGE[type][1], `${type} ${w} ${v}`).toBe(true);
        }
        if (/^(date|timestamp)/.test(type)) expect(Number.isNaN(Date.parse(v!.replace(' ', 'T').replace(/\+00$/, 'Z'))), v!).toBe(false);
        if (OIDS[type] !== undefined) expect(encodeBinary(OIDS[type], v!), `${type} ${w} ${v} binary`).not.toBeNull();
      }
      expect(typedReplacement(type, 'null', ORIGINAL[type])).toBeNull();
    });
  }

  it('uses the documented constants for redact', () => {
    expect(typedReplacement('int4', 'redact', '42')).toBe('0');
    expect(typedReplacement('numeric', 'redact', '42.5')).toBe('0');
    expect(typedReplacement('bool', 'redact', 't')).toBe('f');
    expect(typedReplacement('date', 'redact', '1985-07-13')).toBe('1970-01-01');
    expect(typedReplacement('timestamptz', 'redact', 'x')).toBe('1970-01-01 00:00:00+00');
    expect(typedReplacement('uuid', 'redact', 'x')).toBe('00000000-0000-0000-0000-000000000000');
    expect(typedReplacement('jsonb', 'redact', '{"a":1}')).toBe(JSON.stringify(REDACTED));
  });

  it('hash: deterministic per key, different per value and per key', () => {
    const a = createStrategy('hash', 'k1');
    const b = createStrategy('hash', 'k2');
    for (const type of ['int4', 'int8', 'date', 'timestamptz', 'uuid', 'numeric']) {
      const v = typedReplacement(type, a, 'alice');
      expect(typedReplacement(type, a, 'alice')).toBe(v);
      expect(typedReplacement(type, a, 'bob')).not.toBe(v);
      expect(typedReplacement(type, b, 'alice')).not.toBe(v);
    }
    const u = typedReplacement('uuid', a, 'alice')!;
    expect(u[14]).toBe('8'); // version 8
    expect('89ab').toContain(u[19]); // RFC 9562 variant
  });

  it('partial keeps a long integer\'s last 4 digits, a date\'s year, a uuid\'s last 4 hex digits', () => {
    expect(typedReplacement('int8', 'partial', '4111111111111234')).toBe('1234');
    expect(typedReplacement('int4', 'partial', '1234')).toBe('0');
    expect(typedReplacement('date', 'partial', '1985-07-13')).toBe('1985-01-01');
    expect(typedReplacement('timestamp', 'partial', '1985-07-13 10:11:12')).toBe('1985-01-01 00:00:00');
    expect(typedReplacement('uuid', 'partial', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('00000000-0000-0000-0000-0000000030c8');
  });

  it('json keeps its shape under partial and replace, and is always valid JSON', () => {
    const doc = '{"email":"bob@example.com","n":42,"ok":true,"tags":["a","4111 1111 1111 1111"],"z":null,"__proto__":"x"}';
    for (const w of ['redact', 'partial', 'replace', 'hash'] as const) {
      const v = typedReplacement('json', w, doc)!;
      expect(() => JSON.parse(v), `${w}: ${v}`).not.toThrow();
      expect(v).not.toContain('bob@');
    }
    expect(JSON.parse(typedReplacement('jsonb', 'replace', doc)!)).toEqual(
      JSON.parse('{"email":"user@example.invalid","n":0,"ok":false,"tags":["x","4000000000000002"],"z":null,"__proto__":"x"}'),
    );
    expect(JSON.parse(typedReplacement('json', 'partial', doc)!).email).toBe('b***@example.com');
    expect(typedReplacement('json', 'partial', 'not json')).toBe(JSON.stringify(REDACTED));
    expect(mapJson('[1,"a"]', (s) => s.toUpperCase())).toBe('[0,"A"]');
  });

  it('gives string types the strategy\'s text and unknown types NULL', () => {
    expect(typedReplacement('text', 'redact', 'x')).toBe(REDACTED);
    expect(typedReplacement('varchar(20)', 'partial', 'bob@example.com')).toBe('b***@example.com');
    expect(typedReplacement('tsvector', 'redact', 'x')).toBeNull();
    expect(typedReplacement('', 'redact', 'x')).toBeNull();
  });
});

describe('typeKindOf', () => {
  it('understands PostgreSQL and MySQL spellings, typmods and arrays', () => {
    expect(typeKindOf('int4')).toBe('int4');
    expect(typeKindOf('INTEGER')).toBe('int4');
    expect(typeKindOf('pg_catalog.int8')).toBe('int8');
    expect(typeKindOf('timestamp(3) with time zone')).toBe('timestamptz');
    expect(typeKindOf('numeric(10,2)')).toBe('numeric');
    expect(typeKindOf('int unsigned')).toBe('int4');
    expect(typeKindOf('datetime')).toBe('timestamp');
    expect(typeKindOf('_text')).toBe('array');
    expect(typeKindOf('integer[]')).toBe('array');
    expect(typeKindOf('character varying')).toBe('string');
    expect(typeKindOf('geometry')).toBeUndefined();
    expect(typeKindOf(undefined)).toBeUndefined();
  });
});
