import { verifyPasswordAsync } from '../../../src/identity/passwords.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { configSchema, type Config } from '../../../src/config/schema.js';
import { IdentityProvider } from '../../../src/identity/provider.js';
import { hashPassword } from '../../../src/identity/passwords.js';
import { createScramVerifier, parseScramVerifier } from '../../../src/identity/scram.js';

let privateKey: CryptoKey;
let config: Config;
const aliceHash = hashPassword('alice-secret', { mysql: true });

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-provider-'));
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'a', alg: 'ES256' }] }));
  config = configSchema.parse({
    identity: {
      users: [
        { name: 'alice', groups: ['dba'], password: { hash: aliceHash } },
        { name: 'bob', groups: ['local-group'], password: { hash: hashPassword('bob-pw') } },
        { name: 'keyonly', sshKeys: ['ssh-ed25519 AAAA'] },
      ],
      tokens: [{ issuer: 'https://idp.test', audience: 'portcullis', jwksFile, algorithms: ['ES256'] }],
    },
    connections: [
      { name: 'app-db', protocol: 'postgres', target: { host: 'db' }, allow: ['dba', 'carol'] },
    ],
  });
});

const token = (user: string, groups: unknown = ['dev']) =>
  new SignJWT({ preferred_username: user, groups })
    .setProtectedHeader({ alg: 'ES256', kid: 'a' })
    .setIssuer('https://idp.test')
    .setAudience('portcullis')
    .setExpirationTime('5m')
    .sign(privateKey);

describe('passwords', () => {
  it('accepts a local user with the right password, with groups from config', async () => {
    const id = new IdentityProvider(config);
    expect(await id.authenticatePassword('alice', 'alice-secret')).toEqual({ ok: true, user: 'alice', groups: ['dba'], method: 'password' });
  });

  it('refuses wrong, empty and unknown', async () => {
    const id = new IdentityProvider(config);
    expect(await id.authenticatePassword('alice', 'nope')).toEqual({ ok: false, reason: 'wrong password' });
    expect(await id.authenticatePassword('alice', '')).toEqual({ ok: false, reason: 'empty password' });
    expect(await id.authenticatePassword('mallory', 'alice-secret')).toEqual({ ok: false, reason: 'unknown user' });
    expect(await id.authenticatePassword('keyonly', 'x')).toEqual({ ok: false, reason: 'user has no password' });
  });

  it('remembers a successful check for a while, never a failed one', async () => {
    const slow = configSchema.parse({
      identity: { users: [{ name: 'erin', password: { hash: createScramVerifier('erin-pw', 4096) } }] },
    });
    let now = 1_000_000;
    let checks = 0;
    const id = new IdentityProvider(slow, {
      now: () => now,
      passwordCacheTtlMs: 60_000,
      verifyPassword: async (pw, stored) => {
        checks++;
        return verifyPasswordAsync(pw, stored);
      },
    });
    expect((await id.authenticatePassword('erin', 'erin-pw')).ok).toBe(true);
    expect(checks).toBe(1);
    expect((await id.authenticatePassword('erin', 'erin-pw')).ok).toBe(true);
    expect(checks).toBe(1); // served from the cache
    // a wrong password is never served from the cache
    expect((await id.authenticatePassword('erin', 'erin-PW')).ok).toBe(false);
    expect(checks).toBe(2);
    now += 61_000;
    expect((await id.authenticatePassword('erin', 'erin-pw')).ok).toBe(true);
    expect(checks).toBe(3); // expired: checked again
  });

  it('exposes the stored verifiers for SCRAM and mysql_native_password', () => {
    const id = new IdentityProvider(config);
    expect(id.scramVerifier('alice')).toEqual(parseScramVerifier(aliceHash.split(';')[0]!));
    expect(id.scramVerifier('keyonly')).toBeNull();
    expect(id.scramVerifier('nobody')).toBeNull();
    expect(id.mysqlNativeVerifier('alice')).toHaveLength(20);
    expect(id.mysqlNativeVerifier('bob')).toBeNull();
    expect(id.localUser('bob')?.groups).toEqual(['local-group']);
  });
});

describe('tokens', () => {
  it('accepts a token whose user claim equals the login name, with groups from the token only', async () => {
    const id = new IdentityProvider(config);
    // bob is also a local user in local-group: the groups are not merged
    expect(await id.authenticatePassword('bob', await token('bob', ['dev']))).toEqual({ ok: true, user: 'bob', groups: ['dev'], method: 'jwt' });
  });

  it('refuses a token for someone else', async () => {
    const id = new IdentityProvider(config);
    const r = await id.authenticatePassword('alice', await token('bob'));
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toContain('does not match');
  });

  it('checks JWT-shaped secrets only as tokens, never as passwords', async () => {
    const jwtShaped = 'eyJhbGciOiJFUzI1NiJ9.eyJ4IjoxfQ.c2ln';
    const cfg = configSchema.parse({ identity: { users: [{ name: 'dan', password: { hash: hashPassword(jwtShaped) } }] } });
    const id = new IdentityProvider(cfg);
    expect(await id.authenticatePassword('dan', jwtShaped)).toEqual({ ok: false, reason: 'token login is not configured' });
  });
});

describe('mayUse', () => {
  it('allows listed groups only (a user named like a listed entry is not enough)', () => {
    const id = new IdentityProvider(config);
    const conn = config.connections[0]!;
    expect(id.mayUse({ user: 'alice', groups: ['dba'] }, conn)).toBe(true);
    expect(id.mayUse({ user: 'carol', groups: [] }, conn)).toBe(false);
    expect(id.mayUse({ user: 'bob', groups: ['dev'] }, conn)).toBe(false);
  });
});
