// `portcullis policy test`, run in-process through run([...]) against a temp config.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { run, type CliIo } from '../../../src/cli/main.js';

const CONFIG = `
identity:
  users:
    - { name: alice, groups: [dba, sre] }
    - { name: bob, groups: [dev] }
connections:
  - name: app-db
    protocol: postgres
    target: { host: 127.0.0.1, port: 5432, database: app }
    allow: [dba, dev]
    guardrails: [no-drop, where-required, ddl-review, pii-review]
    review: { approvers: [dba-leads] }
  - name: shop-db
    protocol: mysql
    target: { host: 127.0.0.1, port: 3306 }
    allow: [dba]
    guardrails: [no-drop]
  - name: web-prod
    protocol: ssh
    target: { host: 10.0.0.9, user: deploy }
    allow: [sre]
    guardrails: [no-rm-root]
guardrails:
  - { name: no-drop, when: { statements: [drop, truncate] }, action: block }
  - { name: where-required, when: { statements: [update, delete], where: missing }, action: block }
  - { name: ddl-review, when: { category: ddl }, action: review }
  - { name: pii-review, when: { tables: [users], groups: [dev] }, action: review }
  - { name: no-rm-root, when: { command: "rm\\\\s+-[a-z]*r[a-z]*f?\\\\s+/(\\\\s|$)" }, action: block }
`;

function configFile(text = CONFIG): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-policy-'));
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(file, text);
  return file;
}

function harness(stdin = '') {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (s) => void out.push(s), err: (s) => void err.push(s), stdin: Readable.from([Buffer.from(stdin)]), env: {} };
  return { io, out: () => out.join(''), err: () => err.join('') };
}

const file = configFile();
const test = async (args: string[], stdin = '') => {
  const h = harness(stdin);
  const code = await run(['policy', 'test', '-c', file, ...args], h.io);
  return { code, out: h.out(), err: h.err() };
};
const json = async (args: string[]) => {
  const r = await test([...args, '--json']);
  expect(r.code).toBe(0);
  return JSON.parse(r.out) as Record<string, unknown> & { analysis: Record<string, unknown> };
};

