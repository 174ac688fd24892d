import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { run, type CliIo } from '../../../src/cli/main.js';
import { maskColumn, maskCommand } from '../../../src/cli/mask.js';

const CONFIG = `
connections:
  - name: app-db
    protocol: postgres
    target: { host: 127.0.0.1, port: 5432, database: app, user: app, password: target-pw }
    allow: [dev]
    masking: pii
  - name: plain
    protocol: postgres
    target: { host: 127.0.0.1, port: 5432, database: app, user: app, password: target-pw }
    allow: [dev]
masking:
  - name: pii
    columns:
      - { match: "users.ssn", with: redact }
      - { match: "*.email", with: partial }
      - { match: "@sensitive", with: hash }
      - { match: "visit_date", with: partial }
    detect: [email, credit_card, iban, us_ssn, phone, secret]
    with: redact
    hashKey: test-key
`;

function configFile(text = CONFIG): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-mask-'));
  const file = join(dir, 'gw.yaml');
  writeFileSync(file, text);
  return file;
}

function harness(stdin: string) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (s) => void out.push(s), err: (s) => void err.push(s), stdin: Readable.from([Buffer.from(stdin)]), env: {} };
  return { io, out: () => out.join(''), err: () => err.join('') };
}

describe('portcullis mask', () => {
  const file = configFile();

  it('masks each line by content detection when no column is named', async () => {
    const h = harness('hello world\nmail bob@example.com now\r\ncard 4111 1111 1111 1111\n123-45-6789\n123456789');
    expect(await run(['mask', '-c', file, '--connection', 'app-db'], h.io)).toBe(0);
    expect(h.out()).toBe('hello world\nmail [REDACTED] now\ncard [REDACTED]\n[REDACTED]\n123456789\n');
  });

  it('applies column rules and context for --column/--table', async () => {
    const email = harness('bob@example.com\n');
    expect(await run(['mask', '-c', file, '--connection', 'app-db', '--column', 'email'], email.io)).toBe(0);
    expect(email.out()).toBe('b***@example.com\n');

    const ssn = harness('anything\n');
    expect(await run(['mask', '-c', file, '--connection', 'app-db', '--column', 'ssn', '--table', 'app.users'], ssn.io)).toBe(0);
    expect(ssn.out()).toBe('[REDACTED]\n');

    // @sensitive catches "phone_number" (hash); elsewhere a bare 9-digit number in a column named like an SSN is masked by context
    const phone = harness('4155552671\n');
    await run(['mask', '-c', file, '--connection', 'app-db', '--column', 'phone_number'], phone.io);
    expect(phone.out()).toMatch(/^hash:[0-9a-f]{16}\n$/);
    const ctx = harness('123456789\nnot a number\n');
    await run(['mask', '-c', file, '--connection', 'app-db', '--column', 'ssn_or_tin_text_note'], ctx.io);
    expect(ctx.out()).toBe('[REDACTED]\nnot a number\n');
  });

  it('gives typed columns type-valid values with --type and explains with --explain', async () => {
    const h = harness('1985-07-13\n');
    expect(await run(['mask', '-c', file, '--connection', 'app-db', '--column', 'visit_date', '--type', 'date', '--explain'], h.io)).toBe(0);
    expect(h.out()).toBe('1985-01-01\n');
    expect(h.err()).toContain('profile "pii": column:visit_date');
    const none = harness('x\n');
    await run(['mask', '-c', file, '--connection', 'app-db', '--column', 'id', '--type', 'int4', '--explain'], none.io);
    expect(none.out()).toBe('x\n');
    expect(none.err()).toContain('nothing applies');
  });

  it('keeps JSON valid', async () => {
    const h = harness('{"note":"call +1 415 555 2671","password":"pw"}\n');
    await run(['mask', '-c', file, '--connection', 'app-db', '--column', 'doc', '--type', 'jsonb'], h.io);
    expect(JSON.parse(h.out())).toEqual({ note: 'call [REDACTED]', password: '[REDACTED]' });
  });

  it('exits 2 on bad arguments or config', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['mask', '-c', file], /--connection/],
      [['mask', '-c', file, '--connection', 'nope'], /unknown connection "nope" \(known: app-db, plain\)/],
      [['mask', '-c', file, '--connection', 'plain'], /no masking profile/],
      [['mask', '-c', '/nonexistent.yaml', '--connection', 'app-db'], /cannot read the config file/],
      [['mask', '-c', configFile(CONFIG.replace('detect: [', 'detect: [passport, ')), '--connection', 'app-db'], /unknown detector "passport"/],
      [['mask', '-c', configFile(CONFIG.replace('"visit_date"', '"a.b.c.d"')), '--connection', 'app-db'], /more than 3 dotted parts/],
    ];
    for (const [args, message] of cases) {
      const h = harness('bob@example.com\n');
      expect(await run(args, h.io), args.join(' ')).toBe(2);
      expect(h.out()).toBe('');
      expect(h.err()).toMatch(message);
    }
  });

  it('reads from an explicit input stream and prints NULL for a null strategy', async () => {
    const file2 = configFile(CONFIG.replace('{ match: "users.ssn", with: redact }', '{ match: "users.ssn", with: "null" }'));
    const h = harness('');
    const code = await maskCommand(h.io, { config: file2, connection: 'app-db', column: 'ssn', table: 'users' }, Readable.from(['a\nb\n']));
    expect(code).toBe(0);
    expect(h.out()).toBe('NULL\nNULL\n');
  });

  it('describes the column each line stands for', () => {
    expect(maskColumn({})).toEqual({ name: '', textLike: true, format: 'text' });
    expect(maskColumn({ column: 'n', table: 'app.t', type: 'int4' })).toEqual({
      name: 'n', column: 'n', table: 't', schema: 'app', textLike: false, typeName: 'int4', format: 'text',
    });
  });
});
