// Credentials in text other than JWTs, AWS keys and PEM keys: API tokens with a well-known prefix
// (GitHub, GitLab, Slack, Stripe, OpenAI/Anthropic, Google, npm, PyPI, SendGrid, Shopify, DigitalOcean,
// Hugging Face), credentials inside URLs (scheme://user:PASSWORD@host), "Bearer …" headers and the
// values of password=/api_key:-style assignments (only the value is masked).
// Validator for prefixed tokens: the random part mixes character classes (two of lower, upper,
// digit), so "ghp_" followed by a dictionary word or a run of one letter passes untouched.
// Loose variant (a column named api_key, token, secret, password…): any standalone token-like run of
// 16+ characters that mixes character classes.
import { isAsciiAlnum, looseVariant, markAt, markLimit, type ByteProfile, type Detector, type Span } from './detector.js';

// Whole match is the secret. All quantifiers bounded (linear time on hostile input).
const TOKENS = new RegExp(
  [
    '\\bgh[pousr]_[A-Za-z0-9]{36,255}\\b', // GitHub classic tokens
    '\\bgithub_pat_[A-Za-z0-9_]{22,255}\\b', // GitHub fine-grained tokens
    '\\bglpat-[A-Za-z0-9_-]{20,255}', // GitLab personal access tokens
    '\\bxox[abposr]-[A-Za-z0-9-]{10,255}', // Slack
    '\\bxapp-[A-Za-z0-9-]{10,255}', // Slack app-level tokens
    '\\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,255}\\b', // Stripe secret / restricted keys
    '(?<![A-Za-z0-9_-])sk-(?:proj-|ant-[a-z0-9]{2,10}-)?[A-Za-z0-9_-]{20,255}', // OpenAI, Anthropic
    '\\bAIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])', // Google API keys
    '\\bnpm_[A-Za-z0-9]{36}\\b', // npm
    '\\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,1000}', // PyPI
    '\\bSG\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])', // SendGrid
    '\\bshp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}\\b', // Shopify
    '\\bdo[opr]_v1_[a-f0-9]{64}\\b', // DigitalOcean
    '\\bhf_[A-Za-z]{34}\\b', // Hugging Face
  ].join('|'),
  'g',
);

const KEYWORDS =
  'password|passwd|pwd|passphrase|secret|client_secret|secret_key|api[_-]?key|access[_-]?key|access[_-]?token|' +
  'auth[_-]?token|refresh[_-]?token|token|private[_-]?key|credentials?';
// A quoted value may hold spaces.
const ASSIGNMENT = new RegExp(
  `(?<![A-Za-z0-9])(?:${KEYWORDS})["']?[ \\t]{0,3}[:=][ \\t]{0,3}(?:"([^"\\r\\n]{1,512})"|'([^'\\r\\n]{1,512})'|([^\\s"'&;,]{1,512}))`,
  'dgi',
);
const URL_CREDENTIAL = /\b[a-z][a-z0-9+.-]{1,20}:\/\/[^\s:@\/]{1,256}:([^\s@\/]{1,256})@/dgi;
const BEARER = /\bBearer[ \t]{1,3}([A-Za-z0-9._~+\/-]{16,4096}=*)/dg;
const GENERIC = /(?<![A-Za-z0-9_\-+\/=.~])[A-Za-z0-9_\-+\/.~]{16,4096}={0,2}(?![A-Za-z0-9_\-+\/=.~])/g;

/** At least two of: lower-case letter, capital, digit (in the last 24 characters). */
export function mixedClasses(s: string): boolean {
  let lower = 0, upper = 0, digit = 0;
  for (let i = Math.max(0, s.length - 24); i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) lower = 1;
    else if (c >= 0x41 && c <= 0x5a) upper = 1;
    else if (c >= 0x30 && c <= 0x39) digit = 1;
  }
  return lower + upper + digit >= 2;
}

// Prefixes that end right before a '_' or a '-' in the formats above (lower-case ASCII).
const UNDERSCORE_PREFIXES = ['ghp', 'gho', 'ghu', 'ghs', 'ghr', 'pat', 'sk', 'rk', 'npm', 'shpat', 'shpss', 'shpca', 'shppa', 'dop', 'doo', 'dor', 'hf'].map(
  (w) => Buffer.from(w, 'latin1'),
);
const DASH_PREFIXES = ['xoxa', 'xoxb', 'xoxp', 'xoxo', 'xoxs', 'xoxr', 'xapp', 'glpat', 'sk', 'pypi'].map((w) => Buffer.from(w, 'latin1'));
// Suffixes of the assignment keywords, lowercase; every keyword in KEYWORDS ends with one of them.
const KEYWORD_SUFFIXES = ['password', 'passwd', 'pwd', 'passphrase', 'secret', 'key', 'token', 'credential', 'credentials'].map(
  (k) => Buffer.from(k, 'latin1'),
);

