// What every content detector looks like, and the one-pass byte profile their prefilters share.
//
// Hot path (DESIGN "Performance principles"): a text cell is profiled once, in a single loop over its
// raw bytes, into a reused object; each detector's prefilter then mostly reads counters. Only when a
// prefilter accepts is the cell decoded to a string and the detector's regexes run.

/** What a span is, so that strategies can keep a useful shape (e-mail domain, card last 4…). */
export type EntityKind = 'email' | 'card' | 'iban' | 'ssn' | 'phone' | 'ip' | 'secret' | 'text';

/** A detected span in a decoded string: [start, end) in UTF-16 code units. */
export type Span = [number, number];

export interface Detector {
  readonly name: string;
  readonly kind: EntityKind;
  /**
   * Cheap check on the raw cell bytes, before any decoding. `p` is the profile of exactly
   * buf[start, end). Must not allocate. False means find() cannot match.
   */
  prefilter(p: ByteProfile, buf: Buffer, start: number, end: number): boolean;
  /**
   * Spans of the decoded cell text that are this entity (already validated: Luhn, mod 97…).
   * Spans may overlap or repeat; the engine merges them.
   */
  find(text: string): Span[];
  /**
   * Words of a column or table name that raise confidence in this entity ("ssn", "phone number"…),
   * matched as whole words of the name (see masking/names.ts). Only meaningful with `loose`.
   */
  readonly context?: readonly string[];
  /**
   * The liberal variant used on columns whose name gives enough context (engine: CONTEXT_THRESHOLD).
   * It finds everything this detector finds plus weaker shapes (an undashed SSN, a bare digit run in a
   * phone column); its prefilter accepts everything this prefilter accepts.
   */
  readonly loose?: Detector;
}

/** Punctuation offsets remembered per cell; prose rarely has more, and past it we scan everything. */
const MAX_MARKS = 32;

/** Counters over one cell's bytes. Reused: never hold on to it across cells. */
export class ByteProfile {
  len = 0;
  digits = 0;
  /** longest run of consecutive ASCII digits */
  maxDigitRun = 0;
  /** ASCII capitals, 'B' and 'J' included */
  upper = 0;
  /** 'A' (AKIA…, AIza…), 'B' (Bearer) and 'J' (eyJ…) also counted on their own, for the secret detectors */
  upperA = 0;
  upperB = 0;
  upperJ = 0;
  at = 0;
  dot = 0;
  dash = 0;
  colon = 0;
  eq = 0;
  underscore = 0;
  plus = 0;
  /** '\\' (JSON and array escapes; not a mark) */
  backslash = 0;
  /**
   * Offsets (into the buffer) of the punctuation counted above ('@' '.' '-' ':' '=' '_' '+'), so
   * that prefilters looking for a shape around punctuation visit a handful of bytes, not all of
   * them. -1 when there were more than MAX_MARKS: then every byte must be visited (see markAt).
   */
  markCount = 0;
  readonly marks = new Int32Array(MAX_MARKS);
  /**
   * Offsets of the first digit of each run of ASCII digits, so that digit-shape prefilters (cards,
   * phones, IBANs) visit the runs, not every byte. -1 when there were more than MAX_RUNS runs.
   */
  runCount = 0;
  readonly runs = new Int32Array(MAX_RUNS);
}

/** Digit runs remembered per cell. */
const MAX_RUNS = 32;

/**
 * The k-th position to inspect: the k-th mark, or start + k when marks overflowed. Loop with
 * `for (let k = 0; k < markLimit(p); k++)` to cover both cases without allocating.
 */
export function markAt(p: ByteProfile, start: number, k: number): number {
  return p.markCount < 0 ? start + k : p.marks[k];
}

export function markLimit(p: ByteProfile): number {
  return p.markCount < 0 ? p.len : p.markCount;
}

/** Length of the run of ASCII digits starting at buf[i]. */
export function digitRunLength(buf: Buffer, i: number, end: number): number {
  let j = i;
  while (j < end && buf[j] >= 0x30 && buf[j] <= 0x39) j++;
  return j - i;
}

