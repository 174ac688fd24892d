import { describe, expect, it } from 'vitest';
import { creditCard, luhnValid } from '../../../masking/detectors/credit_card.js';
import type { Detector } from '../../../masking/detectors/detector.js';
import { prefilterBytes } from '../../../masking/detectors/detector.js';
import { email } from '../../../masking/detectors/email.js';
import { iban, ibanChecksumValid } from '../../../masking/detectors/iban.js';
import { DETECTOR_NAMES, DETECTORS } from '../../../masking/detectors/index.js';
import { ip, ipv4, ipv6, isIPv6 } from '../../../masking/detectors/ip.js';
import { phone } from '../../../masking/detectors/phone.js';
import { secret } from '../../../masking/detectors/secret.js';
import { usSsn } from '../../../masking/detectors/us_ssn.js';

/** The substrings a detector would mask, after its prefilter (as the engine runs it). */
function detect(d: Detector, text: string): string[] {
  if (!prefilterBytes(d, Buffer.from(text, 'utf8'))) return [];
  // spans may overlap or repeat (the engine merges them); compare the distinct values
  return [...new Set(d.find(text).map(([s, e]) => text.slice(s, e)))];
}

function cases(d: Detector, hits: Record<string, string[]>, misses: string[]): void {
  for (const [text, expected] of Object.entries(hits)) {
    it(`finds ${JSON.stringify(expected)} in ${JSON.stringify(text)}`, () => expect(detect(d, text)).toEqual(expected));
  }
  for (const text of misses) {
    it(`finds nothing in ${JSON.stringify(text)}`, () => expect(detect(d, text)).toEqual([]));
  }
}

describe('registry', () => {
  it('names every detector once', () => {
    expect([...DETECTOR_NAMES].sort()).toEqual(
      ['credit_card', 'email', 'iban', 'ip', 'ipv4', 'ipv6', 'phone', 'secret', 'us_ssn'].sort(),
    );
    for (const n of DETECTOR_NAMES) expect(DETECTORS.get(n)?.name).toBe(n);
  });
});

describe('email', () => {
  cases(
    email,
    {
      'bob@example.com': ['bob@example.com'],
      'contact: bob@example.com, tel': ['bob@example.com'],
      'a.b+tag@mail.example.co.uk and c_d@x.io': ['a.b+tag@mail.example.co.uk', 'c_d@x.io'],
      'jörg@münchen.de': ['jörg@münchen.de'],
      '<alice@corp.example>': ['alice@corp.example'],
    },
    ['no at sign here.', 'user@localhost', '@example.com', 'price 3@4.5', 'bob@ example.com'],
  );
});

describe('credit_card', () => {
  it('implements Luhn', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(luhnValid('79927398713')).toBe(true);
  });
  cases(
    creditCard,
    {
      '4111111111111111': ['4111111111111111'],
      'card 4111 1111 1111 1111 exp 12/29': ['4111 1111 1111 1111'],
      'amex 3782-822463-10005.': ['3782-822463-10005'],
      'mc 5555555555554444 and 6011111111111117': ['5555555555554444', '6011111111111117'],
      '4111 1111 1111 1111 22': ['4111 1111 1111 1111'],
      'ids 1234 4111 1111 1111 1111': ['4111 1111 1111 1111'],
    },
    [
      '4111111111111112', // Luhn failure
      '4111 1111 1111 1112',
      '1700000000000', // a millisecond timestamp (Luhn-valid or not, issuer digit 1)
      '41111111111111110000000', // digits inside a longer number
      'total 123456789012', // 12 digits
      'pi 3.4111111111111111',
    ],
  );
});

