import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { run, type CliIo } from '../../../src/cli/main.js';
import { parseStoredHash, verifyPassword } from '../../../src/identity/passwords.js';

const EXAMPLE = resolve(__dirname, '../../../examples/portcullis.yaml');
const TARGET_PW = 'target-pw-must-not-leak';

function harness(stdin = '', env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (s) => void out.push(s),
    err: (s) => void err.push(s),
    stdin: Readable.from([Buffer.from(stdin)]),
    env,
  };
  return { io, out: () => out.join(''), err: () => err.join('') };
}

describe('users hash', () => {
  it('prints exactly one line, a hash that verifies the password from stdin', async () => {
    const h = harness('s3cret pass\n');
    expect(await run(['users', 'hash'], h.io)).toBe(0);
    const lines = h.out().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe('');
    expect(verifyPassword('s3cret pass', lines[0]!)).toBe(true);
    expect(h.out()).not.toContain('s3cret');
  });

  it('strips one trailing newline only (\\r\\n too)', async () => {
    const crlf = harness('pw\r\n');
    await run(['users', 'hash'], crlf.io);
    expect(verifyPassword('pw', crlf.out().trim())).toBe(true);
    const two = harness('pw\n\n');
    await run(['users', 'hash'], two.io);
    expect(verifyPassword('pw\n', two.out().trim())).toBe(true);
  });

  it('adds the MySQL verifier with --mysql', async () => {
    const h = harness('password');
    expect(await run(['users', 'hash', '--mysql'], h.io)).toBe(0);
    expect(parseStoredHash(h.out().trim()).mysqlNative?.toString('hex').toUpperCase()).toBe('2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
  });

  it('refuses an empty password with exit 2', async () => {
    for (const input of ['', '\n']) {
      const h = harness(input);
      expect(await run(['users', 'hash'], h.io)).toBe(2);
      expect(h.out()).toBe('');
      expect(h.err()).toContain('empty password');
    }
  });
});

describe('check', () => {
  it('exits 0 for the example and summarizes it without secrets', async () => {
    const h = harness('', { APP_DB_PASSWORD: TARGET_PW });
    expect(await run(['check', '-c', EXAMPLE], h.io)).toBe(0);
    const out = h.out();
    expect(out).toContain('valid');
    expect(out).toMatch(/postgres\s+127\.0\.0\.1:15432\s+tls prefer/);
    expect(out).toContain('app-db (postgres) → 127.0.0.1:5432/app');
    expect(out).toContain('alice  groups dba  auth password (scram-sha-256)');
    const all = out + h.err();
    expect(all).not.toContain(TARGET_PW);
    expect(all).not.toContain('SCRAM-SHA-256$');
  });

  it('prints JSON with --json', async () => {
    const h = harness('', { APP_DB_PASSWORD: TARGET_PW });
    expect(await run(['check', '-c', EXAMPLE, '--json'], h.io)).toBe(0);
    const parsed = JSON.parse(h.out()) as { valid: boolean; connections: Array<{ name: string; guardrails: string[] }>; notYetEnforced: string[] };
    expect(parsed.valid).toBe(true);
    expect(parsed.connections[0]).toMatchObject({ name: 'app-db', guardrails: ['no-drop', 'where-required'] });
    expect(parsed.notYetEnforced).toEqual([]);
    expect(h.out()).not.toContain(TARGET_PW);
  });

  it('exits 2 for an invalid config, with positions on stderr', async () => {
    const h = harness();
    expect(await run(['check', '-c', EXAMPLE], h.io)).toBe(2);
    expect(h.err()).toMatch(/portcullis\.yaml:\d+:\d+: connections\[0\]\.target\.password: environment variable APP_DB_PASSWORD is not set/);
    const j = harness();
    expect(await run(['check', '-c', EXAMPLE, '--json'], j.io)).toBe(2);
    expect(JSON.parse(j.out())).toMatchObject({ valid: false, errors: [{ path: 'connections[0].target.password' }] });
    expect(await run(['check', '-c', '/nonexistent/portcullis.yaml'], harness().io)).toBe(2);
  });

  it('warns about features not built yet, and redacts credentials in URLs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-check-'));
    const file = join(dir, 'gw.yaml');
    writeFileSync(file, 'store: { postgres: "postgres://gw:db-pass-secret@db/audit" }\nwebhooks: [{ url: "https://hooks.test/x", secret: hook-secret }]\n');
    const h = harness();
    expect(await run(['check', '-c', file], h.io)).toBe(0);
    expect(h.out()).toContain('store: postgres postgres://gw:***@db/audit');
    expect(h.err()).toContain('warning: not yet enforced: webhooks');
    expect(h.err()).toContain('warning: not yet enforced: store.postgres');
    expect(h.out() + h.err()).not.toMatch(/db-pass-secret|hook-secret/);
  });
});

describe('init', () => {
  it('writes the example config and TLS material, then refuses to overwrite', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'portcullis-init-')), 'gw');
    const h = harness();
    expect(await run(['init', dir], h.io)).toBe(0);
    const cfg = join(dir, 'portcullis.yaml');
    expect(readFileSync(cfg, 'utf8')).toBe(readFileSync(EXAMPLE, 'utf8'));
    expect(existsSync(join(dir, 'data', 'tls', 'gateway.crt'))).toBe(true);
    expect(statSync(join(dir, 'data', 'tls', 'gateway.key')).mode & 0o777).toBe(0o600);
    expect(h.err()).toContain(`wrote ${cfg}`);
    expect(h.out()).toBe('');

    const again = harness();
    expect(await run(['init', dir], again.io)).toBe(2);
    expect(again.err()).toContain('already exists');

    expect(await run(['check', '-c', cfg], harness('', { APP_DB_PASSWORD: 'x' }).io)).toBe(0);
  });
});

describe('usage', () => {
  it('maps commander errors to exit 2 and help/version to 0', async () => {
    expect(await run(['bogus'], harness().io)).toBe(2);
    expect(await run(['check', '--nope'], harness().io)).toBe(2);
    expect(await run(['users'], harness().io)).toBe(2);
    const help = harness();
    expect(await run(['--help'], help.io)).toBe(0);
    expect(help.out()).toContain('Usage: portcullis');
    const version = harness();
    expect(await run(['--version'], version.io)).toBe(0);
    expect(version.out().trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
