import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, notYetEnforced, parseConfigText } from '../../../src/config/load.js';
import { hashPassword } from '../../../src/identity/passwords.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-semantic-'));
const parse = (text: string) => parseConfigText(text, { file: 'gw.yaml', baseDir: dir, env: {} });
function errorOf(text: string): string {
  try {
    parse(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const connection = (name: string, extra = '') => `  - name: ${name}
    protocol: postgres
    target: { host: db }
    allow: [dba]
${extra}`;

describe('names', () => {
  it('refuses duplicate connection, user, guardrail and masking names', () => {
    const msg = errorOf(`connections:
${connection('a')}${connection('a')}identity:
  users:
    - { name: bob, sshKeys: [k] }
    - { name: bob, sshKeys: [k] }
guardrails:
  - { name: g, when: { statements: [drop] }, action: block }
  - { name: g, when: { statements: [drop] }, action: block }
masking:
  - { name: m }
  - { name: m }
`);
    expect(msg).toContain('gw.yaml:6:11: connections[1].name: duplicate connection name "a" (also connections[0])');
    expect(msg).toContain('identity.users[1].name: duplicate user name "bob"');
    expect(msg).toContain('guardrails[1].name: duplicate guardrail name "g"');
    expect(msg).toContain('masking[1].name: duplicate masking profile name "m"');
  });

  it('refuses unknown guardrails and masking profiles', () => {
    const msg = errorOf(`connections:\n${connection('a', '    guardrails: [nope]\n    masking: pii\n')}`);
    expect(msg).toContain('gw.yaml:6:18: connections[0].guardrails[0]: unknown guardrail "nope"');
    expect(msg).toContain('gw.yaml:7:14: connections[0].masking: unknown masking profile "pii"');
  });
});

describe('fail closed on features that are not there', () => {
  const ddlReview = `guardrails:\n  - { name: ddl-review, when: { category: ddl }, action: review }\n`;

  it('refuses a review guardrail on a connection without a review block', () => {
    const msg = errorOf(`connections:\n${connection('a', '    guardrails: [ddl-review]\n')}${ddlReview}`);
    expect(msg).toContain('connections[0].guardrails[0]: guardrail "ddl-review" has action: review, but connection "a" has no review block');
  });

  it('accepts it with a review block, and reports reviews as not yet enforced', () => {
    const { config } = parse(
      `connections:\n${connection('a', '    guardrails: [ddl-review]\n    review: { approvers: [leads] }\n')}${ddlReview}`,
    );
    expect(notYetEnforced(config).join('\n')).toContain('connection "a": reviews are not built yet: the gateway treats review decisions as blocks');
  });

  it('refuses access: request', () => {
    const msg = errorOf(`connections:\n${connection('a', '    access: request\n')}`);
    expect(msg).toBe('gw.yaml:6:13: connections[0].access: access: request needs the just-in-time grants feature, which is not built yet');
  });

  it('refuses fallback: review without a review block', () => {
    expect(errorOf(`connections:\n${connection('a', '    fallback: review\n')}`)).toContain('fallback: review needs a review block');
  });
});

describe('ports, regexes, files', () => {
  it('refuses two listeners on one port, including defaults and connection ports', () => {
    const msg = errorOf(`listen:
  postgres: {}
  admin: { port: 15432 }
connections:
${connection('a', '    listen: { port: 18080 }\n')}${connection('b', '    listen: { port: 18080 }\n')}`);
    expect(msg).toContain('gw.yaml:3:18: listen.admin.port: port 15432 is already used by the postgres listener');
    expect(msg).toContain('connections[1].listen.port: port 18080 is already used by connection "a"');
  });

  it('refuses regexes that do not compile', () => {
    const msg = errorOf(`guardrails:\n  - { name: r, when: { command: "rm (-rf" }, action: block }\n`);
    expect(msg).toMatch(/^gw\.yaml:2:33: guardrails\[0\]\.when\.command: not a valid regular expression/);
  });

  it('refuses clientAuth: scram outside postgres', () => {
    expect(errorOf(`listen:\n  mysql: { clientAuth: scram }\n`)).toContain('clientAuth: scram applies to the postgres listener only');
  });

  it('refuses missing TLS files and half a pair', () => {
    expect(errorOf(`tls: { cert: nope.crt, key: nope.key }\n`)).toMatch(/tls\.cert: cannot read .*nope\.crt \(ENOENT\)/);
    expect(errorOf(`tls: { cert: nope.crt }\n`)).toContain('tls.cert and tls.key must be set together');
  });

  it('checks a jwksFile', () => {
    writeFileSync(join(dir, 'bad.json'), '{"nokeys": 1}');
    const msg = errorOf(`identity:\n  tokens:\n    - { issuer: i, audience: a, jwksFile: bad.json }\n`);
    expect(msg).toContain('identity.tokens[0].jwksFile:');
    expect(msg).toContain('is not a JWKS');
  });
});

describe('warnings', () => {
  it('warns about users who cannot log in and connections nobody may use', () => {
    const { warnings } = parse(`identity:
  users:
    - { name: carol, groups: [dba] }
    - { name: dave, password: { hash: "${hashPassword('pw')}" } }
connections:
  - { name: x, protocol: postgres, target: { host: db } }
`);
    expect(warnings).toEqual([
      'gw.yaml:3:7: identity.users[0]: user "carol" has neither a password nor sshKeys and cannot log in',
      'gw.yaml:6:5: connections[0].allow: connection "x" allows nobody (empty allow list)',
    ]);
  });
});

describe('notYetEnforced', () => {
  it('lists each unbuilt feature once', () => {
    const { config } = parse(`listen:
  mysql: {}
  ssh: {}
store: { postgres: "postgres://u:pw@h/db" }
identity: { admins: [ops], auditors: [audit] }
webhooks: [{ url: "https://hooks.example.com/x", secret: s }]
connections:
  - name: shop
    protocol: mysql
    target: { host: db }
    allow: [dba]
    serverVersion: "8.0.36"
  - name: web
    protocol: ssh
    target: { host: web }
    allow: [sre]
    forwarding: { local: true }
    env: [LANG]
    hostKeyPolicy: tofu
    serverVersion: "9.9"
`);
    const lines = notYetEnforced(config);
    // the MySQL and SSH listeners and protocols are built (forwarding, env, hostKeyPolicy too)
    expect(lines.filter((l) => /mysql|MySQL|ssh|SSH|"shop"|forwarding|env|hostKeyPolicy/.test(l))).toEqual([
      'connection "web": serverVersion applies to mysql connections only; ignored',
    ]);
    for (const needle of [
      'webhooks',
      'identity.admins',
      'identity.auditors',
      'store.postgres',
      'connection "web": serverVersion applies to mysql connections only',
    ]) {
      expect(lines.filter((l) => l.startsWith(needle)), needle).toHaveLength(1);
    }
    expect(lines.join('\n')).not.toContain('pw@');
  });

  it('is empty for the quickstart example, which loads with APP_DB_PASSWORD set', () => {
    const example = resolve(__dirname, '../../../examples/portcullis.yaml');
    const { config, warnings } = loadConfig(example, { APP_DB_PASSWORD: 'x' });
    expect(warnings).toEqual([]);
    expect(notYetEnforced(config)).toEqual([]);
    expect(config.connections[0]).toMatchObject({ name: 'app-db', allow: ['dba'], guardrails: ['no-drop', 'where-required'], masking: 'pii' });
  });
});