describe('iban', () => {
  it('verifies mod 97', () => {
    expect(ibanChecksumValid('DE89370400440532013000')).toBe(true);
    expect(ibanChecksumValid('DE88370400440532013000')).toBe(false);
  });
  cases(
    iban,
    {
      DE89370400440532013000: ['DE89370400440532013000'],
      'pay to GB82 WEST 1234 5698 7654 32 today': ['GB82 WEST 1234 5698 7654 32'],
      'DE89 3704 0044 0532 0130 00 EUR': ['DE89 3704 0044 0532 0130 00'],
      'FR1420041010050500013M02606': ['FR1420041010050500013M02606'],
      'NL91ABNA0417164300': ['NL91ABNA0417164300'],
    },
    [
      'DE88370400440532013000', // wrong check digits
      'GB82 WEST 1234 5698 7654 33',
      'XX89370400440532013000', // unknown country
      'DE8937040044053201300', // one character short
      'xDE89370400440532013000', // glued to a word
      'lowercase text only, no codes',
    ],
  );
});

describe('us_ssn', () => {
  cases(
    usSsn,
    { '123-45-6789': ['123-45-6789'], 'ssn: 078-05-1120.': ['078-05-1120'] },
    ['000-12-3456', '666-12-3456', '900-12-3456', '123-00-4567', '123-45-0000', '123456789', '1123-45-6789', '123-45-67890'],
  );
});

describe('phone', () => {
  cases(
    phone,
    {
      '+1 415 555 2671': ['+1 415 555 2671'],
      'call +14155552671 now': ['+14155552671'],
      '(415) 555-2671': ['(415) 555-2671'],
      'tel: 415-555-2671.': ['415-555-2671'],
      '415.555.2671': ['415.555.2671'],
      '+44 20 7946 0958': ['+44 20 7946 0958'],
      '+1 (415) 555-2671': ['+1 (415) 555-2671'],
      '1 (415) 555-2671': ['1 (415) 555-2671'],
      '(415)555-2671': ['(415)555-2671'],
      '(030) 1234567': ['(030) 1234567'],
      '020 7946 0958': ['020 7946 0958'],
      'Tel. 030/1234567': ['030/1234567'],
      '06 12 34 56 78': ['06 12 34 56 78'],
      '0049 30 1234567': ['0049 30 1234567'],
      'call 555-123-4567 2024': ['555-123-4567'],
    },
    [
      '1234567890', // plain integer
      'order 4155552671', // plain integer
      '2024-01-15',
      '2024-01-15 10:30:45',
      '15.01.2024',
      '01.02.2024 10:30',
      '4111 1111 1111 1111', // a card
      '192.168.100.200',
      '123-45-6789', // an SSN shape
      'sizes 100 200 3000',
      'v1.2.3456789',
      'id12-345-6789',
      '+12 3', // too short
    ],
  );
});

describe('ip', () => {
  it('parses IPv6 text forms', () => {
    for (const a of ['2001:db8::1', '::1', 'fe80::1ff:fe23:4567:890a', '1:2:3:4:5:6:7:8', '::ffff:192.0.2.128']) {
      expect(isIPv6(a), a).toBe(true);
    }
    for (const a of ['12:30:45', '1:2:3:4:5:6:7', '1::2::3', ':::1', '::', '00:1a:2b:3c:4d:5e', 'g::1']) {
      expect(isIPv6(a), a).toBe(false);
    }
  });
  cases(ipv4, { 'from 192.168.1.10, then 10.0.0.1.': ['192.168.1.10', '10.0.0.1'] }, ['256.1.1.1', '1.2.3', 'v1.2.3.4.5', 'x10.0.0.1']);
  cases(
    ipv6,
    { 'peer [2001:db8::1]:5432': ['2001:db8::1'], 'lo ::1.': ['::1'], 'mapped ::ffff:192.0.2.128': ['::ffff:192.0.2.128'] },
    ['at 12:30:45', 'std::vector<int>', 'mac 00:1a:2b:3c:4d:5e', 'a::b::c'],
  );
  cases(ip, { 'v4 10.1.2.3 v6 fe80::1': ['fe80::1', '10.1.2.3'] }, ['no addresses']);
});

