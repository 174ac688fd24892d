import { describe, expect, it } from 'vitest';
import { GuardrailPolicy } from '../../../src/policy/guardrails.js';
import { makeConfig, my, pg, session } from './helpers.js';

const one = (rules: unknown[], conn: Record<string, unknown> = {}) =>
  new GuardrailPolicy(
    makeConfig({
      connections: [
        {
          name: 'app-db',
          protocol: 'postgres',
          target: { host: 'h' },
          guardrails: (rules as Array<{ name: string }>).map((r) => r.name),
          review: { approvers: ['dba-leads'] },
          ...conn,
        },
        { name: 'web-prod', protocol: 'ssh', target: { host: 'h' }, guardrails: (rules as Array<{ name: string }>).map((r) => r.name), ...conn },
      ],
      guardrails: rules,
    }),
  );

describe('GuardrailPolicy: decisions', () => {
  const policy = new GuardrailPolicy(makeConfig());
  const s = session('app-db');

  it('blocks with a message naming the rule', () => {
    expect(policy.decide(s, pg('drop table x'))).toEqual({
      action: 'block',
      rule: 'no-drop',
      message: 'blocked by rule "no-drop": DROP statements are not allowed',
    });
    expect(policy.decide(s, pg('delete from t'))).toEqual({
      action: 'block',
      rule: 'where-required',
      message: 'blocked by rule "where-required": DELETE without a WHERE clause is not allowed',
    });
    expect(policy.decide(s, pg('delete from t where 1 = 1'))).toMatchObject({ message: expect.stringContaining('trivially true WHERE') });
  });

  it('holds for review with the connection approvers', () => {
    expect(policy.decide(s, pg('create index i on t (a)'))).toEqual({
      action: 'review',
      rule: 'ddl-review',
      approvers: ['dba-leads'],
      message: 'held for review by rule "ddl-review": DDL statements need approval',
    });
  });

  it('takes the most restrictive outcome over statements and rules', () => {
    expect(policy.decide(s, pg('create table t (a int); drop table u; select 1'))).toMatchObject({ action: 'block', rule: 'no-drop' });
    // DROP is also DDL: block beats review
    expect(policy.decide(s, pg('drop table u'))).toMatchObject({ action: 'block', rule: 'no-drop' });
    expect(policy.decide(s, pg('select 1; create table t (a int)'))).toMatchObject({ action: 'review' });
  });

  it('allows what no rule matches', () => {
    expect(policy.decide(s, pg('select * from t where id = 1'))).toEqual({ action: 'allow' });
  });

  it('blocks an unknown connection', () => {
    expect(policy.decide(session('nope'), pg('select 1'))).toMatchObject({ action: 'block', rule: 'unknown-connection' });
    expect(policy.decide(session('nope'), { kind: 'shell' })).toMatchObject({ action: 'block', rule: 'unknown-connection' });
  });

  it('caches decisions per analysis and session identity', () => {
    const d1 = policy.decide(s, pg('drop table cached'));
    expect(policy.decide(s, pg('drop table cached'))).toBe(d1);
    expect(policy.decide({ ...s, groups: ['other'] }, pg('drop table cached'))).toEqual(d1);
  });
});

describe('GuardrailPolicy: fallback', () => {
  it('blocks opaque and unknown statements by default, saying why', () => {
    const p = new GuardrailPolicy(makeConfig());
    expect(p.decide(session('app-db'), pg("DO $$ BEGIN RAISE NOTICE 'x'; END $$"))).toEqual({
      action: 'block',
      rule: 'fallback',
      message: "statement cannot be analysed (opaque: DO block); the connection's fallback blocks it",
    });
    expect(p.decide(session('app-db'), pg('frobnicate'))).toMatchObject({ rule: 'fallback', message: expect.stringContaining('unknown statement "FROBNICATE"') });
    expect(p.decide(session('app-db'), pg("select 'open"))).toMatchObject({ rule: 'fallback', message: expect.stringContaining('unterminated quoted string') });
  });

  it('follows the connection fallback: review or allow', () => {
    const review = one([], { fallback: 'review' });
    expect(review.decide(session('app-db'), pg('call p()'))).toMatchObject({ action: 'review', rule: 'fallback', approvers: ['dba-leads'] });
    const allow = one([], { fallback: 'allow' });
    expect(allow.decide(session('app-db'), pg('call p()'))).toEqual({ action: 'allow' });
    expect(allow.decide(session('app-db'), pg("select 'open"))).toEqual({ action: 'allow' });
  });

  it('a rule that already blocks wins over a permissive fallback', () => {
    const p = one([{ name: 'no-call', when: { statements: ['call'] }, action: 'block' }], { fallback: 'allow' });
    expect(p.decide(session('app-db'), pg('call p()'))).toMatchObject({ action: 'block', rule: 'no-call' });
  });

  it('even unanalysable text: the statements before the error are still judged', () => {
    const p = one([{ name: 'no-drop', when: { statements: ['drop'] }, action: 'block' }], { fallback: 'allow' });
    expect(p.decide(session('app-db'), pg("drop table x; select 'open"))).toMatchObject({ action: 'block', rule: 'no-drop' });
  });

  it('an allow rule naming the statement waives the fallback, but never another rule', () => {
    const p = one([
      { name: 'calls-ok', when: { statements: ['call'] }, action: 'allow' },
      { name: 'no-cleanup', when: { statements: ['call'], pattern: 'cleanup' }, action: 'block' },
    ]);
    expect(p.decide(session('app-db'), pg('call refresh_stats()'))).toEqual({ action: 'allow' });
    expect(p.decide(session('app-db'), pg('call cleanup()'))).toMatchObject({ action: 'block', rule: 'no-cleanup' });
    expect(p.decide(session('app-db'), pg("DO $$ BEGIN END $$"))).toMatchObject({ action: 'block', rule: 'fallback' });
  });
});

