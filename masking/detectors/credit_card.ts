// Payment card numbers: 13–19 digits, optionally grouped by single spaces or dashes, Luhn-checked.
// Loose variant (a column named card_number, cc, pan…): 12–19 digits and Luhn, whatever the first digit.
import { digitRunLength, isAsciiDigit, looseVariant, type ByteProfile, type Detector, type Span } from './detector.js';

// A maximal run of >= 13 digits joined by at most one separator; windows inside it are tried below.
// Unbounded but linear: a run is consumed once, and (?<!\d) stops restarts inside it.
const RUN = /(?<![\d.])\d(?:[ -]?\d){12,}(?![\d])/g;
const LOOSE_RUN = /(?<![\d.])\d(?:[ -]?\d){11,}(?![\d])/g;

/** Luhn (mod 10) over the ASCII digits of `digits`, which holds digits only. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 0x30;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

// Issuer prefixes start with 2–6 (Mastercard 2-series, Amex/Diners/JCB 3, Visa 4, Mastercard 5,
// Discover/UnionPay/Maestro 6). Rejecting 0/1/7/8/9 keeps millisecond timestamps (17…) and most
// numeric ids out, which Luhn alone would let through one time in ten.
function plausibleCard(digits: string): boolean {
  const first = digits.charCodeAt(0);
  return digits.length >= 13 && digits.length <= 19 && first >= 0x32 && first <= 0x36 && luhnValid(digits);
}

function plausibleLoose(digits: string): boolean {
  return digits.length >= 12 && digits.length <= 19 && luhnValid(digits);
}

const strict: Detector = {
  name: 'credit_card',
  kind: 'card',
  prefilter(p, buf, start, end) {
    if (p.digits < 13) return false;
    return p.runCount < 0 ? cardRunBytes(buf, start, end) : cardRunDigits(p, buf, end);
  },
  find(text: string): Span[] {
    const out: Span[] = [];
    RUN.lastIndex = 0;
    for (let m = RUN.exec(text); m !== null; m = RUN.exec(text)) findInRun(m[0], m.index, out, plausibleCard, 13);
    return out;
  },
};

export const creditCard: Detector = {
  ...strict,
  context: ['card number', 'cardnumber', 'card no', 'card num', 'credit card', 'creditcard', 'debit card', 'payment card', 'cc', 'ccnum', 'pan'],
  loose: looseVariant(
    strict,
    (p) => p.digits >= 12,
    (text, out) => {
      LOOSE_RUN.lastIndex = 0;
      for (let m = LOOSE_RUN.exec(text); m !== null; m = LOOSE_RUN.exec(text)) findInRun(m[0], m.index, out, plausibleLoose, 12);
    },
  ),
};

// Necessary condition for find(), exactly as findInRun() accepts windows: a window starts and ends on group
// boundaries and is either one unbroken group of 13–19 digits or several groups of at most 6 digits totalling
// 13–19, and its first digit is an issuer digit (2–6), so that a millisecond timestamp (17…) never qualifies.
// Groups are the digit runs the profile recorded, joined by one space or dash. Long runs of longer groups
// (ids, sysbench's 11-digit groups) are rejected here without building a string.
const groupLen = new Int32Array(32);
const groupIssuer = new Uint8Array(32);

function cardRunDigits(p: ByteProfile, buf: Buffer, end: number): boolean {
  let n = 0; // groups of at most 6 digits in the current joined run, since the last longer group
  let prevEnd = -2;
  for (let k = 0; k < p.runCount; k++) {
    const s = p.runs[k];
    if (!(s === prevEnd + 1 && (buf[prevEnd] === 0x20 || buf[prevEnd] === 0x2d))) n = 0;
    const len = digitRunLength(buf, s, end);
    prevEnd = s + len;
    const b = buf[s];
    const issuer = b >= 0x32 && b <= 0x36;
    if (len >= 13 && len <= 19 && issuer) return true;
    if (len > 6) {
      n = 0;
      continue;
    }
    groupLen[n] = len;
    groupIssuer[n] = issuer ? 1 : 0;
    n++;
    let sum = 0;
    for (let g = n - 1; g >= 0; g--) {
      sum += groupLen[g];
      if (sum > 19) break;
      if (sum >= 13 && g < n - 1 && groupIssuer[g] === 1) return true;
    }
  }
  return false;
}

// The same over every byte, when the cell had too many digit runs to record.
function cardRunBytes(buf: Buffer, start: number, end: number): boolean {
  let run = 0;
  let from = -1;
  let sep = false;
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (isAsciiDigit(b)) {
      if ((run === 0 || sep) && from < 0 && b >= 0x32 && b <= 0x36) from = run;
      run++;
      if (from >= 0 && run - from >= 13) return true;
      sep = false;
    } else if ((b === 0x20 || b === 0x2d) && !sep && run > 0) {
      sep = true;
    } else {
      run = 0;
      from = -1;
      sep = false;
    }
  }
  return false;
}

// Within a run, a card starts and ends on a group boundary (start/end of run or next to a separator),
// so that "4111 1111 1111 1111 22" still yields the card but a 25-digit id yields nothing.
function findInRun(run: string, offset: number, out: Span[], plausible: (digits: string) => boolean, min: number): void {
  // pos[k] = index in `run` of the k-th digit; a separator sits between k-1 and k when they are not adjacent
  const pos: number[] = [];
  for (let i = 0; i < run.length; i++) if (isAsciiDigit(run.charCodeAt(i))) pos.push(i);
  const n = pos.length;
  const digits = run.replace(/[ -]/g, '');
  if (plausible(digits) && printedGroups(pos, 0, n)) {
    out.push([offset, offset + run.length]);
    return;
  }
  let a = 0;
  while (a < n) {
    let found = -1;
    if (a === 0 || pos[a] !== pos[a - 1] + 1) {
      for (let b = Math.min(n, a + 19); b >= a + min; b--) {
        const endsOnBoundary = b === n || pos[b] !== pos[b - 1] + 1;
        if (endsOnBoundary && plausible(digits.slice(a, b)) && printedGroups(pos, a, b)) {
          found = b;
          break;
        }
      }
    }
    if (found < 0) {
      a++;
      continue;
    }
    out.push([offset + pos[a], offset + pos[found - 1] + 1]);
    a = found;
  }
}

// Cards are printed unbroken or in groups of 3–6 digits (4-4-4-4, 4-6-5, 4-4-4-4-3): a grouped number
// with a longer group is something else, e.g. the digit-only start of a UUID ("28304216-2294-4…").
function printedGroups(pos: readonly number[], a: number, b: number): boolean {
  let group = 1;
  let grouped = false;
  for (let k = a + 1; k < b; k++) {
    if (pos[k] === pos[k - 1] + 1) {
      group++;
    } else {
      if (group > 6) return false;
      grouped = true;
      group = 1;
    }
  }
  return !grouped || group <= 6;
}
