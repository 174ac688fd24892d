import { describe, expect, it } from 'vitest';
import { creditCard, luhnValid } from '../../../masking/detectors/credit_card.js';
import type { Detector } from '../../../masking/detectors/detector.js';
import { prefilterBytes } from '../../../masking/detectors/detector.js';
import { email } from '../../../masking/detectors/email.js';
import { iban, ibanChecksumValid, ibanValid } from '../../../masking/detectors/iban.js';
import { DETECTOR_GROUPS, DETECTOR_NAMES, DETECTORS, resolveDetector } from '../../../masking/detectors/index.js';
import { ip, ipv4, ipv6, isIPv6 } from '../../../masking/detectors/ip.js';
import { phone } from '../../../masking/detectors/phone.js';
import { secret } from '../../../masking/detectors/secret.js';
import { usSsn, ssnValid } from '../../../masking/detectors/us_ssn.js';
import { jwt, jwtHeaderValid } from '../../../masking/detectors/jwt.js';
import { awsKey } from '../../../masking/detectors/aws_key.js';
import { privateKey } from '../../../masking/detectors/private_key.js';
import { apiToken, mixedClasses } from '../../../masking/detectors/api_token.js';

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

/** The same through the detector's loose variant (a column whose name gives context). */
function detectLoose(d: Detector, text: string): string[] {
  if (!d.loose) throw new Error(`${d.name} has no loose variant`);
  return detect(d.loose, text);
}

