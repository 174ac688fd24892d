// IP addresses. `ipv4` and `ipv6` detect one family each; `ip` detects both.
import { isAsciiDigit, markAt, markLimit, regexSpans, type Detector, type Span } from './detector.js';

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
// Not inside a longer dotted number (versions like 1.2.3.4.5, OIDs) nor glued to a word.
const IPV4 = new RegExp(`(?<![\\w.])${OCTET}(?:\\.${OCTET}){3}(?![\\w]|\\.\\d)`, 'g');
const IPV4_EXACT = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

// Candidates: hex digits, colons and dots containing a colon, not glued to a word ("std::vector").
// Bounded to the longest textual IPv6 (45 chars, with an embedded IPv4) for linear cost.
const IPV6_CANDIDATE = /(?<![\w:.])[0-9A-Fa-f.]{0,39}:[0-9A-Fa-f:.]{1,44}(?![\w:])/g;
const HEXTET = /^[0-9A-Fa-f]{1,4}$/;

function digitsBetween(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isAsciiDigit(buf[i])) return false;
  return true;
}

function isHex(b: number): boolean {
  return isAsciiDigit(b) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x66);
}

export function isIPv4(s: string): boolean {
  return IPV4_EXACT.test(s);
}

/** RFC 4291 text forms: eight hextets, or fewer with one "::", optionally ending in an IPv4. */
export function isIPv6(s: string): boolean {
  if (s.length < 3 || s.length > 45) return false;
  const dbl = s.indexOf('::');
  if (dbl !== s.lastIndexOf('::')) return false; // two "::" or ":::"
  const parts: string[] = [];
  if (dbl >= 0) {
    const head = s.slice(0, dbl);
    const tail = s.slice(dbl + 2);
    if (head !== '') parts.push(...head.split(':'));
    if (tail !== '') parts.push(...tail.split(':'));
  } else {
    parts.push(...s.split(':'));
  }
  let count = parts.length;
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k];
    if (k === parts.length - 1 && part.includes('.')) {
      if (!IPV4_EXACT.test(part)) return false;
      count++; // an embedded IPv4 fills two hextets
    } else if (!HEXTET.test(part)) {
      return false;
    }
  }
  // "::" alone is an address, but masking it only hides punctuation
  if (dbl >= 0) return count >= 1 && count <= 7;
  return count === 8;
}

function findIPv6(text: string, out: Span[] = []): Span[] {
  IPV6_CANDIDATE.lastIndex = 0;
  for (let m = IPV6_CANDIDATE.exec(text); m !== null; m = IPV6_CANDIDATE.exec(text)) {
    let s = m[0];
    while (s.endsWith('.')) s = s.slice(0, -1); // sentence full stop
    if (isIPv6(s)) out.push([m.index, m.index + s.length]);
  }
  return out;
}

export const ipv4: Detector = {
  name: 'ipv4',
  kind: 'ip',
  prefilter(p, buf, start, end) {
    if (p.dot < 3 || p.digits < 4 || p.len < 7) return false;
    // three dots, each between digits, 2–4 bytes apart with only digits between (dates and
    // versions have two): visits the punctuation marks only
    let junctions = 0;
    let prev = -10;
    const lim = markLimit(p);
    for (let k = 0; k < lim; k++) {
      const i = markAt(p, start, k);
      if (buf[i] !== 0x2e) continue;
      if (i === start || i + 1 >= end || !isAsciiDigit(buf[i - 1]) || !isAsciiDigit(buf[i + 1])) {
        junctions = 0;
        continue;
      }
      junctions = i - prev <= 4 && digitsBetween(buf, prev + 1, i) ? junctions + 1 : 1;
      prev = i;
      if (junctions === 3) return true;
    }
    return false;
  },
  find: (text: string): Span[] => regexSpans(IPV4, text),
};

export const ipv6: Detector = {
  name: 'ipv6',
  kind: 'ip',
  prefilter(p, buf, start, end) {
    if (p.colon < 2) return false;
    // "::" somewhere, or one run of hex groups joined by 6+ colons (the full form, possibly ending in
    // an IPv4). Times ("10:00:00") and "label: value" prose have fewer. Visits the colon marks only.
    let colons = 0;
    let prev = -10;
    const lim = markLimit(p);
    for (let k = 0; k < lim; k++) {
      const i = markAt(p, start, k);
      if (buf[i] !== 0x3a) continue;
      if (i === prev + 1) return true; // "::"
      colons = i - prev <= 5 && hexBetween(buf, prev + 1, i) ? colons + 1 : 1;
      prev = i;
      if (colons >= 6) return true;
    }
    return false;
  },
  find: (text: string): Span[] => findIPv6(text),
};

function hexBetween(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isHex(buf[i])) return false;
  return true;
}

export const ip: Detector = {
  name: 'ip',
  kind: 'ip',
  prefilter: (p, buf, start, end) => ipv4.prefilter(p, buf, start, end) || ipv6.prefilter(p, buf, start, end),
  find(text: string): Span[] {
    const out = findIPv6(text);
    // an IPv4 embedded in an IPv6 ("::ffff:10.0.0.1") is already inside a span; the engine merges overlaps
    return regexSpans(IPV4, text, out);
  },
};
