// Payment card numbers: 13–19 digits, optionally grouped by single spaces or dashes, Luhn-checked.
import { isAsciiDigit, type Detector, type Span } from './detector.js';

// A maximal run of >= 13 digits joined by at most one separator; windows inside it are tried below.
// Unbounded but linear: a run is consumed once, and (?<!\d) stops restarts inside it.
const RUN = /(?<![\d.])\d(?:[ -]?\d){12,}(?![\d])/g;

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

export const creditCard: Detector = {
  name: 'credit_card',
  kind: 'card',
  prefilter(p, buf, start, end) {
    if (p.digits < 13) return false;
    // 13 digits in one run where digits are joined by at most one space or dash
    let run = 0;
    let sep = false;
    for (let i = start; i < end; i++) {
      const b = buf[i];
      if (isAsciiDigit(b)) {
        if (++run >= 13) return true;
        sep = false;
      } else if ((b === 0x20 || b === 0x2d) && !sep && run > 0) {
        sep = true;
      } else {
        run = 0;
        sep = false;
      }
    }
    return false;
  },
  find(text: string): Span[] {
    const out: Span[] = [];
    RUN.lastIndex = 0;
    for (let m = RUN.exec(text); m !== null; m = RUN.exec(text)) findInRun(m[0], m.index, out);
    return out;
  },
};

// Within a run, a card starts and ends on a group boundary (start/end of run or next to a separator),
// so that "4111 1111 1111 1111 22" still yields the card but a 25-digit id yields nothing.
function findInRun(run: string, offset: number, out: Span[]): void {
  const digits = run.replace(/[ -]/g, '');
  if (plausibleCard(digits)) {
    out.push([offset, offset + run.length]);
    return;
  }
  // pos[k] = index in `run` of the k-th digit; a separator sits between k-1 and k when they are not adjacent
  const pos: number[] = [];
  for (let i = 0; i < run.length; i++) if (isAsciiDigit(run.charCodeAt(i))) pos.push(i);
  const n = pos.length;
  let a = 0;
  while (a < n) {
    let found = -1;
    if (a === 0 || pos[a] !== pos[a - 1] + 1) {
      for (let b = Math.min(n, a + 19); b >= a + 13; b--) {
        const endsOnBoundary = b === n || pos[b] !== pos[b - 1] + 1;
        if (endsOnBoundary && plausibleCard(digits.slice(a, b))) {
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
