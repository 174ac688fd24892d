// Who is this? Local users (config) and JWT access tokens, behind one seam used by every protocol.
// A token user's groups come from the token; a local user's from config; they are never merged.
import { createHmac, randomBytes } from 'node:crypto';
import type { Config, ConnectionConfig, UserConfig } from '../config/schema.js';
import { looksLikeJwt, TokenError, TokenVerifier, type TokenVerifierOptions } from './jwt.js';
import { parseStoredHash, verifyPasswordAsync, type StoredHash } from './passwords.js';
import { mockScramVerifier, verifyPasswordWithScramAsync, type ScramVerifier } from './scram.js';

export type AuthResult =
  | { ok: true; user: string; groups: string[]; method: 'password' | 'jwt' }
  | { ok: false; reason: string };

export interface IdentityProviderOptions {
  tokens?: TokenVerifierOptions;
  /** how long a successful password check is remembered (default 5 min; 0 disables) */
  passwordCacheTtlMs?: number;
  /** bound on remembered password checks (default 10,000) */
  passwordCacheMax?: number;
  /** the stored-hash check (tests count calls through it) */
  verifyPassword?: (password: string, stored: StoredHash) => Promise<boolean>;
  /** clock, for tests */
  now?: () => number;
}

export class IdentityProvider {
  private readonly users = new Map<string, UserConfig>();
  private readonly hashes = new Map<string, StoredHash>();
  private readonly tokens: TokenVerifier | null;
  // Successful PBKDF2 checks, keyed by HMAC(per-process key, user · password · stored hash) → expiry.
  // The cleartext is never kept; a changed hash changes the key.
  private readonly verified = new Map<string, number>();
  private readonly cacheKey = randomBytes(32);
  private readonly cacheTtlMs: number;
  private readonly cacheMax: number;
  private readonly now: () => number;
  private readonly verify: (password: string, stored: StoredHash) => Promise<boolean>;

  /** Throws when a stored hash or a jwksFile is unusable (the config loader reports these earlier, with lines). */
  constructor(config: Config, opts: IdentityProviderOptions = {}) {
    for (const u of config.identity.users) {
      this.users.set(u.name, u);
      if (u.password) this.hashes.set(u.name, parseStoredHash(u.password.hash));
    }
    this.tokens = config.identity.tokens.length > 0 ? new TokenVerifier(config.identity.tokens, opts.tokens) : null;
    this.cacheTtlMs = opts.passwordCacheTtlMs ?? 5 * 60_000;
    this.cacheMax = opts.passwordCacheMax ?? 10_000;
    this.now = opts.now ?? Date.now;
    this.verify = opts.verifyPassword ?? verifyPasswordAsync;
  }

  /**
   * A password-shaped secret from a client. JWT-shaped secrets are checked as tokens only (the token's
   * user claim must equal `user`); anything else against the local user's stored hash.
   */
  async authenticatePassword(user: string, secret: string): Promise<AuthResult> {
    if (secret.length === 0) return { ok: false, reason: 'empty password' };
    if (looksLikeJwt(secret)) return this.authenticateToken(user, secret);

    const local = this.users.get(user);
    const stored = this.hashes.get(user);
    if (!local || !stored) {
      // same PBKDF2 work as a real check, so timing does not reveal which users exist
      await verifyPasswordWithScramAsync(secret, mockScramVerifier(user));
      return { ok: false, reason: local ? 'user has no password' : 'unknown user' };
    }
    const key = this.cacheKeyFor(user, secret, local.password?.hash ?? '');
    const expiry = this.verified.get(key);
    const now = this.now();
    if (expiry !== undefined && expiry > now) return this.localSuccess(local);
    if (expiry !== undefined) this.verified.delete(key);

    if (!(await this.verify(secret, stored))) return { ok: false, reason: 'wrong password' };
    this.remember(key, now);
    return this.localSuccess(local);
  }

  /** The stored SCRAM verifier for the SCRAM listener mode; null for unknown users or users without a password. */
  scramVerifier(user: string): ScramVerifier | null {
    return this.hashes.get(user)?.scram ?? null;
  }

  /** The stored mysql_native_password verifier (20 bytes), when the user opted in with `users hash --mysql`. */
  mysqlNativeVerifier(user: string): Buffer | null {
    return this.hashes.get(user)?.mysqlNative ?? null;
  }

  localUser(user: string): UserConfig | undefined {
    return this.users.get(user);
  }

  /** True when the connection's allow list names one of the identity's groups or the user itself. */
  mayUse(identity: { user: string; groups: readonly string[] }, connection: ConnectionConfig): boolean {
    // Groups only: accepting user names too would let a token user named like a group pass.
    for (const entry of connection.allow) {
      if (identity.groups.includes(entry)) return true;
    }
    return false;
  }

  private async authenticateToken(user: string, token: string): Promise<AuthResult> {
    if (!this.tokens) return { ok: false, reason: 'token login is not configured' };
    try {
      const id = await this.tokens.verify(token);
      if (id.user !== user) return { ok: false, reason: `token user ${JSON.stringify(id.user)} does not match the login name` };
      return { ok: true, user: id.user, groups: id.groups, method: 'jwt' };
    } catch (err) {
      if (err instanceof TokenError) return { ok: false, reason: err.message };
      return { ok: false, reason: `token check failed: ${(err as Error).message}` };
    }
  }

  private localSuccess(u: UserConfig): AuthResult {
    return { ok: true, user: u.name, groups: [...u.groups], method: 'password' };
  }

  private cacheKeyFor(user: string, secret: string, hash: string): string {
    return createHmac('sha256', this.cacheKey).update(user).update('\0').update(secret).update('\0').update(hash).digest('base64');
  }

  private remember(key: string, now: number): void {
    if (this.cacheTtlMs <= 0) return;
    if (this.verified.size >= this.cacheMax) {
      // drop expired entries first, then the oldest (Map keeps insertion order)
      for (const [k, exp] of this.verified) if (exp <= now) this.verified.delete(k);
      while (this.verified.size >= this.cacheMax) this.verified.delete(this.verified.keys().next().value as string);
    }
    this.verified.set(key, now + this.cacheTtlMs);
  }
}
