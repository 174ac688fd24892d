// How a sensitive value is replaced: redact, partial, keyed hash, SQL NULL, type-valid fake.
// Strategies run only on values that are being masked, never on the pass-through path.
import { createHmac, randomBytes } from 'node:crypto';
import type { MaskingProfileConfig } from '../src/config/schema.js';
import type { EntityKind } from './detectors/detector.js';
import { isIPv4, isIPv6 } from './detectors/ip.js';

export type MaskWith = MaskingProfileConfig['with'];

export const REDACTED = '[REDACTED]';
/** Luhn-valid Visa test number: a fake card still passes client-side validation. */
export const FAKE_CARD = '4000000000000002';
export const FAKE_EMAIL = 'user@example.invalid';
// RFC 5737 / RFC 3849 documentation addresses
const FAKE_IPV4 = '192.0.2.1';
const FAKE_IPV6 = '2001:db8::1';

export interface Strategy {
  readonly name: MaskWith;
  /** A detected span inside a text cell. Never null: a NULL in the middle of text is not a thing. */
  span(kind: EntityKind, value: string): string;
  /** A whole text cell matched by a column rule; `buf[start, end)` holds the same value as bytes. */
  textCell(value: string, buf: Buffer, start: number, end: number): string | null;
  /**
   * A whole non-text cell (binary or typed) matched by a column rule. Its bytes are not shown in
   * any form: the protocol layer turns the result into a type-valid value.
   */
  opaqueCell(buf: Buffer, start: number, end: number): string | null;
  /** `hash` only: the keyed HMAC-SHA-256 of a value, from which typed replacements derive (masking/typed.ts) */
  readonly digest?: (data: string | Buffer) => Buffer;
}

/** Set when a profile hashes without a hashKey; see `hashKeyNote`. */
let processKey: Buffer | undefined;

/** The key used when a profile has no hashKey: random, fixed for this process only. */
function fallbackKey(): Buffer {
  processKey ??= randomBytes(32);
  return processKey;
}

export function hashKeyNote(profile: string): string {
  return (
    `masking profile "${profile}": hash without hashKey uses a random per-process key; ` +
    'hashes differ across restarts and gateway instances'
  );
}

export function createStrategy(name: MaskWith, hashKey?: string): Strategy {
  switch (name) {
    case 'redact':
      return { name, span: () => REDACTED, textCell: () => REDACTED, opaqueCell: () => REDACTED };
    case 'null':
      // within detection a NULL cannot replace part of a string: redact that part instead
      return { name, span: () => REDACTED, textCell: () => null, opaqueCell: () => null };
    case 'partial':
      return {
        name,
        span: partial,
        textCell: (value) => partial(guessKind(value), value),
        opaqueCell: () => REDACTED,
      };
    case 'replace':
      return {
        name,
        span: replace,
        textCell: (value) => replace(guessKind(value), value),
        opaqueCell: () => REDACTED,
      };
    case 'hash': {
      const key = hashKey === undefined ? fallbackKey() : Buffer.from(hashKey, 'utf8');
      // same input bytes and key → same output, so masked values still join and group
      const digest = (data: string | Buffer): Buffer => createHmac('sha256', key).update(data).digest();
      const hex = (data: string | Buffer): string => 'hash:' + digest(data).toString('hex', 0, 8);
      return {
        name,
        digest,
        span: (_kind, value) => hex(value),
        textCell: (_value, buf, start, end) => hex(buf.subarray(start, end)),
        opaqueCell: (buf, start, end) => hex(buf.subarray(start, end)),
      };
    }
  }
}

const WHOLE_EMAIL = /^[^@\s]+@[^@\s]+$/;
const CARD_SHAPE = /^\d(?:[ -]?\d){12,18}$/;

/** Shape of a whole cell matched by a column rule, so that `partial`/`replace` keep a useful form. */
export function guessKind(value: string): EntityKind {
  if (WHOLE_EMAIL.test(value)) return 'email';
  if (CARD_SHAPE.test(value)) return 'card';
  if (isIPv4(value) || isIPv6(value)) return 'ip';
  return 'text';
}

export function partial(kind: EntityKind, value: string): string {
  switch (kind) {
    case 'email': {
      const at = value.lastIndexOf('@');
      const first = String.fromCodePoint(value.codePointAt(0) ?? 0x2a);
      return (at > 0 ? first : '') + '***' + value.slice(at);
    }
    case 'card': {
      const digits = value.replace(/\D/g, '');
      return '**** **** **** ' + digits.slice(-4);
    }
    case 'secret':
      // even four characters of a credential help guessing it
      return REDACTED;
    default:
      return partialText(value);
  }
}

function isAlnumChar(ch: string): boolean {
  const c = ch.codePointAt(0) ?? 0;
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c > 0x7f;
}

// Long values (8+ letters/digits) keep their last 4 and their punctuation ("***-**-6789");
// short ones keep the first and last character ("B*b"). Iterates code points: never splits UTF-16 pairs.
function partialText(value: string): string {
  const chars = Array.from(value);
  let alnum = 0;
  for (const ch of chars) if (isAlnumChar(ch)) alnum++;
  if (alnum >= 8) {
    let keep = 4;
    for (let k = chars.length - 1; k >= 0; k--) {
      if (!isAlnumChar(chars[k])) continue;
      if (keep > 0) keep--;
      else chars[k] = '*';
    }
    return chars.join('');
  }
  if (chars.length <= 2) return '*'.repeat(chars.length);
  return chars[0] + '*'.repeat(chars.length - 2) + chars[chars.length - 1];
}

export function replace(kind: EntityKind, value: string): string {
  switch (kind) {
    case 'email':
      return FAKE_EMAIL;
    case 'card':
      return FAKE_CARD;
    case 'ip':
      return value.includes(':') ? FAKE_IPV6 : FAKE_IPV4;
    default:
      return 'x'.repeat(Array.from(value).length);
  }
}
