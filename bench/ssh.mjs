#!/usr/bin/env node
// SSH data-path benchmark, the counterpart of bench/pg.mjs and bench/mysql.mjs. In ONE run, against one throwaway
// OpenSSH sshd (its own temp dir, port and keys; the OS account `pcssh` of test/harness/sshd.ts), it measures:
//   - the throughput of `ssh … 'head -c SIZE /dev/zero' > /dev/null` (--size, default 1 GiB), directly to sshd
//     and through portcullis, with OpenSSH's default cipher, with -c aes128-gcm@openssh.com and with
//     -c chacha20-poly1305@openssh.com (the client's cipher; the gateway→target leg negotiates ssh2's default
//     preference, read from sshd's debug log), best of --runs; one stream per path counted and checked byte for byte;
//   - scp of a --scp-size random file (default 256 MiB) to the target and back, in scp's default (SFTP) mode and
//     with -O (legacy scp protocol), directly and through portcullis, each copy checked with sha256;
//   - the gateway's memory: VmRSS sampled every 200 ms during a SIZE stream, VmHWM (peak RSS) after the runs;
//   - with --profile, where the gateway spent its CPU (node --cpu-prof over the whole run; the profiler costs a little).
// and writes the "SSH" section of bench/RESULTS.md (replaced in place, or appended; the rest of the file is kept).
// The portcullis leg fails soft ("failed: reason") when the gateway cannot run.
//
// usage: node bench/ssh.mjs [--size 1G] [--scp-size 256M] [--runs 2] [--legs direct,portcullis] [--profile]
//                           [--out bench/RESULTS.md] [--keep]
// Needs (Debian): openssh-server, openssh-client, passwd (useradd, chpasswd). Run as root (sshd's privilege
// separation, logging in as another user, creating the account). Portcullis must be built first (npm run build).
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { children, daemon, die, freePort, lastLines, log, logReason, run, runOk, setDefaultEnv, sleep, stopDaemon, stopTree, waitForPort, which } from './proc.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const { values: opt } = parseArgs({
  options: {
    size: { type: 'string', default: '1G' },
    'scp-size': { type: 'string', default: '256M' },
    runs: { type: 'string', default: '2' },
    legs: { type: 'string', default: 'direct,portcullis' },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'RESULTS.md') },
    profile: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 18).join('\n'));
  process.exit(0);
}

/** "1G", "256M", "64MiB", "1048576": bytes (K/M/G/T are powers of 1024, as for head -c). */
function parseSize(s, name) {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(String(s).trim());
  if (!m) die(`${name}: not a size: ${s}`);
  const n = Math.round(Number(m[1]) * 1024 ** ' KMGT'.indexOf((m[2] || ' ').toUpperCase()));
  if (!(n > 0) || !Number.isSafeInteger(n)) die(`${name}: must be > 0: ${s}`);
  return n;
}
const SIZE = parseSize(opt.size, '--size');
const SCP_SIZE = parseSize(opt['scp-size'], '--scp-size');
const RUNS = Math.max(1, Number(opt.runs) || 0);
const LEGS = opt.legs.split(',').map((s) => s.trim()).filter(Boolean);
for (const l of LEGS) if (!['direct', 'portcullis'].includes(l)) die(`unknown leg ${l}`);
if (!LEGS.includes('direct')) LEGS.unshift('direct');

/** The OS account of test/harness/sshd.ts (same password, so a test run beside this one keeps working). */
const SSH_USER = { user: 'pcssh', password: 'pcssh-secret' };
const GW_USER = 'bench';
const GW_CONNECTION = 'bench-ssh';
const AS_ROOT = process.getuid?.() === 0;
/** Absolute: sshd re-executes itself for each connection. */
const SSHD = '/usr/sbin/sshd';
/** The client ciphers measured: OpenSSH's default choice, then two forced ones; goal = portcullis / direct MB/s. */
const CIPHERS = [
  { name: 'default', args: [], goal: 0.85 },
  { name: 'aes128-gcm@openssh.com', args: ['-c', 'aes128-gcm@openssh.com'], goal: 0.7 },
  { name: 'chacha20-poly1305@openssh.com', args: ['-c', 'chacha20-poly1305@openssh.com'], goal: 0.7 },
];
const SCP_MODES = [
  { name: 'SFTP (default)', args: [] },
  { name: 'legacy (-O)', args: ['-O'] },
];
const SAMPLE_MS = 200;
/** Per transfer: 2 minutes plus SIZE at 2 MB/s. */
const timeoutFor = (bytes) => 120_000 + Math.round(bytes / 2e3);
const SECTION_START = '<!-- bench/ssh.mjs: start -->';
const SECTION_END = '<!-- bench/ssh.mjs: end -->';

// ------------------------------------------------------------------------------------------------
// small process helpers (no shell)

function cleanEnv(extra = {}) {
  const env = { ...process.env };
  // no agent, no inherited ssh settings: every login uses the -i key given
  for (const k of Object.keys(env)) if (k.startsWith('SSH_')) delete env[k];
  return { ...env, LC_ALL: 'C.UTF-8', ...extra };
}
setDefaultEnv(() => cleanEnv());

function need(name) {
  const p = which(name);
  if (!p) die(`${name} not found (Debian: openssh-server openssh-client passwd)`);
  return p;
}
if (!AS_ROOT) die('needs root (sshd privilege separation, logging in as another user, creating the account)');
if (!fs.existsSync(SSHD)) die(`${SSHD} not found (Debian: openssh-server)`);
const BIN = {
  ssh: need('ssh'),
  scp: need('scp'),
  keygen: need('ssh-keygen'),
  useradd: need('useradd'),
  chpasswd: need('chpasswd'),
  passwd: need('passwd'),
};

/** A field of /proc/PID/status in KiB (VmRSS, VmHWM), or NaN. */
function statusKiB(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

let clkTck = 100;
/** CPU time (user + system) of a process in seconds, or NaN. */
function cpuSeconds(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // field 3 is f[0]: utime is field 14, stime 15
    return (Number(f[11]) + Number(f[12])) / clkTck;
  } catch {
    return NaN;
  }
}

/** Whole-machine CPU counters from /proc/stat: { busy, total } in ticks. */
function machineTicks() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
  return { busy: total - f[3] - f[4], total };
}
const busyPct = (a, b) => (b.total > a.total ? (100 * (b.busy - a.busy)) / (b.total - a.total) : NaN);

/** Runs `fn` while sampling VmRSS of pid every SAMPLE_MS; returns [fn's result, samples in KiB]. */
async function withRssSamples(pid, fn) {
  const samples = [];
  const take = () => {
    const v = statusKiB(pid, 'VmRSS');
    if (Number.isFinite(v)) samples.push(v);
  };
  if (!pid) return [await fn(), samples];
  take();
  const timer = setInterval(take, SAMPLE_MS);
  try {
    return [await fn(), samples];
  } finally {
    clearInterval(timer);
    take();
  }
}

async function sha256File(file) {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk);
  return h.digest('hex');
}

// ------------------------------------------------------------------------------------------------
// the OS account and the throwaway sshd (as test/harness/sshd.ts: own keys and config, sshd -D -e as our child)

