// Credentials in text: well-known token formats, JWTs, PEM private keys, credentials in URLs,
// "Bearer …" headers and the values of password=/api_key:-style assignments.
import { markAt, markLimit, type ByteProfile, type Detector, type Span } from './detector.js';

// Token formats with a distinctive prefix; whole match is the secret. All quantifiers bounded.
const TOKENS = new RegExp(
  [
    '\\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\\b', // AWS access key id
    '\\bgh[pousr]_[A-Za-z0-9]{36,255}\\b', // GitHub classic tokens
    '\\bgithub_pat_[A-Za-z0-9_]{22,255}\\b', // GitHub fine-grained tokens
    '\\bxox[abposr]-[A-Za-z0-9-]{10,255}', // Slack
    '\\b[sr]k_live_[A-Za-z0-9]{16,255}\\b', // Stripe secret / restricted keys
    '\\beyJ[A-Za-z0-9_-]{4,4096}\\.eyJ[A-Za-z0-9_-]{2,8192}\\.[A-Za-z0-9_-]{0,4096}', // JWT (JSON header and payload)
  ].join('|'),
  'g',
);
const PEM_BEGIN = /-----BEGIN (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY( BLOCK)?-----/g;
const PEM_END = /-----END (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY( BLOCK)?-----/g;

// Only the value is masked: "password=hunter2" → "password=[REDACTED]". A quoted value may hold spaces.
const KEYWORDS =
  'password|passwd|pwd|passphrase|secret|client_secret|secret_key|api[_-]?key|access[_-]?key|access[_-]?token|' +
  'auth[_-]?token|refresh[_-]?token|token|private[_-]?key|credentials?';
const ASSIGNMENT = new RegExp(
  `(?<![A-Za-z0-9])(?:${KEYWORDS})["']?[ \\t]{0,3}[:=][ \\t]{0,3}(?:"([^"\\r\\n]{1,512})"|'([^'\\r\\n]{1,512})'|([^\\s"'&;,]{1,512}))`,
  'dgi',
);
// scheme://user:password@host — mask the password.
const URL_CREDENTIAL = /\b[a-z][a-z0-9+.-]{1,20}:\/\/[^\s:@\/]{1,256}:([^\s@\/]{1,256})@/dgi;
const BEARER = /\bBearer[ \t]{1,3}([A-Za-z0-9._~+\/-]{16,4096}=*)/dg;

export const secret: Detector = {
  name: 'secret',
  kind: 'secret',
  prefilter(p, buf, start, end) {
    if (p.len < 8) return false;
    if (p.eq + p.colon + p.underscore + p.dash > 0 && punctuationTrigger(p, buf, start, end)) return true;
    // Letter-led formats; most prose fails these counters and is never scanned.
    if (p.upper >= 4 || (p.upperJ >= 2 && p.dot >= 2) || (p.upperB > 0 && p.len >= 23)) return letterTrigger(buf, start, end);
    return false;
  },
  find(text: string): Span[] {
    const out: Span[] = [];
    TOKENS.lastIndex = 0;
    for (let m = TOKENS.exec(text); m !== null; m = TOKENS.exec(text)) out.push([m.index, m.index + m[0].length]);
    findPem(text, out);
    groupSpans(ASSIGNMENT, text, out);
    groupSpans(URL_CREDENTIAL, text, out);
    groupSpans(BEARER, text, out);
    return out;
  },
};

// Assignments (keyword before '=' or ':'), scheme://, gh?_, github_pat_, [sr]k_live_, xox?-, -----.
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
        if (i >= start + 2 && buf[i - 1] === 0x6b && (buf[i - 2] === 0x73 || buf[i - 2] === 0x72)) return true;
        if (i >= start + 3 && buf[i - 3] === 0x67 && buf[i - 2] === 0x68) return true;
        if (i >= start + 3 && buf[i - 3] === 0x70 && buf[i - 2] === 0x61 && buf[i - 1] === 0x74) return true;
        break;
      case 0x2d: // '-'
        if (p.dash >= 5) return true;
        if (i >= start + 4 && buf[i - 4] === 0x78 && buf[i - 3] === 0x6f && buf[i - 2] === 0x78) return true;
        break;
    }
  }
  return false;
}

// AKIA/ASIA/ABIA/ACCA, eyJ, Bearer.
function letterTrigger(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i + 3 < end; i++) {
    const b = buf[i];
    if (b === 0x41 && buf[i + 3] === 0x41 && isAwsInfix(buf[i + 1], buf[i + 2])) return true;
    if (b === 0x65 && buf[i + 1] === 0x79 && buf[i + 2] === 0x4a) return true;
    if (b === 0x42 && buf[i + 1] === 0x65 && buf[i + 2] === 0x61 && buf[i + 3] === 0x72) return true;
  }
  return false;
}

function isAwsInfix(b1: number, b2: number): boolean {
  // KI, SI, BI, CC
  return (b2 === 0x49 && (b1 === 0x4b || b1 === 0x53 || b1 === 0x42)) || (b1 === 0x43 && b2 === 0x43);
}

// Suffixes of the assignment keywords, lowercase; every keyword in KEYWORDS ends with one of them.
const KEYWORD_SUFFIXES = ['password', 'passwd', 'pwd', 'passphrase', 'secret', 'key', 'token', 'credential', 'credentials'].map(
  (k) => Buffer.from(k, 'latin1'),
);

// Is buf[i] (an '=' or ':') preceded by a keyword, allowing a closing quote and a few blanks between?
function keywordBefore(buf: Buffer, start: number, i: number): boolean {
  let j = i - 1;
  for (let n = 0; n < 3 && j >= start && (buf[j] === 0x20 || buf[j] === 0x09); n++) j--;
  if (j >= start && (buf[j] === 0x22 || buf[j] === 0x27)) j--;
  for (let w = 0; w < KEYWORD_SUFFIXES.length; w++) {
    const kw = KEYWORD_SUFFIXES[w];
    const from = j - kw.length + 1;
    if (from < start) continue;
    let k = 0;
    // (b | 0x20) folds ASCII capitals to lowercase; keywords are letters only
    while (k < kw.length && (buf[from + k] | 0x20) === kw[k]) k++;
    if (k === kw.length) return true;
  }
  return false;
}

// A PEM block from BEGIN to END; a block cut short (truncated column) is masked to the end of the text.
function findPem(text: string, out: Span[]): void {
  PEM_BEGIN.lastIndex = 0;
  for (let m = PEM_BEGIN.exec(text); m !== null; m = PEM_BEGIN.exec(text)) {
    PEM_END.lastIndex = m.index + m[0].length;
    const e = PEM_END.exec(text);
    const stop = e === null ? text.length : e.index + e[0].length;
    out.push([m.index, stop]);
    PEM_BEGIN.lastIndex = stop;
  }
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
