// Content detection inside structured text: JSON documents and PostgreSQL array literals. Each
// string (or array element) is decoded, scanned as plain text, and — only when something in it was
// masked — re-encoded, so the result stays valid: a replacement inside a JSON string is JSON-escaped
// (no bare quotes, backslashes or control characters), and an escape sequence is never cut in half.
// Numbers in JSON are scanned too (a card number stored as a number becomes a JSON string).
//
// Both walkers return undefined when nothing changed and null when the text is not of their kind
// (the caller then masks it as plain text). They run only on cells a detector prefilter accepted.

/**
 * Masks a decoded string as plain text; undefined when nothing in it was detected. `key` is the
 * object key a JSON value sits under ("password" in {"password": "…"}), for detectors that judge a
 * value by its name the way they judge an assignment in plain text.
 */
export type PlainMasker = (text: string, key?: string) => string | undefined;

/** Shortest string worth scanning: no detected entity is shorter ("::1"). */
const MIN_SCAN = 3;

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isJsonNumberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x45 || c === 0x65;
}

/**
 * JSON text (any JSON value, or several: it is tokenized, not validated) with every string and
 * number scanned. null when the text does not tokenize as JSON.
 */
export function maskJsonText(text: string, mask: PlainMasker): string | undefined | null {
  const n = text.length;
  let out = '';
  let pos = 0;
  let changed = false;
  let i = 0;
  let lastString: string | undefined; // the last string token, decoded: a key if ':' follows
  let valueKey: string | undefined; // the key of the value that comes next
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // string: find the closing quote, noting escapes
      let j = i + 1;
      let escaped = false;
      for (; j < n; j++) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) {
          escaped = true;
          j++;
        } else if (d === 0x22) {
          break;
        } else if (d < 0x20) {
          return null; // raw control character: not JSON
        }
      }
      if (j >= n) return null;
      let content: string;
      if (escaped) {
        try {
          content = JSON.parse(text.slice(i, j + 1)) as string;
        } catch {
          return null;
        }
      } else {
        content = text.slice(i + 1, j);
      }
      const key = valueKey;
      valueKey = undefined;
      lastString = content;
      if (content.length >= MIN_SCAN || (key !== undefined && content.length > 0)) {
        const masked = mask(content, key);
        if (masked !== undefined) {
          out += text.slice(pos, i) + JSON.stringify(masked);
          pos = j + 1;
          changed = true;
        }
      }
      i = j + 1;
    } else if (c === 0x3a) {
      valueKey = lastString;
      lastString = undefined;
      i++;
    } else if (isJsonSpace(c)) {
      i++;
    } else if (c === 0x7b || c === 0x7d || c === 0x5b || c === 0x5d || c === 0x2c) {
      lastString = valueKey = undefined;
      i++;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < n && isJsonNumberChar(text.charCodeAt(j))) j++;
      const key = valueKey;
      lastString = valueKey = undefined;
      if (j - i >= 7 || key !== undefined) {
        const masked = mask(text.slice(i, j), key);
        if (masked !== undefined) {
          out += text.slice(pos, i) + JSON.stringify(masked);
          pos = j;
          changed = true;
        }
      }
      i = j;
    } else if (text.startsWith('true', i) || text.startsWith('null', i)) {
      lastString = valueKey = undefined;
      i += 4;
    } else if (text.startsWith('false', i)) {
      lastString = valueKey = undefined;
      i += 5;
    } else {
      return null;
    }
  }
  return changed ? out + text.slice(pos) : undefined;
}

/** First non-blank character is '{' or '[': worth trying as JSON (or an array literal). */
export function startsStructured(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b === 0x7b || b === 0x5b) return true;
    if (!isJsonSpace(b)) return false;
  }
  return false;
}

/** A JSON "\uXXXX" escape somewhere in buf[start, end): it can hide what the prefilters look for. */
export function hasUnicodeEscape(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i + 1 < end; i++) {
    if (buf[i] === 0x5c) {
      if (buf[i + 1] === 0x75) return true;
      i++; // skip the escaped character ("\\u" is a backslash and a 'u')
    }
  }
  return false;
}

const NEEDS_QUOTES = /[{}",\\\s]|^$|^null$/i;

function quoteElement(value: string): string {
  return NEEDS_QUOTES.test(value) ? '"' + value.replace(/["\\]/g, '\\$&') + '"' : value;
}

/**
 * A PostgreSQL array literal in text form ("{a,\"b c\",NULL}", nested, with an optional "[1:2]="
 * bounds prefix) with every element scanned. null when the text is not an array literal.
 */
export function maskArrayText(text: string, mask: PlainMasker): string | undefined | null {
  const n = text.length;
  let i = 0;
  if (text.charCodeAt(0) === 0x5b) {
    const eq = text.indexOf('=');
    if (eq < 0) return null;
    i = eq + 1;
  }
  while (i < n && isJsonSpace(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) !== 0x7b) return null;
  let out = '';
  let pos = 0;
  let changed = false;
  let depth = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x7b) {
      depth++;
      i++;
    } else if (c === 0x7d) {
      if (--depth < 0) return null;
      i++;
    } else if (c === 0x2c || isJsonSpace(c)) {
      i++;
    } else {
      if (depth === 0) return null; // text after the closing brace
      // one element, quoted or not; backslash escapes the next character in both forms
      const elStart = i;
      let value = '';
      let quoted = false;
      if (c === 0x22) {
        quoted = true;
        i++;
        for (; i < n && text.charCodeAt(i) !== 0x22; i++) {
          if (text.charCodeAt(i) === 0x5c) i++;
          value += text.charAt(i);
        }
        if (i >= n) return null;
        i++;
      } else {
        for (; i < n; i++) {
          const d = text.charCodeAt(i);
          if (d === 0x2c || d === 0x7d) break;
          if (d === 0x5c) i++;
          value += text.charAt(i);
        }
        value = value.trimEnd();
      }
      if (value.length >= MIN_SCAN && (quoted || value.toUpperCase() !== 'NULL')) {
        const masked = mask(value);
        if (masked !== undefined) {
          const elEnd = quoted ? i : elStart + text.slice(elStart, i).trimEnd().length;
          out += text.slice(pos, elStart) + quoteElement(masked);
          pos = elEnd;
          changed = true;
        }
      }
    }
  }
  if (depth !== 0) return null;
  return changed ? out + text.slice(pos) : undefined;
}
