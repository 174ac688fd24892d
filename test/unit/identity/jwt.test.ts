import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { TokenIssuerConfig } from '../../../src/config/schema.js';
import { looksLikeJwt, TokenVerifier } from '../../../src/identity/jwt.js';

const ISSUER = 'https://idp.test';
type Key = { kid: string; privateKey: CryptoKey; jwk: Record<string, unknown> };

async function newKey(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

let served: JSONWebKeySet = { keys: [] };
let fetches = 0;
let server: Server;
let jwksUrl: string;
let k1: Key;
let k2: Key;
let foreign: Key;

beforeAll(async () => {
  [k1, k2, foreign] = await Promise.all([newKey('k1'), newKey('k2'), newKey('k1')]);
  served = { keys: [k1.jwk as never] };
  server = createServer((_req, res) => {
    fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(served));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const issuer = (extra: Partial<TokenIssuerConfig> = {}): TokenIssuerConfig => ({
  issuer: ISSUER,
  audience: 'portcullis',
  jwks: jwksUrl,
  algorithms: ['RS256', 'ES256'],
  userClaim: 'preferred_username',
  groupsClaim: 'groups',
  ...extra,
});

async function sign(key: Key, claims: JWTPayload = {}, opts: { exp?: string | number; nbf?: string | number; aud?: string; iss?: string } = {}) {
  let jwt = new SignJWT({ preferred_username: 'alice', groups: ['dba', 'dev'], ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid })
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? 'portcullis')
    .setIssuedAt()
    .setSubject('user-123');
  if (opts.exp !== undefined) jwt = jwt.setExpirationTime(opts.exp);
  else jwt = jwt.setExpirationTime('5m');
  if (opts.nbf !== undefined) jwt = jwt.setNotBefore(opts.nbf);
  return jwt.sign(key.privateKey);
}

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('TokenVerifier with a remote JWKS', () => {
  it('accepts a valid token and maps user and groups', async () => {
    const v = new TokenVerifier([issuer()]);
    expect(await v.verify(await sign(k1))).toEqual({ user: 'alice', groups: ['dba', 'dev'], issuer: ISSUER });
  });

  it('reads groups from a space/comma separated string, and falls back to sub', async () => {
    const v = new TokenVerifier([issuer()]);
    const token = await sign(k1, { preferred_username: undefined, groups: 'dba, dev ops' });
    expect(await v.verify(token)).toEqual({ user: 'user-123', groups: ['dba', 'dev', 'ops'], issuer: ISSUER });
  });

  it('follows a dotted groups claim', async () => {
    const v = new TokenVerifier([issuer({ groupsClaim: 'realm_access.roles' })]);
    const token = await sign(k1, { realm_access: { roles: ['sre'] } });
    expect((await v.verify(token)).groups).toEqual(['sre']);
  });

  const refusals: Array<[string, () => Promise<string>, RegExp]> = [
    ['expired', () => sign(k1, {}, { exp: Math.floor(Date.now() / 1000) - 3600 }), /expired/],
    ['not yet valid', () => sign(k1, {}, { nbf: Math.floor(Date.now() / 1000) + 3600, exp: '2h' }), /not yet valid/],
    ['wrong audience', () => sign(k1, {}, { aud: 'someone-else' }), /audience/],
    ['unknown issuer', () => sign(k1, {}, { iss: 'https://evil.test' }), /unknown token issuer/],
    ['signed by a foreign key with a known kid', () => sign(foreign), /signature/],
    ['alg none', async () => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ iss: ISSUER, aud: 'portcullis', preferred_username: 'alice', exp: 4102444800 })}.`, /algorithm none not allowed/],
    [
      'alg none with a signature-shaped tail',
      async () => `${b64url({ alg: 'none' })}.${b64url({ iss: ISSUER, aud: 'portcullis', exp: 4102444800 })}.${'A'.repeat(43)}`,
      /not allowed/,
    ],
    ['HS256 (not in algorithms)', async () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISSUER).setAudience('portcullis').setExpirationTime('5m').sign(new Uint8Array(32)), /not allowed/],
    [
      'no exp claim',
      () => new SignJWT({ preferred_username: 'alice' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(ISSUER).setAudience('portcullis').sign(k1.privateKey),
      /exp/,
    ],
  ];
  it.each(refusals)('refuses a token: %s', async (_name, make, reason) => {
    const v = new TokenVerifier([issuer()]);
    await expect(v.verify(await make())).rejects.toThrow(reason);
  });

  it('follows key rotation: an unknown kid refetches the JWKS', async () => {
    const v = new TokenVerifier([issuer()], { jwksCooldownMs: 0 });
    expect((await v.verify(await sign(k1))).user).toBe('alice');
    const before = fetches;
    served = { keys: [k2.jwk as never] };
    try {
      expect((await v.verify(await sign(k2))).user).toBe('alice');
      expect(fetches).toBeGreaterThan(before);
      // the retired key is gone once the set has been refetched
      await expect(v.verify(await sign(k1))).rejects.toThrow(/no key/);
    } finally {
      served = { keys: [k1.jwk as never] };
    }
  });
});

describe('TokenVerifier with a jwksFile', () => {
  it('verifies against a local key set and picks the issuer by iss', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-jwks-'));
    const file = join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [k2.jwk] }));
    const local = issuer({ issuer: 'https://local.test', jwks: undefined, jwksFile: file, userClaim: 'email' });
    const v = new TokenVerifier([issuer(), local]);
    const token = await sign(k2, { email: 'bob@example.com' }, { iss: 'https://local.test' });
    expect(await v.verify(token)).toEqual({ user: 'bob@example.com', groups: ['dba', 'dev'], issuer: 'https://local.test' });
    // a token of the other issuer signed with this file's key does not verify there
    await expect(v.verify(await sign(k2))).rejects.toThrow(/no key|signature/);
  });

  it('fails at construction when the file is unusable', () => {
    expect(() => new TokenVerifier([issuer({ jwks: undefined, jwksFile: '/nonexistent/jwks.json' })])).toThrow();
  });
});

describe('looksLikeJwt', () => {
  it('recognizes three base64url segments starting with eyJ', async () => {
    expect(looksLikeJwt(await sign(k1))).toBe(true);
    expect(looksLikeJwt('eyJhbGciOiJub25lIn0.eyJ4IjoxfQ.')).toBe(true);
    for (const s of ['alice-secret', 'eyJ.only-two', 'abc.def.ghi', 'eyJa.b c.d', 'eyJ' + 'a'.repeat(20000) + '.b.c']) {
      expect(looksLikeJwt(s)).toBe(false);
    }
  });
});
