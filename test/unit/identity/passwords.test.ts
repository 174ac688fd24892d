import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createMysqlNativeVerifier, scrambleMysqlNative, verifyMysqlNativeScramble } from '../../../src/identity/mysql.js';
import { hashPassword, parseStoredHash, verifyPassword, verifyPasswordAsync } from '../../../src/identity/passwords.js';
import { parseScramVerifier } from '../../../src/identity/scram.js';

describe('mysql_native_password', () => {
  it('produces the verifier MySQL stores (PASSWORD("password"))', () => {
    expect(createMysqlNativeVerifier('password')).toBe('*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
  });

  it('verifies a client scramble against the stored verifier', () => {
    const verifier = createMysqlNativeVerifier('s3cret');
    const nonce = randomBytes(20);
    expect(verifyMysqlNativeScramble(verifier, nonce, scrambleMysqlNative('s3cret', nonce))).toBe(true);
    expect(verifyMysqlNativeScramble(verifier, nonce, scrambleMysqlNative('S3cret', nonce))).toBe(false);
    expect(verifyMysqlNativeScramble(verifier, randomBytes(20), scrambleMysqlNative('s3cret', nonce))).toBe(false);
    expect(verifyMysqlNativeScramble(verifier, nonce, Buffer.alloc(0))).toBe(false);
  });
});

describe('stored password hashes', () => {
  it('is a SCRAM verifier that verifies the password', async () => {
    const stored = hashPassword('alice-secret');
    expect(stored).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(verifyPassword('alice-secret', stored)).toBe(true);
    expect(verifyPassword('alice-secreT', stored)).toBe(false);
    expect(verifyPassword('', stored)).toBe(false);
    expect(await verifyPasswordAsync('alice-secret', stored)).toBe(true);
    expect(parseStoredHash(stored).mysqlNative).toBeUndefined();
  });

  it('appends the unsalted MySQL verifier only when asked', () => {
    const stored = hashPassword('password', { mysql: true });
    const [scram, mysql] = stored.split(';');
    expect(mysql).toBe('mysql=*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
    const parsed = parseStoredHash(stored);
    expect(parsed.scram).toEqual(parseScramVerifier(scram!));
    expect(parsed.mysqlNative?.toString('hex').toUpperCase()).toBe('2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
    expect(verifyPassword('password', parsed)).toBe(true);
  });

  it('refuses malformed hashes without echoing them', () => {
    const good = hashPassword('x');
    for (const bad of ['plaintext-secret', `${good};mysql=nothex-secret`, `${good};other=1`, `${good};mysql=*${'A'.repeat(40)};mysql=*${'A'.repeat(40)}`]) {
      let message = '';
      try {
        parseStoredHash(bad);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).not.toBe('');
      expect(message).not.toContain('secret');
    }
    expect(() => hashPassword('')).toThrow(/empty/);
  });
});
