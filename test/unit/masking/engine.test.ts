import { describe, expect, it } from 'vitest';
import { buildResultMaskers, createResultMasker, DETECTOR_NAMES, PLAN_CACHE_SIZE } from '../../../masking/engine.js';
import { SCAN_OVERLAP, SCAN_WINDOW } from '../../../masking/scan.js';
import { REDACTED } from '../../../masking/strategies.js';
import { configSchema, type MaskingProfileConfig } from '../../../src/config/schema.js';
import type { CellMasker, ColumnInfo, RowPlan, SessionInfo } from '../../../src/types.js';

const session: SessionInfo = {
  id: 's1', user: 'alice', groups: ['dev'], authMethod: 'password', connection: 'app-db', protocol: 'postgres', clientAddress: '127.0.0.1',
};

function profile(p: Partial<MaskingProfileConfig>): MaskingProfileConfig {
  return { name: 'pii', columns: [], detect: [], with: 'redact', ...p };
}

function text(name: string, more: Partial<ColumnInfo> = {}): ColumnInfo {
  return { name, textLike: true, ...more };
}

function run(cell: CellMasker | null | undefined, value: string): string | null | undefined {
  if (!cell) throw new Error('column is not masked');
  // pad the cell inside a larger buffer: maskers must read only [start, end)
  const buf = Buffer.concat([Buffer.from([0xff, 0x68, 0x65, 0x61, 0x64]), Buffer.from(value, 'utf8'), Buffer.from('tail@x.io')]);
  return cell(buf, 5, 5 + Buffer.byteLength(value));
}

function planOf(p: Partial<MaskingProfileConfig>, cols: ColumnInfo[]): RowPlan | null {
  return createResultMasker(profile(p)).plan(session, cols);
}

describe('plan', () => {
  it('is null when nothing can need masking', () => {
    const m = createResultMasker(profile({ columns: [{ match: '*.email', with: 'partial' }], detect: ['email'] }));
    expect(m.plan(session, [{ name: 'id', table: 'users', column: 'id', textLike: false }])).toBeNull();
    expect(planOf({}, [text('note')])).toBeNull(); // no rules, no detectors
    expect(planOf({ detect: ['email'] }, [])).toBeNull();
  });

  it('scans only text-like columns and lists reasons', () => {
    const p = planOf({ columns: [{ match: 'users.ssn', with: 'redact' }], detect: ['email', 'phone'] }, [
      { name: 'id', textLike: false },
      text('note'),
      text('ssn', { table: 'users', column: 'ssn' }),
    ]);
    expect(p?.cells[0]).toBeNull();
    expect(p?.cells[1]).toBeTypeOf('function');
    expect(p?.reasons).toEqual(['detect:email', 'detect:phone', 'column:users.ssn']);
    expect(p?.typeValid).toEqual([true, true, true]);
  });

  it('caches per column signature and returns the same plan object', () => {
    const m = createResultMasker(profile({ columns: [{ match: 'email', with: 'partial' }], detect: ['email'] }));
    const cols = () => [text('email', { table: 'users', column: 'email' }), { name: 'n', textLike: false }];
    const first = m.plan(session, cols());
    expect(m.plan(session, cols())).toBe(first);
    const none = () => [{ name: 'n', table: 't', column: 'n', textLike: false }];
    expect(m.plan(session, none())).toBeNull();
    expect(m.plan(session, none())).toBeNull();
    for (let i = 0; i < PLAN_CACHE_SIZE + 1; i++) m.plan(session, [text(`c${i}`, { table: 't', column: `c${i}` })]);
    expect(m.plan(session, cols())).not.toBe(first); // evicted, rebuilt
    expect(m.plan(session, cols())).toEqual(first);
  });
});