/** useradd / chpasswd, retried while another process holds the /etc/passwd or /etc/shadow lock. */
async function runLocked(cmd, args, input) {
  for (let attempt = 1; ; attempt++) {
    const r = await run(cmd, args, { input, timeoutMs: 30_000 });
    if (r.code === 0) return;
    if (attempt >= 20 || !/lock|try again/i.test(r.stderr)) throw new Error(`${path.basename(cmd)} ${args.join(' ')}: exit ${r.code ?? r.signal}: ${lastLines(r.stderr || r.stdout)}`);
    await sleep(50 * attempt);
  }
}

/** Creates SSH_USER if needed and gives it the harness's password when it has none (a locked account cannot log in). */
async function ensureUser() {
  const { user, password } = SSH_USER;
  if ((await run('id', ['-u', user])).code !== 0) {
    try {
      await runLocked(BIN.useradd, ['-m', '-s', '/bin/bash', user]);
    } catch (e) {
      if ((await run('id', ['-u', user])).code !== 0) throw e; // a parallel harness start may have created it
    }
  }
  const status = (await run(BIN.passwd, ['-S', user])).stdout.trim().split(/\s+/)[1];
  if (status !== 'P') await runLocked(BIN.chpasswd, [], `${user}:${password}\n`);
  const entry = (await runOk('getent', ['passwd', user])).trim().split(':');
  const [uid, gid, home] = [Number(entry[2]), Number(entry[3]), entry[5]];
  if (!home || !Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`unexpected passwd entry for ${user}: ${entry.join(':')}`);
  if (!fs.existsSync(home)) {
    fs.mkdirSync(home, { recursive: true, mode: 0o755 });
    fs.chownSync(home, uid, gid);
  }
  return { uid, gid };
}

async function keygen(file, comment) {
  await runOk(BIN.keygen, ['-q', '-N', '', '-t', 'ed25519', '-C', comment, '-f', file], { timeoutMs: 60_000 });
}

/** 'SHA256:…' of a public key file, as `ssh-keygen -lf` prints it. */
async function fingerprintOf(pubFile) {
  const lf = (await runOk(BIN.keygen, ['-lf', pubFile])).trim();
  const fp = /^\d+ (SHA256:\S+) /.exec(lf)?.[1];
  if (!fp) throw new Error(`unexpected ssh-keygen -lf output: ${lf}`);
  return fp;
}

/** The first two fields ('ssh-ed25519 AAAA…') of a public key file. */
function publicKey(file) {
  const [type, blob] = fs.readFileSync(file, 'utf8').trim().split(/\s+/);
  if (!type || !blob) throw new Error(`no public key in ${file}`);
  return `${type} ${blob}`;
}