describe('GuardrailPolicy: when keys', () => {
  const s = session('app-db');

  it('tables: globs against bare or qualified names', () => {
    const p = one([{ name: 'secrets', when: { tables: ['secret*', 'billing.*'] }, action: 'block' }]);
    expect(p.decide(s, pg('select * from secret_keys')).action).toBe('block');
    expect(p.decide(s, pg('select * from public.secrets')).action).toBe('block');
    expect(p.decide(s, pg('update billing.invoices set a = 1 where id = 1')).action).toBe('block');
    expect(p.decide(s, pg('select * from "SECRET"')).action).toBe('block');
    // search_path is unknown: a bare name may live in billing, so `billing.*` catches it (errs toward blocking)
    expect(p.decide(s, pg('select * from invoices')).action).toBe('block');
    expect(p.decide(s, pg('select * from mydb.billing.invoices')).action).toBe('block');
    const q = one([{ name: 'salaries', when: { tables: ['public.salaries'] }, action: 'block' }]);
    expect(q.decide(s, pg('select * from salaries')).action).toBe('block');
    expect(q.decide(s, pg('select * from wages')).action).toBe('allow');
    expect(q.decide(s, pg('select * from hr.salaries')).action).toBe('allow');
    expect(p.decide(s, pg('select * from t where x in (select k from secret)')).action).toBe('block');
    expect(p.decide(s, pg("select 'secret'")).action).toBe('allow');
  });

  it('functions and risky', () => {
    const p = one([
      { name: 'no-sleep', when: { functions: ['pg_sleep'] }, action: 'block' },
      { name: 'risky-review', when: { risky: true }, action: 'review' },
    ]);
    expect(p.decide(s, pg('select pg_catalog.pg_sleep(10)'))).toMatchObject({ rule: 'no-sleep', message: expect.stringContaining('pg_sleep()') });
    expect(p.decide(s, pg("select pg_read_file('/etc/passwd')"))).toMatchObject({ action: 'review', rule: 'risky-review' });
    expect(p.decide(s, pg('select 1')).action).toBe('allow');
  });

  it('pattern: case-insensitive, on text without comments and with collapsed whitespace', () => {
    const p = one([{ name: 'no-pii-export', when: { pattern: 'from users where email like' }, action: 'block' }]);
    expect(p.decide(s, pg("SELECT * FROM   Users /* x */\n WHERE email LIKE '%@x'")).action).toBe('block');
    expect(p.decide(s, pg("SELECT * FROM users WHERE id = 1")).action).toBe('allow');
  });

  it('category as a list; where only for update/delete', () => {
    const p = one([
      { name: 'no-priv', when: { category: ['privilege', 'admin'] }, action: 'block' },
      { name: 'where', when: { where: 'missing' }, action: 'block' },
    ]);
    expect(p.decide(s, pg('grant all on t to bob')).action).toBe('block');
    expect(p.decide(s, pg('vacuum')).action).toBe('block');
    expect(p.decide(s, pg('select * from t')).action).toBe('allow');
    expect(p.decide(s, pg('update t set a = 1')).action).toBe('block');
  });

  it('groups, users and protocol narrow a rule', () => {
    const p = one([
      { name: 'contractors-review', when: { groups: ['contractors'], category: 'write' }, action: 'review' },
      { name: 'no-bob', when: { users: ['bob'] }, action: 'block' },
      { name: 'mysql-only', when: { protocol: 'mysql', statements: ['select'] }, action: 'block' },
    ]);
    expect(p.decide(s, pg('insert into t values (1)')).action).toBe('allow');
    expect(p.decide({ ...s, groups: ['contractors'] }, pg('insert into t values (1)')).action).toBe('review');
    expect(p.decide({ ...s, user: 'bob' }, pg('select 1')).action).toBe('block');
    expect(p.decide({ ...s, user: 'bob' }, { kind: 'shell' }).action).toBe('block');
    expect(p.decide(s, pg('select 1')).action).toBe('allow');
    expect(p.decide({ ...s, protocol: 'mysql' }, my('select 1')).action).toBe('block');
  });
});

