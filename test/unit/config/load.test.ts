import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfigText } from '../../../src/config/load.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-config-'));
});

const parse = (text: string, env: NodeJS.ProcessEnv = {}) => parseConfigText(text, { file: 'portcullis.yaml', baseDir: dir, env });

function errorOf(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parse(text, env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const conn = (extra = '') => `connections:
  - name: app-db
    protocol: postgres
    target:
      host: 127.0.0.1
${extra}`;

describe('schema errors carry file:line:col and the key path', () => {
  it('points at an unknown key and names it', () => {
    const text = `dataDir: ./data
listen:
  postgres: { port: 15432 }
connections:
  - name: app-db
    protocol: postgres
    targt: { host: db }
`;
    const err = errorOf(text);
    expect(err.message).toContain('portcullis.yaml:7:5: connections[0].targt: unknown key "targt"');
    expect(err.issues.find((i) => i.path === 'connections[0].targt')).toMatchObject({ line: 7, col: 5 });
    // the missing `target` is reported too, at the list item
    expect(err.message).toContain('portcullis.yaml:5:5: connections[0].target: missing (required)');
  });

  it('points at a bad value', () => {
    const err = errorOf(`tls:\n  mode: sometimes\n`);
    expect(err.message).toBe('portcullis.yaml:2:9: tls.mode: expected one of off, prefer, require');
  });

  it('describes a wrong type without echoing the value', () => {
    const err = errorOf(`listen:\n  postgres:\n    port: "fifteen"\n`);
    expect(err.message).toBe('portcullis.yaml:3:11: listen.postgres.port: expected a number, got a string');
  });

  it('reports a missing required key at the parent', () => {
    const err = errorOf(`connections:\n  - name: a\n    protocol: postgres\n`);
    expect(err.message).toBe('portcullis.yaml:2:5: connections[0].target: missing (required)');
  });

  it('reports every problem, in source order', () => {
    const err = errorOf(`logLevel: loud\ntls: { mode: x }\nbogus: 1\n`);
    expect(err.issues.map((i) => i.line)).toEqual([1, 2, 3]);
    expect(err.message).toContain('portcullis.yaml:3:1: bogus: unknown key "bogus"');
  });

  it('explains the store forms', () => {
    const err = errorOf(`store: { sqlit: ./x.db }\n`);
    expect(err.message).toContain('store: expected { sqlite: PATH } or { postgres: URL }');
    expect(err.message).toContain('store.sqlit: unknown key "sqlit"');
  });

  it('reports YAML syntax errors with a position', () => {
    const err = errorOf(`dataDir: ./data\nlisten:\n  postgres: { port: 1\n`);
    expect(err.message).toMatch(/^portcullis\.yaml:\d+:\d+: YAML: /);
  });

  it('treats an empty value like an absent key', () => {
    expect(parse(`identity:\nconnections:\n`).config.connections).toEqual([]);
  });
});

describe('secrets are never echoed', () => {
  const secret = 'hunter2-very-secret';
  it('in type errors', () => {
    const err = errorOf(conn(`      password: [${secret}]\n`));
    expect(err.message).toContain('connections[0].target.password: expected a string, got a list');
    expect(err.message).not.toContain(secret);
  });
  it('in YAML syntax errors', () => {
    const err = errorOf(conn(`      password: "${secret}\n`));
    expect(err.message).not.toContain(secret);
  });
  it('in unknown keys (only the key is named)', () => {
    const err = errorOf(conn(`      passwrd: ${secret}\n`));
    expect(err.message).toContain('unknown key "passwrd"');
    expect(err.message).not.toContain(secret);
  });
  it('in bad password hashes', () => {
    const err = errorOf(`identity:\n  users:\n    - name: bob\n      password: { hash: "${secret}" }\n`);
    expect(err.message).toMatch(/^portcullis\.yaml:4:25: identity\.users\[0\]\.password\.hash: not a password hash/);
    expect(err.message).not.toContain(secret);
  });
  it('in substitution errors', () => {
    const err = errorOf(conn(`      password: "${secret}\${env:NOPE}"\n`));
    expect(err.message).not.toContain(secret);
  });
});

describe('substitution', () => {
  it('replaces ${env:NAME}', () => {
    const { config } = parse(conn('      password: ${env:APP_DB_PASSWORD}\n'), { APP_DB_PASSWORD: 'pw from env' });
    expect(config.connections[0]!.target.password).toBe('pw from env');
  });

  it('names the key path and position of a missing env var', () => {
    const err = errorOf(conn('      password: ${env:APP_DB_PASSWORD}\n'));
    expect(err.message).toBe('portcullis.yaml:6:17: connections[0].target.password: environment variable APP_DB_PASSWORD is not set');
  });

  it('reads ${file:PATH} relative to the config, dropping one trailing newline', () => {
    writeFileSync(join(dir, 'secret.txt'), 'file secret\n\n');
    const { config } = parse(conn('      password: "${file:secret.txt}"\n'));
    expect(config.connections[0]!.target.password).toBe('file secret\n');
  });

  it('reports an unreadable file with its key path', () => {
    const err = errorOf(conn('      password: ${file:missing.txt}\n'));
    expect(err.message).toMatch(/^portcullis\.yaml:6:17: connections\[0\]\.target\.password: cannot read .*missing\.txt \(ENOENT\)$/);
  });

  it('keeps $${ as a literal ${ and substitutes inside longer strings', () => {
    const { config } = parse(conn('      password: "a$${env:X}b-${env:X}"\n'), { X: 'y' });
    expect(config.connections[0]!.target.password).toBe('a${env:X}b-y');
  });

  it('refuses unknown substitutions', () => {
    const err = errorOf(conn('      password: "${vault:x}"\n'));
    expect(err.message).toContain('unknown substitution');
  });

  it('turns a plain substituted port into a number', () => {
    const { config } = parse('listen:\n  postgres:\n    port: ${env:PG_PORT}\n  mysql: { port: "${env:MY_PORT}" }\n', {
      PG_PORT: '25432',
      MY_PORT: '23306',
    });
    expect(config.listen.postgres?.port).toBe(25432);
    expect(config.listen.mysql?.port).toBe(23306);
  });
});

describe('paths and defaults', () => {
  it('resolves relative paths against the config directory and defaults the store', () => {
    writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\n');
    const { config } = parse(`dataDir: ./state\n${conn('      ca: ca.pem\n')}`);
    expect(config.dataDir).toBe(join(dir, 'state'));
    expect(config.store).toEqual({ sqlite: join(dir, 'state', 'portcullis.db') });
    expect(config.connections[0]!.target.ca).toBe(join(dir, 'ca.pem'));
  });

  it('resolves store.sqlite and keeps absolute paths', () => {
    const { config } = parse(`dataDir: /var/lib/portcullis\nstore: { sqlite: audit.db }\n`);
    expect(config.dataDir).toBe('/var/lib/portcullis');
    expect(config.store).toEqual({ sqlite: join(dir, 'audit.db') });
  });

  it('loadConfig reads a file and reports its absolute path', () => {
    const file = join(dir, 'cfg.yaml');
    writeFileSync(file, 'logLevel: debug\n');
    const loaded = loadConfig(file, {});
    expect(loaded.path).toBe(file);
    expect(loaded.config.logLevel).toBe('debug');
    expect(() => loadConfig(join(dir, 'nope.yaml'), {})).toThrow(/cannot read the config file \(ENOENT\)/);
  });
});