function cfgPath(p) {
  if (/["%\s]/.test(p)) throw new Error(`unusable path for sshd_config: ${p}`);
  return `"${p}"`;
}

function sshdConfig(dir, port) {
  const f = (n) => cfgPath(path.join(dir, n));
  return (
    [
      '# written by bench/ssh.mjs',
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${f('ssh_host_ed25519_key')}`,
      `PidFile ${f('sshd.pid')}`,
      `AuthorizedKeysFile ${f('authorized_keys')}`,
      'UsePAM no',
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin no',
      'AllowTcpForwarding no',
      'X11Forwarding no',
      'Subsystem sftp internal-sftp',
      // DEBUG1: the negotiated cipher of every connection ("kex: client->server cipher: …"); nothing per packet
      'LogLevel DEBUG1',
      'MaxStartups 100:30:200',
      'PrintMotd no',
      'PrintLastLog no',
      'UseDNS no',
      'ClientAliveInterval 0',
    ].join('\n') + '\n'
  );
}

/** Resolves with the first line the server sends ('' when it closes, refuses or says nothing within timeoutMs). */
async function readBanner(port, timeoutMs) {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = () => {
      s.removeAllListeners();
      s.on('error', () => {});
      s.destroy();
      resolve(buf.split('\n')[0].replace(/\r$/, ''));
    };
    s.setTimeout(timeoutMs, done);
    s.on('data', (b) => {
      buf += b.toString('latin1');
      if (buf.includes('\n') || buf.length > 255) done();
    });
    s.once('error', () => {
      buf = '';
      done();
    });
    s.once('end', done);
  });
}

async function startSshd(work) {
  const dir = path.join(work, 'sshd');
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755); // sshd reads authorized_keys as the user
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation dir (made at boot only with systemd)
  const f = (n) => path.join(dir, n);
  const [{ uid, gid }] = await Promise.all([
    ensureUser(),
    keygen(f('ssh_host_ed25519_key'), ''),
    keygen(f('id_target'), 'portcullis-bench-target'), // the gateway's key for the target; also the direct leg's key
    keygen(f('id_bench'), 'portcullis-bench-client'), // the portcullis user's key
  ]);
  fs.writeFileSync(f('authorized_keys'), fs.readFileSync(f('id_target.pub'), 'utf8'));
  fs.chmodSync(f('authorized_keys'), 0o644);
  // where scp puts its copies: owned by the account the target logs in as
  const remoteDir = path.join(work, 'remote');
  fs.mkdirSync(remoteDir, { mode: 0o755 });
  fs.chownSync(remoteDir, uid, gid);
  const hostKeyFingerprint = await fingerprintOf(f('ssh_host_ed25519_key.pub'));
  const cfg = f('sshd_config');
  const logFile = f('sshd.log');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    fs.writeFileSync(cfg, sshdConfig(dir, port));
    await runOk(SSHD, ['-t', '-f', cfg], { timeoutMs: 30_000 });
    fs.writeFileSync(logFile, '');
    const child = daemon(SSHD, ['-D', '-e', '-f', cfg], logFile);
    let ok = false;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      if ((await readBanner(port, 2000)).startsWith('SSH-2.0-')) {
        ok = true;
        break;
      }
      await sleep(30);
    }
    if (ok) {
      return {
        port,
        dir,
        logFile,
        remoteDir,
        pid: child.pid,
        hostKeyFingerprint,
        hostPublicKey: publicKey(f('ssh_host_ed25519_key.pub')),
        targetKeyFile: f('id_target'),
        benchKeyFile: f('id_bench'),
        stop: () => stopTree(child, 3000),
      };
    }
    await stopTree(child, 1000);
    const text = fs.readFileSync(logFile, 'utf8');
    if (attempt < 6 && /address already in use|Cannot bind any address/i.test(text)) continue;
    throw new Error(`sshd did not start: ${lastLines(text)}`);
  }
}

// ------------------------------------------------------------------------------------------------
// portcullis

/**
 * A copy of the build (dist/, bin/, package.json; node_modules linked) taken once per run, so that the gateway of
 * the run runs the same code even when dist/ is rebuilt meanwhile. Returns its root, or throws.
 */
let buildCopy = null;
function portcullisBuild(work) {
  if (buildCopy) return buildCopy;
  if (!fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'))) throw new Error('not built (run `npm run build`)');
  const dir = path.join(work, 'portcullis-build');
  let newest = 0;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.js')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  walk(path.join(ROOT, 'dist'));
  fs.mkdirSync(dir, { recursive: true });
  fs.cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'bin'), path.join(dir, 'bin'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return (buildCopy = { root: dir, builtAt: new Date(newest).toISOString().replace(/\.\d+Z$/, 'Z') });
}

function portcullisConfig(dataDir, port, adminPort, sshd) {
  // YAML (JSON is YAML): the schema is src/config/schema.ts.
  return JSON.stringify(
    {
      dataDir,
      logLevel: 'info',
      listen: { ssh: { host: '127.0.0.1', port }, admin: { host: '127.0.0.1', port: adminPort } },
      tls: { mode: 'off' },
      store: { sqlite: path.join(dataDir, 'portcullis.db') },
      identity: { users: [{ name: GW_USER, groups: ['bench'], sshKeys: [publicKey(`${sshd.benchKeyFile}.pub`)] }] },
      connections: [
        {
          name: GW_CONNECTION,
          protocol: 'ssh',
          target: {
            host: '127.0.0.1',
            port: sshd.port,
            user: SSH_USER.user,
            privateKey: fs.readFileSync(sshd.targetKeyFile, 'utf8'),
            hostKey: sshd.hostKeyFingerprint,
          },
          allow: ['bench'],
          guardrails: ['no-rm-root'],
        },
      ],
      guardrails: [{ name: 'no-rm-root', when: { command: 'rm\\s+-[a-z]*r[a-z]*\\s+/(\\s|$)' }, action: 'block' }],
    },
    null,
    2,
  );
}

async function startPortcullis(work, sshd, known) {
  const cli = path.join(portcullisBuild(work).root, 'bin', 'portcullis');
  const dir = path.join(work, 'portcullis');
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const adminPort = await freePort();
  const cfg = path.join(dir, 'portcullis.yaml');
  const dataDir = path.join(dir, 'data');
  fs.writeFileSync(cfg, portcullisConfig(dataDir, port, adminPort, sshd), { mode: 0o600 }); // holds the target's private key
  const logFile = path.join(dir, 'gateway.log');
  const profDir = path.join(dir, 'cpu-profile');
  const child = daemon(process.execPath, [...(opt.profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []), cli, 'start', '-c', cfg], logFile);
  const ep = { leg: 'portcullis', port, user: `${GW_USER}#${GW_CONNECTION}`, key: sshd.benchKeyFile, pid: child.pid, dataDir, logFile, profDir, stop: () => stopDaemon(child) };
  try {
    await waitForPort(port, 30_000, child);
    const hostPub = path.join(dataDir, 'ssh_host_ed25519_key.pub');
    if (!fs.existsSync(hostPub)) throw new Error(`no ${path.basename(hostPub)} in the data dir`);
    fs.appendFileSync(known, `[127.0.0.1]:${port} ${publicKey(hostPub)}\n`);
    // one command end to end, so that a gateway that listens but cannot serve fails here with a reason
    const r = await run(BIN.ssh, [...sshArgs(ep), '127.0.0.1', 'echo portcullis-ok'], { timeoutMs: 30_000 });
    if (r.code !== 0 || r.stdout.trim() !== 'portcullis-ok') throw new Error(`ssh through the gateway: ${lastLines(r.stderr || r.stdout) || `exit ${r.code}`}`);
    // and the gateway really checks the key (the target's key is not the bench user's)
    const bad = await run(BIN.ssh, [...sshArgs({ ...ep, key: sshd.targetKeyFile }), '127.0.0.1', 'echo portcullis-ok'], { timeoutMs: 30_000 });
    if (bad.code === 0) throw new Error('the gateway accepted a key the user does not have');
  } catch (e) {
    await stopDaemon(child);
    const tail = fs.existsSync(logFile) ? logReason(fs.readFileSync(logFile, 'utf8')) : '';
    throw new Error(`${e.message}${tail ? ` (log: ${tail})` : ''}`);
  }
  return ep;
}

/** Size of the recordings in the gateway's data dir; they are deleted after each transfer (see the notes). */
function recordingsBytes(dataDir, remove) {
  const dir = path.join(dataDir, 'recordings');
  let bytes = 0;
  let files = 0;
  if (!fs.existsSync(dir)) return { bytes, files };
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!e.isFile()) continue;
    const p = path.join(dir, e.name);
    bytes += fs.statSync(p).size;
    files++;
    if (remove) fs.rmSync(p, { force: true });
  }
  return { bytes, files };
}

/** What the gateway's audit store recorded (read after the gateway stopped). */
async function auditSummary(dataDir) {
  const file = path.join(dataDir, 'portcullis.db');
  if (!fs.existsSync(file)) return 'no audit database';
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const s = db.prepare("SELECT count(*) AS n, group_concat(DISTINCT auth_method) AS auth FROM sessions WHERE protocol = 'ssh' AND user = ?").get(GW_USER);
    const kinds = db.prepare('SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY n DESC').all();
    return `${s.n} ssh sessions of user \`${GW_USER}\` (auth ${s.auth ?? '—'}), events: ${kinds.map((k) => `${k.kind} ${fmt(k.n)}`).join(', ') || 'none'}`;
  } finally {
    db.close();
  }
}

// ------------------------------------------------------------------------------------------------
// the clients

let KNOWN = '';
/** ssh options of every login: no config file, no prompt, the host key checked against our known_hosts only. */
function sshOpts(ep) {
  return [
    '-F', '/dev/null',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${KNOWN}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'ConnectTimeout=10',
    '-o', 'IdentitiesOnly=yes',
    '-o', `User=${ep.user}`, // scp refuses '#' in user@host: the user always goes in -o User
    '-i', ep.key,
  ];
}
const sshArgs = (ep, extra = []) => [...extra, ...sshOpts(ep), '-o', 'LogLevel=ERROR', '-p', String(ep.port)];

/** The cipher a client negotiated, from `ssh -v`; plus the gateway→target cipher from sshd's log (portcullis). */
async function negotiated(ep, cipher, sshd) {
  const before = fs.statSync(sshd.logFile).size;
  const r = await run(BIN.ssh, ['-v', ...cipher.args, ...sshOpts(ep), '-p', String(ep.port), '127.0.0.1', 'true'], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`ssh -v: ${lastLines(r.stderr.split('\n').filter((l) => !l.startsWith('debug')).join('\n')) || `exit ${r.code}`}`);
  const pick = (text) => {
    const m = /kex: server->client cipher: (\S+) MAC: (\S+)/.exec(text);
    return m ? `${m[1]}${m[2] === '<implicit>' ? '' : ` + ${m[2]}`}` : null;
  };
  await sleep(200); // sshd -e writes its log asynchronously to us
  const fd = fs.openSync(sshd.logFile, 'r');
  const len = fs.fstatSync(fd).size - before;
  const buf = Buffer.alloc(Math.max(0, len));
  fs.readSync(fd, buf, 0, buf.length, before);
  fs.closeSync(fd);
  const sshdText = buf.toString();
  return {
    client: pick(r.stderr) ?? '?',
    clientKex: /kex: algorithm: (\S+)/.exec(r.stderr)?.[1] ?? '?',
    targetKex: /kex: algorithm: (\S+)/.exec(sshdText)?.[1] ?? '?',
    // what the target's sshd saw of the connection made for this login (the gateway's own, on the portcullis leg)
    target: (() => {
      const m = /kex: server->client cipher: (\S+) MAC: (\S+)/.exec(sshdText);
      return m ? `${m[1]}${m[2] === '<implicit>' ? '' : ` + ${m[2]}`}` : '?';
    })(),
    targetSoftware: /remote software version (\S+)/.exec(sshdText)?.[1] ?? '?',
  };
}

/** Login and `true`: wall seconds. */
async function loginTime(ep) {
  const t0 = process.hrtime.bigint();
  const r = await run(BIN.ssh, [...sshArgs(ep), '127.0.0.1', 'true'], { timeoutMs: 30_000 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.code !== 0) throw new Error(`ssh true: ${lastLines(r.stderr) || `exit ${r.code}`}`);
  return s;
}

/** `ssh … 'head -c SIZE /dev/zero' > /dev/null`: wall seconds, with the gateway's CPU and RSS when there is one. */
async function streamOnce(ep, cipher) {
  const cpu0 = ep.pid ? cpuSeconds(ep.pid) : NaN;
  const m0 = machineTicks();
  const t0 = process.hrtime.bigint();
  const [r, samples] = await withRssSamples(ep.pid, () =>
    run(BIN.ssh, [...sshArgs(ep, cipher.args), '127.0.0.1', `head -c ${SIZE} /dev/zero`], { stdout: 'ignore', timeoutMs: timeoutFor(SIZE) }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const busy = busyPct(m0, machineTicks());
  if (r.code !== 0) throw new Error(`ssh ${r.timedOut ? `timed out after ${(timeoutFor(SIZE) / 1000).toFixed(0)} s` : `exit ${r.code ?? r.signal}`}: ${lastLines(r.stderr) || 'no message'}`);
  return { seconds, gwCpu: ep.pid ? cpuSeconds(ep.pid) - cpu0 : NaN, busy, rssMax: samples.length ? Math.max(...samples) : NaN };
}

/**
 * One SIZE stream read by this process: every byte counted and compared with zeros, the gateway's VmRSS sampled
 * every SAMPLE_MS. (Slower than the /dev/null runs: this process reads the pipe.)
 */
function verifiedStream(ep) {
  return new Promise((resolve, reject) => {
    const zero = Buffer.alloc(1 << 20);
    let bytes = 0;
    let bad = -1;
    const err = [];
    const t0 = process.hrtime.bigint();
    const samples = [];
    const take = () => {
      const v = ep.pid ? statusKiB(ep.pid, 'VmRSS') : NaN;
      if (Number.isFinite(v)) samples.push({ t: Number(process.hrtime.bigint() - t0) / 1e9, kib: v, bytes });
    };
    take();
    const timer = setInterval(take, SAMPLE_MS);
    const child = spawn(BIN.ssh, [...sshArgs(ep), '127.0.0.1', `head -c ${SIZE} /dev/zero`], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutFor(SIZE));
    child.stdout.on('data', (b) => {
      for (let off = 0; bad < 0 && off < b.length; off += zero.length) {
        const part = b.subarray(off, off + zero.length);
        if (!part.equals(zero.subarray(0, part.length))) bad = bytes + off + part.findIndex((x) => x !== 0);
      }
      bytes += b.length;
    });
    child.stderr.on('data', (b) => err.push(b));
    child.on('error', (e) => reject(e));
    child.on('close', (code, signal) => {
      clearInterval(timer);
      clearTimeout(killer);
      children.delete(child);
      take();
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const stderr = Buffer.concat(err).toString();
      if (code !== 0) return reject(new Error(`ssh exit ${code ?? signal} after ${fmt(bytes)} bytes: ${lastLines(stderr) || 'no message'}`));
      resolve({ seconds, bytes, bad, samples });
    });
  });
}

/** One scp: wall seconds. */
async function scpOnce(ep, mode, from, to) {
  const t0 = process.hrtime.bigint();
  const r = await run(BIN.scp, [...mode.args, ...sshOpts(ep), '-o', 'LogLevel=ERROR', '-P', String(ep.port), from, to], { stdout: 'ignore', timeoutMs: timeoutFor(SCP_SIZE) });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.code !== 0) throw new Error(`scp ${r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`}: ${lastLines(r.stderr) || 'no message'}`);
  if (r.stderr.trim()) log(`  scp said: ${lastLines(r.stderr)}`);
  return s;
}

/** Upload then download of the random file, each copy checked with sha256 (the target's copy is on this machine). */
async function scpRound(ep, mode, src, srcHash, sshd, work) {
  const tag = `${ep.leg}-${mode.args.length ? 'O' : 'sftp'}`;
  const remote = path.join(sshd.remoteDir, `scp-${tag}.bin`);
  const back = path.join(work, `back-${tag}.bin`);
  try {
    const up = await scpOnce(ep, mode, src, `127.0.0.1:${remote}`);
    const upHash = await sha256File(remote);
    if (upHash !== srcHash) throw new Error(`upload corrupted: sha256 ${upHash.slice(0, 12)}… of ${fmt(fs.statSync(remote).size)} bytes, sent ${srcHash.slice(0, 12)}… of ${fmt(SCP_SIZE)}`);
    const down = await scpOnce(ep, mode, `127.0.0.1:${remote}`, back);
    const downHash = await sha256File(back);
    if (downHash !== srcHash) throw new Error(`download corrupted: sha256 ${downHash.slice(0, 12)}… of ${fmt(fs.statSync(back).size)} bytes, expected ${srcHash.slice(0, 12)}…`);
    return { up, down };
  } finally {
    fs.rmSync(remote, { force: true });
    fs.rmSync(back, { force: true });
  }
}

/**
 * The gateway's .cpuprofile (written when it exits), summed up: busy seconds, and the functions with the most time
 * inclusive (portcullis's own code and ssh2) and self (everything), as 'name file:line' relative to the package.
 */
function profileSummary(profDir) {
  const files = fs.existsSync(profDir) ? fs.readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (!files.length) throw new Error('the gateway wrote no profile');
  const p = JSON.parse(fs.readFileSync(path.join(profDir, files[0]), 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const where = (n) => {
    const url = n.callFrame.url.replace(/^file:\/\//, '');
    const rel = url.includes('/node_modules/') ? url.slice(url.lastIndexOf('/node_modules/') + 14) : url.includes('/dist/') ? `dist/${url.slice(url.lastIndexOf('/dist/') + 6)}` : url;
    return `${n.callFrame.functionName || '(anonymous)'}${rel ? ` ${rel}:${n.callFrame.lineNumber + 1}` : ''}`;
  };
  const perNode = new Map();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    perNode.set(p.samples[i], (perNode.get(p.samples[i]) ?? 0) + dt);
    total += dt;
  }
  const self = new Map();
  const incl = new Map();
  let idle = 0;
  for (const [id, t] of perNode) {
    const n = byId.get(id);
    if (n.callFrame.functionName === '(idle)') {
      idle += t;
      continue;
    }
    const k = where(n);
    self.set(k, (self.get(k) ?? 0) + t);
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const c = byId.get(cur);
      if (!/^(dist\/|ssh2\/)/.test(where(c).split(' ')[1] ?? '')) continue;
      const ck = where(c);
      if (seen.has(ck)) continue;
      seen.add(ck);
      incl.set(ck, (incl.get(ck) ?? 0) + t);
    }
  }
  const busy = total - idle;
  const top = (m, n) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, t]) => ({ fn: k, share: t / busy }));
  return { busySeconds: busy / 1e6, seconds: total / 1e6, inclusive: top(incl, 8), self: top(self, 6) };
}

// ------------------------------------------------------------------------------------------------
// report

const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '—');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '—');
const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const mib = (kib) => fmt(kib / 1024, 1);
const sizeText = (n) => (n % 2 ** 30 === 0 ? `${n / 2 ** 30} GiB` : n % 2 ** 20 === 0 ? `${n / 2 ** 20} MiB` : `${fmt(n)} bytes`);
const mbps = (bytes, s) => bytes / 1e6 / s;

function report(ctx) {
  const { tpRows, loginRows, verifyRows, scpRows, mem, ciphers, info, notes } = ctx;
  const L = [];
  L.push(SECTION_START);
  L.push('## SSH', '');
  const cmd = ['node bench/ssh.mjs', ...process.argv.slice(2)].join(' ');
  L.push(`Generated by \`${cmd}\` on ${info.date}; everything in this section comes from that one run (the ratios compare figures of the same run; the PostgreSQL and MySQL figures above come from other runs).`, '');
  L.push('### Machine', '');
  L.push(`- CPU: ${info.cpu} (nproc ${info.nproc}), memory ${info.memGiB} GiB, Linux ${info.kernel}`);
  L.push(`- Node.js ${info.node}; ${info.openssh} (client and server); ssh2 ${info.ssh2} in the gateway`);
  L.push(`- streams of ${sizeText(SIZE)} (\`head -c ${SIZE} /dev/zero\`), best of ${RUNS}; scp of a ${sizeText(SCP_SIZE)} random file, best of ${RUNS}; MB = 10^6 bytes`);
  L.push(`- every path on this one machine over 127.0.0.1; the ssh client, the gateway, sshd and its session share the cores (through portcullis one more process decrypts and encrypts everything: with ${info.nproc} cores the processes of a path compete for CPU, so the ratios are a floor for a gateway on a host of its own)`);
  L.push(`- load average (1/5/15 min) at the start ${info.loadStart}, at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' / ')} (other work on the machine skews the figures)`, '');

  L.push(`### Throughput: ${sizeText(SIZE)} from the target to /dev/null`, '');
  L.push(`\`ssh [-c CIPHER] … 'head -c ${SIZE} /dev/zero' > /dev/null\`; wall time of the ssh process (login included), best of ${RUNS}; "runs" lists every run. "vs direct" is the MB/s ratio (1.00× = same throughput). "client cipher" is what the ssh client negotiated (from \`ssh -v\`), "gateway → target" what the gateway's ssh2 client negotiated with sshd (from sshd's LogLevel DEBUG1 log; the gateway uses ssh2's default preference whatever the client chose). "gateway CPU" is the gateway's user+system CPU time during the best run; "machine busy" the share of all cores busy during it (/proc/stat).`, '');
  L.push('| client cipher | path | negotiated (client leg) | gateway → target | wall (s) | MB/s | runs (s) | gateway CPU (s) | machine busy | vs direct |');
  L.push('| --- | --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: |');
  for (const c of CIPHERS) {
    const d = tpRows.find((x) => x.leg === 'direct' && x.cipher === c.name && !x.error);
    for (const r of tpRows.filter((x) => x.cipher === c.name)) {
      const neg = ciphers[`${r.leg}/${c.name}`] ?? {};
      const target = r.leg === 'portcullis' ? neg.target ?? '—' : '(same connection)';
      if (r.error) {
        L.push(`| ${c.name} | ${r.leg} | ${cell(neg.client ?? '—')} | ${cell(target)} | failed: ${cell(r.error)} | — | ${r.times?.length ? r.times.map((t) => fmt(t, 2)).join(', ') : '—'} | — | — | — |`);
        continue;
      }
      L.push(
        `| ${c.name} | ${r.leg} | ${cell(neg.client ?? '—')} | ${cell(target)} | ${fmt(r.best.seconds, 2)} | ${fmt(mbps(SIZE, r.best.seconds))} | ${r.times.map((t) => fmt(t, 2)).join(', ')} | ${fmt(r.best.gwCpu, 2)} | ${fmt(r.best.busy)}% | ${ratio(mbps(SIZE, r.best.seconds), d ? mbps(SIZE, d.best.seconds) : NaN)} |`,
      );
    }
  }
  L.push('');
  L.push('Goal: portcullis ≥ 0.85× direct OpenSSH throughput with the default cipher, ≥ 0.70× with aes128-gcm and chacha20-poly1305.', '');
  L.push('| client cipher | direct MB/s | portcullis MB/s | portcullis vs direct | goal | met |');
  L.push('| --- | ---: | ---: | ---: | ---: | --- |');
  for (const c of CIPHERS) {
    const d = tpRows.find((x) => x.leg === 'direct' && x.cipher === c.name && !x.error);
    const p = tpRows.find((x) => x.leg === 'portcullis' && x.cipher === c.name && !x.error);
    const dm = d ? mbps(SIZE, d.best.seconds) : NaN;
    const pm = p ? mbps(SIZE, p.best.seconds) : NaN;
    const met = d && p ? (pm / dm >= c.goal ? 'met' : 'missed') : '—';
    L.push(`| ${c.name} | ${fmt(dm)} | ${fmt(pm)} | ${ratio(pm, dm)} | ≥ ${c.goal.toFixed(2)}× | ${met} |`);
  }
  L.push('');
  if (loginRows.length) {
    L.push(`Login and \`true\` (default cipher), best of ${loginRows[0]?.times?.length ?? 3}: ${loginRows.map((r) => (r.error ? `${r.leg} failed (${cell(r.error)})` : `${r.leg} ${fmt(Math.min(...r.times), 3)} s`)).join(', ')} — included in every wall time above. Key exchange: ${LEGS.map((leg) => {
      const n = ciphers[`${leg}/default`] ?? {};
      return leg === 'portcullis' ? `client → gateway ${n.clientKex ?? '—'}, gateway → target ${n.targetKex ?? '—'}` : `${leg} ${n.clientKex ?? '—'}`;
    }).join('; ')}.`, '');
  }
  if (verifyRows.length) {
    L.push(`Checked stream (default cipher): one more ${sizeText(SIZE)} stream per path read by the benchmark itself, every byte counted and compared with zero (slower than the /dev/null runs: node reads the pipe): ${verifyRows.map((r) => (r.error ? `${r.leg} failed (${cell(r.error)})` : `${r.leg} ${fmt(r.bytes)} bytes, ${r.bad < 0 ? 'all zero' : `**first non-zero byte at ${fmt(r.bad)}**`}, ${fmt(r.seconds, 2)} s`)).join('; ')}.`, '');
  }

  L.push(`### scp: a ${sizeText(SCP_SIZE)} random file to the target and back`, '');
  L.push(`\`scp [-O] … FILE 127.0.0.1:DIR/\` then \`scp [-O] … 127.0.0.1:DIR/FILE back\`; wall time of scp, best of ${RUNS} (login included). "SFTP (default)" is OpenSSH's scp over the sftp subsystem (internal-sftp on the target; through portcullis the gateway parses every SFTP packet to audit the operations), "legacy (-O)" the old scp protocol over an exec channel. Every copy was checked: the sha256 of the target's copy and of the copy brought back equal the original's. "vs direct" is the MB/s ratio.`, '');
  L.push('| mode | path | upload (s) | upload MB/s | download (s) | download MB/s | upload vs direct | download vs direct | sha256 both ways |');
  L.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of scpRows) {
    if (r.error) {
      L.push(`| ${r.mode} | ${r.leg} | failed: ${cell(r.error)} | — | — | — | — | — | — |`);
      continue;
    }
    const d = scpRows.find((x) => x.leg === 'direct' && x.mode === r.mode && !x.error);
    L.push(
      `| ${r.mode} | ${r.leg} | ${fmt(r.up, 2)} | ${fmt(mbps(SCP_SIZE, r.up))} | ${fmt(r.down, 2)} | ${fmt(mbps(SCP_SIZE, r.down))} | ${ratio(mbps(SCP_SIZE, r.up), d ? mbps(SCP_SIZE, d.up) : NaN)} | ${ratio(mbps(SCP_SIZE, r.down), d ? mbps(SCP_SIZE, d.down) : NaN)} | equal |`,
    );
  }
  L.push('');

  L.push('### Gateway memory', '');
  if (mem.error) {
    L.push(`failed: ${cell(mem.error)}`, '');
  } else {
    L.push(`From /proc/PID/status of the one gateway process that carried every portcullis run above: VmRSS (resident set) and VmHWM (its peak since the process started). The stream column samples VmRSS every ${SAMPLE_MS} ms during the checked ${sizeText(SIZE)} stream (default cipher); "during the throughput runs" is the highest sample of the same sampling during every /dev/null stream.`, '');
    L.push(`| RSS idle after start (MiB) | RSS during the ${sizeText(SIZE)} stream: min / median / max (MiB) | samples | max RSS during the throughput runs (MiB) | VmHWM after the streams (MiB) | VmHWM after the scp runs (MiB) | RSS at the end (MiB) |`);
    L.push('| ---: | --- | ---: | ---: | ---: | ---: | ---: |');
    const s = [...(mem.stream ?? [])].map((x) => x.kib).sort((a, b) => a - b);
    const med = s.length ? s[Math.floor(s.length / 2)] : NaN;
    L.push(`| ${mib(mem.idle)} | ${s.length ? `${mib(s[0])} / ${mib(med)} / ${mib(s[s.length - 1])}` : '—'} | ${s.length} | ${mib(mem.tpMax)} | ${mib(mem.hwmStreams)} | ${mib(mem.hwmEnd)} | ${mib(mem.rssEnd)} |`);
    L.push('');
    if (s.length) {
      // RSS against the bytes the client had received when the sample was taken, per quarter of the stream
      const med = (xs) => (xs.length ? [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] : NaN);
      const quarter = [0, 1, 2, 3].map((k) => mem.stream.filter((x) => x.bytes >= (k * SIZE) / 4 && (k === 3 ? true : x.bytes < ((k + 1) * SIZE) / 4)).map((x) => x.kib));
      const qmed = quarter.map(med);
      const qmax = quarter.map((xs) => (xs.length ? Math.max(...xs) : NaN));
      const growth = qmed[3] - qmed[1];
      const late = quarter.slice(1).flat();
      const spread = late.length ? Math.max(...late) - Math.min(...late) : NaN;
      const above = Math.max(...s) - mem.idle;
      let verdict;
      if (!Number.isFinite(growth)) verdict = 'too few samples to judge.';
      else if (above * 1024 > 0.25 * SIZE) verdict = `inconclusive at this size: the gateway's working set (up to ${mib(above)} MiB above idle) is not small beside the ${sizeText(SIZE)} streamed; measure with a larger --size.`;
      else if (growth * 1024 <= Math.max(0.05 * (SIZE / 2), spread * 1024)) verdict = `bounded — the RSS does not grow with the bytes streamed (the spread of ${mib(spread)} MiB within the last three quarters is the garbage collector's sawtooth), and its peak stayed ${mib(above)} MiB above idle for ${sizeText(SIZE)} streamed.`;
      else verdict = '**it grows with the bytes streamed — not bounded**.';
      L.push(
        `VmRSS per quarter of the stream (by the bytes the client had received), median (max): ${qmed.map((v, k) => `${mib(v)} (${mib(qmax[k])})`).join(' / ')} MiB. ` +
          (Number.isFinite(growth) ? `From the second quarter to the last the median moved by ${growth >= 0 ? '+' : ''}${mib(growth)} MiB while ${sizeText(SIZE / 2)} more went through: ` : '') +
          verdict,
        '',
      );
    }
    if (Number.isFinite(mem.carried) && mem.carried > 0) L.push(`In all the gateway carried ${fmt(mem.carried / 2 ** 30, 1)} GiB (the streams and the scp copies) and its VmHWM ended at ${mib(mem.hwmEnd)} MiB.`, '');
  }

  L.push('### Setup', '');
  L.push(`- direct: OpenSSH's sshd started by the script (\`${SSHD} -D -e\`, own config, ed25519 host key, \`Subsystem sftp internal-sftp\`, UsePAM no, LogLevel DEBUG1), public-key login as the OS user \`${SSH_USER.user}\` (the account of test/harness/sshd.ts).`);
  L.push(`- portcullis: \`node bin/portcullis start\`, SSH listener, local user \`${GW_USER}\` with an ed25519 key in \`sshKeys\`, client user \`${GW_USER}#${GW_CONNECTION}\`, connection target = the same sshd with the gateway-held private key and the pinned host key fingerprint (\`ssh-keygen -lf\`), one exec guardrail, SQLite audit store, logLevel info.`);
  L.push('- clients: OpenSSH `ssh`/`scp` with `-F /dev/null`, BatchMode, the host key checked against a known_hosts file of the run, `-o User=…` (scp refuses `#` in user@host).');
  for (const n of notes) L.push(`- ${n}`);
  L.push('', SECTION_END);
  return L.join('\n');
}

/** Replaces this script's section of the results file in place, or appends it; the rest is kept. */
function writeSection(file, md) {
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const a = old.indexOf(SECTION_START);
  const b = old.indexOf(SECTION_END);
  let text;
  if (a >= 0 && b > a) text = old.slice(0, a) + md + old.slice(b + SECTION_END.length);
  else text = old ? `${old.replace(/\n*$/, '')}\n\n${md}\n` : `# Benchmark results\n\n${md}\n`;
  fs.writeFileSync(file, text);
}

async function machineInfo() {
  let openssh = 'OpenSSH: unknown';
  try {
    const r = await run(BIN.ssh, ['-V'], { timeoutMs: 10_000 });
    openssh = (r.stderr || r.stdout).trim().split('\n')[0];
  } catch {}
  let ssh2 = '?';
  try {
    ssh2 = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'ssh2', 'package.json'), 'utf8')).version;
  } catch {}
  try {
    clkTck = Number((await runOk('getconf', ['CLK_TCK'])).trim()) || 100;
  } catch {}
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    loadStart: os.loadavg().map((x) => x.toFixed(2)).join(' / '),
    cpu: os.cpus()[0]?.model?.replace(/\s+/g, ' ').trim() ?? 'unknown',
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    memGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    kernel: os.release(),
    node: process.version,
    openssh,
    ssh2,
  };
}

