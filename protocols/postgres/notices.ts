// ErrorResponse and NoticeResponse can echo row values back to the client: a unique violation's DETAIL
// is `Key (email)=(alice@example.com) already exists.`, a not-null or check violation's is
// `Failing row contains (…)` — the whole row. On a masked connection these values are masked too.
import type { CellMasker, ResultMasker, SessionInfo } from '../../src/types.js';
import { Writer } from './bytes.js';

/** Fields that carry free text which may quote data. */
const TEXT_FIELDS = ['M', 'D', 'H', 'W', 'q'];

const KEY_DETAIL = /^(Key \((.*?)\)=\()(.*)(\)[^)]*)$/s;
/**
 * Messages that quote the input they failed on (`invalid input syntax for type integer: "…"`, `value "…" is out of
 * range for type…`, `Token "…" is invalid.`, `JSON data, line 1: …`): the value may come from a masked column
 * (`SELECT note::int`), which content detection alone does not know — the quoted value is always redacted.
 */
const ECHOED_VALUE = [
  /^(.*: )"(.*)"$/s, // PostgreSQL's convention for echoing input: a trailing `: "value"`
  /^(value )"(.*)"( is out of range for type .*)$/s,
  /^(Token )"(.*)"( is invalid\.?)$/s,
  /^(JSON data, line \d+: )(.*)$/s,
];
const FAILING_ROW = /^(Failing row contains \()(.*)(\)\.?)$/s;

export const REDACTED_VALUES = '[REDACTED]';

/** A content masker for free text, from the profile's detectors (a text column with no name). */
export function freeTextMasker(masker: ResultMasker, session: SessionInfo): CellMasker | null {
  const plan = masker.plan(session, [{ name: '?column?', textLike: true }]);
  return plan?.cells[0] ?? null;
}

function maskText(m: CellMasker | null, text: string): string {
  if (!m) return text;
  const b = Buffer.from(text, 'utf8');
  const out = m(b, 0, b.length);
  return typeof out === 'string' ? out : text;
}

/**
 * Masked copy of the fields, or null when nothing changed. Values quoted in a DETAIL (key and failing-row
 * forms) are replaced whole: which column they belong to is not known reliably, so none is trusted.
 */
export function maskNoticeFields(fields: Map<string, string>, m: CellMasker | null): Map<string, string> | null {
  let out: Map<string, string> | null = null;
  for (const k of TEXT_FIELDS) {
    const v = fields.get(k);
    if (v === undefined) continue;
    let masked = v;
    if (k === 'D') {
      const key = KEY_DETAIL.exec(v);
      const row = key ? null : FAILING_ROW.exec(v);
      if (key) masked = `${key[1]}${REDACTED_VALUES}${key[4]}`;
      else if (row) masked = `${row[1]}${REDACTED_VALUES}${row[3]}`;
      else masked = maskText(m, v);
    } else {
      masked = maskText(m, v);
    }
    if (k === 'M' || k === 'D' || k === 'W') {
      for (const re of ECHOED_VALUE) {
        const e = re.exec(masked);
        if (e) {
          masked = `${e[1]}"${REDACTED_VALUES}"${e[3] ?? ''}`;
          if (re === ECHOED_VALUE[3]) masked = `${e[1]}${REDACTED_VALUES}`;
          break;
        }
      }
    }
    if (masked !== v) {
      out ??= new Map(fields);
      out.set(k, masked);
    }
  }
  return out;
}

/** ErrorResponse / NoticeResponse from a field map, in its order. */
export function encodeFields(code: number, fields: Map<string, string>): Buffer {
  const w = new Writer().begin(code);
  for (const [k, v] of fields) w.byte(k.charCodeAt(0)).cstring(v);
  return w.byte(0).end().flush();
}
