// mysql_native_password, opt-in only: the verifier is unsalted (SHA1(SHA1(password))), so identical
// passwords have identical verifiers and a leaked config can be attacked with precomputed tables.
// It exists because it lets a MySQL client log in without sending its password in clear.
import { createHash, timingSafeEqual } from 'node:crypto';

const sha1 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** `*` + upper-case hex of SHA1(SHA1(password)), the form MySQL shows in mysql.user.authentication_string. */
export function createMysqlNativeVerifier(password: string): string {
  return '*' + sha1(sha1(Buffer.from(password, 'utf8'))).toString('hex').toUpperCase();
}

/** The 20-byte SHA1(SHA1(password)) from `*HEX` (the `*` is optional). */
export function parseMysqlNativeVerifier(s: string): Buffer {
  const m = /^\*?([0-9A-Fa-f]{40})$/.exec(s.trim());
  if (!m) throw new Error('not a mysql_native_password verifier');
  return Buffer.from(m[1]!, 'hex');
}

/** What a client sends: SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))). Empty password → empty response. */
export function scrambleMysqlNative(password: string, nonce: Buffer): Buffer {
  if (password.length === 0) return Buffer.alloc(0);
  const stage1 = sha1(Buffer.from(password, 'utf8'));
  const stage2 = sha1(stage1);
  const x = sha1(nonce.subarray(0, 20), stage2);
  for (let i = 0; i < 20; i++) x[i] = x[i]! ^ stage1[i]!;
  return x;
}

/**
 * Server-side check of a mysql_native_password response against the stored verifier:
 * stage1 = response XOR SHA1(nonce + verifier); accept when SHA1(stage1) = verifier.
 */
export function verifyMysqlNativeScramble(verifierHex: string | Buffer, nonce20: Buffer, clientResponse: Buffer): boolean {
  const stage2 = typeof verifierHex === 'string' ? parseMysqlNativeVerifier(verifierHex) : verifierHex;
  if (stage2.length !== 20 || nonce20.length < 20 || clientResponse.length !== 20) return false;
  const x = sha1(nonce20.subarray(0, 20), stage2);
  for (let i = 0; i < 20; i++) x[i] = x[i]! ^ clientResponse[i]!;
  return timingSafeEqual(sha1(x), stage2);
}
