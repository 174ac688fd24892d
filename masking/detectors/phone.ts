// Telephone numbers: E.164-style international numbers ("+44 20 7946 0958", "+14155552671", "0049 …")
// and common national formats with separators (NANP "(415) 555-2671", "415.555.2671"; trunk-prefixed
// "030 1234567", "06 12 34 56 78"). Deliberately not matched: bare integers, dates, times, IPv4
// addresses and card numbers — the group shapes below exclude them.
// Loose variant (a column or table named phone, mobile, tel, fax…): any run of 7 to 15 digits, with
// an optional '+', one separator between digits and an optional parenthesised area code.
import { digitRunLength, isAsciiDigit, looseVariant, markAt, markLimit, type ByteProfile, type Detector, type Span } from './detector.js';

const LOOSE_RUN = /(?<![\p{L}\p{N}_.+\/-])\+?(?:\(\d{1,5}\) ?)?\d(?:[ .\/-]?\d){5,16}(?![\p{L}\p{N}_]|[.\/-]\d)/gu;

// Dates are digit runs too; even in a phone column they are not phone numbers.
const DATE_SHAPE = /^(?:\d{4}([-./])\d{1,2}\1\d{1,2}|\d{1,2}([-./])\d{1,2}\2\d{2,4})$/;

function findLoose(text: string, out: Span[]): void {
  LOOSE_RUN.lastIndex = 0;
  for (let m = LOOSE_RUN.exec(text); m !== null; m = LOOSE_RUN.exec(text)) {
    let digits = 0;
    for (let i = 0; i < m[0].length; i++) if (isAsciiDigit(m[0].charCodeAt(i))) digits++;
    if (digits >= 7 && digits <= 15 && !DATE_SHAPE.test(m[0])) out.push([m.index, m.index + m[0].length]);
  }
}

// A run is digit groups joined by one separator; a group may be wrapped in parentheses.
const SEPARATORS = ' .-/';
// No real number has more groups ("+33 6 12 34 56 78" has 6). The cap also keeps a long list of
// space-separated numbers linear: windows are tried at most MAX_GROUPS wide.
const MAX_GROUPS = 8;

interface Group {
  start: number; // index of '(' or the first digit
  end: number; // index after the last digit or ')'
  digits: string;
  /** separator before this group: '' for the first, ')' when only a closing paren separates them */
  sep: string;
  paren: boolean;
}

const strict: Detector = {
  name: 'phone',
  kind: 'phone',
  // '+' numbers have >= 8 digits; national ones >= 9 (trunk 0 + 8, NANP 10)
  prefilter: (p, buf, start, end) =>
    (p.plus > 0 && p.digits >= 8 && plusRun(p, buf, start, end)) ||
    (p.digits >= 9 && (p.runCount < 0 ? plausibleRun(buf, start, end) : plausibleRuns(p, buf, start, end))),
  find(text: string): Span[] {
    const out: Span[] = [];
    let i = 0;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (!(isAsciiDigit(c) || c === 0x2b /* + */ || c === 0x28) /* ( */) {
        i++;
        continue;
      }
      if (i > 0 && glued(text.charCodeAt(i - 1))) {
        i = skipToken(text, i);
        continue;
      }
      const plus = c === 0x2b;
      const groups = readGroups(text, plus ? i + 1 : i);
      if (groups.length === 0) {
        i++;
        continue;
      }
      findInGroups(text, groups, plus ? i : -1, out);
      i = groups[groups.length - 1].end;
    }
    return out;
  },
};

// Necessary condition for find() without '+', on bytes: a run of digit groups joined by up to two
// separator bytes holding 9+ digits and a 3-digit group (NANP), or 9+ digits from a group starting
// with 0 at the run start or after a space or '(' (trunk prefix, "00"). Dates (4-2-2, 2-2-4), times
// and timestamps ("2024-11-03 09:25:53") fail.
function plausibleRun(buf: Buffer, start: number, end: number): boolean {
  let digits = 0;
  let group = 0;
  let has3 = false;
  let trunkFrom = -1;
  let seps = 0;
  let lastSep = 0x20;
  for (let i = start; i <= end; i++) {
    const b = i < end ? buf[i] : 0;
    if (isAsciiDigit(b)) {
      if (group === 0 && b === 0x30 && trunkFrom < 0 && (digits === 0 || lastSep === 0x20 || lastSep === 0x28)) trunkFrom = digits;
      group++;
      digits++;
      seps = 0;
      continue;
    }
    if (group > 0) {
      if (group === 3) has3 = true;
      if ((has3 && digits >= 9) || (trunkFrom >= 0 && digits - trunkFrom >= 9)) return true;
      group = 0;
    }
    if (digits > 0 && seps < 2 && isSeparatorByte(b)) {
      seps++;
      lastSep = b;
      continue;
    }
    digits = 0;
    has3 = false;
    trunkFrom = -1;
    seps = 0;
    lastSep = 0x20;
  }
  return false;
}

