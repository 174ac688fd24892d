#!/usr/bin/env node
// A throwaway PostgreSQL (and MariaDB, when installed) with sample data behind the gateway, configured from
// examples/portcullis.yaml. Needs the PostgreSQL server binaries (Debian: apt-get install postgresql); the
// MySQL part needs apt-get install mariadb-server mariadb-client and is skipped without them. Ctrl-C stops all.
//   npm run demo
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';

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

// Whatever has been started so far is stopped on the way out, whichever way that is.
let pgStarted = false;
let my; // the MariaDB server, when there is one: { port, socket, child }
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  if (my && my.child.exitCode === null && my.child.signalCode === null) {
    const gone = new Promise((resolve) => my.child.once('exit', resolve));
    my.child.kill('SIGTERM'); // mariadbd: normal shutdown
    const timer = setTimeout(() => my.child.kill('SIGKILL'), 15_000);
    await gone;
    clearTimeout(timer);
  }
  if (pgStarted) runAs(bin('pg_ctl'), ['-D', pgdata, '-m', 'immediate', 'stop']);
  fs.rmSync(dir, { recursive: true, force: true });
}
process.on('exit', () => {
  // last resort (an exception during setup): never leave a server behind
  if (my && my.child.exitCode === null && my.child.signalCode === null) my.child.kill('SIGKILL');
  if (pgStarted && !cleaned) runAs(bin('pg_ctl'), ['-D', pgdata, '-m', 'immediate', 'stop']);
  if (!cleaned) fs.rmSync(dir, { recursive: true, force: true });
});
// One handler for the whole run (a signal that arrives while a listener is being swapped would be lost):
// before the gateway runs it stops what has been started; afterwards it stops the gateway, whose exit cleans up.
let gw;
let stopping = false;
const onSignal = () => {
  if (gw) gw.kill('SIGTERM');
  else if (!stopping) {
    stopping = true;
    cleanup().then(() => process.exit(130));
  }
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

let r = runAs(bin('initdb'), ['-D', pgdata, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8'], { encoding: 'utf8' });
if (r.status !== 0) throw new Error(`initdb failed: ${r.stderr}`);
fs.appendFileSync(path.join(pgdata, 'pg_hba.conf'), '\nhost all app_rw 127.0.0.1/32 scram-sha-256\n');
pgStarted = true;
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

// MariaDB, optional: the connection shop-db of the example (its target password is the example's shop-secret).
const findBin = (name) => {
  for (const d of [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/local/sbin', '/usr/sbin']) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
};
const myBins = { server: findBin('mariadbd'), installDb: findBin('mariadb-install-db'), client: findBin('mariadb') };
let mySkipped;
if (!myBins.server || !myBins.installDb || !myBins.client) {
  mySkipped = 'MariaDB not found (apt-get install mariadb-server mariadb-client): skipping the MySQL part.';
} else {
  try {
    my = await startMariadb(path.join(dir, 'mariadb'));
  } catch (err) {
    mySkipped = `MariaDB did not start, skipping the MySQL part: ${err.message}`;
    if (my?.child) my.child.kill('SIGKILL');
    my = undefined;
  }
}

async function startMariadb(mydir) {
  fs.mkdirSync(mydir);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(MYSQL|MARIADB)/.test(k)));
  // mariadbd runs as this OS user (as root only with --user=root); no option files are read
  const user = `--user=${os.userInfo().username}`;
  const data = path.join(mydir, 'data');
  const socket = path.join(mydir, 'mysqld.sock');
  const log = path.join(mydir, 'error.log');
  const inst = spawnSync(
    myBins.installDb,
    ['--no-defaults', user, `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve'],
    { encoding: 'utf8', env },
  );
  if (inst.status !== 0) throw new Error(`mariadb-install-db failed: ${inst.stderr || inst.stdout}`);
  const myPort = await freePort();
  const child = spawn(
    myBins.server,
    [
      '--no-defaults', user, `--datadir=${data}`, `--port=${myPort}`, '--bind-address=127.0.0.1', `--socket=${socket}`,
      `--pid-file=${path.join(mydir, 'mysqld.pid')}`, `--log-error=${log}`, '--skip-log-bin', '--skip-name-resolve',
      '--innodb-buffer-pool-size=64M', '--character-set-server=utf8mb4', '--collation-server=utf8mb4_general_ci',
    ],
    { stdio: 'ignore', env, detached: true }, // own process group: Ctrl-C reaches it through cleanup() only
  );
  child.on('error', () => {}); // shows up as an early exit below
  my = { port: myPort, socket, child };
  const mysql = (text) =>
    spawnSync(myBins.client, ['--no-defaults', `--socket=${socket}`, '-uroot', '--batch', '--connect-timeout=2'], {
      input: text,
      encoding: 'utf8',
      env,
      timeout: 30_000,
    });
  for (const deadline = Date.now() + 30_000; ; ) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      const tail = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-2000).trimEnd() : '';
      throw new Error(`mariadbd is not accepting connections${tail ? `\n${tail}` : ''}`);
    }
    if (fs.existsSync(socket) && mysql('SELECT 1;').status === 0) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  const out = mysql(`
    DELETE FROM mysql.global_priv WHERE User = '';
    FLUSH PRIVILEGES;
    CREATE DATABASE shop;
    CREATE USER 'shop_rw'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('shop-secret');
    GRANT ALL PRIVILEGES ON shop.* TO 'shop_rw'@'%';
    CREATE TABLE shop.customers (id int PRIMARY KEY, name varchar(100), email varchar(255), card varchar(32), phone varchar(32));
    INSERT INTO shop.customers VALUES
      (1, 'Alice', 'alice@example.com', '4111 1111 1111 1111', '+1 415 555 0100'),
      (2, 'Bob', 'bob@example.org', '5500 0000 0000 0004', '+44 20 7946 0958');`);
  if (out.status !== 0) throw new Error(out.stderr);
  return my;
}

if (stopping) await new Promise(() => {}); // interrupted during setup: cleanup() exits

const doc = parseDocument(fs.readFileSync(path.join(root, 'examples/portcullis.yaml'), 'utf8'));
doc.set('dataDir', path.join(dir, 'data'));
const connections = doc.get('connections');
const connection = (name) => connections.items.find((c) => c.get('name') === name);
connection('app-db').setIn(['target', 'port'], port);
if (my) {
  connection('shop-db').setIn(['target', 'port'], my.port);
} else {
  connections.items = connections.items.filter((c) => c.get('protocol') !== 'mysql');
  doc.deleteIn(['listen', 'mysql']);
}
const configFile = path.join(dir, 'portcullis.yaml');
fs.writeFileSync(configFile, doc.toString({ lineWidth: 0 }));
process.stderr.write(`
PostgreSQL ${port} (throwaway, in ${dir}) with database "app" and a table "users".
${
  my
    ? `MariaDB ${my.port} (throwaway, in ${path.join(dir, 'mariadb')}) with database "shop" and a table "customers".
The gateway listens on 127.0.0.1:15432 (PostgreSQL) and 127.0.0.1:13306 (MySQL). In another terminal:`
    : `${mySkipped}
The gateway listens on 127.0.0.1:15432. In another terminal:`
}

  PGPASSWORD=alice-secret psql "host=127.0.0.1 port=15432 user=alice dbname=app-db"
  app-db=> SELECT * FROM users;      -- e-mails, SSNs and the card number come back masked
  app-db=> DROP TABLE users;         -- blocked by rule "no-drop"
${
  my
    ? `
  mariadb -h127.0.0.1 -P13306 -u'alice#shop-db' -palice-secret shop
  MySQL [shop]> SELECT * FROM customers;   -- e-mails, card and phone numbers come back masked
  MySQL [shop]> DROP TABLE customers;      -- blocked by rule "no-drop"
`
    : ''
}
`);
gw = spawn(process.execPath, [path.join(root, 'bin/portcullis'), 'start', '-c', configFile], {
  stdio: 'inherit',
  env: { ...process.env, APP_DB_PASSWORD: 'app-secret' },
});
gw.on('exit', async (code) => {
  await cleanup();
  process.exit(code ?? 0);
});
