import { describe, expect, it } from 'vitest';
import { hasUnicodeEscape, maskArrayText, maskJsonText, startsStructured } from '../../../masking/structured.js';

// a toy plain-text masker: every "secret" word becomes a value full of JSON- and array-hostile characters
const hostile = (t: string): string | undefined => (t.includes('secret') ? t.replace(/secret/g, '"\\\n{,}') : undefined);

describe('maskJsonText', () => {
  it('re-escapes masked strings so the document stays valid and means what the mask says', () => {
    const doc = '{"a":"my secret","b":["x","no"],"secret":1,"c":{"d":"top secret\\n\\"q\\""}}';
    const out = maskJsonText(doc, hostile);
    expect(out).toBeDefined();
    const parsed = JSON.parse(out!) as Record<string, unknown>;
    expect(parsed.a).toBe('my "\\\n{,}');
    expect((parsed.c as { d: string }).d).toBe('top "\\\n{,}\n"q"');
    expect(parsed['"\\\n{,}']).toBe(1); // keys are scanned too
    expect(parsed.b).toEqual(['x', 'no']);
  });
  it('decodes escapes before scanning, so an escape is never cut in half', () => {
    const seen: string[] = [];
    maskJsonText('["mail\\nbob@x.io", "\\u0062ob@x.io"]', (t) => void seen.push(t) as undefined);
    expect(seen).toEqual(['mail\nbob@x.io', 'bob@x.io']);
  });
  it('scans long numbers and passes the key of each value', () => {
    const calls: Array<[string, string | undefined]> = [];
    maskJsonText('{"card": 4111111111111111, "n": 12, "password": "pw", "k": "v"}', (t, k) => void calls.push([t, k]) as undefined);
    // keys shorter than 3 characters are not worth scanning; values under a key always are
    expect(calls).toEqual([
      ['card', undefined],
      ['4111111111111111', 'card'],
      ['12', 'n'],
      ['password', undefined],
      ['pw', 'password'],
      ['v', 'k'],
    ]);
    expect(maskJsonText('{"card": 4111111111111111}', (t) => (t.startsWith('4') ? 'X' : undefined))).toBe('{"card": "X"}');
  });
  it('returns undefined when nothing changed and null when the text is not JSON', () => {
    expect(maskJsonText('{"a": [1, 2.5e3, true, false, null]}', hostile)).toBeUndefined();
    for (const t of ['[INFO] secret', '{unquoted: secret}', '{"a": "unterminated secret', '"raw\ncontrol"']) expect(maskJsonText(t, hostile), t).toBeNull();
  });
});

describe('maskArrayText', () => {
  it('re-quotes masked elements so the literal stays valid', () => {
    expect(maskArrayText('{plain,"my secret",NULL,"a\\"b"}', hostile)).toBe('{plain,"my \\"\\\\\n{,}",NULL,"a\\"b"}');
    expect(maskArrayText('{{secret1,x},{y,z}}', (t) => (t === 'secret1' ? 'R' : undefined))).toBe('{{R,x},{y,z}}');
    expect(maskArrayText('[0:1]={secret1,x}', (t) => (t === 'secret1' ? 'a b' : undefined))).toBe('[0:1]={"a b",x}');
    expect(maskArrayText('{abc, secret1 ,x}', (t) => (t === 'secret1' ? 'R' : undefined))).toBe('{abc, R ,x}');
  });
  it('leaves NULL alone and rejects what is not an array literal', () => {
    expect(maskArrayText('{NULL,null}', () => 'X')).toBeUndefined();
    expect(maskArrayText('{"null"}', () => 'NULL')).toBe('{"NULL"}');
    for (const t of ['not an array', '{a,b', '{"a}', '{a}}']) expect(maskArrayText(t, hostile), t).toBeNull();
  });
});

describe('byte helpers', () => {
  it('startsStructured and hasUnicodeEscape', () => {
    expect(startsStructured(Buffer.from('  \n{"a":1}'), 0, 9)).toBe(true);
    expect(startsStructured(Buffer.from('x{'), 0, 2)).toBe(false);
    expect(hasUnicodeEscape(Buffer.from('"a\\u0040b"'), 0, 10)).toBe(true);
    expect(hasUnicodeEscape(Buffer.from('"a\\\\u0040b"'), 0, 11)).toBe(false);
  });
});
