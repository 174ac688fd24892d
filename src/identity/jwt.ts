// OIDC/JWT access tokens (DESIGN "Identity and TLS"): the token arrives where a password would.
// Each configured issuer is checked explicitly (iss, aud, algorithms, exp required); the unverified
// `iss` claim is read only to choose which issuer's keys and rules apply.
import { readFileSync, statSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { TokenIssuerConfig } from '../config/schema.js';

export interface TokenIdentity {
  readonly user: string;
  readonly groups: string[];
  readonly issuer: string;
}

/** A refused token; `reason` is safe to log (it never contains the token). */
export class TokenError extends Error {
  override name = 'TokenError';
}

export interface TokenVerifierOptions {
  /** accepted clock skew for exp/nbf/iat, seconds (default 30) */
  clockToleranceSec?: number;
  /** remote JWKS: minimum time between refetches triggered by an unknown kid (default 30 s, jose's) */
  jwksCooldownMs?: number;
  /** remote JWKS: refetch after this age even without an unknown kid (default 10 min) */
  jwksCacheMaxAgeMs?: number;
  /** remote JWKS: HTTP timeout (default 5 s) */
  jwksTimeoutMs?: number;
}

/** Tokens longer than this are refused before any parsing. */
const MAX_TOKEN_LENGTH = 16 * 1024;
const JWT_RE = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Three base64url segments, the header starting `eyJ` (`{"`). An empty signature still counts (alg none). */
export function looksLikeJwt(s: string): boolean {
  return s.length <= MAX_TOKEN_LENGTH && JWT_RE.test(s);
}

interface IssuerEntry {
  readonly config: TokenIssuerConfig;
  readonly algorithms: string[];
  getKey: JWTVerifyGetKey;
}

export class TokenVerifier {
  private readonly byIssuer = new Map<string, IssuerEntry>();
  private readonly clockTolerance: number;

  /** Throws when a jwksFile cannot be read or parsed, so a bad config fails at start, not at first login. */
  constructor(issuers: readonly TokenIssuerConfig[], opts: TokenVerifierOptions = {}) {
    this.clockTolerance = opts.clockToleranceSec ?? 30;
    for (const config of issuers) {
      const algorithms = config.algorithms.filter((a) => a.toLowerCase() !== 'none');
      if (algorithms.length === 0) throw new Error(`token issuer ${config.issuer}: no algorithms allowed`);
      let getKey: JWTVerifyGetKey;
      if (config.jwks) {
        getKey = createRemoteJWKSet(new URL(config.jwks), {
          cooldownDuration: opts.jwksCooldownMs ?? 30_000,
          cacheMaxAge: opts.jwksCacheMaxAgeMs ?? 600_000,
          timeoutDuration: opts.jwksTimeoutMs ?? 5_000,
        });
      } else if (config.jwksFile) {
        getKey = fileKeySet(config.jwksFile);
      } else {
        throw new Error(`token issuer ${config.issuer}: neither jwks nor jwksFile`);
      }
      this.byIssuer.set(config.issuer, { config, algorithms, getKey });
    }
  }

  get issuers(): string[] {
    return [...this.byIssuer.keys()];
  }

  /** Verifies a token and maps it to an identity; throws TokenError when refused. */
  async verify(token: string): Promise<TokenIdentity> {
    if (!looksLikeJwt(token)) throw new TokenError('not a JWT');
    let iss: unknown;
    let alg: unknown;
    try {
      iss = decodeJwt(token).iss;
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new TokenError('malformed token');
    }
    if (typeof iss !== 'string') throw new TokenError('token has no issuer');
    const entry = this.byIssuer.get(iss);
    if (!entry) throw new TokenError(`unknown token issuer ${JSON.stringify(iss.slice(0, 200))}`);
    // jose refuses these too; checking first gives a clear reason and never lets `none` near a key lookup
    if (typeof alg !== 'string' || !entry.algorithms.includes(alg)) throw new TokenError(`algorithm ${String(alg)} not allowed`);

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, entry.getKey, {
        issuer: entry.config.issuer,
        audience: entry.config.audience,
        algorithms: entry.algorithms,
        clockTolerance: this.clockTolerance,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      throw new TokenError(reasonFor(err));
    }
    const userValue = claim(payload, entry.config.userClaim) ?? payload.sub;
    if (typeof userValue !== 'string' || userValue.length === 0) {
      throw new TokenError(`token has no "${entry.config.userClaim}" or "sub" claim`);
    }
    return { user: userValue, groups: groupsFrom(claim(payload, entry.config.groupsClaim)), issuer: iss };
  }
}

/** A top-level claim, or a dotted path into nested objects (e.g. Keycloak's `realm_access.roles`). */
function claim(payload: JWTPayload, name: string): unknown {
  if (name in payload) return payload[name];
  let cur: unknown = payload;
  for (const part of name.split('.')) {
    if (cur === null || typeof cur !== 'object' || !(part in cur)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function groupsFrom(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === 'string' && g.length > 0);
  if (typeof value === 'string') return value.split(/[\s,]+/).filter((g) => g.length > 0);
  return [];
}

function reasonFor(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const claimName = (err as { claim?: unknown }).claim;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'token expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claimName === 'nbf') return 'token not yet valid';
      if (claimName === 'aud') return 'token audience does not match';
      if (claimName === 'iss') return 'token issuer does not match';
      return `token claim "${String(claimName)}" check failed`;
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'token signature does not verify';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'no key of the issuer matches the token';
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'several keys of the issuer match the token (no kid?)';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'token algorithm not allowed';
    case 'ERR_JWKS_TIMEOUT':
      return 'the issuer\'s JWKS did not answer in time';
    case 'ERR_JWT_INVALID':
    case 'ERR_JWS_INVALID':
      return 'malformed token';
    default:
      return err instanceof Error && /fetch|JWKS|ECONN|ENOTFOUND/i.test(err.message)
        ? 'cannot fetch the issuer\'s JWKS'
        : 'token refused';
  }
}

/** A local JWKS file, re-read when its mtime changes and a token names a key it does not have. */
function fileKeySet(path: string): JWTVerifyGetKey {
  const load = (): { mtimeMs: number; getKey: JWTVerifyGetKey } => {
    const mtimeMs = statSync(path).mtimeMs;
    let jwks: JSONWebKeySet;
    try {
      jwks = JSON.parse(readFileSync(path, 'utf8')) as JSONWebKeySet;
    } catch (err) {
      throw new Error(`jwksFile ${path}: ${(err as Error).message}`);
    }
    if (!jwks || !Array.isArray(jwks.keys)) throw new Error(`jwksFile ${path}: not a JWKS (no "keys" array)`);
    return { mtimeMs, getKey: createLocalJWKSet(jwks) };
  };
  let current = load();
  return async (header, token) => {
    try {
      return await current.getKey(header, token);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw err;
      let mtimeMs: number;
      try {
        mtimeMs = statSync(path).mtimeMs;
      } catch {
        throw err;
      }
      if (mtimeMs === current.mtimeMs) throw err;
      current = load();
      return current.getKey(header, token);
    }
  };
}