// Byte classes: one table lookup and one counter increment per byte. Class 0 (lowercase letters,
// spaces, UTF-8 multibyte sequences: everything prose is made of) takes a fast path.
// Classes from AT on are punctuation marks whose offsets are remembered.
const OTHER = 0, DIGIT = 1, UPPER = 2, UPPER_B = 3, UPPER_J = 4, UPPER_A = 5, BACKSLASH = 6, AT = 7, DOT = 8, DASH = 9,
  COLON = 10, EQ = 11, UNDERSCORE = 12, PLUS = 13;
const CLASS = new Uint8Array(256);
for (let b = 0x30; b <= 0x39; b++) CLASS[b] = DIGIT;
for (let b = 0x41; b <= 0x5a; b++) CLASS[b] = UPPER;
CLASS[0x41] = UPPER_A; // 'A'
CLASS[0x42] = UPPER_B; // 'B'
CLASS[0x4a] = UPPER_J; // 'J'
CLASS[0x40] = AT; // '@'
CLASS[0x2e] = DOT; // '.'
CLASS[0x2d] = DASH; // '-'
CLASS[0x3a] = COLON; // ':'
CLASS[0x3d] = EQ; // '='
CLASS[0x5f] = UNDERSCORE; // '_'
CLASS[0x2b] = PLUS; // '+'
CLASS[0x5c] = BACKSLASH; // '\\'
const counts = new Int32Array(14);

/** Fills `p` with the counters of buf[start, end). */
export function profileBytes(buf: Buffer, start: number, end: number, p: ByteProfile): ByteProfile {
  counts.fill(0);
  const marks = p.marks;
  const runs = p.runs;
  let nMarks = 0;
  let nRuns = 0;
  let run = 0;
  let maxRun = 0;
  for (let i = start; i < end; i++) {
    const c = CLASS[buf[i]];
    if (c === OTHER) {
      run = 0;
      continue;
    }
    counts[c]++;
    if (c === DIGIT) {
      if (++run > maxRun) maxRun = run;
      if (run === 1) {
        if (nRuns < MAX_RUNS) runs[nRuns] = i;
        nRuns++;
      }
      continue;
    }
    run = 0;
    if (c >= AT && nMarks < MAX_MARKS) marks[nMarks] = i;
    if (c >= AT) nMarks++;
  }
  p.markCount = nMarks > MAX_MARKS ? -1 : nMarks;
  p.runCount = nRuns > MAX_RUNS ? -1 : nRuns;
  p.len = end - start;
  p.digits = counts[DIGIT];
  p.maxDigitRun = maxRun;
  p.upperB = counts[UPPER_B];
  p.upperJ = counts[UPPER_J];
  p.upperA = counts[UPPER_A];
  p.upper = counts[UPPER] + p.upperA + p.upperB + p.upperJ;
  p.at = counts[AT];
  p.dot = counts[DOT];
  p.dash = counts[DASH];
  p.colon = counts[COLON];
  p.eq = counts[EQ];
  p.underscore = counts[UNDERSCORE];
  p.plus = counts[PLUS];
  p.backslash = counts[BACKSLASH];
  return p;
}

const SCRATCH = new ByteProfile();

/** A detector's prefilter on its own (tests, tools). The engine profiles once for all detectors instead. */
export function prefilterBytes(d: Detector, buf: Buffer, start = 0, end = buf.length): boolean {
  return d.prefilter(profileBytes(buf, start, end, SCRATCH), buf, start, end);
}

/** Every match of a global regex as spans. Regexes are module-level; lastIndex is reset here. */
export function regexSpans(re: RegExp, text: string, out: Span[] = []): Span[] {
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    out.push([m.index, m.index + m[0].length]);
    if (m[0].length === 0) re.lastIndex++;
  }
  return out;
}

export function isAsciiDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Union of the strict detector's results and `extra`, for loose variants. */
export function looseVariant(
  strict: Detector,
  prefilter: Detector['prefilter'],
  extra: (text: string, out: Span[]) => void,
): Detector {
  return {
    name: strict.name,
    kind: strict.kind,
    prefilter: (p, buf, start, end) => strict.prefilter(p, buf, start, end) || prefilter(p, buf, start, end),
    find(text: string): Span[] {
      const out = strict.find(text);
      extra(text, out);
      return out;
    },
  };
}

/** ASCII letters of `text` in upper case, everything else untouched: same length, same offsets. */
export function asciiUpper(text: string): string {
  return text.replace(/[a-z]+/g, (s) => s.toUpperCase());
}

export function isAsciiAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}
