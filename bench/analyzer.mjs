#!/usr/bin/env node
// SQL analyzer and guardrail micro-benchmark: µs per statement analysis (uncached: every text unique;
// cached: texts seen before) and per GuardrailPolicy.decide, for ORM-like statements.
// Prints a Markdown table on stdout (paste into bench/RESULTS.md).
//
//   npx tsc -p . && node bench/analyzer.mjs [--quick]
//
// Targets (issue 3, item 10): uncached analysis ≤ 20 µs, cached ≤ 1 µs.
import { cpus } from 'node:os';
import { configSchema } from '../dist/src/config/schema.js';
import { GuardrailPolicy } from '../dist/src/policy/guardrails.js';
import { analyzeSql, clearSqlCache } from '../dist/src/policy/sql/analyze.js';

const QUICK = process.argv.includes('--quick');
const RUNS = QUICK ? 3 : 7;
const UNIQUE = QUICK ? 3_000 : 20_000; // unique texts per uncached run
const PG = { dialect: 'postgres', standardConformingStrings: true };
const MY = { dialect: 'mysql' };

// ORM-shaped statements (ActiveRecord, Django, Hibernate, SQLAlchemy, Prisma, Sequelize); `n` makes each text unique
// the way real traffic does (literals, IN lists, LIMIT/OFFSET, comments with request ids).
const COLS = 'id, email, name, created_at, updated_at, status, org_id, last_login_at, plan, locale';
const TEMPLATES = [
  ['select by id (ActiveRecord)', PG, (n) => `SELECT "users".* FROM "users" WHERE "users"."id" = ${n} LIMIT 1 /*application:web,request_id:${n}*/`],
  ['join + filter + order (Django)', PG, (n) =>
    `SELECT "shop_order"."id", "shop_order"."customer_id", "shop_order"."status", "shop_order"."total", "shop_customer"."email" ` +
    `FROM "shop_order" INNER JOIN "shop_customer" ON ("shop_order"."customer_id" = "shop_customer"."id") ` +
    `WHERE ("shop_order"."status" = 'paid' AND "shop_order"."created" >= '2024-01-${String(1 + (n % 28)).padStart(2, '0')}T00:00:00'::timestamptz) ` +
    `ORDER BY "shop_order"."created" DESC LIMIT 21 OFFSET ${n}`],
  ['aliased select (Hibernate)', PG, (n) =>
    `select u1_0.id,u1_0.email,u1_0.name,o1_0.id,o1_0.name from users u1_0 left join orgs o1_0 on o1_0.id=u1_0.org_id ` +
    `where u1_0.email=$1 and u1_0.deleted_at is null and u1_0.id > ${n} order by u1_0.id desc fetch first 50 rows only`],
  ['IN list (SQLAlchemy)', PG, (n) => `SELECT ${COLS} FROM accounts WHERE accounts.id IN (${[n, n + 1, n + 2, n + 3, n + 4, n + 5].join(', ')}) AND accounts.plan = 'pro'`],
  ['insert returning (Prisma)', PG, (n) =>
    `INSERT INTO "public"."Event" ("id","type","payload","userId","createdAt") VALUES ($1,'signup','{"n":${n}}',$2,now()) RETURNING "public"."Event"."id"`],
  ['update with where (Sequelize)', PG, (n) => `UPDATE "sessions" SET "last_seen_at"=$1,"hits"="hits"+1 WHERE "id" = ${n} AND "expires_at" > now()`],
  ['CTE + aggregate', PG, (n) =>
    `WITH recent AS (SELECT user_id, count(*) AS c FROM events WHERE created_at > now() - interval '${1 + (n % 30)} days' GROUP BY user_id) ` +
    `SELECT u.id, u.email, r.c FROM users u JOIN recent r ON r.user_id = u.id WHERE r.c > ${n} ORDER BY r.c DESC LIMIT 100`],
  ['MySQL select (backticks)', MY, (n) => `SELECT \`orders\`.\`id\`, \`orders\`.\`total\` FROM \`orders\` WHERE \`orders\`.\`customer_id\` = ${n} AND \`orders\`.\`state\` IN ('new','paid') LIMIT 20`],
];