// ------------------------------------------------------------------------------------------------

async function main() {
  const tStart = Date.now();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-bench-ssh-'));
  fs.chmodSync(work, 0o755);
  const notes = [];
  const tpRows = [];
  const loginRows = [];
  const verifyRows = [];
  const scpRows = [];
  const ciphers = {};
  const mem = {};
  let sshd;
  let gw = null;
  let gwError = null;
  const info = await machineInfo();
  const cleanup = async () => {
    await gw?.stop();
    await sshd?.stop(); // first: the tree of sshd is found through the listener while it lives
    for (const c of children) c.kill('SIGKILL');
    if (!opt.keep) fs.rmSync(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => cleanup().finally(() => process.exit(130)));
  process.once('SIGTERM', () => cleanup().finally(() => process.exit(143)));
  try {
    log(`work dir ${work}`);
    sshd = await startSshd(work);
    log(`sshd on 127.0.0.1:${sshd.port} (host key ${sshd.hostKeyFingerprint})`);
    KNOWN = path.join(work, 'known_hosts');
    fs.writeFileSync(KNOWN, `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
    const direct = { leg: 'direct', port: sshd.port, user: SSH_USER.user, key: sshd.targetKeyFile, pid: null };
    const r0 = await run(BIN.ssh, [...sshArgs(direct), '127.0.0.1', 'id -un'], { timeoutMs: 30_000 });
    if (r0.code !== 0 || r0.stdout.trim() !== SSH_USER.user) throw new Error(`direct login: ${lastLines(r0.stderr || r0.stdout) || `exit ${r0.code}`}`);

    if (LEGS.includes('portcullis')) {
      try {
        gw = await startPortcullis(work, sshd, KNOWN);
        log(`portcullis on 127.0.0.1:${gw.port} (pid ${gw.pid})`);
        await sleep(1000);
        mem.idle = statusKiB(gw.pid, 'VmRSS');
      } catch (e) {
        gwError = e.message.split('\n')[0];
        log(`portcullis: cannot start: ${gwError}`);
        mem.error = gwError;
      }
    }
    const eps = LEGS.map((leg) => (leg === 'direct' ? direct : gw));

    // negotiated ciphers and login time
    for (const c of CIPHERS) {
      for (const [i, leg] of LEGS.entries()) {
        if (!eps[i]) continue;
        try {
          ciphers[`${leg}/${c.name}`] = await negotiated(eps[i], c, sshd);
          const n = ciphers[`${leg}/${c.name}`];
          log(`${leg}, client cipher ${c.name}: negotiated ${n.client} (kex ${n.clientKex})${leg === 'portcullis' ? `; gateway → target ${n.target} (kex ${n.targetKex}, ${n.targetSoftware})` : ''}`);
        } catch (e) {
          log(`${leg}, client cipher ${c.name}: ${e.message}`);
          ciphers[`${leg}/${c.name}`] = { client: `failed: ${e.message.split('\n')[0]}` };
        }
      }
    }
    for (const [i, leg] of LEGS.entries()) {
      if (!eps[i]) {
        loginRows.push({ leg, error: gwError });
        continue;
      }
      try {
        const times = [];
        for (let k = 0; k < 3; k++) times.push(await loginTime(eps[i]));
        loginRows.push({ leg, times });
        log(`${leg}: login + true ${times.map((t) => t.toFixed(3)).join(', ')} s`);
      } catch (e) {
        loginRows.push({ leg, error: e.message.split('\n')[0] });
      }
    }

    // throughput: the legs interleaved within each run, so that drift of the machine's load hits both alike
    let tpMax = NaN;
    for (const c of CIPHERS) {
      const rows = LEGS.map((leg) => ({ leg, cipher: c.name, runs: [], times: [], error: eps[LEGS.indexOf(leg)] ? null : gwError }));
      for (let k = 0; k < RUNS; k++) {
        for (const [i, leg] of LEGS.entries()) {
          const row = rows[i];
          if (!eps[i] || row.error) continue;
          log(`${leg}: ${sizeText(SIZE)} stream, client cipher ${c.name}, run ${k + 1}/${RUNS}`);
          try {
            const r = await streamOnce(eps[i], c);
            row.runs.push(r);
            row.times.push(r.seconds);
            if (leg === 'portcullis') mem.carried = (mem.carried ?? 0) + SIZE;
            if (leg === 'portcullis') tpMax = Math.max(Number.isFinite(tpMax) ? tpMax : 0, r.rssMax);
            log(`  ${r.seconds.toFixed(2)} s, ${fmt(mbps(SIZE, r.seconds))} MB/s${leg === 'portcullis' ? `, gateway CPU ${r.gwCpu.toFixed(2)} s, RSS max ${mib(r.rssMax)} MiB` : ''}, machine busy ${fmt(r.busy)}%`);
          } catch (e) {
            const why = e.message.split('\n')[0];
            const tail = leg === 'portcullis' && fs.existsSync(gw.logFile) ? logReason(fs.readFileSync(gw.logFile, 'utf8')) : '';
            log(`  failed: ${why}${tail ? ` (gateway log: ${tail})` : ''}`);
            row.error = `${why}${tail ? ` (gateway log: ${tail})` : ''}`;
          } finally {
            if (leg === 'portcullis') {
              const rec = recordingsBytes(gw.dataDir, true);
              if (rec.files) (mem.recordings ??= []).push(rec.bytes);
            }
          }
        }
      }
      for (const row of rows) {
        if (row.runs.length) {
          row.best = row.runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
          if (row.error) {
            // the best completed run stands; the failure is noted
            notes.push(`**${row.leg}, client cipher ${c.name}: run ${row.runs.length + 1} failed: ${cell(row.error)}** (the figures come from the runs before it).`);
            row.error = null;
          }
        }
        tpRows.push(row);
      }
    }
    mem.tpMax = tpMax;

    // the checked stream, with the gateway's RSS sampled
    for (const [i, leg] of LEGS.entries()) {
      if (!eps[i]) {
        verifyRows.push({ leg, error: gwError });
        continue;
      }
      log(`${leg}: checked ${sizeText(SIZE)} stream${leg === 'portcullis' ? `, gateway RSS every ${SAMPLE_MS} ms` : ''}`);
      try {
        const r = await verifiedStream(eps[i]);
        verifyRows.push({ leg, ...r });
        if (leg === 'portcullis') mem.carried = (mem.carried ?? 0) + r.bytes;
        if (r.bytes !== SIZE || r.bad >= 0) notes.push(`**warning: the checked stream through ${leg} delivered ${fmt(r.bytes)} bytes of ${fmt(SIZE)}${r.bad >= 0 ? `, the first non-zero at ${fmt(r.bad)}` : ''}.**`);
        if (leg === 'portcullis') mem.stream = r.samples;
        const kib = r.samples.map((x) => x.kib);
        log(`  ${fmt(r.bytes)} bytes, ${r.bad < 0 ? 'all zero' : `non-zero at ${r.bad}`}, ${r.seconds.toFixed(2)} s${kib.length ? `; RSS ${mib(Math.min(...kib))}..${mib(Math.max(...kib))} MiB over ${kib.length} samples` : ''}`);
      } catch (e) {
        log(`  failed: ${e.message}`);
        verifyRows.push({ leg, error: e.message.split('\n')[0] });
      } finally {
        if (leg === 'portcullis') {
          const rec = recordingsBytes(gw.dataDir, true);
          if (rec.files) (mem.recordings ??= []).push(rec.bytes);
        }
      }
    }
    if (gw) mem.hwmStreams = statusKiB(gw.pid, 'VmHWM');

    // scp both ways, each copy checked
    const src = path.join(work, 'random.bin');
    {
      const fd = fs.openSync(src, 'w');
      const chunk = Buffer.alloc(1 << 20);
      for (let left = SCP_SIZE; left > 0; left -= chunk.length) fs.writeSync(fd, randomFillSync(chunk), 0, Math.min(left, chunk.length));
      fs.closeSync(fd);
    }
    const srcHash = await sha256File(src);
    for (const mode of SCP_MODES) {
      const rows = LEGS.map((leg) => ({ leg, mode: mode.name, rounds: [], error: eps[LEGS.indexOf(leg)] ? null : gwError }));
      for (let k = 0; k < RUNS; k++) {
        for (const [i, leg] of LEGS.entries()) {
          const row = rows[i];
          if (!eps[i] || row.error) continue;
          log(`${leg}: scp ${mode.name} of ${sizeText(SCP_SIZE)}, run ${k + 1}/${RUNS}`);
          try {
            const r = await scpRound(eps[i], mode, src, srcHash, sshd, work);
            row.rounds.push(r);
            if (leg === 'portcullis') mem.carried = (mem.carried ?? 0) + 2 * SCP_SIZE;
            log(`  up ${r.up.toFixed(2)} s (${fmt(mbps(SCP_SIZE, r.up))} MB/s), down ${r.down.toFixed(2)} s (${fmt(mbps(SCP_SIZE, r.down))} MB/s), sha256 equal both ways`);
          } catch (e) {
            const why = e.message.split('\n')[0];
            const tail = leg === 'portcullis' && fs.existsSync(gw.logFile) ? logReason(fs.readFileSync(gw.logFile, 'utf8')) : '';
            log(`  failed: ${why}${tail ? ` (gateway log: ${tail})` : ''}`);
            row.error = `${why}${tail ? ` (gateway log: ${tail})` : ''}`;
          } finally {
            if (leg === 'portcullis') {
              const rec = recordingsBytes(gw.dataDir, true);
              if (rec.files) (mem.scpRecordings ??= []).push(rec.bytes);
            }
          }
        }
      }
      for (const row of rows) {
        // a failed round (corruption included) fails the row: its times would not mean anything
        if (!row.error) Object.assign(row, { up: Math.min(...row.rounds.map((x) => x.up)), down: Math.min(...row.rounds.map((x) => x.down)) });
        scpRows.push(row);
      }
    }
    fs.rmSync(src, { force: true });

    if (gw) {
      mem.hwmEnd = statusKiB(gw.pid, 'VmHWM');
      mem.rssEnd = statusKiB(gw.pid, 'VmRSS');
      log(`portcullis: VmHWM ${mib(mem.hwmEnd)} MiB, VmRSS ${mib(mem.rssEnd)} MiB at the end`);
      await gw.stop();
      if (opt.profile) {
        try {
          const pr = profileSummary(gw.profDir);
          const list = (xs) => xs.map((x) => `\`${cell(x.fn)}\` ${(100 * x.share).toFixed(0)}%`).join(', ');
          notes.push(
            `CPU profile of the gateway (\`--profile\`: node --cpu-prof over the whole run, so the figures above carry the profiler's small cost): busy ${pr.busySeconds.toFixed(1)} s of ${pr.seconds.toFixed(1)} s. Share of the busy time, inclusive (portcullis and ssh2 code): ${list(pr.inclusive)}. Self time: ${list(pr.self)}.`,
          );
          log(`  profile: busy ${pr.busySeconds.toFixed(1)} s; ${list(pr.inclusive.slice(0, 4))}`);
        } catch (e) {
          notes.push(`CPU profile of the gateway: ${e.message}.`);
        }
      }
      try {
        const s = await auditSummary(gw.dataDir);
        notes.push(`portcullis audit store after the runs: ${s}.`);
        log(`  audit: ${s}`);
      } catch (e) {
        notes.push(`portcullis audit store: cannot read (${e.message.split('\n')[0]}).`);
      }
      const warn = (fs.existsSync(gw.logFile) ? fs.readFileSync(gw.logFile, 'utf8') : '')
        .split('\n')
        .filter((l) => {
          try {
            const j = JSON.parse(l);
            return (j.level ?? 0) >= 40 && !/^not yet enforced:/.test(j.msg ?? '');
          } catch {
            return l.trim() !== '';
          }
        })
        .join('\n');
      if (warn) {
        const n = warn.split('\n').length;
        log(`  gateway log: ${n} line(s) at warn+, last: ${logReason(warn)}`);
        notes.push(`the gateway logged ${n} line(s) at warn or above during the runs (startup notices aside); the last: \`${cell(logReason(warn))}\`.`);
      } else {
        notes.push('the gateway logged no warning or error during the runs (startup notices about features not built yet aside).');
      }
    }
    if (mem.recordings?.length) {
      const max = Math.max(...mem.recordings);
      notes.push(
        `the gateway records every exec channel as asciicast (\`dataDir/recordings\`), output included: each ${sizeText(SIZE)} stream of zeros left a recording of up to ${fmt(max / 2 ** 30, 2)} GiB (${(max / SIZE).toFixed(1)} bytes on disk per byte streamed: every NUL is written as \`\\u0000\`). That work is part of every portcullis figure above; the benchmark deleted each recording after its run to keep the disk from filling.`,
      );
    }
    if (mem.scpRecordings?.length) notes.push(`recordings left by the scp runs (legacy -O is an exec channel, so recorded): up to ${fmt(Math.max(...mem.scpRecordings) / 2 ** 20, 1)} MiB per round trip of ${sizeText(SCP_SIZE)} each way.`);
    if (buildCopy) notes.push(`portcullis ran from a copy of \`dist/\` taken at the start of the run (newest compiled file ${buildCopy.builtAt}).`);
    notes.push(`the whole run took ${((Date.now() - tStart) / 1000).toFixed(0)} s.`);
    const md = report({ tpRows, loginRows, verifyRows, scpRows, mem, ciphers, info, notes });
    writeSection(opt.out, md);
    log(`wrote the SSH section of ${path.relative(process.cwd(), opt.out) || opt.out}`);
  } finally {
    await cleanup();
  }
}

main().catch((e) => {
  console.error(`bench: ${e.stack ?? e}`);
  process.exit(1);
});