// plausibleRun over the digit runs the profile recorded: runs joined by 1–2 separator bytes form a
// candidate number; the same shape rules.
function plausibleRuns(p: ByteProfile, buf: Buffer, start: number, end: number): boolean {
  let digits = 0;
  let has3 = false;
  let trunkFrom = -1;
  let prevEnd = -3;
  // find() skips a number glued to the word before it ("id12-345-6789", uuids) up to the next blank
  let skipping = false;
  for (let k = 0; k < p.runCount; k++) {
    const s = p.runs[k];
    const len = digitRunLength(buf, s, end);
    let lastSep = 0x20;
    let joined = false;
    if (digits > 0 || skipping) {
      const gap = s - prevEnd;
      joined = gap >= 1 && gap <= 2 && isSeparatorByte(buf[prevEnd]) && isSeparatorByte(buf[s - 1]);
      if (joined) lastSep = buf[s - 1];
      if (joined && skipping && !isBlankOrParen(buf[prevEnd]) && !isBlankOrParen(buf[s - 1])) {
        prevEnd = s + len;
        continue; // still inside the skipped token
      }
    }
    if (!joined || skipping) {
      digits = 0;
      has3 = false;
      trunkFrom = -1;
      skipping = s > start && gluedStart(buf[s - 1]) && !joined;
      if (skipping) {
        prevEnd = s + len;
        continue;
      }
    }
    // a group glued to a following letter ends every window before it ("8def")
    if (s + len < end && isWordByte(buf[s + len])) {
      digits = 0;
      has3 = false;
      trunkFrom = -1;
      skipping = true;
      prevEnd = s + len;
      continue;
    }
    if (buf[s] === 0x30 && trunkFrom < 0 && (digits === 0 || lastSep === 0x20 || lastSep === 0x28)) trunkFrom = digits;
    digits += len;
    if (len === 3) has3 = true;
    if ((has3 && digits >= 9) || (trunkFrom >= 0 && digits - trunkFrom >= 9)) return true;
    prevEnd = s + len;
  }
  return false;
}

function isBlankOrParen(b: number): boolean {
  return b === 0x20 || b === 0x28 || b === 0x29;
}

function isWordByte(b: number): boolean {
  return ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x7a) || b === 0x5f;
}

// Bytes before a number that make find() skip it (see glued(); digits cannot precede a run start).
function gluedStart(b: number): boolean {
  return isWordByte(b) || b === 0x2e || b === 0x2d || b === 0x2f || b === 0x2b;
}

// Necessary condition for a '+' number: 8+ digits in the run of digits, separators and parentheses
// right after a '+' ("+1 415 555 2671", "+44 (20) 7946 0958"); a "+00" time zone has 2.
function plusRun(p: ByteProfile, buf: Buffer, start: number, end: number): boolean {
  const lim = markLimit(p);
  for (let k = 0; k < lim; k++) {
    const i = markAt(p, start, k);
    if (buf[i] !== 0x2b) continue;
    let digits = 0;
    for (let j = i + 1; j < end; j++) {
      const b = buf[j];
      if (isAsciiDigit(b)) {
        if (++digits >= 8) return true;
      } else if (!isSeparatorByte(b)) {
        break;
      }
    }
  }
  return false;
}

function isSeparatorByte(b: number): boolean {
  return b === 0x20 || b === 0x2e || b === 0x2d || b === 0x2f || b === 0x28 || b === 0x29;
}

// A number glued to a word, a decimal point or another sign is part of something else.
function glued(c: number): boolean {
  return (
    isAsciiDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
    c === 0x5f || c === 0x2e || c === 0x2d || c === 0x2f || c === 0x2b
  );
}

function skipToken(text: string, i: number): number {
  let j = i + 1;
  while (j < text.length && glued(text.charCodeAt(j))) j++;
  return j;
}