describe('registry', () => {
  it('names every detector once: the issue\'s ten, ipv4/ipv6, and the secret group', () => {
    expect([...DETECTOR_NAMES]).toEqual([
      'email', 'credit_card', 'iban', 'us_ssn', 'phone', 'ip', 'jwt', 'aws_key', 'private_key', 'api_token', 'ipv4', 'ipv6', 'secret',
    ]);
    for (const n of DETECTOR_NAMES) {
      if (DETECTOR_GROUPS.has(n)) continue;
      expect(DETECTORS.get(n)?.name).toBe(n);
    }
  });
  it('expands secret to jwt, aws_key, private_key and api_token', () => {
    expect(resolveDetector('secret')?.map((d) => d.name)).toEqual(['jwt', 'aws_key', 'private_key', 'api_token']);
    expect(resolveDetector('email')?.map((d) => d.name)).toEqual(['email']);
    expect(resolveDetector('passport')).toBeUndefined();
  });
  it('gives loose variants the same name and kind', () => {
    for (const d of DETECTORS.values()) {
      if (!d.loose) continue;
      expect(d.loose.name).toBe(d.name);
      expect(d.loose.kind).toBe(d.kind);
      expect(d.context?.length).toBeGreaterThan(0);
    }
    expect([...DETECTORS.values()].filter((d) => d.loose).map((d) => d.name).sort()).toEqual(['api_token', 'credit_card', 'iban', 'phone', 'us_ssn']);
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
      '28304216-2294-4122-8456-000000582cb8', // a UUID whose digit-only start is Luhn-valid (2830421622944122)
      'id 28304216-2294-4122',
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

describe('validators keep look-alikes untouched', () => {
  it('iban: registry length and mod 97, spaces and case ignored', () => {
    expect(ibanValid('DE89 3704 0044 0532 0130 00')).toBe(true);
    expect(ibanValid('gb82west12345698765432')).toBe(true);
    expect(ibanValid('DE89 3704 0044 0532 0130 0')).toBe(false); // DE is 22 long
    expect(ibanValid('DE88370400440532013000')).toBe(false);
    expect(ibanValid('ZZ89370400440532013000')).toBe(false);
  });
  it('us_ssn: SSA ranges', () => {
    expect(ssnValid('123-45-6789')).toBe(true);
    expect(ssnValid('123456789')).toBe(true);
    for (const v of ['000-12-3456', '666-12-3456', '912-34-5678', '123-00-4567', '123-45-0000', '12345678']) expect(ssnValid(v), v).toBe(false);
  });
  it('jwt: the header is a JSON object naming an algorithm', () => {
    expect(jwtHeaderValid('eyJhbGciOiJIUzI1NiJ9')).toBe(true); // {"alg":"HS256"}
    expect(jwtHeaderValid('eyJmb28iOiJiYXIifQ')).toBe(false); // {"foo":"bar"}
    expect(jwtHeaderValid('eyJzzzzzzzz')).toBe(false);
  });
  it('api tokens: the random part mixes character classes', () => {
    expect(mixedClasses('A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8')).toBe(true);
    expect(mixedClasses('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).toBe(false);
  });
});

// Built at run time so the test file does not itself look like it leaks credentials.
const GH = 'ghp' + '_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8';
const JWT = 'eyJhbGciOiJIUzI1NiJ9' + '.eyJzdWIiOiIxMjM0NTY3ODkwIn0' + '.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
const AWS = 'AKIA' + 'IOSFODNN7EXAMPLE';
const PEM = '-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----';

describe('jwt', () => {
  cases(
    jwt,
    { [`Authorization: Bearer ${JWT}`]: [JWT], [`token=${JWT}&x=1`]: [JWT], [`unsigned ${JWT.slice(0, -43)}`]: [JWT.slice(0, -43)] },
    ['eyJ but nothing else', 'eyJmb28iOiJiYXIifQ.eyJzdWIiOiIxIn0.abc', `x${JWT}`],
  );
});

describe('aws_key', () => {
  const secretKey = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCY' + 'EXAMPLEKEY';
  cases(
    awsKey,
    {
      [`key ${AWS} here`]: [AWS],
      [`ASIA${'Y34FZKBOKMUTVV7A'} temp`]: ['ASIAY34FZKBOKMUTVV7A'],
      [`aws_secret_access_key = ${secretKey}`]: [secretKey],
      [`{"SecretAccessKey": "${secretKey}"}`]: [secretKey],
    },
    ['AKIA is not enough', 'AKIA1234567890123456', 'AKIAIOSFODNN7EXAMPLEX', `secret_access_key = short`],
  );
});

describe('private_key', () => {
  cases(
    privateKey,
    {
      [`header\n${PEM}\nfooter`]: [PEM],
      ['-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC (truncated']: [
        '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC (truncated',
      ],
      ['-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----']: [
        '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----',
      ],
    },
    [
      '-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----', // documentation: no key material
      '-----BEGIN CERTIFICATE-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END CERTIFICATE-----',
    ],
  );
});

describe('api_token', () => {
  const slack = 'xox' + 'b-123456789012-abcdefghijkl';
  const stripe = 'sk' + '_live_' + '4eC39HqLyjWDarjtT1zdp7dc';
  const gitlab = 'glpat' + '-Abc123Def456Ghi789Jk';
  const google = 'AIza' + 'SyD-1234567890abcdefghijklmnopqrstu';
  const openai = 'sk-' + 'proj-Ab12Cd34Ef56Gh78Ij90Kl12';
  const npm = 'npm_' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8';
  cases(
    apiToken,
    {
      [`token ${GH}`]: [GH],
      [slack]: [slack],
      [`stripe ${stripe}.`]: [stripe],
      [`gitlab ${gitlab}`]: [gitlab],
      [`maps key=${google}`]: [google],
      [`OPENAI_API_KEY ${openai}`]: [openai],
      [`//registry.npmjs.org/:_authToken ${npm}`]: [npm],
      'password=hunter2&user=bob': ['hunter2'],
      'DB_PASSWORD: s3cr3t!': ['s3cr3t!'],
      '{"api_key": "abc def ghi", "x": 1}': ['abc def ghi'],
      'postgres://app:Tr0ub4dor@db.example.com/app': ['Tr0ub4dor'],
      'Authorization: Bearer abcdefghijklmnop1234': ['abcdefghijklmnop1234'],
    },
    [
      'meeting at 10:30, room 4',
      'a_b snake_case words',
      'the password policy was updated',
      'keyboard=us',
      'ghp_' + 'a'.repeat(36), // no entropy: a look-alike
      'sk-learn is a library, sk-abcdefghijklmnopqrstuvwxyz',
      'risk_live_feed', // "sk_live_" glued inside a word
    ],
  );
});

describe('secret (group as one composite detector)', () => {
  cases(
    secret,
    { [`key ${AWS} here`]: [AWS], [`Authorization: Bearer ${JWT}`]: [JWT], [`header\n${PEM}\nfooter`]: [PEM], [`token ${GH}`]: [GH] },
    ['AKIA is not enough', 'nothing to see'],
  );
});

describe('loose variants (context from the column name)', () => {
  it('us_ssn: undashed and space/dot-grouped SSNs, still range-checked', () => {
    expect(detect(usSsn, '123456789')).toEqual([]);
    expect(detectLoose(usSsn, '123456789')).toEqual(['123456789']);
    expect(detectLoose(usSsn, 'ssn 078 05 1120.')).toEqual(['078 05 1120']);
    expect(detectLoose(usSsn, '123.45.6789')).toEqual(['123.45.6789']);
    expect(detectLoose(usSsn, '123-45-6789')).toEqual(['123-45-6789']);
    for (const v of ['000123456', '666123456', '900123456', '123006789', '123450000', '1234567890', '123 45-6789', '1.123.45.6789']) {
      expect(detectLoose(usSsn, v), v).toEqual([]);
    }
  });
  it('phone: bare digit runs of 7 to 15 digits', () => {
    expect(detect(phone, '4155552671')).toEqual([]);
    expect(detectLoose(phone, '4155552671')).toEqual(['4155552671']);
    expect(detectLoose(phone, '555-2671')).toEqual(['555-2671']);
    expect(detectLoose(phone, '+44 (20) 7946 0958')).toContain('+44 (20) 7946 0958');
    expect(detectLoose(phone, '(030) 1234567')).toEqual(['(030) 1234567']);
    for (const v of ['123456', '1234567890123456', 'v1.2345678', 'ab1234567', '12']) expect(detectLoose(phone, v), v).toEqual([]);
  });
  it('credit_card: any leading digit and 12 digits, still Luhn', () => {
    expect(detect(creditCard, '1234567890128')).toEqual([]); // Luhn-valid but issuer digit 1
    expect(detectLoose(creditCard, '1234567890128')).toEqual(['1234567890128']);
    expect(detectLoose(creditCard, '123456789012')).toEqual([]); // Luhn failure
  });
  it('iban: lower case too', () => {
    expect(detect(iban, 'de89 3704 0044 0532 0130 00')).toEqual([]);
    expect(detectLoose(iban, 'de89 3704 0044 0532 0130 00')).toEqual(['de89 3704 0044 0532 0130 00']);
    expect(detectLoose(iban, 'de88 3704 0044 0532 0130 00')).toEqual([]);
  });
  it('api_token: any long token that mixes character classes', () => {
    expect(detect(apiToken, 'Zx81kQ0pL2mN4bV6cX8z')).toEqual([]);
    expect(detectLoose(apiToken, 'Zx81kQ0pL2mN4bV6cX8z')).toEqual(['Zx81kQ0pL2mN4bV6cX8z']);
    expect(detectLoose(apiToken, 'c2VjcmV0LXZhbHVlLTEyMzQ1Ng==')).toEqual(['c2VjcmV0LXZhbHVlLTEyMzQ1Ng==']);
    for (const v of ['short1', 'all-lowercase-words-here-and-more', 'just some prose text']) expect(detectLoose(apiToken, v), v).toEqual([]);
  });
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
    ['api_token loose', apiToken.loose!, big('a1')],
    ['api_token loose words', apiToken.loose!, big('a1 ')],
    ['phone loose', phone.loose!, big('1 ')],
    ['us_ssn loose', usSsn.loose!, big('123 ')],
    ['credit_card loose', creditCard.loose!, big('1234 ')],
    ['iban loose', iban.loose!, big('de12 ')],
    ['jwt', jwt, big('eyJa.')],
    ['private_key', privateKey, big('-----BEGIN PRIVATE KEY-----')],
  ] as const)('%s completes on 20,000 repetitions (the test timeout catches a blow-up)', (_name, d, text) => {
    expect(Array.isArray(d.find(text))).toBe(true);
  });
});

describe('prefilters reject common benign shapes without decoding', () => {
  it.each([
    [ipv6, '{"at":"2024-05-01T10:00:00Z","t":"12:30:45"}'],
    [ip, 'meeting 10:30-11:45, std::vector'.replace('std::vector', 'std:vector')],
    [phone, '2024-05-13 10:11:12.123456+00'],
    [creditCard, 'ts 1700000123456 and 1700000123456789'],
    [phone, '93d499d8-0a3b-4abc-8def-000000262fe3'],
    [phone, 'id12-345-6789 v2.415.555.2671'],
    [usSsn, 'date 2024-05-13'],
    [jwt, 'eyJ without dots'],
    [privateKey, '---- not a key ---- ------------'],
  ] as const)('%#', (d, text) => expect(prefilterBytes(d, Buffer.from(text))).toBe(false));
});

describe('prefilters never hide a match', () => {
  // find() on its own is the truth; the byte prefilter must accept every text where find() matches.
  // Random texts built from fragments that sit near the detectors' edges.
  const fragments = [
    '0', '1', '2', '4', '5', '9', '00', '030', '123', '415', '555', '2671', '4111', '6789', '45', ' ', ' ', '-', '.', ':', '::',
    '/', '(', ')', '+', '@', '_', '=', 'a', 'bob', 'example.com', 'DE89', 'GB82', 'WEST', 'AKIA', 'IOSFODNN7EXAMPLE', 'eyJ',
    'password', 'key', '"', 'xoxb-', 'ghp_', 'sk_live_', 'Bearer ', '-----BEGIN PRIVATE KEY-----', 'fe80', 'ffff', '192.168.',
    '10.0.0.1', 'é', '😀', 'postgres://u:', 'abcdefghijklmnop', '4111 1111 1111 1111', '5555-5555-5555-4444',
    'DE89370400440532013000', 'GB82 WEST 1234 5698 7654 32', ' AKIAIOSFODNN7EXAMPLE ', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig',
    'de89', 'gb82 west', '123456789', '078 05 1120', '1234567890128', 'Zx81kQ0pL2mN4bV6cX8z', 'glpat-', 'SG.', 'AIza', 'npm_',
    'aws_secret_access_key=', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', '\n', 'MIIBOgIBAAJBAKj34GkxFhD90vcN',
    '-----END PRIVATE KEY-----', 'user@example.com', '8def-', '-4abc', 'd8', 'x', '(', '0', '12:00', '+00',
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
  const all: Array<readonly [string, Detector]> = [];
  for (const d of DETECTORS.values()) {
    all.push([d.name, d]);
    if (d.loose) all.push([`${d.name} (loose)`, d.loose]);
  }
  it.each(all)('%s', (_name, d) => {
    let matched = 0;
    for (const text of texts) {
      if (d.find(text).length === 0) continue;
      matched++;
      expect(prefilterBytes(d, Buffer.from(text, 'utf8')), text).toBe(true);
    }
    expect(matched).toBeGreaterThan(0);
  });
});
