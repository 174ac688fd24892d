// AWS credentials: access key ids (AKIA… long-term, ASIA… temporary, ABIA/ACCA) and secret access
// keys written as an assignment (aws_secret_access_key = …, "SecretAccessKey": "…").
// Validator: the 16 characters after the prefix are base32 (A–Z, 2–7), as in every real key id, so
// "AKIA1234567890123456" and similar look-alikes pass untouched.
import { markAt, markLimit, type Detector, type Span } from './detector.js';

const KEY_ID = /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Za-z0-9])/g;
// only the 40-character value is masked
const SECRET_KEY =
  /(?<![A-Za-z0-9])(?:aws_?)?secret_?access_?key["']?[ \t]{0,3}[:=][ \t]{0,3}["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])/dgi;
const ACCESS = Buffer.from('access', 'latin1');

export const awsKey: Detector = {
  name: 'aws_key',
  kind: 'secret',
  prefilter(p, buf, start, end) {
    if (p.len < 20) return false;
    // every key id prefix holds two 'A's
    if (p.upper >= 4 && p.upperA >= 2) {
      for (let i = start; i + 3 < end; i++) {
        if (buf[i] === 0x41 && buf[i + 3] === 0x41 && isAwsInfix(buf[i + 1], buf[i + 2])) return true;
      }
    }
    if (p.len < 50 || p.eq + p.colon === 0) return false;
    // "…access…key" right before an '=' or ':' (a closing quote and blanks allowed between)
    const lim = markLimit(p);
    for (let k = 0; k < lim; k++) {
      const i = markAt(p, start, k);
      const b = buf[i];
      if (b !== 0x3d && b !== 0x3a) continue;
      let j = i - 1;
      for (let n = 0; n < 3 && j >= start && (buf[j] === 0x20 || buf[j] === 0x09); n++) j--;
      if (j >= start && (buf[j] === 0x22 || buf[j] === 0x27)) j--;
      if (j - 2 < start || (buf[j - 2] | 0x20) !== 0x6b || (buf[j - 1] | 0x20) !== 0x65 || (buf[j] | 0x20) !== 0x79) continue;
      if (precededBy(buf, start, j - 2, ACCESS, 2)) return true;
    }
    return false;
  },
  find(text: string): Span[] {
    const out: Span[] = [];
    KEY_ID.lastIndex = 0;
    for (let m = KEY_ID.exec(text); m !== null; m = KEY_ID.exec(text)) out.push([m.index, m.index + m[0].length]);
    SECRET_KEY.lastIndex = 0;
    for (let m = SECRET_KEY.exec(text); m !== null; m = SECRET_KEY.exec(text)) {
      const r = m.indices?.[1];
      if (r !== undefined) out.push([r[0], r[1]]);
    }
    return out;
  },
};

function isAwsInfix(b1: number, b2: number): boolean {
  // KI, SI, BI, CC
  return (b2 === 0x49 && (b1 === 0x4b || b1 === 0x53 || b1 === 0x42)) || (b1 === 0x43 && b2 === 0x43);
}

// Does `word` (lowercase letters) occur, case-insensitively, within `window` bytes before buf[i]?
function precededBy(buf: Buffer, start: number, i: number, word: Buffer, window: number): boolean {
  const from = Math.max(start, i - window - word.length);
  for (let j = i - word.length; j >= from; j--) {
    let k = 0;
    while (k < word.length && (buf[j + k] | 0x20) === word[k]) k++;
    if (k === word.length) return true;
  }
  return false;
}