function readGroups(text: string, from: number): Group[] {
  const groups: Group[] = [];
  let i = from;
  let sep = '';
  for (;;) {
    const gStart = i;
    const paren = text.charCodeAt(i) === 0x28;
    if (paren) i++;
    const dStart = i;
    while (isAsciiDigit(text.charCodeAt(i))) i++;
    const dEnd = i;
    if (dEnd === dStart || dEnd - dStart > 15) break;
    if (paren) {
      if (text.charCodeAt(i) !== 0x29) break;
      i++;
    }
    groups.push({ start: gStart, end: i, digits: text.slice(dStart, dEnd), sep, paren });
    const s = text.charAt(i);
    if (SEPARATORS.includes(s) && s !== '' && (isAsciiDigit(text.charCodeAt(i + 1)) || text.charCodeAt(i + 1) === 0x28)) {
      sep = s;
      i++;
    } else if (paren && (isAsciiDigit(text.charCodeAt(i)))) {
      sep = ')';
    } else {
      break;
    }
  }
  return groups;
}

// Tries the longest acceptable window of groups first. Sub-windows may only be cut at spaces, so a
// phone is found in "call 555-123-4567 2024" but never inside a date or an IP address.
function findInGroups(text: string, g: Group[], plusAt: number, out: Span[]): void {
  let a = 0;
  while (a < g.length) {
    let hit = -1;
    if (a === 0 || g[a].sep === ' ') {
      for (let b = Math.min(g.length, a + MAX_GROUPS); b > a; b--) {
        const endsClean = b === g.length ? !glued(text.charCodeAt(g[b - 1].end)) || endsSentence(text, g[b - 1].end) : g[b].sep === ' ';
        if (endsClean && isPhone(g, a, b, a === 0 && plusAt >= 0)) {
          hit = b;
          break;
        }
      }
    }
    if (hit < 0) {
      a++;
      continue;
    }
    out.push([a === 0 && plusAt >= 0 ? plusAt : g[a].start, g[hit - 1].end]);
    a = hit;
  }
}

// "call +1 415 555 2671." ends a sentence; "555-2671.5" does not.
function endsSentence(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return (c === 0x2e || c === 0x2c || c === 0x3a) && !isAsciiDigit(text.charCodeAt(i + 1));
}

function isPhone(g: Group[], a: number, b: number, plus: boolean): boolean {
  let digits = 0;
  for (let k = a; k < b; k++) digits += g[k].digits.length;
  const first = g[a].digits;
  if (plus) return digits >= 8 && digits <= 15 && first.charCodeAt(0) !== 0x30;
  // "00" is the international call prefix in most of the world: "0049 30 1234567"
  if (first.startsWith('00')) return b - a >= 2 && digits - 2 >= 8 && digits - 2 <= 15 && first.charCodeAt(2) !== 0x30;
  if (isNanp(g, a, b)) return true;
  return isTrunk(g, a, b, digits);
}

// North American: [1 ]NPA NXX XXXX with the area code in parentheses or not; '/' is not used there.
// Area codes never start with 0 or 1. Exchanges don't either, but test data is full of 555-123-4567,
// so that rule is only applied to the ambiguous all-spaces form, where it keeps lists of numbers
// ("sizes 100 200 3000") out.
function isNanp(g: Group[], a: number, b: number): boolean {
  let k = a;
  if (b - a === 4 && g[a].digits === '1' && !g[a].paren) k++;
  if (b - k !== 3) return false;
  if (g[k].digits.length !== 3 || g[k + 1].digits.length !== 3 || g[k + 2].digits.length !== 4) return false;
  if (g[k].digits.charCodeAt(0) < 0x32) return false;
  let spacesOnly = !g[k].paren;
  for (let j = k + 1; j < b; j++) {
    if (g[j].sep === '/' || g[j].paren) return false;
    if (g[j].sep !== ' ') spacesOnly = false;
  }
  return !spacesOnly || g[k + 1].digits.charCodeAt(0) >= 0x32;
}

// Trunk prefix 0 then 9–11 more digits, groups of >= 2 digits, one consistent separator (a paren
// around the first group may differ): "030 1234567", "020 7946 0958", "06.12.34.56.78".
// Dates have 8 digits at most and a time after a date changes the separator, so neither fits.
function isTrunk(g: Group[], a: number, b: number, digits: number): boolean {
  if (b - a < 2 || g[a].digits.charCodeAt(0) !== 0x30 || digits < 9 || digits > 12) return false;
  let sep = '';
  for (let k = a; k < b; k++) {
    if (g[k].digits.length < 2) return false;
    if (k === a || (k === a + 1 && g[a].paren)) continue;
    if (sep === '') sep = g[k].sep;
    else if (g[k].sep !== sep) return false;
  }
  return true;
}

export const phone: Detector = {
  ...strict,
  context: ['phone', 'phonenumber', 'telephone', 'tel', 'mobile', 'mobilephone', 'cellphone', 'cell phone', 'cell number', 'fax', 'msisdn', 'contact number', 'whatsapp'],
  loose: looseVariant(strict, (p) => p.digits >= 7, findLoose),
};
