// Content detection for one column: byte prefilters, then (rarely) decoding and the detectors.
//
// Hot path (DESIGN "Performance principles"): a cell is profiled in one pass over its bytes into a
// ByteProfile owned by the masker; each detector's prefilter reads counters. A cell no prefilter
// accepts returns undefined having allocated nothing. Only accepted cells are decoded.
//
// Length cap: there is none on what is scanned — every byte of every cell is profiled, and a cell a
// prefilter accepts is decoded and scanned completely. What is bounded is each detector pass: text
// longer than SCAN_WINDOW code units (1 Mi, about 1–3 MiB of UTF-8) is scanned in windows of
// SCAN_WINDOW that overlap by SCAN_OVERLAP (32 Ki), and the spans found are united. An entity is
// found whole when it fits in the overlap; the longest detected kinds (a JWT, at most ~16 Ki by
// the detector's own bounds; a PEM private key, 1.7–12 Ki) do. So a 100 MiB log line is scanned in
// ~100 bounded passes rather than one, and nothing passes unscanned.
import type { CellMasker } from '../src/types.js';
import { apiToken } from './detectors/api_token.js';
import { ByteProfile, profileBytes, type Detector, type EntityKind } from './detectors/detector.js';
import { compileTerms, endsWithTerm, nameWords, type Term } from './names.js';
import { hasUnicodeEscape, maskArrayText, maskJsonText, startsStructured } from './structured.js';
import type { Strategy } from './strategies.js';

/** Code units scanned per detector pass. */
export const SCAN_WINDOW = 1 << 20;
/** Overlap between consecutive windows; longer than any entity the detectors report. */
export const SCAN_OVERLAP = 1 << 15;

/**
 * How a column's text is structured: `text` (JSON or array-looking cells are still handled as such
 * when they parse), `json` (json/jsonb columns), `array` (text arrays in PostgreSQL literal form).
 */
export type ScanMode = 'text' | 'json' | 'array';

interface Found {
  start: number;
  end: number;
  kind: EntityKind;
}

/** A cell masker running `detectors` (already chosen per column: strict or loose variants). */
export function detectionMasker(detectors: readonly Detector[], strategy: Strategy, mode: ScanMode): CellMasker {
  // Owned by this closure and reused for every cell: maskers run synchronously, one cell at a time.
  const profile = new ByteProfile();
  const accepted = new Int32Array(detectors.length);
  let n = 0;
  const credentialKey = credentialKeyTest(detectors);
  // In JSON, {"password": "…"} is an assignment: the value is a credential whatever it looks like.
  const plain = (text: string, key?: string): string | undefined =>
    key !== undefined && credentialKey !== null && credentialKey(key) ? strategy.span('secret', text) : maskSpans(text, detectors, accepted, n, strategy);
  return (buf, start, end) => {
    if (end - start < 3) return undefined; // shortest detectable entity: "::1"
    profileBytes(buf, start, end, profile);
    n = 0;
    for (let i = 0; i < detectors.length; i++) {
      if (detectors[i].prefilter(profile, buf, start, end)) accepted[n++] = i;
    }
    if (n === 0) {
      // A JSON "\u0040" is an '@' the prefilters cannot see: JSON with \u escapes is scanned by every detector.
      if (profile.backslash === 0 || mode === 'array') return undefined;
      if (mode === 'text' && !startsStructured(buf, start, end)) return undefined;
      if (!hasUnicodeEscape(buf, start, end)) return undefined;
      for (let i = 0; i < detectors.length; i++) accepted[n++] = i;
    }
    const text = buf.toString('utf8', start, end);
    if (mode === 'json' || (mode === 'text' && startsStructured(buf, start, end))) {
      const r = maskJsonText(text, plain);
      if (r !== null) return r;
    } else if (mode === 'array') {
      const r = maskArrayText(text, plain);
      if (r !== null) return r;
    }
    return plain(text);
  };
}

/** Key names whose JSON values are credentials: those ending with the api_token detector's context words. */
function credentialKeyTest(detectors: readonly Detector[]): ((key: string) => boolean) | null {
  if (!detectors.some((x) => x.name === apiToken.name)) return null;
  const terms: Term[] = compileTerms(apiToken.context ?? []);
  const seen = new Map<string, boolean>(); // keys repeat from row to row
  return (key) => {
    let v = seen.get(key);
    if (v === undefined) {
      v = endsWithTerm(nameWords(key), terms);
      if (seen.size >= 1024) seen.clear();
      seen.set(key, v);
    }
    return v;
  };
}

/** Every span the accepted detectors find, in windows when the text is long. */
function collect(text: string, detectors: readonly Detector[], accepted: Int32Array, n: number): Found[] {
  const found: Found[] = [];
  const step = SCAN_WINDOW - SCAN_OVERLAP;
  for (let a = 0; ; a += step) {
    let b = Math.min(text.length, a + SCAN_WINDOW);
    // never cut a surrogate pair at a window's end
    if (b < text.length && (text.charCodeAt(b - 1) & 0xfc00) === 0xd800) b--;
    const piece = a === 0 && b === text.length ? text : text.slice(a, b);
    for (let k = 0; k < n; k++) {
      const d = detectors[accepted[k]];
      for (const [s, e] of d.find(piece)) found.push({ start: a + s, end: a + e, kind: d.kind });
    }
    if (b >= text.length) break;
  }
  return found;
}

// Runs the accepted detectors, unions overlapping spans (so no part of any detected value survives
// when two detectors disagree on its extent) and rebuilds the text. undefined when nothing matched.
export function maskSpans(
  text: string,
  detectors: readonly Detector[],
  accepted: Int32Array,
  n: number,
  strategy: Strategy,
): string | undefined {
  const found = collect(text, detectors, accepted, n);
  if (found.length === 0) return undefined;
  found.sort((a, b) => a.start - b.start || b.end - a.end);
  let out = '';
  let pos = 0;
  let cur = found[0];
  let curLen = cur.end - cur.start; // the kind of a merged span is that of its longest member
  const flush = (): void => {
    out += text.slice(pos, cur.start) + strategy.span(cur.kind, text.slice(cur.start, cur.end));
    pos = cur.end;
  };
  for (let k = 1; k < found.length; k++) {
    const f = found[k];
    if (f.start < cur.end) {
      if (f.end - f.start > curLen) {
        curLen = f.end - f.start;
        cur.kind = f.kind;
      }
      if (f.end > cur.end) cur.end = f.end;
      continue;
    }
    flush();
    cur = f;
    curLen = f.end - f.start;
  }
  flush();
  return out + text.slice(pos);
}
