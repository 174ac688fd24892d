// SCRAM-SHA-256 (RFC 5802, RFC 7677) the way PostgreSQL speaks it: no channel binding over this seam
// (`p=` is refused), no authzid, the username in client-first is ignored (the startup packet names the
// user), and verifiers are stored as `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`.
import { createHash, createHmac, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { saslprep } from './saslprep.js';

export interface ScramVerifier {
  readonly iterations: number;
  readonly salt: Buffer;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

/** A malformed or out-of-order SCRAM message: a protocol violation, not a wrong password. */
export class ScramError extends Error {
  override name = 'ScramError';
}

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';
const KEY_LEN = 32;
const NONCE_BYTES = 18;
const MAX_ITERATIONS = 10_000_000;

const hmac = (key: Buffer, data: string | Buffer): Buffer => createHmac('sha256', key).update(data).digest();
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

function saltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(Buffer.from(saslprep(password), 'utf8'), salt, iterations, KEY_LEN, 'sha256');
}

function saltedPasswordAsync(password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(Buffer.from(saslprep(password), 'utf8'), salt, iterations, KEY_LEN, 'sha256', (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

function keysFromSalted(salted: Buffer): { clientKey: Buffer; storedKey: Buffer; serverKey: Buffer } {
  const clientKey = hmac(salted, 'Client Key');
  return { clientKey, storedKey: sha256(clientKey), serverKey: hmac(salted, 'Server Key') };
}

function formatVerifier(iterations: number, salt: Buffer, storedKey: Buffer, serverKey: Buffer): string {
  return `${SCRAM_MECHANISM}$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** PostgreSQL's stored form of a SCRAM-SHA-256 secret (what `password_encryption = scram-sha-256` stores). */
export function createScramVerifier(password: string, iterations = 4096, salt?: Buffer): string {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new RangeError('iterations must be an integer between 1 and 10000000');
  }
  const s = salt ?? randomBytes(16);
  const { storedKey, serverKey } = keysFromSalted(saltedPassword(password, s, iterations));
  return formatVerifier(iterations, s, storedKey, serverKey);
}

const B64 = '[A-Za-z0-9+/]+={0,2}';
const VERIFIER_RE = new RegExp(`^SCRAM-SHA-256\\$(\\d+):(${B64})\\$(${B64}):(${B64})$`);

export function parseScramVerifier(s: string): ScramVerifier {
  const m = VERIFIER_RE.exec(s.trim());
  if (!m) throw new Error('not a SCRAM-SHA-256 verifier');
  const iterations = Number(m[1]);
  const salt = Buffer.from(m[2]!, 'base64');
  const storedKey = Buffer.from(m[3]!, 'base64');
  const serverKey = Buffer.from(m[4]!, 'base64');
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new Error('SCRAM verifier: bad iteration count');
  }
  if (salt.length === 0 || storedKey.length !== KEY_LEN || serverKey.length !== KEY_LEN) {
    throw new Error('SCRAM verifier: bad salt or key length');
  }
  return { iterations, salt, storedKey, serverKey };
}

const asVerifier = (v: string | ScramVerifier): ScramVerifier => (typeof v === 'string' ? parseScramVerifier(v) : v);

function matchesVerifier(salted: Buffer, v: ScramVerifier): boolean {
  const { storedKey, serverKey } = keysFromSalted(salted);
  // both comparisons always run: no early exit that would time the first one
  const a = timingSafeEqual(storedKey, v.storedKey);
  const b = timingSafeEqual(serverKey, v.serverKey);
  return a && b;
}

/** Checks a cleartext password against a verifier (PBKDF2 with the verifier's salt and iterations). */
export function verifyPasswordWithScram(password: string, verifier: string | ScramVerifier): boolean {
  const v = asVerifier(verifier);
  return matchesVerifier(saltedPassword(password, v.salt, v.iterations), v);
}

/** The same check with PBKDF2 on the libuv thread pool, so logins do not stall the event loop. */
export async function verifyPasswordWithScramAsync(password: string, verifier: string | ScramVerifier): Promise<boolean> {
  const v = asVerifier(verifier);
  return matchesVerifier(await saltedPasswordAsync(password, v.salt, v.iterations), v);
}

// ---- message parsing ------------------------------------------------------------------------

/** Parses `k=v,k=v` attributes, keeping order; values may contain '=' (base64). */
function attributes(msg: string): Array<[string, string]> {
  return msg.split(',').map((part) => {
    if (part.length < 2 || part[1] !== '=' || !/^[A-Za-z]$/.test(part[0]!)) {
      throw new ScramError('malformed SCRAM attribute');
    }
    return [part[0]!, part.slice(2)];
  });
}

// printable ASCII except ',' (RFC 5802 §7 "printable")
const NONCE_RE = /^[\x21-\x2B\x2D-\x7E]+$/;

const newNonce = (): string => randomBytes(NONCE_BYTES).toString('base64');

/** Server half, one instance per authentication exchange. */
export class ScramServer {
  private readonly verifier: ScramVerifier;
  private readonly serverNonceSuffix: string;
  private state: 'first' | 'final' | 'done' = 'first';
  private clientFirstBare = '';
  private serverFirst = '';
  private gs2Header = '';
  private nonce = '';

  /** `opts.serverNonce` exists for test vectors only. */
  constructor(verifier: string | ScramVerifier, opts: { serverNonce?: string } = {}) {
    this.verifier = asVerifier(verifier);
    this.serverNonceSuffix = opts.serverNonce ?? newNonce();
  }

  // client-first-message = gs2-header client-first-message-bare
  // gs2-header = gs2-cbind-flag "," [ authzid ] ","   (n | y | p=name)
  // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
  handleClientFirst(msg: string): string {
    if (this.state !== 'first') throw new ScramError('unexpected SCRAM client-first message');
    this.state = 'done';
    const flag = msg[0];
    if (flag === 'p') throw new ScramError('channel binding is not supported by this server');
    if ((flag !== 'n' && flag !== 'y') || msg[1] !== ',') throw new ScramError('malformed SCRAM gs2 header');
    const authzEnd = msg.indexOf(',', 2);
    if (authzEnd < 0) throw new ScramError('malformed SCRAM gs2 header');
    if (authzEnd !== 2) throw new ScramError('SCRAM authorization identity is not supported');
    this.gs2Header = msg.slice(0, 3);
    this.clientFirstBare = msg.slice(3);
    const attrs = attributes(this.clientFirstBare);
    if (attrs[0]?.[0] === 'm') throw new ScramError('SCRAM extensions are not supported');
    if (attrs[0]?.[0] !== 'n' || attrs[1]?.[0] !== 'r') throw new ScramError('malformed SCRAM client-first message');
    const clientNonce = attrs[1][1];
    if (!NONCE_RE.test(clientNonce)) throw new ScramError('malformed SCRAM client nonce');
    this.nonce = clientNonce + this.serverNonceSuffix;
    const v = this.verifier;
    this.serverFirst = `r=${this.nonce},s=${v.salt.toString('base64')},i=${v.iterations}`;
    this.state = 'final';
    return this.serverFirst;
  }

  // client-final-message = channel-binding "," nonce ["," extensions] "," proof
  handleClientFinal(msg: string): { ok: boolean; serverFinal?: string } {
    if (this.state !== 'final') throw new ScramError('unexpected SCRAM client-final message');
    this.state = 'done';
    const attrs = attributes(msg);
    const [c, r] = attrs;
    const p = attrs[attrs.length - 1]!;
    if (attrs.length < 3 || c?.[0] !== 'c' || r?.[0] !== 'r' || p[0] !== 'p') {
      throw new ScramError('malformed SCRAM client-final message');
    }
    if (c[1] !== Buffer.from(this.gs2Header).toString('base64')) {
      throw new ScramError('SCRAM channel binding data does not match');
    }
    if (r[1] !== this.nonce) throw new ScramError('SCRAM nonce does not match');
    const proof = Buffer.from(p[1], 'base64');
    if (proof.length !== KEY_LEN) throw new ScramError('malformed SCRAM client proof');

    const withoutProof = msg.slice(0, msg.lastIndexOf(',p='));
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const clientSignature = hmac(this.verifier.storedKey, authMessage);
    const clientKey = xor(proof, clientSignature);
    if (!timingSafeEqual(sha256(clientKey), this.verifier.storedKey)) return { ok: false };
    const serverSignature = hmac(this.verifier.serverKey, authMessage);
    return { ok: true, serverFinal: `v=${serverSignature.toString('base64')}` };
  }
}

/**
 * A verifier for a user that does not exist (or has no password), so that the exchange looks the
 * same as for a real user and always fails — as PostgreSQL's mock authentication does.
 * The salt is stable per user name for the life of the process.
 */
export function mockScramVerifier(user: string): ScramVerifier {
  return {
    iterations: 4096,
    salt: hmac(MOCK_KEY, user).subarray(0, 16),
    storedKey: randomBytes(KEY_LEN),
    serverKey: randomBytes(KEY_LEN),
  };
}
const MOCK_KEY = randomBytes(32);

// ---- client half (the gateway logging in to a PostgreSQL target) ------------------------------

// PBKDF2 results for target logins, so reconnect storms (pgbench -C) do not redo 4096 rounds each time.
// Keyed by a hash of (password, salt, iterations); bounded.
const saltedCache = new Map<string, Buffer>();
const SALTED_CACHE_MAX = 64;

function cachedSaltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  const key = createHmac('sha256', CACHE_KEY).update(`${iterations}\0${salt.toString('base64')}\0${password}`).digest('base64');
  const hit = saltedCache.get(key);
  if (hit) return hit;
  const salted = saltedPassword(password, salt, iterations);
  if (saltedCache.size >= SALTED_CACHE_MAX) saltedCache.delete(saltedCache.keys().next().value as string);
  saltedCache.set(key, salted);
  return salted;
}
const CACHE_KEY = randomBytes(32);

export class ScramClient {
  private readonly password: string;
  private readonly clientNonce: string;
  private clientFirstBare = '';
  private expectedServerSignature: Buffer | null = null;
  private state: 'init' | 'first-sent' | 'final-sent' | 'done' = 'init';

  /**
   * `user` is not sent: like libpq, the bare message carries an empty name because PostgreSQL takes
   * the user from the startup packet. `opts.nonce` exists for test vectors only.
   */
  constructor(
    readonly user: string,
    password: string,
    opts: { nonce?: string } = {},
  ) {
    this.password = password;
    this.clientNonce = opts.nonce ?? newNonce();
  }

  clientFirst(): string {
    if (this.state !== 'init') throw new ScramError('SCRAM client-first already sent');
    this.state = 'first-sent';
    this.clientFirstBare = `n=,r=${this.clientNonce}`;
    return `n,,${this.clientFirstBare}`;
  }

  handleServerFirst(msg: string): string {
    if (this.state !== 'first-sent') throw new ScramError('unexpected SCRAM server-first message');
    this.state = 'final-sent';
    const attrs = attributes(msg);
    if (attrs[0]?.[0] === 'm') throw new ScramError('SCRAM extensions are not supported');
    const [r, s, i] = attrs;
    if (r?.[0] !== 'r' || s?.[0] !== 's' || i?.[0] !== 'i') throw new ScramError('malformed SCRAM server-first message');
    const nonce = r[1];
    if (!nonce.startsWith(this.clientNonce) || nonce.length <= this.clientNonce.length || !NONCE_RE.test(nonce)) {
      throw new ScramError('SCRAM server nonce does not extend the client nonce');
    }
    const salt = Buffer.from(s[1], 'base64');
    if (!/^\d+$/.test(i[1])) throw new ScramError('malformed SCRAM iteration count');
    const iterations = Number(i[1]);
    if (salt.length === 0 || iterations < 1 || iterations > MAX_ITERATIONS) {
      throw new ScramError('unacceptable SCRAM salt or iteration count');
    }
    const { clientKey, storedKey, serverKey } = keysFromSalted(cachedSaltedPassword(this.password, salt, iterations));
    const withoutProof = `c=biws,r=${nonce}`; // biws = base64("n,,")
    const authMessage = `${this.clientFirstBare},${msg},${withoutProof}`;
    const proof = xor(clientKey, hmac(storedKey, authMessage));
    this.expectedServerSignature = hmac(serverKey, authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** True when the server proved it knows the verifier; false on `e=` or a wrong signature. */
  verifyServerFinal(msg: string): boolean {
    if (this.state !== 'final-sent' || !this.expectedServerSignature) return false;
    this.state = 'done';
    const m = /^v=([A-Za-z0-9+/]+={0,2})(,.*)?$/.exec(msg);
    if (!m) return false;
    const got = Buffer.from(m[1]!, 'base64');
    return got.length === KEY_LEN && timingSafeEqual(got, this.expectedServerSignature);
  }
}
