// The stored form of a local user's password (`identity.users[].password.hash`):
//   SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>[;mysql=*HEX]
// The SCRAM verifier serves both cleartext logins (PBKDF2 check) and the SCRAM listener mode; the
// optional unsalted MySQL verifier is only present when `portcullis users hash --mysql` asked for it.
import { createScramVerifier, parseScramVerifier, verifyPasswordWithScram, verifyPasswordWithScramAsync, type ScramVerifier } from './scram.js';
import { createMysqlNativeVerifier, parseMysqlNativeVerifier } from './mysql.js';

export interface StoredHash {
  readonly scram: ScramVerifier;
  /** SHA1(SHA1(password)), 20 bytes, when the opt-in MySQL verifier is stored */
  readonly mysqlNative?: Buffer;
}

export function hashPassword(password: string, opts: { mysql?: boolean } = {}): string {
  if (password.length === 0) throw new Error('refusing to hash an empty password');
  const scram = createScramVerifier(password);
  return opts.mysql ? `${scram};mysql=${createMysqlNativeVerifier(password)}` : scram;
}

/** Throws an Error whose message never contains the input. */
export function parseStoredHash(s: string): StoredHash {
  const [scramPart, ...rest] = s.trim().split(';');
  let scram: ScramVerifier;
  try {
    scram = parseScramVerifier(scramPart ?? '');
  } catch {
    throw new Error('not a password hash (expected SCRAM-SHA-256$…; generate one with `portcullis users hash`)');
  }
  let mysqlNative: Buffer | undefined;
  for (const part of rest) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    if (key !== 'mysql' || mysqlNative) throw new Error('password hash: unexpected suffix after the SCRAM verifier');
    try {
      mysqlNative = parseMysqlNativeVerifier(part.slice(eq + 1));
    } catch {
      throw new Error('password hash: the mysql= part is not *<40 hex digits>');
    }
  }
  return mysqlNative ? { scram, mysqlNative } : { scram };
}

const asStored = (stored: string | StoredHash): StoredHash => (typeof stored === 'string' ? parseStoredHash(stored) : stored);

/** Synchronous check (CLI, tests). The gateway uses verifyPasswordAsync. */
export function verifyPassword(password: string, stored: string | StoredHash): boolean {
  if (password.length === 0) return false;
  return verifyPasswordWithScram(password, asStored(stored).scram);
}

export async function verifyPasswordAsync(password: string, stored: string | StoredHash): Promise<boolean> {
  if (password.length === 0) return false;
  return verifyPasswordWithScramAsync(password, asStored(stored).scram);
}
