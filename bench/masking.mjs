#!/usr/bin/env node
// Masking micro-benchmark: ns per cell through the engine's cell maskers, for a few realistic mixes.
// Prints a Markdown table on stdout (paste into bench/RESULTS.md).
//
//   npx tsc -p . && node bench/masking.mjs [--quick]
//
// Each mix is one buffer holding its cells back to back (as cells sit inside DataRow frames); the
// masker is the one the engine builds for a profile with every detector (`detect:` the ten),
// redacting. Timings are the median of several runs after a warm-up; "changed" is the share of cells
// the masker rewrote. The no-PII rows are the pass-through fast path (target ≤ 1 µs per cell).
import { cpus } from 'node:os';
import { createResultMasker } from '../dist/masking/engine.js';

const QUICK = process.argv.includes('--quick');
const RUNS = QUICK ? 3 : 7;
const TARGET_MS = QUICK ? 60 : 250; // per run

const session = { id: 'bench', user: 'bench', groups: [], authMethod: 'password', connection: 'bench', protocol: 'postgres', clientAddress: '127.0.0.1' };
const DETECT = ['email', 'credit_card', 'iban', 'us_ssn', 'phone', 'ip', 'jwt', 'aws_key', 'private_key', 'api_token'];

// Deterministic pseudo-random choices, so every run measures the same cells.
let seed = 7;
const rand = (n) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return (seed >>> 8) % n; // the low bits of this generator cycle quickly
};
const pick = (xs) => xs[rand(xs.length)];

const WORDS = ('the order was shipped to our warehouse and the customer confirmed delivery after a short delay caused by ' +
  'weather please contact support if the package is damaged we apologise for any inconvenience status updated by system ' +
  'invoice paid refund requested item returned account created password reset requested newsletter subscription').split(' ');
const prose = (n) => Array.from({ length: n }, () => pick(WORDS)).join(' ');
const NAMES = ['Alice Martin', 'Bob Smith', 'Chloé Dubois', 'Jörg Müller', 'Sakura Tanaka', 'María García', 'Olu Adeyemi', 'Li Wei'];
const CITIES = ['Berlin', 'São Paulo', 'New York', 'Lyon', 'Osaka', 'Nairobi', 'Toronto', 'Kraków'];
const STATUS = ['active', 'pending', 'shipped', 'cancelled', 'refunded', 'on_hold'];

const noPiiText = () => pick([
  () => prose(6 + rand(10)),
  () => `${pick(NAMES)} from ${pick(CITIES)}`,
  () => `order ${100000 + rand(900000)} ${pick(STATUS)} on 2024-0${1 + rand(9)}-1${rand(10)} at 1${rand(10)}:${10 + rand(50)}`,
  () => `Größe: ${30 + rand(20)}, Farbe: blau — ${prose(4)}`,
  () => `v${rand(5)}.${rand(20)}.${rand(100)} build ${rand(1e6)} ok`,
  () => pick(STATUS),
])();
const shortValue = () => pick([() => pick(NAMES), () => pick(CITIES), () => pick(STATUS), () => `SKU-${rand(99999)}`, () => `${rand(1000)}.${rand(100)} EUR`])();
const numericText = () => pick([
  () => `2024-${String(1 + rand(12)).padStart(2, '0')}-${String(1 + rand(28)).padStart(2, '0')} ${String(rand(24)).padStart(2, '0')}:${String(rand(60)).padStart(2, '0')}:${String(rand(60)).padStart(2, '0')}.${rand(1e6)}+00`,
  () => `${rand(1e9)}`,
  () => `${rand(1e6)}.${rand(100)}`,
  () => `${Math.random().toString(16).slice(2, 10)}-${rand(9999).toString(16).padStart(4, '0')}-4abc-8def-${rand(1e12).toString(16).padStart(12, '0')}`,
  () => `1700000${rand(1e6)}`,
])();
const jsonDoc = () => JSON.stringify({ id: rand(1e6), status: pick(STATUS), city: pick(CITIES), tags: [pick(STATUS), pick(WORDS)], note: prose(8), at: '2024-05-01T10:00:00Z' });
const EMAILS = ['bob@example.com', 'alice.martin@corp.example', 'jörg@münchen.de', 'x_y+tag@mail.example.co.uk'];
const PII = [
  () => `contact ${pick(EMAILS)} about the refund`,
  () => `call +1 415 555 ${2000 + rand(7000)} after 5pm`,
  () => `card 4111 1111 1111 1111 exp 12/29`,
  () => `pay to DE89 3704 0044 0532 0130 00 today`,
  () => `ssn 123-45-${String(1000 + rand(8999))}`,
  () => `login from 10.${rand(256)}.${rand(256)}.${rand(256)}`,
  () => `password=${Math.random().toString(36).slice(2)}&user=bob`,
  () => `Authorization: Bearer ${'eyJhbGciOiJIUzI1NiJ9'}.${'eyJzdWIiOiIxMjM0NTY3ODkwIn0'}.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U`,
];
const piiText = () => pick(PII)();
const jsonWithPii = () => JSON.stringify({ id: rand(1e6), email: pick(EMAILS), note: prose(6), phone: '+44 20 7946 0958' });