describe('column rules', () => {
  const masked = (match: string, col: ColumnInfo): boolean => planOf({ columns: [{ match, with: 'redact' }] }, [col]) !== null;

  it('match by column, table.column and schema.table.column globs, case-insensitively', () => {
    const ssn = text('ssn', { schema: 'app', table: 'users', column: 'ssn' });
    expect(masked('ssn', ssn)).toBe(true);
    expect(masked('users.ssn', ssn)).toBe(true);
    expect(masked('USERS.SSN', ssn)).toBe(true);
    expect(masked('app.users.ssn', ssn)).toBe(true);
    expect(masked('*.*.ss?', ssn)).toBe(true);
    expect(masked('u*.s*', ssn)).toBe(true);
    expect(masked('other.users.ssn', ssn)).toBe(false);
    expect(masked('accounts.ssn', ssn)).toBe(false);
    expect(masked('ss', ssn)).toBe(false);
    expect(masked('s?', ssn)).toBe(false);
  });

  it('are alias-proof: the source column counts, not the name the client sees', () => {
    const p = planOf({ columns: [{ match: '*.email', with: 'partial' }] }, [text('e', { table: 'users', column: 'email' })]);
    expect(run(p?.cells[0], 'bob@example.com')).toBe('b***@example.com');
    // an alias that looks sensitive on a harmless column is not a match
    expect(masked('*.email', text('email', { table: 'users', column: 'name' }))).toBe(false);
  });

  it('treat an unknown table or schema as matching only "*"', () => {
    expect(masked('*.email', text('email'))).toBe(true);
    expect(masked('email', text('email'))).toBe(true);
    expect(masked('users.email', text('email'))).toBe(false);
    expect(masked('*.users.email', text('email', { table: 'users', column: 'email' }))).toBe(true);
    expect(masked('*.email', text('email', { table: '', column: 'email' }))).toBe(true);
  });

  it('mask regardless of content, first matching rule wins', () => {
    const p = planOf(
      { columns: [{ match: 'users.ssn', with: 'null' }, { match: 'ssn', with: 'partial' }, { match: 'card', with: 'replace' }] },
      [text('ssn', { table: 'users', column: 'ssn' }), text('ssn', { table: 'old', column: 'ssn' }), text('card')],
    );
    expect(run(p?.cells[0], 'nothing sensitive')).toBeNull();
    expect(run(p?.cells[1], '123-45-6789')).toBe('***-**-6789');
    expect(run(p?.cells[2], '4111 1111 1111 1111')).toBe('4000000000000002');
  });

  it('give non-text columns of unknown type the strategy value, never their bytes (typeValid false)', () => {
    const cols = [{ name: 'salary', column: 'salary', textLike: false }];
    expect(run(planOf({ columns: [{ match: 'salary', with: 'redact' }] }, cols)?.cells[0], '\x00\x01')).toBe('[REDACTED]');
    expect(run(planOf({ columns: [{ match: 'salary', with: 'partial' }] }, cols)?.cells[0], '123456789')).toBe('[REDACTED]');
    expect(run(planOf({ columns: [{ match: 'salary', with: 'null' }] }, cols)?.cells[0], '1')).toBeNull();
    expect(run(planOf({ columns: [{ match: 'salary', with: 'hash' }], hashKey: 'k' }, cols)?.cells[0], '1')).toMatch(/^hash:[0-9a-f]{16}$/);
  });
});

describe('content detection', () => {
  const all = { detect: [...DETECTOR_NAMES] };
  const cellFor = (p: Partial<MaskingProfileConfig>): CellMasker | null | undefined => planOf(p, [text('note')])?.cells[0];

  it('replaces each match, not the whole cell', () => {
    expect(run(cellFor({ detect: ['email'], with: 'partial' }), 'contact: bob@example.com, tel')).toBe('contact: b***@example.com, tel');
    expect(run(cellFor({ ...all, with: 'redact' }), 'mail bob@example.com card 4111 1111 1111 1111 ok')).toBe(
      'mail [REDACTED] card [REDACTED] ok',
    );
    expect(run(cellFor({ ...all, with: 'null' }), 'ssn 123-45-6789')).toBe('ssn [REDACTED]');
  });

  it('returns undefined when nothing changed', () => {
    const cell = cellFor({ ...all });
    for (const v of ['', 'hello world', 'meet at 10:30 on 2024-01-15', 'id 1700000000000', 'not@an address', 'Ünïcödé ✓ 😀', '4111111111111112']) {
      expect(run(cell, v), v).toBeUndefined();
    }
  });

  it('handles multibyte UTF-8 around and inside matches', () => {
    const cell = cellFor({ detect: ['email', 'phone'], with: 'redact' });
    expect(run(cell, 'Grüße 😀 an jörg@münchen.de — Tel. +49 30 1234567 ✓')).toBe('Grüße 😀 an [REDACTED] — Tel. [REDACTED] ✓');
    expect(run(cellFor({ detect: ['email'], with: 'replace' }), '📧 émile@exemple.fr')).toBe('📧 user@example.invalid');
  });

  it('merges overlapping matches so no part of either survives', () => {
    const out = run(cellFor({ detect: ['email', 'secret'] }), 'url postgres://app:s3cret@db.example.com/app');
    expect(out).toBe('url postgres://app:[REDACTED]/app');
  });

  it('keeps whole-cell rules and detection apart', () => {
    const p = planOf({ columns: [{ match: 'email', with: 'hash' }], detect: ['email'], with: 'partial', hashKey: 'k' }, [
      text('email'),
      text('bio'),
    ]);
    expect(run(p?.cells[0], 'bob@example.com')).toMatch(/^hash:/);
    expect(run(p?.cells[1], 'I am bob@example.com')).toBe('I am b***@example.com');
  });
});

