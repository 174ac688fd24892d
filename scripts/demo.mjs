#!/usr/bin/env node
// A throwaway PostgreSQL with sample data behind the gateway, configured from examples/portcullis.yaml.
// Needs the PostgreSQL server binaries (Debian: apt-get install postgresql). Ctrl-C stops both.
//   npm run demo
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bindir = (() => {
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  } catch {
    const base = '/usr/lib/postgresql';
    const v = fs.existsSync(base) ? fs.readdirSync(base).sort((a, b) => Number(b) - Number(a))[0] : undefined;
    if (!v) throw new Error('PostgreSQL server binaries not found: apt-get install postgresql');
    return path.join(base, v, 'bin');
  }
})();
const bin = (n) => path.join(bindir, n);
const asRoot = process.getuid?.() === 0;
// initdb refuses to run as root: run the server as the postgres OS user then.
const runAs = (cmd, args, opts = {}) =>
  asRoot ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], opts) : spawnSync(cmd, args, opts);

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-demo-'));
if (asRoot) execFileSync('chown', ['postgres', dir]);
const pgdata = path.join(dir, 'pgdata');
const port = await freePort();
let r = runAs(bin('initdb'), ['-D', pgdata, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8'], { encoding: 'utf8' });
if (r.status !== 0) throw new Error(`initdb failed: ${r.stderr}`);
fs.appendFileSync(path.join(pgdata, 'pg_hba.conf'), '\nhost all app_rw 127.0.0.1/32 scram-sha-256\n');
r = runAs(bin('pg_ctl'), ['-D', pgdata, '-l', path.join(dir, 'pg.log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, 'start'], { encoding: 'utf8' });
if (r.status !== 0) throw new Error(`pg_ctl start failed: ${r.stderr}`);
const sql = (db, text) => {
  const out = spawnSync(bin('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', dir, '-p', String(port), '-U', 'postgres', '-d', db], { input: text, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(out.stderr);
};
sql('postgres', `CREATE ROLE app_rw LOGIN PASSWORD 'app-secret'; CREATE DATABASE app OWNER app_rw;`);
sql('app', `SET ROLE app_rw;
CREATE TABLE users (id int PRIMARY KEY, name text, email text, ssn text, note text);
INSERT INTO users VALUES
  (1, 'Alice', 'alice@example.com', '123-45-6789', 'prefers e-mail'),
  (2, 'Bob', 'bob@example.org', '987-65-4321', 'card 4111 1111 1111 1111 on file');`);

const example = fs.readFileSync(path.join(root, 'examples/portcullis.yaml'), 'utf8');
const config = example
  .replace(/^dataDir: .*$/m, `dataDir: ${JSON.stringify(path.join(dir, 'data'))}`)
  .replace(/port: 5432\b/, `port: ${port}`);
const configFile = path.join(dir, 'portcullis.yaml');
fs.writeFileSync(configFile, config);
process.stderr.write(`
PostgreSQL ${port} (throwaway, in ${dir}) with database "app" and a table "users".
The gateway listens on 127.0.0.1:15432. In another terminal:

  PGPASSWORD=alice-secret psql "host=127.0.0.1 port=15432 user=alice dbname=app-db"
  app-db=> SELECT * FROM users;      -- e-mails, SSNs and the card number come back masked
  app-db=> DROP TABLE users;         -- blocked by rule "no-drop"

`);
const gw = spawn(process.execPath, [path.join(root, 'bin/portcullis'), 'start', '-c', configFile], {
  stdio: 'inherit',
  env: { ...process.env, APP_DB_PASSWORD: 'app-secret' },
});
const stop = () => {
  gw.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
gw.on('exit', (code) => {
  runAs(bin('pg_ctl'), ['-D', pgdata, '-m', 'immediate', 'stop']);
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(code ?? 0);
});
