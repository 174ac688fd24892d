import { describe, expect, it } from 'vitest';
import { buildResultMaskers, createResultMasker, DETECTOR_NAMES, PLAN_CACHE_SIZE } from '../../../masking/engine.js';
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

  it('give non-text columns the strategy value, never their bytes', () => {
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

describe('buildResultMaskers', () => {
  const config = (masking: unknown) => configSchema.parse({ masking });

  it('builds one masker per profile name', () => {
    const m = buildResultMaskers(config([{ name: 'pii', detect: ['email'] }, { name: 'none' }]));
    expect([...m.keys()]).toEqual(['pii', 'none']);
    expect(m.get('pii')?.plan(session, [text('x')])).not.toBeNull();
    expect(m.get('none')?.plan(session, [text('x')])).toBeNull();
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