describe('column rules: @sensitive', () => {
  const p = (cols: ColumnInfo[]) => planOf({ columns: [{ match: '@sensitive', with: 'redact' }] }, cols);
  it('masks columns named like personal data or credentials, by source column', () => {
    const plan = p([
      text('e', { table: 'users', column: 'user_email' }),
      text('ssn'),
      text('api_key', { table: 't', column: 'api_key' }),
      text('name', { table: 'users', column: 'name' }),
      text('email', { table: 'users', column: 'display' }), // alias on a harmless column
    ]);
    expect(plan?.cells.map((c) => (c ? run(c, 'x') : 'pass'))).toEqual([REDACTED, REDACTED, REDACTED, 'pass', 'pass']);
    expect(plan?.reasons).toEqual(['column:@sensitive']);
  });
  it('combines with table and schema globs', () => {
    const rule = { columns: [{ match: 'users.@sensitive', with: 'redact' as const }] };
    expect(planOf(rule, [text('email', { table: 'users', column: 'email' })])).not.toBeNull();
    expect(planOf(rule, [text('email', { table: 'orders', column: 'email' })])).toBeNull();
    expect(planOf({ columns: [{ match: 'app.*.@SENSITIVE', with: 'redact' }] }, [text('phone', { schema: 'app', table: 't', column: 'phone' })])).not.toBeNull();
  });
  it('rejects unknown name sets and @ outside the column part', () => {
    expect(() => createResultMasker(profile({ columns: [{ match: '@secretish', with: 'redact' }] }))).toThrow(/unknown name set "@secretish"/);
    expect(() => createResultMasker(profile({ columns: [{ match: '@sensitive.email', with: 'redact' }] }))).toThrow(/only be the column part/);
  });
});

describe('type-valid replacements for typed columns', () => {
  const typed = (typeName: string, more: Partial<ColumnInfo> = {}): ColumnInfo => ({ name: 'v', column: 'v', textLike: false, typeName, ...more });
  const cellOf = (w: MaskingProfileConfig['with'], col: ColumnInfo) => {
    const plan = planOf({ columns: [{ match: 'v', with: w }], hashKey: 'k' }, [col]);
    expect(plan?.typeValid?.[0]).toBe(true);
    return plan?.cells[0];
  };
  it('gives every known type a value of its type', () => {
    expect(run(cellOf('redact', typed('int4')), '\x00\x00\x30\x39')).toBe('0');
    expect(run(cellOf('redact', typed('date')), '1985-07-13')).toBe('1970-01-01');
    expect(run(cellOf('redact', typed('bool')), 't')).toBe('f');
    expect(run(cellOf('null', typed('int4')), '1')).toBeNull();
    expect(run(cellOf('hash', typed('int8')), '42')).toMatch(/^\d+$/);
    expect(run(cellOf('hash', typed('uuid')), 'x')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8/);
  });
  it('reads the text only when the format says it is text', () => {
    expect(run(cellOf('partial', typed('date', { format: 'text' })), '1985-07-13')).toBe('1985-01-01');
    expect(run(cellOf('partial', typed('date', { format: 'binary' })), '\x00\x00\x01\x00')).toBe('1970-01-01');
    expect(run(cellOf('partial', typed('date')), '1985-07-13')).toBe('1970-01-01'); // format unknown
  });
  it('hash of the same bytes is the same value (joins survive), keyed by the profile hashKey', () => {
    const a = run(cellOf('hash', typed('int4', { format: 'text' })), '42');
    expect(run(cellOf('hash', typed('int4', { format: 'text' })), '42')).toBe(a);
    expect(run(cellOf('hash', typed('int4', { format: 'text' })), '43')).not.toBe(a);
  });
  it('keeps json valid under a column rule', () => {
    for (const w of ['redact', 'partial', 'replace', 'hash'] as const) {
      const out = run(cellOf(w, text('v', { column: 'v', typeName: 'jsonb' })), '{"email":"bob@example.com"}');
      expect(() => JSON.parse(out as string), `${w}: ${String(out)}`).not.toThrow();
      expect(out).not.toContain('bob@');
    }
  });
  it('marks unknown non-text types typeValid false', () => {
    const plan = planOf({ columns: [{ match: 'v', with: 'redact' }] }, [typed('tsvector'), { name: 'w', textLike: false }]);
    expect(plan?.typeValid).toEqual([false, true]);
  });
  it('replaces a detection in a text-like column of another type (inet) by a value of that type', () => {
    const plan = planOf({ detect: ['ip'] }, [text('addr', { typeName: 'inet' })]);
    expect(run(plan?.cells[0], '10.1.2.3')).toBe('0.0.0.0');
    expect(run(plan?.cells[0], '::')).toBeUndefined();
  });
});

