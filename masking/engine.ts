// Column rules + detectors → per-result plan → masked cells (DESIGN "mask", "Performance principles").
//
// Everything that can be built before traffic is built in createResultMasker: rule globs, strategies,
// one cell masker per (rule × text/opaque/type) and one detection masker per (detector variants ×
// structure). A plan is then only an array of those shared functions, cached per result shape; a
// cell that no detector's byte prefilter accepts costs one pass over its bytes and no allocation.
//
// Per column, when the plan is built:
//   - the first column rule that matches (glob or `@sensitive`, masking/rules.ts) masks the whole cell;
//     a column of a known non-text type gets a valid value of that type (masking/typed.ts);
//   - otherwise text-like columns are content-scanned. Detectors with weak shapes (phone, us_ssn…)
//     switch to their loose variant when the column or table name gives enough context
//     (masking/names.ts, CONTEXT_THRESHOLD); json/jsonb columns and text arrays are scanned
//     string by string so the result stays valid JSON / a valid array literal (masking/structured.ts).
import type { Config, MaskingProfileConfig } from '../src/config/schema.js';
import type { CellMasker, ColumnInfo, ResultMasker, RowPlan, SessionInfo } from '../src/types.js';
import type { Detector } from './detectors/detector.js';
import { DETECTOR_NAMES, resolveDetector } from './detectors/index.js';
import { CONTEXT_THRESHOLD, compileTerms, looseConfidence, nameContext, type Term } from './names.js';
import { compileColumnRule, ruleMatches, type ColumnRule } from './rules.js';
import { detectionMasker, type ScanMode } from './scan.js';
import { createStrategy, hashKeyNote, type Strategy } from './strategies.js';
import { typedValue, typeKindOf, type TypeKind } from './typed.js';

export { DETECTOR_NAMES };
export { typedReplacement, typeKindOf } from './typed.js';

/** Distinct result shapes remembered per profile; older shapes are evicted first. */
export const PLAN_CACHE_SIZE = 256;

/** A ResultMasker that also says how it was built (for `check` and the audit log). */
export interface ProfileMasker extends ResultMasker {
  readonly profile: string;
  /** configuration remarks that are not errors, e.g. a hash without hashKey */
  readonly notes: readonly string[];
}

type MaskWith = MaskingProfileConfig['with'];

interface CompiledRule {
  readonly rule: ColumnRule;
  readonly reason: string;
  readonly strategy: Strategy;
  readonly text: CellMasker;
  readonly opaque: CellMasker;
  /** type-valid maskers, built on first use per type kind */
  readonly typed: Map<string, CellMasker>;
}

