// The audit hash chain: every entry the store persists (session start, session end, event, recording index)
// gets a sequence number, the hash of the previous entry and its own hash, at push() time — before it is
// spooled, in the order the gateway produced them:
//   hash = SHA-256(prev || '\n' || canonical)   (hex; prev of the first entry is 64 zeros)
// where canonical is canonicalJson() of the entry as the store spools it ({ t: kind, … its fields }).
import crypto from 'node:crypto';

export const GENESIS = '0'.repeat(64);

/**
 * JSON with the keys of every object sorted (by UTF-16 code units, Array.prototype.sort's default), no
 * whitespace. Otherwise as JSON.stringify: undefined / function / symbol members are omitted (null in
 * arrays), numbers are JSON numbers (non-finite ones null), no toJSON() calls (the entries are plain data).
 */
export function canonicalJson(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) {
          if (i > 0) out += ',';
          const x: unknown = v[i];
          out += x === undefined || typeof x === 'function' || typeof x === 'symbol' ? 'null' : canonicalJson(x);
        }
        return out + ']';
      }
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      if (!isSorted(keys)) keys.sort();
      let out = '{';
      let first = true;
      for (const k of keys) {
        const x = o[k];
        if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
        if (!first) out += ',';
        first = false;
        out += quoteKey(k) + canonicalJson(x);
      }
      return out + '}';
    }
    case 'bigint':
      throw new TypeError('canonicalJson: a bigint cannot be encoded');
    default:
      // undefined, function, symbol at the top level
      return 'null';
  }
}

function isSorted(keys: string[]): boolean {
  for (let i = 1; i < keys.length; i++) if (keys[i - 1]! > keys[i]!) return false;
  return true;
}

/** `"key":` — the entries use a handful of field names: quote each once */
const quoted = new Map<string, string>();
function quoteKey(k: string): string {
  let q = quoted.get(k);
  if (q === undefined) {
    q = JSON.stringify(k) + ':';
    if (quoted.size < 1024) quoted.set(k, q);
  }
  return q;
}

// crypto.hash (one-shot, about twice as fast as createHash here) exists from Node 20.12
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

/** SHA-256(prev || '\n' || payload), hex (the text hashed as UTF-8). */
export function chainHash(prev: string, payload: string): string {
  const data = prev + '\n' + payload;
  return oneShot ? oneShot('sha256', data, 'hex') : crypto.createHash('sha256').update(data).digest('hex');
}

/** The chain fields an entry carries (in the spool line and the chain table). */
export interface ChainLink {
  seq: number;
  prev: string;
  hash: string;
}