describe('secret', () => {
  // Built at run time so the test file does not itself look like it leaks credentials.
  const gh = 'ghp' + '_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8';
  const slack = 'xox' + 'b-123456789012-abcdefghijkl';
  const stripe = 'sk' + '_live_' + '4eC39HqLyjWDarjtT1zdp7dc';
  const jwt = 'eyJhbGciOiJIUzI1NiJ9' + '.eyJzdWIiOiIxMjM0NTY3ODkwIn0' + '.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
  const aws = 'AKIA' + 'IOSFODNN7EXAMPLE';
  const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----';
  cases(
    secret,
    {
      [`key ${aws} here`]: [aws],
      [`token ${gh}`]: [gh],
      [slack]: [slack],
      [`stripe ${stripe}.`]: [stripe],
      [`Authorization: Bearer ${jwt}`]: [jwt],
      [`header\n${pem}\nfooter`]: [pem],
      ['-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC (truncated']: [
        '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC (truncated',
      ],
      'password=hunter2&user=bob': ['hunter2'],
      'DB_PASSWORD: s3cr3t!': ['s3cr3t!'],
      '{"api_key": "abc def ghi", "x": 1}': ['abc def ghi'],
      'postgres://app:Tr0ub4dor@db.example.com/app': ['Tr0ub4dor'],
      'Authorization: Bearer abcdefghijklmnop1234': ['abcdefghijklmnop1234'],
    },
    [
      'meeting at 10:30, room 4',
      'a_b snake_case words',
      'AKIA is not enough',
      'the password policy was updated',
      'keyboard=us',
      'eyJ but nothing else',
    ],
  );
});

describe('cost on hostile input', () => {
  // Each of these would be quadratic or worse with unbounded patterns or windows.
  const big = (unit: string, n = 20_000): string => unit.repeat(n);
  it.each([
    ['phone', phone, big('1 ')],
    ['credit_card', creditCard, big('1234 ')],
    ['email', email, big('a') + '@'],
    ['ipv6', ipv6, big('a:')],
    ['iban', iban, big('DE12 ')],
    ['secret', secret, big('password=x ')],
  ] as const)('%s completes on 20,000 repetitions (the test timeout catches a blow-up)', (_name, d, text) => {
    expect(Array.isArray(d.find(text))).toBe(true);
  });
});

describe('prefilters never hide a match', () => {
  // find() on its own is the truth; the byte prefilter must accept every text where find() matches.
  // Random texts built from fragments that sit near the detectors' edges.
  const fragments = [
    '0', '1', '2', '4', '5', '9', '00', '030', '123', '415', '555', '2671', '4111', '6789', '45', ' ', ' ', '-', '.', ':', '::',
    '/', '(', ')', '+', '@', '_', '=', 'a', 'bob', 'example.com', 'DE89', 'GB82', 'WEST', 'AKIA', 'IOSFODNN7EXAMPLE', 'eyJ',
    'password', 'key', '"', 'xoxb-', 'ghp_', 'sk_live_', 'Bearer ', '-----BEGIN PRIVATE KEY-----', 'fe80', 'ffff', '192.168.',
    '10.0.0.1', 'é', '😀', 'postgres://u:', 'abcdefghijklmnop', '4111 1111 1111 1111', '5555-5555-5555-4444',
    'DE89370400440532013000', 'GB82 WEST 1234 5698 7654 32',
  ];
  let seed = 42;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const texts: string[] = [];
  for (let t = 0; t < 20_000; t++) {
    let s = '';
    const parts = 1 + rand(24);
    for (let k = 0; k < parts; k++) s += fragments[rand(fragments.length)];
    texts.push(s);
  }
  // over 32 punctuation marks: prefilters fall back to visiting every byte
  texts.push('-.'.repeat(40) + ' 123-45-6789 10.0.0.1 fe80::1 password=x');
  it.each([...DETECTORS.values()].map((d) => [d.name, d] as const))('%s', (_name, d) => {
    let matched = 0;
    for (const text of texts) {
      if (d.find(text).length === 0) continue;
      matched++;
      expect(prefilterBytes(d, Buffer.from(text, 'utf8')), text).toBe(true);
    }
    expect(matched).toBeGreaterThan(0);
  });
});