interface ContextDetector {
  readonly detector: Detector;
  readonly terms: readonly Term[];
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
    return { rule, reason: `column:${c.match}`, strategy: s, text, opaque, typed: new Map() };
  });

  const detectors: ContextDetector[] = [];
  const detectReasons: string[] = [];
  for (const name of profile.detect) {
    const ds = resolveDetector(name);
    if (ds === undefined) {
      throw new Error(`${where}: unknown detector "${name}" (known: ${DETECTOR_NAMES.join(', ')})`);
    }
    if (!detectReasons.includes(`detect:${name}`)) detectReasons.push(`detect:${name}`);
    for (const d of ds) {
      if (!detectors.some((x) => x.detector === d)) detectors.push({ detector: d, terms: compileTerms(d.context ?? []) });
    }
  }
  const detectStrategy = detectors.length > 0 ? strategyFor(profile.with) : null;
  // One detection masker per (variant choice × structure), shared by every column that needs it.
  const detectionMaskers = new Map<string, CellMasker>();

  function detectionFor(col: ColumnInfo, kind: TypeKind | undefined, reasons: Set<string>): CellMasker {
    const ctx = nameContext(col);
    const mode: ScanMode = kind === 'json' ? 'json' : kind === 'array' ? 'array' : 'text';
    let key: string = mode;
    const chosen: Detector[] = [];
    for (const { detector: d, terms } of detectors) {
      const loose = d.loose !== undefined && terms.length > 0 && looseConfidence(terms, ctx) >= CONTEXT_THRESHOLD;
      chosen.push(loose ? d.loose! : d);
      key += loose ? '1' : '0';
      if (loose) reasons.add(`context:${d.name}`);
    }
    let m = detectionMaskers.get(key);
    if (m === undefined) {
      m = detectionMasker(chosen, detectStrategy!, mode);
      detectionMaskers.set(key, m);
    }
    if (kind !== undefined && kind !== 'string' && kind !== 'json' && kind !== 'array') {
      // a text-like column of another type (inet…): a detection replaces the whole value by one of its type
      const inner = m;
      const s = detectStrategy!;
      const k = kind;
      m = (buf, start, end) =>
        inner(buf, start, end) === undefined ? undefined : typedValue(k, s, buf.toString('utf8', start, end), buf.subarray(start, end));
    }
    return m;
  }

  const cache = new Map<string, RowPlan | null>();

  function build(columns: readonly ColumnInfo[]): RowPlan | null {
    const cells: (CellMasker | null)[] = new Array<CellMasker | null>(columns.length).fill(null);
    const typeValid: boolean[] = new Array<boolean>(columns.length).fill(true);
    const reasons = new Set<string>();
    let any = false;
    for (let i = 0; i < columns.length; i++) {
      const col = columns[i];
      const kind = typeKindOf(col.typeName);
      const hit = rules.find((r) => ruleMatches(r.rule, col)); // first matching rule wins
      if (hit !== undefined) {
        if (kind !== undefined && kind !== 'string') {
          cells[i] = typedMasker(hit, kind, col.textLike || col.format === 'text');
        } else {
          cells[i] = col.textLike ? hit.text : hit.opaque;
          // an opaque cell of unknown type gets the strategy's text: only NULL is sure to be valid
          typeValid[i] = col.textLike || kind === 'string';
        }
        reasons.add(hit.reason);
        any = true;
      } else if (detectStrategy !== null && col.textLike) {
        for (const r of detectReasons) reasons.add(r);
        cells[i] = detectionFor(col, kind, reasons);
        any = true;
      }
    }
    if (!any) return null;
    return Object.freeze({ cells: Object.freeze(cells), reasons: Object.freeze([...reasons]), typeValid: Object.freeze(typeValid) });
  }

  return {
    profile: profile.name,
    notes,
    // Session is part of the interface for per-identity masking; profiles do not vary by it yet.
    plan(_session: SessionInfo, columns: readonly ColumnInfo[]): RowPlan | null {
      if (rules.length === 0 && detectStrategy === null) return null;
      const key = columnKey(columns);
      const cached = cache.get(key);
      if (cached !== undefined) return cached;
      const plan = build(columns);
      if (cache.size >= PLAN_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      cache.set(key, plan);
      return plan;
    },
  };
}

/** A rule's masker for a column of a non-string type: always a valid text-format value of the type. */
function typedMasker(rule: CompiledRule, kind: TypeKind, textKnown: boolean): CellMasker {
  const key = `${kind}:${textKnown ? 't' : 'b'}`;
  let m = rule.typed.get(key);
  if (m !== undefined) return m;
  const s = rule.strategy;
  switch (s.name) {
    case 'null':
      m = () => null;
      break;
    case 'redact': {
      const value = typedValue(kind, s, null, '');
      m = () => value;
      break;
    }
    case 'hash':
      m = (buf, start, end) => typedValue(kind, s, null, buf.subarray(start, end));
      break;
    default:
      // partial and replace may keep part of the value (a year, last digits, a JSON shape)
      m = (buf, start, end) => typedValue(kind, s, textKnown ? buf.toString('utf8', start, end) : null, '');
  }
  rule.typed.set(key, m);
  return m;
}

export function buildResultMaskers(config: Config): Map<string, ProfileMasker> {
  const out = new Map<string, ProfileMasker>();
  for (const profile of config.masking) {
    if (out.has(profile.name)) throw new Error(`masking profile "${profile.name}" is defined twice`);
    out.set(profile.name, createResultMasker(profile));
  }
  return out;
}

// NUL and SOH cannot occur in SQL identifiers, so they separate fields and columns unambiguously.
function columnKey(columns: readonly ColumnInfo[]): string {
  let key = '';
  for (const c of columns) {
    key +=
      (c.schema ?? '') + '\0' + (c.table ?? '') + '\0' + (c.column ?? '') + '\0' + c.name + '\0' + (c.typeName ?? '') +
      (c.textLike ? '\0t' : '\0b') + (c.format === 'binary' ? 'b' : c.format === 'text' ? 't' : '') + '\x01';
  }
  return key;
}
