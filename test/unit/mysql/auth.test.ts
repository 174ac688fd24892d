// The gateway's own login to a MySQL target (protocols/mysql/upstream.ts): caching_sha2_password's scramble and its
// RSA full authentication; and the character sets the gateway refuses (protocols/mysql/charsets.ts).
import { createHash, generateKeyPairSync, privateDecrypt, constants, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encryptPasswordRsa, scrambleCachingSha2 } from '../../../protocols/mysql/upstream.js';
import { isUnsafeCharset, unsafeCollation } from '../../../protocols/mysql/charsets.js';

const sha256 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** caching_sha2_password, written from the definition: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) · nonce). */
function reference(password: string, nonce: Buffer): Buffer {
  const p1 = sha256(Buffer.from(password, 'utf8'));
  const p3 = sha256(sha256(p1), nonce);
  return Buffer.from(p1.map((b, i) => b ^ p3[i]!));
}

describe('scrambleCachingSha2', () => {
  it('matches an independent computation for random passwords and nonces', () => {
    for (let i = 0; i < 50; i++) {
      const nonce = randomBytes(20);
      const password = randomBytes(1 + (i % 40)).toString('base64') + (i % 3 === 0 ? 'ünï€' : '');
      const got = scrambleCachingSha2(password, nonce);
      expect(got.length).toBe(32);
      expect(got.equals(reference(password, nonce)), `password ${JSON.stringify(password)}`).toBe(true);
    }
  });

  it('matches the published vectors of go-sql-driver/mysql (auth_test.go, TestScrambleSHA256Pass)', () => {
    const nonce = Buffer.from([10, 47, 74, 111, 75, 73, 34, 48, 88, 76, 114, 74, 37, 13, 3, 80, 82, 2, 23, 21]);
    expect(scrambleCachingSha2('secret', nonce).toString('hex')).toBe('f490e76f66d9d86665ce54d98c78d0acfe2fb0b08b423da807144873d30b312c');
    expect(scrambleCachingSha2('secret2', nonce).toString('hex')).toBe('abc3934a012cf342e876071c8ee202de51785b430258a7a0138bc79c4d800bc6');
  });

  it('uses only the first 20 bytes of the nonce (a greeting scramble read with its NUL, or a longer AuthSwitch payload)', () => {
    const nonce = randomBytes(20);
    const want = reference('pw', nonce);
    expect(scrambleCachingSha2('pw', Buffer.concat([nonce, Buffer.alloc(1)])).equals(want)).toBe(true);
    expect(scrambleCachingSha2('pw', Buffer.concat([nonce, randomBytes(12)])).equals(want)).toBe(true);
  });

  it('an empty password gives an empty response', () => {
    const r = scrambleCachingSha2('', randomBytes(20));
    expect(Buffer.isBuffer(r)).toBe(true);
    expect(r.length).toBe(0);
  });
});

describe('encryptPasswordRsa (caching_sha2_password full authentication without TLS)', () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const decrypt = (c: Buffer): Buffer => privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, c);
  const unxor = (b: Buffer, nonce: Buffer): Buffer => Buffer.from(b.map((x, i) => x ^ nonce[i % nonce.length]!));

  it('RSA-OAEP (SHA-1) of (password · NUL) XOR the nonce, repeated over longer passwords', () => {
    expect(publicKey).toContain('BEGIN PUBLIC KEY');
    for (const password of ['s3cret', 'a-password-longer-than-the-twenty-byte-nonce', 'ünïcode €', '']) {
      const nonce = randomBytes(20);
      const c = encryptPasswordRsa(password, nonce, publicKey);
      expect(c.length).toBe(256);
      const plain = unxor(decrypt(c), nonce);
      expect(plain.equals(Buffer.concat([Buffer.from(password, 'utf8'), Buffer.alloc(1)])), JSON.stringify(password)).toBe(true);
    }
  });

  it('is randomized (OAEP) and does not leak the password in clear', () => {
    const nonce = randomBytes(20);
    const a = encryptPasswordRsa('same', nonce, publicKey);
    const b = encryptPasswordRsa('same', nonce, publicKey);
    expect(a.equals(b)).toBe(false);
    expect(a.includes(Buffer.from('same'))).toBe(false);
  });

  it('a key that is not a PEM public key throws', () => {
    expect(() => encryptPasswordRsa('pw', randomBytes(20), 'not a key')).toThrow();
  });
});

describe('character sets refused by the gateway', () => {
  it('unsafeCollation: the one-byte collation ids of big5, sjis, gbk, cp932 and gb18030', () => {
    expect(unsafeCollation(28)).toBe('gbk'); // gbk_chinese_ci
    expect(unsafeCollation(87)).toBe('gbk'); // gbk_bin
    expect(unsafeCollation(1)).toBe('big5');
    expect(unsafeCollation(84)).toBe('big5');
    expect(unsafeCollation(13)).toBe('sjis');
    expect(unsafeCollation(88)).toBe('sjis');
    expect(unsafeCollation(95)).toBe('cp932');
    expect(unsafeCollation(96)).toBe('cp932');
    expect(unsafeCollation(248)).toBe('gb18030');
    for (const safe of [8, 33, 45, 46, 63, 83, 192, 224, 255, 12, 91, 97, 98, 0]) expect(unsafeCollation(safe), `id ${safe}`).toBeUndefined();
  });

  it('isUnsafeCharset: names and collation names, quoted or not, any case', () => {
    for (const n of ['sjis', 'gbk_chinese_ci', '`big5`', "'cp932'", '"GB18030"', 'GBK', 'sjis_bin', 'big5_chinese_nopad_ci']) {
      expect(isUnsafeCharset(n), n).toBe(true);
    }
    for (const n of ['utf8mb4', 'utf8mb4_general_ci', 'latin1', 'binary', 'ujis', 'eucjpms', 'gb2312', 'euckr', 'utf8', 'ascii', '']) {
      expect(isUnsafeCharset(n), n).toBe(false);
    }
  });
});
