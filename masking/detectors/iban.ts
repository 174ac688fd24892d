// IBANs (ISO 13616): country code, two check digits, BBAN; length per country; mod-97 verified.
// Accepted printed forms: compact (DE89370400440532013000) or with single spaces (DE89 3704 0044 …).
// Loose variant (a column named iban, bank_account…): lower-case letters too ("de89 3704 …").
import { asciiUpper, isAsciiAlnum, isAsciiDigit, looseVariant, type ByteProfile, type Detector, type Span } from './detector.js';

// Registry lengths (SWIFT IBAN registry). A known length lets us stop exactly at the end of the IBAN
// even when the next word is also uppercase ("DE89 3704 0044 0532 0130 00 EUR").
const LENGTHS: ReadonlyMap<string, number> = new Map(
  ('AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DJ27 DK18 DO28 EE20 ' +
    'EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 ' +
    'KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 MC27 MD24 ME22 MK19 MN20 MR27 MT31 MU30 NI28 NL18 NO15 ' +
    'OM23 PK24 PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24 SC31 SD18 SE24 SI19 SK24 SM27 SO23 ST25 SV28 TL23 ' +
    'TN24 TR26 UA29 VA22 VG24 XK20 YE30')
    .split(' ')
    .map((e) => [e.slice(0, 2), Number(e.slice(2))] as const),
);

// Where an IBAN may start: two capitals and two digits, not glued to a preceding letter or digit.
const START = /(?<![A-Za-z0-9])[A-Z]{2}\d{2}/g;

/** ISO 7064 mod 97-10 over the rearranged IBAN (first four characters moved to the end). */
export function ibanChecksumValid(iban: string): boolean {
  let rem = 0;
  const n = iban.length;
  for (let k = 0; k < n; k++) {
    const c = iban.charCodeAt((k + 4) % n);
    if (isAsciiDigit(c)) rem = (rem * 10 + (c - 0x30)) % 97;
    else rem = (rem * 100 + (c - 0x41 + 10)) % 97; // 'A' = 10 … 'Z' = 35
  }
  return rem === 1;
}

const strict: Detector = {
  name: 'iban',
  kind: 'iban',
  prefilter(p, buf, start, end) {
    if (p.upper < 2 || p.digits < 2 || p.len < 15) return false;
    // the byte pattern [A-Z][A-Z][0-9][0-9]: at the start of a digit run
    return p.runCount < 0 ? ibanStartBytes(buf, start, end, isAsciiUpper) : ibanStartRuns(p, buf, start, end, isAsciiUpper);
  },
  find(text: string): Span[] {
    return findIbans(text, []);
  },
};

export const iban: Detector = {
  ...strict,
  context: ['iban', 'bank account', 'account number', 'bankaccount'],
  loose: looseVariant(
    strict,
    (p, buf, start, end) => {
      if (p.digits < 2 || p.len < 15) return false;
      return p.runCount < 0 ? ibanStartBytes(buf, start, end, isAsciiLetter) : ibanStartRuns(p, buf, start, end, isAsciiLetter);
    },
    (text, out) => {
      const upper = asciiUpper(text);
      if (upper !== text) findIbans(upper, out);
    },
  ),
};

// Two letters then two digits, looked for where a digit run starts.
function ibanStartRuns(p: ByteProfile, buf: Buffer, start: number, end: number, letter: (b: number) => boolean): boolean {
  for (let k = 0; k < p.runCount; k++) {
    const i = p.runs[k];
    if (i - 2 >= start && i + 1 < end && isAsciiDigit(buf[i + 1]) && letter(buf[i - 1]) && letter(buf[i - 2])) return true;
  }
  return false;
}

function ibanStartBytes(buf: Buffer, start: number, end: number, letter: (b: number) => boolean): boolean {
  for (let i = start; i + 3 < end; i++) {
    if (letter(buf[i]) && letter(buf[i + 1]) && isAsciiDigit(buf[i + 2]) && isAsciiDigit(buf[i + 3])) return true;
  }
  return false;
}

function isAsciiUpper(b: number): boolean {
  return b >= 0x41 && b <= 0x5a;
}

function isAsciiLetter(b: number): boolean {
  return (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7a;
}

function findIbans(text: string, out: Span[]): Span[] {
  START.lastIndex = 0;
  for (let m = START.exec(text); m !== null; m = START.exec(text)) {
    const len = LENGTHS.get(m[0].slice(0, 2));
    if (len === undefined) continue;
    const end = consume(text, m.index, len);
    if (end < 0) continue;
    const compact = text.slice(m.index, end).replace(/ /g, '');
    if (ibanChecksumValid(compact)) {
      out.push([m.index, end]);
      START.lastIndex = end;
    }
  }
  return out;
}

// Takes `len` characters [A-Z0-9] from `from`, allowing one space before any of them; returns the
// end index when the IBAN is not glued to a following letter or digit, else -1.
function consume(text: string, from: number, len: number): number {
  let i = from;
  let taken = 0;
  while (taken < len) {
    let c = text.charCodeAt(i);
    if (c === 0x20 && taken > 0) c = text.charCodeAt(++i);
    const ok = isAsciiDigit(c) || (c >= 0x41 && c <= 0x5a);
    if (!ok) return -1;
    i++;
    taken++;
  }
  return i < text.length && isAsciiAlnum(text.charCodeAt(i)) ? -1 : i;
}

/** A whole value is an IBAN: known country, registry length, mod 97 (spaces ignored, any case). */
export function ibanValid(value: string): boolean {
  const c = value.replace(/ /g, '').toUpperCase();
  return LENGTHS.get(c.slice(0, 2)) === c.length && /^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(c) && ibanChecksumValid(c);
}
