// US Social Security numbers written NNN-NN-NNNN, excluding ranges the SSA never issues:
// area 000, 666 and 900–999; group 00; serial 0000.
// Loose variant (a column or table named ssn, social_security…): also undashed "123456789" and the
// same digits grouped by spaces or dots, with the same range checks.
import { isAsciiDigit as d, looseVariant, markAt, markLimit, regexSpans, type Detector, type Span } from './detector.js';

const SSN = /(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])/g;
// the same groups with one consistent separator (or none); not inside a longer number, date or version
const SSN_LOOSE = /(?<![\d.-])(?!000|666|9\d\d)\d{3}([ .-]?)(?!00)\d{2}\1(?!0000)\d{4}(?![\d-]|\.\d)/g;

/** SSA validity of the nine digits of an SSN (any separators ignored). */
export function ssnValid(value: string): boolean {
  const digits = value.replace(/\D/g, '');
  if (digits.length !== 9) return false;
  const area = digits.slice(0, 3);
  return area !== '000' && area !== '666' && area[0] !== '9' && digits.slice(3, 5) !== '00' && digits.slice(5) !== '0000';
}

const strict: Detector = {
  name: 'us_ssn',
  kind: 'ssn',
  prefilter(p, buf, start, end) {
    if (p.digits < 9 || p.dash < 2 || p.maxDigitRun < 4) return false;
    // the byte shape DDD-DD-DDDD somewhere (dates are DDDD-DD-DD)
    const lim = markLimit(p);
    for (let k = 0; k < lim; k++) {
      const i = markAt(p, start, k);
      if (i < start + 3 || i + 7 >= end || buf[i] !== 0x2d || buf[i + 3] !== 0x2d) continue;
      if (d(buf[i - 3]) && d(buf[i - 2]) && d(buf[i - 1]) && d(buf[i + 1]) && d(buf[i + 2])) {
        if (d(buf[i + 4]) && d(buf[i + 5]) && d(buf[i + 6]) && d(buf[i + 7])) return true;
      }
    }
    return false;
  },
  find: (text: string): Span[] => regexSpans(SSN, text),
};

export const usSsn: Detector = {
  ...strict,
  context: ['ssn', 'social security', 'socsec', 'tin', 'itin', 'tax id', 'taxpayer id'],
  loose: looseVariant(strict, (p) => p.digits >= 9, (text, out) => regexSpans(SSN_LOOSE, text, out)),
};