describe('context from column and table names', () => {
  const all = { detect: [...DETECTOR_NAMES] };
  it('lets weak shapes through in anonymous columns and masks them in named ones', () => {
    const plan = planOf(all, [
      text('note'),
      text('ssn'),
      text('x', { table: 'users', column: 'social_security_number' }),
      text('value', { table: 'phone_numbers', column: 'value' }),
      text('mobile'),
      text('api_key'),
    ]);
    expect(run(plan?.cells[0], '123456789')).toBeUndefined();
    expect(run(plan?.cells[1], '123456789')).toBe(REDACTED);
    expect(run(plan?.cells[2], '078 05 1120')).toBe(REDACTED);
    expect(run(plan?.cells[3], '4155552671')).toBe(REDACTED);
    expect(run(plan?.cells[4], 'call 555-2671')).toBe(`call ${REDACTED}`);
    expect(run(plan?.cells[5], 'Zx81kQ0pL2mN4bV6cX8z')).toBe(REDACTED);
    expect(run(plan?.cells[0], 'Zx81kQ0pL2mN4bV6cX8z')).toBeUndefined();
    expect(plan?.reasons).toEqual(expect.arrayContaining(['context:us_ssn', 'context:phone', 'context:api_token']));
    // validators still apply: an invalid SSN in an ssn column passes
    expect(run(plan?.cells[1], '000123456')).toBeUndefined();
  });
  it('shares one detection masker between columns with the same context', () => {
    const plan = planOf(all, [text('a'), text('b'), text('phone'), text('mobile')]);
    expect(plan?.cells[0]).toBe(plan?.cells[1]);
    expect(plan?.cells[2]).toBe(plan?.cells[3]);
    expect(plan?.cells[0]).not.toBe(plan?.cells[2]);
  });
});

describe('detection inside JSON and arrays stays valid', () => {
  const strategies = ['redact', 'partial', 'replace', 'hash', 'null'] as const;
  const docs = [
    '{"note":"mail bob@example.com","nested":{"tel":"+1 415 555 2671"}}',
    '{"note":"line1\\nbob@example.com"}', // an escape right before the match
    '{"cfg":"password=\\"hunter2\\" x"}', // a quoted value inside an escaped string
    '["4111 1111 1111 1111", 4111111111111111]',
    '{"password": "hunter2", "apiKey": "abc", "tokenType": "Bearer"}',
    '{"e":"bob\\u0040example.com"}', // \u escape hiding the '@' from the prefilter
  ];
  for (const w of strategies) {
    it(`with ${w}`, () => {
      const plan = planOf({ detect: ['email', 'credit_card', 'phone', 'secret'], with: w, hashKey: 'k' }, [
        text('doc', { typeName: 'jsonb' }),
        text('body'), // text column holding JSON
      ]);
      for (const doc of docs) {
        for (const cell of plan!.cells) {
          const out = run(cell, doc);
          expect(out, doc).toBeTypeOf('string');
          expect(() => JSON.parse(out as string), `${w}: ${doc} → ${String(out)}`).not.toThrow();
          const s = JSON.stringify(JSON.parse(out as string));
          // partial keeps a phone's last 4 digits by design
          for (const leak of ['bob@example', 'bob\\u0040', w === 'partial' ? '415 555' : '2671', '1111 1111', '4111111111111111', 'hunter2']) {
            expect(s, `${w}: ${doc}`).not.toContain(leak);
          }
        }
      }
    });
  }
  it('masks credential values by key but not other keys', () => {
    const plan = planOf({ detect: ['secret'] }, [text('doc', { typeName: 'json' })]);
    expect(JSON.parse(run(plan?.cells[0], '{"password": "pw", "apiKey": "abc", "tokenType": "Bearer", "n": "x"}') as string)).toEqual({
      password: REDACTED, apiKey: REDACTED, tokenType: 'Bearer', n: 'x',
    });
  });
  it('keeps text arrays valid', () => {
    const plan = planOf({ detect: ['email'], with: 'partial' }, [text('tags', { typeName: '_text' })]);
    expect(run(plan?.cells[0], '{a,bob@example.com,"x y"}')).toBe('{a,b***@example.com,"x y"}');
  });
  it('falls back to plain text when a JSON-looking text cell is not JSON', () => {
    const plan = planOf({ detect: ['email'] }, [text('log')]);
    expect(run(plan?.cells[0], '[INFO] login bob@example.com')).toBe(`[INFO] login ${REDACTED}`);
  });
});