function mix(n, gen) {
  const cells = Array.from({ length: n }, gen);
  const bufs = cells.map((c) => Buffer.from(c, 'utf8'));
  const buf = Buffer.concat(bufs);
  const bounds = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) bounds[i + 1] = bounds[i] + bufs[i].length;
  return { buf, bounds, n, bytes: buf.length };
}

function measure(cell, m) {
  const { buf, bounds, n } = m;
  let changed = 0;
  const pass = () => {
    let c = 0;
    for (let i = 0; i < n; i++) if (cell(buf, bounds[i], bounds[i + 1]) !== undefined) c++;
    return c;
  };
  // warm-up, and find how many passes fill TARGET_MS
  let passes = 1;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let p = 0; p < passes; p++) changed = pass();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (ms >= TARGET_MS / 4) {
      passes = Math.max(1, Math.round((passes * TARGET_MS) / Math.max(ms, 1)));
      break;
    }
    passes *= 2;
  }
  const samples = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    for (let p = 0; p < passes; p++) pass();
    samples.push(Number(process.hrtime.bigint() - t0) / (passes * n));
  }
  samples.sort((a, b) => a - b);
  return { ns: samples[samples.length >> 1], changed: changed / n };
}

const profile = (more = {}) => createResultMasker({ name: 'bench', columns: [], detect: DETECT, with: 'redact', ...more });
const cellFor = (masker, col) => {
  const plan = masker.plan(session, [col]);
  if (!plan?.cells[0]) throw new Error('expected a masked column');
  return plan.cells[0];
};
const detectAll = profile();
const hashAll = profile({ with: 'hash', hashKey: 'bench' });
const rules = createResultMasker({ name: 'rules', columns: [{ match: '*.email', with: 'partial' }, { match: '@sensitive', with: 'hash' }], detect: DETECT, with: 'redact', hashKey: 'k' });

const N = QUICK ? 2000 : 10000;
const noPii = mix(N, noPiiText);
const rows = [
  ['text, no PII (prose, names, dates, versions)', cellFor(detectAll, { name: 'note', textLike: true }), noPii],
  ['short values, no PII (names, cities, statuses)', cellFor(detectAll, { name: 'note', textLike: true }), mix(N, shortValue)],
  ['digit-heavy text, no PII (timestamps, ids, uuids)', cellFor(detectAll, { name: 'note', textLike: true }), mix(N, numericText)],
  ['JSON documents, no PII (jsonb column)', cellFor(detectAll, { name: 'doc', textLike: true, typeName: 'jsonb' }), mix(N, jsonDoc)],
  ['text, no PII, in a column named `phone` (loose detectors)', cellFor(detectAll, { name: 'phone', column: 'phone', textLike: true }), noPii],
  ['realistic mix: 98% no PII, 2% PII', cellFor(detectAll, { name: 'note', textLike: true }), mix(N, () => (rand(50) === 0 ? piiText() : noPiiText()))],
  ['text, every cell has PII (redact)', cellFor(detectAll, { name: 'note', textLike: true }), mix(N, piiText)],
  ['text, every cell has PII (keyed hash)', cellFor(hashAll, { name: 'note', textLike: true }), mix(N, piiText)],
  ['JSON documents, every one has PII (jsonb column)', cellFor(detectAll, { name: 'doc', textLike: true, typeName: 'jsonb' }), mix(N, jsonWithPii)],
  ['column rule `*.email` partial (whole cell)', cellFor(rules, { name: 'email', table: 'users', column: 'email', textLike: true }), mix(N, () => pick(EMAILS))],
  ['column rule `@sensitive` hash on an int8 column', cellFor(rules, { name: 'card_number', column: 'card_number', textLike: false, typeName: 'int8', format: 'text' }), mix(N, () => String(4e15 + rand(1e9)))],
];

const fmt = (x, d = 0) => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const out = [];
out.push(`Masking micro-benchmark (\`node bench/masking.mjs\`${QUICK ? ' --quick' : ''}), ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`);
out.push(`Node.js ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores); profile: detect [${DETECT.join(', ')}], one cell masker called per cell; median of ${RUNS} runs.`);
out.push('');
out.push('| cell mix | cells | mean bytes/cell | ns/cell | MB/s | cells changed |');
out.push('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const [label, cell, m] of rows) {
  const r = measure(cell, m);
  const meanBytes = m.bytes / m.n;
  out.push(`| ${label} | ${fmt(m.n)} | ${fmt(meanBytes)} | ${fmt(r.ns)} | ${fmt((meanBytes / r.ns) * 1000)} | ${fmt(r.changed * 100)}% |`);
}
console.log(out.join('\n'));