describe('policy test: SQL', () => {
  it('prints the decision and the analysis (human)', async () => {
    const r = await test(['--connection', 'app-db', '--user', 'alice', 'DROP TABLE public.users']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('decision: block');
    expect(r.out).toContain('rule:     no-drop');
    expect(r.out).toContain('message:  blocked by rule "no-drop": DROP statements are not allowed');
    expect(r.out).toContain('matched:  no-drop, ddl-review');
    expect(r.out).toMatch(/statement 1: DROP\n\s+category:\s+ddl/);
    expect(r.out).toMatch(/tables written:\s+public\.users/);
    expect(r.out).toMatch(/opaque:\s+no/);
    expect(r.err).toBe('');
  });

  it('shows WHERE, functions, risky and opaque per statement', async () => {
    const r = await test(['--connection', 'app-db', '--user', 'alice', "delete from t; select pg_read_file('/etc/passwd'); call p()"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/statement 1: DELETE[\s\S]*where:\s+missing/);
    expect(r.out).toMatch(/statement 2: SELECT[\s\S]*functions:\s+pg_read_file[\s\S]*risky:\s+\S/);
    expect(r.out).toMatch(/statement 3: CALL[\s\S]*opaque:\s+yes/);
  });

  it('--json: one object with action, rule, message and analysis', async () => {
    const o = await json(['--connection', 'app-db', '--user', 'alice', 'update t set a = 1']);
    expect(o).toMatchObject({ action: 'block', rule: 'where-required', message: expect.stringContaining('UPDATE without a WHERE clause'), kind: 'sql' });
    expect(o.analysis).toMatchObject({ statements: [{ verb: 'update', category: 'write', where: 'missing', tables: { written: ['t'] } }] });

    const allow = await json(['--connection', 'app-db', '--user', 'alice', 'select * from t where id = 1']);
    expect(allow).toMatchObject({ action: 'allow', rule: null, message: null, matched: [] });

    const review = await json(['--connection', 'app-db', '--user', 'alice', 'create index i on t (a)']);
    expect(review).toMatchObject({ action: 'review', rule: 'ddl-review', approvers: ['dba-leads'] });
  });

  it('uses the mysql dialect for a mysql connection', async () => {
    const o = await json(['--connection', 'shop-db', '--user', 'alice', 'select `drop` from drop_log # drop table x']);
    expect(o.action).toBe('allow');
    const d = await json(['--connection', 'shop-db', '--user', 'alice', '/*!50000 DROP */ TABLE x']);
    expect(d).toMatchObject({ action: 'block', rule: 'no-drop' });
  });

  it('takes a local user\'s groups from the config and a token user\'s from --group', async () => {
    // pii-review applies to the dev group only
    expect(await json(['--connection', 'app-db', '--user', 'bob', 'select email from users'])).toMatchObject({
      action: 'review',
      rule: 'pii-review',
      session: { user: 'bob', groups: ['dev'], source: 'config', allowed: true },
    });
    expect((await json(['--connection', 'app-db', '--user', 'alice', 'select email from users'])).action).toBe('allow');
    expect(await json(['--connection', 'app-db', '--user', 'carol', '--group', 'dev', '--group', 'ops', 'select email from users'])).toMatchObject({
      action: 'review',
      session: { user: 'carol', groups: ['dev', 'ops'], source: 'token' },
    });
  });

  it('notes on stderr when the user may not use the connection (decision still printed, exit 0)', async () => {
    const r = await test(['--connection', 'shop-db', '--user', 'bob', 'select 1']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('decision: allow');
    expect(r.err).toContain('not allowed on shop-db');
  });

  it('reads the text from stdin with -', async () => {
    const r = await test(['--connection', 'app-db', '--user', 'alice', '--json', '-'], 'truncate t\n');
    expect(JSON.parse(r.out)).toMatchObject({ action: 'block', rule: 'no-drop', text: 'truncate t' });
  });
});

describe('policy test: SSH commands', () => {
  it('prints the parsed argv chain', async () => {
    const r = await test(['--connection', 'web-prod', '--user', 'alice', "sudo -u root bash -c 'rm  -rf /'"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('decision: block');
    expect(r.out).toContain('rule:     no-rm-root');
    expect(r.out).toContain("1.  sudo -u root bash -c 'rm  -rf /'");
    expect(r.out).toContain("runs: bash -c 'rm  -rf /'  (through sudo)");
    expect(r.out).toContain('[bash -c] rm -rf /');
  });

  it('--json carries the command analysis', async () => {
    const o = await json(['--connection', 'web-prod', '--user', 'alice', 'echo hi; env X=1 rm -r -f /']);
    expect(o).toMatchObject({ action: 'block', rule: 'no-rm-root', kind: 'exec', session: { protocol: 'ssh' } });
    expect(o.analysis).toMatchObject({
      commands: [
        { argv: ['echo', 'hi'], command: ['echo', 'hi'], wrappers: [], depth: 0 },
        { argv: ['env', 'X=1', 'rm', '-r', '-f', '/'], command: ['rm', '-r', '-f', '/'], wrappers: ['env'], depth: 0 },
      ],
      incomplete: false,
      dynamic: [],
    });
    expect(o.analysis.forms).toContain('rm -rf /');

    const benign = await json(['--connection', 'web-prod', '--user', 'alice', 'echo "rm -rf /"']);
    expect(benign).toMatchObject({ action: 'allow', rule: null, message: null });
  });

  it('says when a command line cannot be parsed', async () => {
    const r = await test(['--connection', 'web-prod', '--user', 'alice', "echo 'oops"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('unparseable: unterminated single quote');
  });
});

describe('policy test: bad arguments and configs', () => {
  it('exits 2 on an unknown connection, missing text, or an unknown user without --group', async () => {
    const conn = await test(['--connection', 'nope', '--user', 'alice', 'select 1']);
    expect(conn.code).toBe(2);
    expect(conn.err).toContain('unknown connection "nope" (one of app-db, shop-db, web-prod)');
    const missing = await test(['--connection', 'app-db', '--user', 'alice']);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('missing the SQL to test');
    expect((await test(['--connection', 'web-prod', '--user', 'alice', '  '])).err).toContain('missing the command to test');
    const user = await test(['--connection', 'app-db', '--user', 'mallory', 'select 1']);
    expect(user.code).toBe(2);
    expect(user.err).toContain('unknown user "mallory"');
    expect(user.out).toBe('');
    expect((await test(['--user', 'alice', 'select 1'])).code).toBe(2); // --connection is required
    expect((await test(['--connection', 'app-db', 'select 1'])).code).toBe(2); // --user is required
  });

  it('exits 2 with the loader\'s message on an invalid config', async () => {
    const bad = configFile('connections:\n  - { name: x, protocol: postgres, target: { host: h }, guardrails: [missing] }\n');
    const h = harness();
    expect(await run(['policy', 'test', '-c', bad, '--connection', 'x', '--user', 'alice', 'select 1'], h.io)).toBe(2);
    expect(h.err()).toMatch(/portcullis\.yaml:\d+:\d+: connections\[0\]\.guardrails\[0\]: unknown guardrail "missing"/);
    expect(h.out()).toBe('');
    const none = harness();
    expect(await run(['policy', 'test', '-c', '/nonexistent/p.yaml', '--connection', 'x', '--user', 'a', 'select 1'], none.io)).toBe(2);
    expect(none.err()).toContain('cannot read the config file');
  });

  it('notes that --group overrides a local user (never merged)', async () => {
    const r = await test(['--connection', 'app-db', '--user', 'alice', '--group', 'dev', '--json', 'select email from users']);
    expect(JSON.parse(r.out)).toMatchObject({ action: 'review', session: { groups: ['dev'], source: 'token' } });
    expect(r.err).toContain('"alice" is also a local user');
  });
});