describe('long cells', () => {
  it('scans every window of a cell larger than SCAN_WINDOW and finds matches across window edges', () => {
    const plan = planOf({ detect: ['email', 'secret'] }, [text('blob')]);
    const filler = 'lorem ipsum dolor sit amet '.repeat(Math.ceil((3 * SCAN_WINDOW) / 27));
    const at = [0, SCAN_WINDOW - 5, 2 * (SCAN_WINDOW - SCAN_OVERLAP) - 3, filler.length - 100];
    let big = filler;
    for (const i of at.reverse()) big = big.slice(0, i) + ' bob@example.com ' + big.slice(i);
    big += ' tail: alice@example.org';
    const out = run(plan?.cells[0], big) as string;
    expect(out).not.toContain('bob@example.com');
    expect(out).not.toContain('alice@example.org');
    expect(out.split(REDACTED)).toHaveLength(6);
    expect(out.length).toBe(big.length + 4 * (REDACTED.length - 'bob@example.com'.length) + REDACTED.length - 'alice@example.org'.length);
  });
});

describe('buildResultMaskers', () => {
  const config = (masking: unknown) => configSchema.parse({ masking });

  it('builds one masker per profile name', () => {
    const m = buildResultMaskers(config([{ name: 'pii', detect: ['email'] }, { name: 'none' }]));
    expect([...m.keys()]).toEqual(['pii', 'none']);
    expect(m.get('pii')?.plan(session, [text('x')])).not.toBeNull();
    expect(m.get('none')?.plan(session, [text('x')])).toBeNull();
  });

  it('accepts the secret group and reports it by its config name', () => {
    const m = buildResultMaskers(config([{ name: 'pii', detect: ['secret', 'jwt', 'ipv4', 'ip'] }]));
    expect(m.get('pii')?.plan(session, [text('x')])?.reasons).toEqual(['detect:secret', 'detect:jwt', 'detect:ipv4', 'detect:ip']);
  });

  it('names the profile and detector on an unknown detector', () => {
    expect(() => buildResultMaskers(config([{ name: 'pii', detect: ['email', 'passport'] }]))).toThrow(
      /masking profile "pii": unknown detector "passport"/,
    );
  });

  it('names the profile and pattern on a bad column pattern', () => {
    expect(() => buildResultMaskers(config([{ name: 'pii', columns: [{ match: 'a.b.c.d' }] }]))).toThrow(/"pii".*"a\.b\.c\.d"/);
    expect(() => buildResultMaskers(config([{ name: 'pii', columns: [{ match: 'users.' }] }]))).toThrow(/"pii".*"users\."/);
  });

  it('notes a hash without hashKey', () => {
    const m = buildResultMaskers(config([{ name: 'h', columns: [{ match: 'x', with: 'hash' }] }, { name: 'k', with: 'hash', hashKey: 's', detect: ['email'] }]));
    expect(m.get('h')?.notes[0]).toMatch(/"h".*per-process/);
    expect(m.get('k')?.notes).toEqual([]);
  });
});