describe('GuardrailPolicy: non-SQL commands', () => {
  it('exec: command regex', () => {
    const p = new GuardrailPolicy(makeConfig());
    const s = session('web-prod');
    expect(p.decide(s, { kind: 'exec', command: 'rm -rf /' })).toMatchObject({ action: 'block', rule: 'no-rm-root', message: expect.stringContaining('this command is not allowed') });
    expect(p.decide(s, { kind: 'exec', command: 'rm -Rf /' }).action).toBe('block');
    expect(p.decide(s, { kind: 'exec', command: 'rm -rf /tmp/build' }).action).toBe('allow');
    expect(p.decide(s, { kind: 'exec', command: 'uptime' }).action).toBe('allow');
    // SQL rules never match a shell command and the command rule never matches SQL
    expect(p.decide(session('app-db'), pg('select 1; -- rm -rf /')).action).toBe('allow');
  });

  it('shell and subsystem: allowed unless a rule names them', () => {
    const open = new GuardrailPolicy(makeConfig());
    expect(open.decide(session('web-prod'), { kind: 'shell' }).action).toBe('allow');
    expect(open.decide(session('web-prod'), { kind: 'subsystem', name: 'sftp' }).action).toBe('allow');
    const p = one([
      { name: 'no-shell', when: { statements: ['shell'] }, action: 'review' },
      { name: 'no-sftp', when: { statements: ['sftp'] }, action: 'block' },
    ]);
    expect(p.decide(session('web-prod'), { kind: 'shell' })).toMatchObject({ action: 'review', rule: 'no-shell' });
    expect(p.decide(session('web-prod'), { kind: 'subsystem', name: 'sftp' })).toMatchObject({ action: 'block', rule: 'no-sftp' });
    expect(p.decide(session('web-prod'), { kind: 'exec', command: 'ls' }).action).toBe('allow');
  });

  it('function-call: blocked unless a rule allows it', () => {
    expect(new GuardrailPolicy(makeConfig()).decide(session('app-db'), { kind: 'function-call' })).toMatchObject({ action: 'block', rule: 'function-call' });
    const p = one([{ name: 'fc-ok', when: { statements: ['function-call'] }, action: 'allow' }]);
    expect(p.decide(session('app-db'), { kind: 'function-call' })).toEqual({ action: 'allow' });
  });

  it('forward: only when the connection enables forwarding, within its allow globs', () => {
    expect(new GuardrailPolicy(makeConfig()).decide(session('web-prod'), { kind: 'forward', host: 'db', port: 5432 })).toMatchObject({ action: 'block', rule: 'forwarding' });
    const p = one([{ name: 'no-smtp', when: { forward: '*:25' }, action: 'block' }], { forwarding: { local: true, allow: ['db*:5432', '*:25'] } });
    expect(p.decide(session('web-prod'), { kind: 'forward', host: 'db1', port: 5432 }).action).toBe('allow');
    expect(p.decide(session('web-prod'), { kind: 'forward', host: 'web', port: 80 })).toMatchObject({ rule: 'forwarding' });
    expect(p.decide(session('web-prod'), { kind: 'forward', host: 'mail', port: 25 })).toMatchObject({ rule: 'no-smtp' });
  });
});

describe('GuardrailPolicy: construction and explain', () => {
  it('throws naming the rule on a bad regex or category', () => {
    expect(() => one([{ name: 'bad', when: { pattern: '(' }, action: 'block' }])).toThrow(/guardrail "bad": when.pattern/);
    expect(() => one([{ name: 'bad-cmd', when: { command: '[' }, action: 'block' }])).toThrow(/guardrail "bad-cmd": when.command/);
    expect(() => one([{ name: 'typo', when: { category: 'dll' }, action: 'block' }])).toThrow(/guardrail "typo": unknown category "dll"/);
  });

  it('throws on a connection naming an unknown guardrail', () => {
    expect(
      () => new GuardrailPolicy(makeConfig({ connections: [{ name: 'x', protocol: 'postgres', target: { host: 'h' }, guardrails: ['missing'] }] })),
    ).toThrow(/connection "x": unknown guardrail "missing"/);
  });

  it('warns about statements the analyser never reports', () => {
    const p = one([{ name: 'typo', when: { statements: ['dorp'] }, action: 'block' }]);
    expect(p.warnings).toEqual([expect.stringContaining('"dorp"')]);
  });

  it('explain lists the matched rules and the analysis', () => {
    const p = new GuardrailPolicy(makeConfig());
    const out = p.explain(session('app-db'), pg('drop table x; call p()'));
    expect(out.decision).toMatchObject({ action: 'block' });
    expect(out.matched).toEqual(['no-drop', 'ddl-review', 'fallback']);
    expect(out.analysis?.statements.map((st) => st.verb)).toEqual(['drop', 'call']);
    expect(p.explain(session('web-prod'), { kind: 'shell' })).toEqual({ decision: { action: 'allow' }, matched: [] });
  });
});