const config = configSchema.parse({
  connections: [{ name: 'app-db', protocol: 'postgres', target: { host: '127.0.0.1' }, guardrails: ['no-drop', 'where-required', 'ddl-review', 'no-risky', 'no-secrets-table'] }],
  guardrails: [
    { name: 'no-drop', when: { statements: ['drop', 'truncate'] }, action: 'block' },
    { name: 'where-required', when: { statements: ['update', 'delete'], where: 'missing' }, action: 'block' },
    { name: 'ddl-review', when: { category: 'ddl' }, action: 'review' },
    { name: 'no-risky', when: { risky: true }, action: 'block' },
    { name: 'no-secrets-table', when: { tables: ['*.secrets', 'secrets'] }, action: 'block' },
  ],
});
const policy = new GuardrailPolicy(config);
const session = { id: 's', user: 'alice', groups: ['dev'], authMethod: 'password', connection: 'app-db', protocol: 'postgres', clientAddress: '127.0.0.1' };

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
let sink = 0;

function timeEach(texts, fn) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < texts.length; i++) sink += fn(texts[i]);
  return Number(process.hrtime.bigint() - t0) / 1000 / texts.length; // µs each
}

function uncached(settings, make) {
  const samples = [];
  let base = 1;
  for (let r = 0; r < RUNS + 1; r++) {
    const texts = Array.from({ length: UNIQUE }, (_, i) => make(base + i));
    base += UNIQUE;
    clearSqlCache();
    const us = timeEach(texts, (t) => analyzeSql(t, settings).statements.length);
    if (r > 0) samples.push(us); // the first run warms up the JIT
  }
  return median(samples);
}

function cached(settings, make) {
  const texts = Array.from({ length: 200 }, (_, i) => make(i + 1));
  for (const t of texts) analyzeSql(t, settings);
  const reps = QUICK ? 200 : 1000;
  const all = Array.from({ length: reps }, () => texts).flat();
  const samples = [];
  for (let r = 0; r < RUNS + 1; r++) {
    const us = timeEach(all, (t) => analyzeSql(t, settings).statements.length);
    if (r > 0) samples.push(us);
  }
  return median(samples);
}

function decideCached(settings, make) {
  const cmds = Array.from({ length: 200 }, (_, i) => ({ kind: 'sql', dialect: settings.dialect, text: make(i + 1), via: 'query', lexer: settings }));
  for (const c of cmds) policy.decide(session, c);
  const reps = QUICK ? 200 : 1000;
  const all = Array.from({ length: reps }, () => cmds).flat();
  const samples = [];
  for (let r = 0; r < RUNS + 1; r++) {
    const us = timeEach(all, (c) => (policy.decide(session, c).action === 'allow' ? 1 : 0));
    if (r > 0) samples.push(us);
  }
  return median(samples);
}

function decideUncached(settings, make) {
  const samples = [];
  let base = 10_000_000;
  for (let r = 0; r < RUNS + 1; r++) {
    const cmds = Array.from({ length: UNIQUE }, (_, i) => ({ kind: 'sql', dialect: settings.dialect, text: make(base + i), via: 'query', lexer: settings }));
    base += UNIQUE;
    clearSqlCache();
    const us = timeEach(cmds, (c) => (policy.decide(session, c).action === 'allow' ? 1 : 0));
    if (r > 0) samples.push(us);
  }
  return median(samples);
}

const fmt = (x) => (x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
const out = [];
out.push(`SQL analysis micro-benchmark (\`node bench/analyzer.mjs\`${QUICK ? ' --quick' : ''}), ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`);
out.push(
  `Node.js ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores); median of ${RUNS} runs; uncached = ${UNIQUE.toLocaleString('en-US')} unique texts per run ` +
    `(cache cleared first, so insertion and eviction are included); cached = 200 texts seen before; decide = GuardrailPolicy.decide with 5 rules.`,
);
out.push('');
out.push('| statement shape | chars | analyze uncached (µs) | analyze cached (µs) | decide uncached (µs) | decide cached (µs) |');
out.push('| --- | ---: | ---: | ---: | ---: | ---: |');
const totals = [0, 0, 0, 0];
for (const [label, settings, make] of TEMPLATES) {
  const row = [uncached(settings, make), cached(settings, make), decideUncached(settings, make), decideCached(settings, make)];
  row.forEach((v, i) => (totals[i] += v / TEMPLATES.length));
  out.push(`| ${label} | ${make(12345).length} | ${row.map(fmt).join(' | ')} |`);
}
out.push(`| **mean** | | ${totals.map((v) => `**${fmt(v)}**`).join(' | ')} |`);
console.log(out.join('\n'));
if (sink === 0.5) console.log(''); // keep the work observable