const strict: Detector = {
  name: 'api_token',
  kind: 'secret',
  prefilter(p, buf, start, end) {
    if (p.len < 8) return false;
    if (p.eq + p.colon + p.underscore + p.dash + p.dot > 0 && punctuationTrigger(p, buf, start, end)) return true;
    if ((p.upperA > 0 && p.upper >= 2 && p.len >= 39) || (p.upperB > 0 && p.len >= 23)) return letterTrigger(buf, start, end);
    return false;
  },
  find(text: string): Span[] {
    const out: Span[] = [];
    TOKENS.lastIndex = 0;
    for (let m = TOKENS.exec(text); m !== null; m = TOKENS.exec(text)) {
      if (mixedClasses(m[0])) out.push([m.index, m.index + m[0].length]);
    }
    groupSpans(ASSIGNMENT, text, out);
    groupSpans(URL_CREDENTIAL, text, out);
    groupSpans(BEARER, text, out);
    return out;
  },
};

export const apiToken: Detector = {
  ...strict,
  context: ['api key', 'apikey', 'token', 'secret', 'password', 'passwd', 'pwd', 'passphrase', 'access key', 'credential', 'credentials', 'private key', 'bearer'],
  loose: looseVariant(
    strict,
    (p) => p.len >= 16,
    (text, out) => {
      GENERIC.lastIndex = 0;
      for (let m = GENERIC.exec(text); m !== null; m = GENERIC.exec(text)) {
        if (mixedClasses(m[0])) out.push([m.index, m.index + m[0].length]);
      }
    },
  ),
};

// Assignments (keyword before '=' or ':'), scheme://, prefixes before '_' or '-', "SG.".
function punctuationTrigger(p: ByteProfile, buf: Buffer, start: number, end: number): boolean {
  const lim = markLimit(p);
  for (let k = 0; k < lim; k++) {
    const i = markAt(p, start, k);
    switch (buf[i]) {
      case 0x3d: // '='
        if (keywordBefore(buf, start, i)) return true;
        break;
      case 0x3a: // ':'
        if (keywordBefore(buf, start, i) || (p.at > 0 && i + 2 < end && buf[i + 1] === 0x2f && buf[i + 2] === 0x2f)) return true;
        break;
      case 0x5f: // '_'
        if (wordBefore(buf, start, i, UNDERSCORE_PREFIXES)) return true;
        break;
      case 0x2d: // '-'
        if (wordBefore(buf, start, i, DASH_PREFIXES)) return true;
        break;
      case 0x2e: // '.'
        if (i >= start + 2 && buf[i - 1] === 0x47 && buf[i - 2] === 0x53) return true; // SG.
        break;
    }
  }
  return false;
}

// AIza, Bearer.
function letterTrigger(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i + 3 < end; i++) {
    const b = buf[i];
    if (b === 0x41 && buf[i + 1] === 0x49 && buf[i + 2] === 0x7a && buf[i + 3] === 0x61) return true;
    if (b === 0x42 && buf[i + 1] === 0x65 && buf[i + 2] === 0x61 && buf[i + 3] === 0x72) return true;
  }
  return false;
}

// Is buf[i] preceded by one of `words` (exactly, case-sensitive) that starts a word?
function wordBefore(buf: Buffer, start: number, i: number, words: readonly Buffer[]): boolean {
  for (let w = 0; w < words.length; w++) {
    const word = words[w];
    const from = i - word.length;
    if (from < start || buf[from] !== word[0]) continue;
    let k = 1;
    while (k < word.length && buf[from + k] === word[k]) k++;
    if (k === word.length && (from === start || !isAsciiAlnum(buf[from - 1]))) return true;
  }
  return false;
}

// Keywords by their last letter (either case): most bytes before an '=' or ':' are rejected by one lookup.
const BY_LAST: (readonly Buffer[] | undefined)[] = new Array(256).fill(undefined);
for (const kw of KEYWORD_SUFFIXES) {
  const last = kw[kw.length - 1];
  BY_LAST[last] = [...(BY_LAST[last] ?? []), kw];
  BY_LAST[last & 0xdf] = BY_LAST[last];
}

// Is buf[i] (an '=' or ':') preceded by a keyword, allowing a closing quote and a few blanks between?
function keywordBefore(buf: Buffer, start: number, i: number): boolean {
  let j = i - 1;
  for (let n = 0; n < 3 && j >= start && (buf[j] === 0x20 || buf[j] === 0x09); n++) j--;
  if (j >= start && (buf[j] === 0x22 || buf[j] === 0x27)) j--;
  if (j < start) return false;
  const candidates = BY_LAST[buf[j]];
  if (candidates === undefined) return false;
  for (let w = 0; w < candidates.length; w++) {
    const kw = candidates[w];
    if (j - kw.length + 1 < start) continue;
    // compare backwards from the second-last letter; (b | 0x20) folds ASCII capitals (keywords are letters only)
    let k = 1;
    while (k < kw.length && (buf[j - k] | 0x20) === kw[kw.length - 1 - k]) k++;
    if (k === kw.length) return true;
  }
  return false;
}

// Pushes the span of the first participating capture group of each match ('d' flag indices).
function groupSpans(re: RegExp, text: string, out: Span[]): void {
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const idx = m.indices;
    if (idx === undefined) continue;
    for (let g = 1; g < idx.length; g++) {
      const r = idx[g];
      if (r !== undefined) {
        out.push([r[0], r[1]]);
        break;
      }
    }
  }
}
