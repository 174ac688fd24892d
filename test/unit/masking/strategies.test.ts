import { describe, expect, it } from 'vitest';
import { luhnValid } from '../../../masking/detectors/credit_card.js';
import { createStrategy, FAKE_CARD, FAKE_EMAIL, guessKind, partial, REDACTED, replace } from '../../../masking/strategies.js';

const bytes = (s: string): [Buffer, number, number] => {
  const b = Buffer.from(s, 'utf8');
  return [b, 0, b.length];
};

describe('partial', () => {
  it('keeps the first character and the domain of an e-mail', () => {
    expect(partial('email', 'bob@example.com')).toBe('b***@example.com');
    expect(partial('email', 'élodie@exemple.fr')).toBe('é***@exemple.fr');
  });
  it('keeps the last 4 digits of a card', () => {
    expect(partial('card', '4111-1111-1111-1234')).toBe('**** **** **** 1234');
  });
  it('keeps the last 4 and the punctuation of long values', () => {
    expect(partial('ssn', '123-45-6789')).toBe('***-**-6789');
    expect(partial('phone', '+1 415 555 2671')).toBe('+* *** *** 2671');
  });
  it('keeps first and last character of short values, code point by code point', () => {
    expect(partial('text', 'Bob')).toBe('B*b');
    expect(partial('text', '😀ab😀')).toBe('😀**😀');
    expect(partial('text', 'ab')).toBe('**');
  });
  it('never shows part of a secret', () => {
    expect(partial('secret', 'hunter2hunter2')).toBe(REDACTED);
  });
});

describe('replace', () => {
  it('gives type-valid fakes', () => {
    expect(replace('email', 'bob@example.com')).toBe(FAKE_EMAIL);
    expect(replace('card', '4111111111111111')).toBe(FAKE_CARD);
    expect(luhnValid(FAKE_CARD)).toBe(true);
    expect(replace('ip', '10.0.0.1')).toBe('192.0.2.1');
    expect(replace('ip', 'fe80::1')).toBe('2001:db8::1');
    expect(replace('text', 'Zoë😀')).toBe('xxxx');
  });
});

describe('guessKind (whole cells under a column rule)', () => {
  it('recognises shapes', () => {
    expect(guessKind('bob@example.com')).toBe('email');
    expect(guessKind('4111 1111 1111 1111')).toBe('card');
    expect(guessKind('10.0.0.1')).toBe('ip');
    expect(guessKind('12:30:45')).toBe('text');
    expect(guessKind('Robert')).toBe('text');
  });
});

describe('createStrategy', () => {
  it('redact', () => {
    const s = createStrategy('redact');
    expect(s.span('email', 'bob@example.com')).toBe(REDACTED);
    expect(s.textCell('x', ...bytes('x'))).toBe(REDACTED);
    expect(s.opaqueCell(...bytes('\x00\x01'))).toBe(REDACTED);
  });
  it('null is SQL NULL for a cell and redaction inside text', () => {
    const s = createStrategy('null');
    expect(s.textCell('x', ...bytes('x'))).toBeNull();
    expect(s.opaqueCell(...bytes('x'))).toBeNull();
    expect(s.span('email', 'bob@example.com')).toBe(REDACTED);
  });
  it('partial and replace on a whole text cell follow its shape; opaque cells are redacted', () => {
    expect(createStrategy('partial').textCell('bob@example.com', ...bytes('bob@example.com'))).toBe('b***@example.com');
    expect(createStrategy('replace').textCell('4111111111111111', ...bytes('4111111111111111'))).toBe(FAKE_CARD);
    expect(createStrategy('partial').opaqueCell(...bytes('\x00\x00\x30\x39'))).toBe(REDACTED);
  });
  it('hash is a keyed, stable HMAC prefix; text and bytes of the same value agree', () => {
    const a = createStrategy('hash', 'k1');
    const b = createStrategy('hash', 'k2');
    const h = a.span('email', 'bob@example.com');
    expect(h).toMatch(/^hash:[0-9a-f]{16}$/);
    expect(a.span('email', 'bob@example.com')).toBe(h);
    expect(a.textCell('bob@example.com', ...bytes('bob@example.com'))).toBe(h);
    expect(b.span('email', 'bob@example.com')).not.toBe(h);
    expect(a.span('email', 'eve@example.com')).not.toBe(h);
  });
  it('hash without a key uses one fixed key per process', () => {
    const a = createStrategy('hash');
    const b = createStrategy('hash');
    expect(a.span('text', 'v')).toBe(b.span('text', 'v'));
  });
});
