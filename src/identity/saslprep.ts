// Minimal SASLprep (RFC 4013 over RFC 3454) as PostgreSQL applies it to SCRAM passwords
// (src/common/saslprep.c): pure-ASCII passwords pass unchanged; otherwise map non-ASCII spaces to
// U+0020, drop "commonly mapped to nothing" characters, NFKC-normalize, and refuse prohibited output.
// Like PostgreSQL (and libpq), a prohibited result means "use the raw password bytes".
//
// Approximations, documented because they only matter for exotic passwords: the unassigned-code-point
// table (RFC 3454 A.1, Unicode 3.2) is not checked, and the bidi rule uses script ranges for RandALCat.

// RFC 3454 C.1.2
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/gu;
// RFC 3454 B.1
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/gu;
// RFC 3454 C.1.2, C.2.1, C.2.2, C.3–C.9 (C.1.1, the ASCII space, is allowed by SASLprep)
const PROHIBITED = new RegExp(
  '[' +
    '\\u00A0\\u1680\\u2000-\\u200B\\u202F\\u205F\\u3000' + // C.1.2
    '\\u0000-\\u001F\\u007F' + // C.2.1
    '\\u0080-\\u009F\\u06DD\\u070F\\u180E\\u200C\\u200D\\u2028\\u2029\\u2060-\\u2063\\u206A-\\u206F\\uFEFF\\uFFF9-\\uFFFC' + // C.2.2
    '\\u{1D173}-\\u{1D17A}' +
    '\\uE000-\\uF8FF\\u{F0000}-\\u{FFFFD}\\u{100000}-\\u{10FFFD}' + // C.3
    '\\uFDD0-\\uFDEF\\uFFFE\\uFFFF\\u{1FFFE}\\u{1FFFF}\\u{2FFFE}\\u{2FFFF}\\u{3FFFE}\\u{3FFFF}\\u{4FFFE}\\u{4FFFF}' + // C.4 (part)
    '\\u{5FFFE}\\u{5FFFF}\\u{6FFFE}\\u{6FFFF}\\u{7FFFE}\\u{7FFFF}\\u{8FFFE}\\u{8FFFF}\\u{9FFFE}\\u{9FFFF}' +
    '\\u{AFFFE}\\u{AFFFF}\\u{BFFFE}\\u{BFFFF}\\u{CFFFE}\\u{CFFFF}\\u{DFFFE}\\u{DFFFF}\\u{EFFFE}\\u{EFFFF}' +
    '\\u{FFFFE}\\u{FFFFF}\\u{10FFFE}\\u{10FFFF}' +
    '\\uD800-\\uDFFF' + // C.5 (lone surrogates; paired ones are matched as code points under /u)
    '\\uFFF9-\\uFFFD' + // C.6
    '\\u2FF0-\\u2FFB' + // C.7
    '\\u0340\\u0341\\u200E\\u200F\\u202A-\\u202E\\u206A-\\u206F' + // C.8
    '\\u{E0001}\\u{E0020}-\\u{E007F}' + // C.9
    ']',
  'u',
);
// RandALCat, approximated: Hebrew, Arabic, Syriac, Thaana, NKo, Samaritan, Mandaic and their presentation forms.
const RAND_AL = /[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFC\u{10800}-\u{10FFF}\u{1E800}-\u{1EFFF}]/u;
const RAND_AL_FIRST = /^[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFC\u{10800}-\u{10FFF}\u{1E800}-\u{1EFFF}]/u;
const RAND_AL_LAST = /[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFC\u{10800}-\u{10FFF}\u{1E800}-\u{1EFFF}]$/u;
const L_CAT = /(?![\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFC])\p{L}/u;

/** SASLprep as PostgreSQL uses it for SCRAM: returns the prepared string, or the input when prohibited. */
export function saslprep(password: string): string {
  if (/^[\x00-\x7F]*$/.test(password)) return password;
  const mapped = password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '');
  const out = mapped.normalize('NFKC');
  if (out.length === 0 || PROHIBITED.test(out)) return password;
  if (RAND_AL.test(out)) {
    if (L_CAT.test(out) || !RAND_AL_FIRST.test(out) || !RAND_AL_LAST.test(out)) return password;
  }
  return out;
}
