// Column rules + detectors → per-result plan → masked cells (DESIGN "mask", "Performance principles").
//
// Everything that can be built before traffic is built in createResultMasker: rule globs, the
// strategy, one cell masker per (rule strategy × text/opaque) and one detection masker. A plan is
// then only an array of those shared functions, cached per result shape; a cell that no detector's
// byte prefilter accepts costs one pass over its bytes and no allocation.
import type { Config, MaskingProfileConfig } from '../src/config/schema.js';
import type { CellMasker, ColumnInfo, ResultMasker, RowPlan, SessionInfo } from '../src/types.js';
import { ByteProfile, profileBytes, type Detector, type EntityKind } from './detectors/detector.js';
import { DETECTOR_NAMES, DETECTORS } from './detectors/index.js';
import { compileColumnRule, ruleMatches, type ColumnRule } from './rules.js';
import { createStrategy, hashKeyNote, type Strategy } from './strategies.js';

export { DETECTOR_NAMES };

/** Distinct result shapes remembered per profile; older shapes are evicted first. */
export const PLAN_CACHE_SIZE = 256;

/** A ResultMasker that also says how it was built (for `check` and the audit log). */
export interface ProfileMasker extends ResultMasker {
  readonly profile: string;
  /** configuration remarks that are not errors, e.g. a hash without hashKey */
  readonly notes: readonly string[];
}

interface CompiledRule {
  readonly rule: ColumnRule;
  readonly reason: string;
  readonly text: CellMasker;
  readonly opaque: CellMasker;
}

export function createResultMasker(profile: MaskingProfileConfig): ProfileMasker {
  const where = `masking profile "${profile.name}"`;
  const notes: string[] = [];
  const strategies = new Map<MaskWith, Strategy>();
  const strategyFor = (w: MaskWith): Strategy => {
    let s = strategies.get(w);
    if (s === undefined) {
      s = createStrategy(w, profile.hashKey);
      strategies.set(w, s);
      if (w === 'hash' && profile.hashKey === undefined && notes.length === 0) notes.push(hashKeyNote(profile.name));
    }
    return s;
  };

  const rules: CompiledRule[] = profile.columns.map((c) => {
    let rule: ColumnRule;
    try {
      rule = compileColumnRule(c.match);
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`);
    }
    const s = strategyFor(c.with);
    const opaque: CellMasker = (buf, start, end) => s.opaqueCell(buf, start, end);
    // Only partial and replace look at the text; the others give the same result from the bytes
    // (a token, NULL, or an HMAC of the bytes), so those cells are never decoded.
    const readsText = c.with === 'partial' || c.with === 'replace';
    const text: CellMasker = readsText ? (buf, start, end) => s.textCell(buf.toString('utf8', start, end), buf, start, end) : opaque;
    return { rule, reason: `column:${c.match}`, text, opaque };
  });

  const detectors: Detector[] = [];
  for (const name of profile.detect) {
    const d = DETECTORS.get(name);
    if (d === undefined) {
      throw new Error(`${where}: unknown detector "${name}" (known: ${DETECTOR_NAMES.join(', ')})`);
    }
    if (!detectors.includes(d)) detectors.push(d);
  }
  const detect = detectors.length > 0 ? detectionMasker(detectors, strategyFor(profile.with)) : null;
  const detectReasons = detectors.map((d) => `detect:${d.name}`);

  const cache = new Map<string, RowPlan | null>();
  // Without rules only textLike matters, so shapes that differ by name share a plan.
  const keyOf = rules.length === 0 ? textLikeKey : columnKey;

  function build(columns: readonly ColumnInfo[]): RowPlan | null {
    const cells: (CellMasker | null)[] = new Array<CellMasker | null>(columns.length).fill(null);
    const reasons = new Set<string>();
    let any = false;
    for (let i = 0; i < columns.length; i++) {
      const col = columns[i];
      const hit = rules.find((r) => ruleMatches(r.rule, col)); // first matching rule wins
      if (hit !== undefined) {
        cells[i] = col.textLike ? hit.text : hit.opaque;
        reasons.add(hit.reason);
        any = true;
      } else if (detect !== null && col.textLike) {
        cells[i] = detect;
        for (const r of detectReasons) reasons.add(r);
        any = true;
      }
    }
    if (!any) return null;
    return Object.freeze({ cells: Object.freeze(cells), reasons: Object.freeze([...reasons]) });
  }

  return {
    profile: profile.name,
    notes,
    // Session is part of the interface for per-identity masking; profiles do not vary by it yet.
    plan(_session: SessionInfo, columns: readonly ColumnInfo[]): RowPlan | null {
      if (rules.length === 0 && detect === null) return null;
      const key = keyOf(columns);
      const cached = cache.get(key);
      if (cached !== undefined) return cached;
      const plan = build(columns);
      if (cache.size >= PLAN_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      cache.set(key, plan);
      return plan;
    },
  };
}

export function buildResultMaskers(config: Config): Map<string, ProfileMasker> {
  const out = new Map<string, ProfileMasker>();
  for (const profile of config.masking) {
    if (out.has(profile.name)) throw new Error(`masking profile "${profile.name}" is defined twice`);
    out.set(profile.name, createResultMasker(profile));
  }
  return out;
}

type MaskWith = MaskingProfileConfig['with'];

// NUL and SOH cannot occur in SQL identifiers, so they separate fields and columns unambiguously.
function columnKey(columns: readonly ColumnInfo[]): string {
  let key = '';
  for (const c of columns) {
    key += (c.schema ?? '') + '\0' + (c.table ?? '') + '\0' + (c.column || c.name) + (c.textLike ? '\0t\x01' : '\0b\x01');
  }
  return key;
}

function textLikeKey(columns: readonly ColumnInfo[]): string {
  let key = '';
  for (const c of columns) key += c.textLike ? 't' : 'b';
  return key;
}

interface Found {
  start: number;
  end: number;
  kind: EntityKind;
}

function detectionMasker(detectors: readonly Detector[], strategy: Strategy): CellMasker {
  // Owned by this closure and reused for every cell: maskers run synchronously, one cell at a time.
  const profile = new ByteProfile();
  const accepted = new Int32Array(detectors.length);
  return (buf, start, end) => {
    if (end - start < 3) return undefined; // shortest detectable entity: "::1"
    profileBytes(buf, start, end, profile);
    let n = 0;
    for (let i = 0; i < detectors.length; i++) {
      if (detectors[i].prefilter(profile, buf, start, end)) accepted[n++] = i;
    }
    if (n === 0) return undefined;
    return maskSpans(buf.toString('utf8', start, end), detectors, accepted, n, strategy);
  };
}

// Runs the accepted detectors, unions overlapping spans (so no part of any detected value survives
// when two detectors disagree on its extent) and rebuilds the text. undefined when nothing matched.
function maskSpans(
  text: string,
  detectors: readonly Detector[],
  accepted: Int32Array,
  n: number,
  strategy: Strategy,
): string | undefined {
  const found: Found[] = [];
  for (let k = 0; k < n; k++) {
    const d = detectors[accepted[k]];
    for (const [start, end] of d.find(text)) found.push({ start, end, kind: d.kind });
  }
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
