// Throwaway OpenSSH servers for integration tests (DESIGN "Throwaway servers without Docker").
// Each startSshd() call gets its own temp dir (host keys, client keys, authorized_keys, sshd_config,
// pid file, log) and its own TCP port on 127.0.0.1, so parallel vitest workers never share anything
// but the OS account. We run as root: sshd needs it for privilege separation and to log in as
// another user. Every server lets the OS user SSH_USER in with its password and with either client
// key; root may not log in. sshd runs in the foreground (-D) as our child, logging to DIR/sshd.log.
/// <reference path="./provided-context.d.ts" />
import { spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  chownSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, run, runOk } from './processes.js';

export { freePort } from './processes.js';

/** What tests receive through inject('sshd'): plain data, no functions. */
export interface SshdInfo {
  host: string; // always 127.0.0.1
  port: number;
  /** The server's temp dir: keys, authorized_keys, sshd_config, sshd.pid and sshd.log (see sshdLogFile()). */
  dir: string;
  /** The OS account tests log in as (SSH_USER.user), and its password. */
  user: string;
  password: string;
  /** An ed25519 client private key (mode 0600, owned by root: ssh refuses it for other users) listed in authorized_keys. */
  privateKeyFile: string;
  /** An RSA 3072 client private key (mode 0600, owned by root), also listed in authorized_keys. */
  privateKeyRsaFile: string;
  /** 'SHA256:…' of the ed25519 host key, as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  /** The ed25519 host key as 'ssh-ed25519 AAAA…' (no comment): a known_hosts line is `[127.0.0.1]:PORT <this>`. */
  hostPublicKey: string;
  /** Whether the server offers the sftp subsystem (internal-sftp; also what scp uses by default). */
  sftpServer: boolean;
}

export interface SshdServer extends SshdInfo {
  stop(): Promise<void>;
}

/** The OS account every server lets in (created on first use; its password is (re)set on every start). */
export const SSH_USER = { user: 'pcssh', password: 'pcssh-secret' } as const;

/** The sshd binary; re-exec for each connection requires starting it with an absolute path. */
const SSHD = '/usr/sbin/sshd';

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const binCache = new Map<string, string>();
/** Resolves a system program through PATH (plus the sbin dirs, which a non-root PATH may lack). */
function sysBin(name: string): string {
  const hit = binCache.get(name);
  if (hit) return hit;
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      accessSync(p, constants.X_OK);
      binCache.set(name, p);
      return p;
    } catch {
      /* next */
    }
  }
  throw new Error(`${name} not found in PATH (install openssh-server, openssh-client and passwd)`);
}

/** The path of a server's log (sshd -e: its stderr and that of its per-connection processes). */
export function sshdLogFile(info: SshdInfo): string {
  return path.join(info.dir, 'sshd.log');
}

/** The known_hosts line for a server's ed25519 host key (host pattern `[127.0.0.1]:PORT`). */
export function knownHostsLine(info: SshdInfo): string {
  return `[${info.host}]:${info.port} ${info.hostPublicKey}`;
}

/**
 * The -o options every test's ssh / scp / sftp should pass: no prompts, the host key checked against
 * `knownHostsFile` only (write knownHostsLine(info) into it), quiet, and a connect timeout. No port,
 * user or key: add -p/-P, user@ and -i yourself. ssh takes the FIRST value of an option, so put
 * overrides before these (e.g. `-o BatchMode=no` for a password login through sshpass).
 */
export function sshArgs(info: SshdInfo, knownHostsFile: string): string[] {
  void info; // the same options fit every harness server; kept in the signature for host-specific ones
  return ['-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHostsFile}`, '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10'];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs an account tool (useradd, chpasswd) until it succeeds: parallel starts in other vitest
 * processes may hold the /etc/passwd or /etc/shadow lock for a moment ("cannot lock …; try again later").
 */
async function runLocked(cmd: string, args: string[], input?: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const r = await run(sysBin(cmd), args, { input, timeoutMs: 30_000 });
    if (r.code === 0) return;
    if (attempt >= 20 || !/lock|try again/i.test(r.stderr)) {
      throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code ?? r.signal}\n${r.stderr.trim() || r.stdout.trim()}`);
    }
    await sleep(50 * attempt);
  }
}

/** Creates SSH_USER if needed, (re)sets its password (an account without one is locked), and makes sure its home exists and is its own. */
async function ensureUser(): Promise<void> {
  const { user, password } = SSH_USER;
  if ((await run('id', ['-u', user])).code !== 0) {
    try {
      await runLocked('useradd', ['-m', '-s', '/bin/bash', user]);
    } catch (e) {
      // a parallel start may have created it in the meantime (useradd: exit 9, already exists)
      if ((await run('id', ['-u', user])).code !== 0) throw e;
    }
  }
  await runLocked('chpasswd', [], `${user}:${password}\n`);
  const entry = (await runOk('getent', ['passwd', user])).trim().split(':');
  const [uid, gid, home] = [Number(entry[2]), Number(entry[3]), entry[5]];
  if (!home || !Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`unexpected passwd entry for ${user}: ${entry.join(':')}`);
  if (!existsSync(home)) {
    mkdirSync(home, { recursive: true });
    chmodSync(home, 0o755);
  }
  const st = statSync(home);
  if (st.uid !== uid || st.gid !== gid) chownSync(home, uid, gid);
}

/** `ssh-keygen -q -N ''` into `file` (+ `file.pub`). */
async function keygen(file: string, type: 'ed25519' | 'rsa', comment: string): Promise<void> {
  await runOk('ssh-keygen', ['-q', '-N', '', '-t', type, ...(type === 'rsa' ? ['-b', '3072'] : []), '-C', comment, '-f', file], { timeoutMs: 60_000 });
}

/** The first two fields ('ssh-ed25519 AAAA…') of a public key file. */
function publicKey(file: string): string {
  const [type, blob] = readFileSync(file, 'utf8').trim().split(/\s+/);
  if (!type || !blob) throw new Error(`no public key in ${file}`);
  return `${type} ${blob}`;
}

/** A path as an sshd_config argument: double-quoted (sshd has no escape for a quote, and expands %-tokens, so refuse those). */
function cfgPath(p: string): string {
  if (/["%]/.test(p)) throw new Error(`unusable path for sshd_config: ${p}`);
  return `"${p}"`;
}

function sshdConfig(dir: string, port: number): string {
  const f = (n: string) => cfgPath(path.join(dir, n));
  return (
    [
      '# written by test/harness/sshd.ts',
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${f('ssh_host_ed25519_key')}`,
      `HostKey ${f('ssh_host_rsa_key')}`,
      `PidFile ${f('sshd.pid')}`,
      `AuthorizedKeysFile ${f('authorized_keys')}`,
      'UsePAM no',
      'StrictModes no',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication yes',
      'PubkeyAuthentication yes',
      'PermitRootLogin no',
      'AllowTcpForwarding yes',
      'X11Forwarding no',
      'Subsystem sftp internal-sftp',
      'LogLevel VERBOSE',
      'MaxStartups 100:30:200',
      'MaxSessions 50',
      'AcceptEnv LANG LC_* PORTCULLIS_TEST_*',
      'PrintMotd no',
      'PrintLastLog no',
      'UseDNS no',
      'ClientAliveInterval 0',
    ].join('\n') + '\n'
  );
}

// --- processes ------------------------------------------------------------------------------------
// sshd forks one process per connection (which calls setsid and outlives the listener), and those
// start the user's commands. stop() and the exit hook therefore end the whole tree under the
// listener, found through /proc while the listener still lives. A pid is identified together with
// its start time, so a pid reused meanwhile is never signalled.

interface Proc {
  pid: number;
  start: string;
}

function procStat(pid: number): { state: string; ppid: number; start: string } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' '); // fields 3… (state, ppid, …)
    return { state: rest[0] ?? '', ppid: Number(rest[1]), start: rest[19] ?? '' }; // field 22: starttime
  } catch {
    return undefined;
  }
}

/** Every live descendant of `root` (children before grandchildren). Empty where there is no /proc. */
function descendants(root: number): Proc[] {
  const children = new Map<number, Proc[]>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    const st = procStat(Number(n));
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push({ pid: Number(n), start: st.start });
    children.set(st.ppid, list);
  }
  const out: Proc[] = [];
  const queue = [root];
  while (queue.length) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c.pid);
    }
  }
  return out;
}

/** Whether the process still runs (a zombie does not: an orphan waits for PID 1 to reap it). */
function alive(p: Proc): boolean {
  const st = procStat(p.pid);
  return st !== undefined && st.start === p.start && st.state !== 'Z';
}

function signal(procs: Proc[], sig: NodeJS.Signals): void {
  for (const p of procs) {
    if (!alive(p)) continue; // gone (or the pid is someone else's now)
    try {
      process.kill(p.pid, sig);
    } catch {
      /* already gone */
    }
  }
}

// Servers still running in this process: killed synchronously if the process exits without stop().
const live = new Map<string, ChildProcess>(); // dir -> sshd listener
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [dir, child] of live) {
      try {
        const tree = child.pid ? descendants(child.pid) : [];
        child.kill('SIGKILL');
        signal(tree, 'SIGKILL');
      } catch {
        /* already gone */
      }
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  });
}

function isAddrInUse(log: string): boolean {
  return /address already in use|Cannot bind any address/i.test(log);
}

function tail(file: string, chars = 4000): string {
  return existsSync(file) ? readFileSync(file, 'utf8').slice(-chars) : '(no log)';
}

/** Resolves when the child has exited (immediately if it already has), or false after timeoutMs. */
function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/**
 * Ends the listener (SIGTERM, SIGKILL after termMs) and every process it forked (sessions, users'
 * commands: SIGTERM with the listener, SIGKILL once it is gone); resolves when they have all died.
 */
async function terminate(child: ChildProcess, termMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const tree = child.pid ? descendants(child.pid) : [];
  child.kill('SIGTERM');
  signal(tree, 'SIGTERM');
  if (!(await waitExit(child, termMs))) {
    child.kill('SIGKILL');
    await waitExit(child, 5_000);
  }
  signal(tree, 'SIGKILL');
  for (const deadline = Date.now() + 5_000; tree.some(alive) && Date.now() < deadline; ) await sleep(10); // SIGKILL is not instant on a busy machine
}

/** Connects once; resolves with the first line the server sends ('' when it closes, times out or refuses). */
function readBanner(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let buf = '';
    const done = () => {
      s.removeAllListeners();
      s.on('error', () => {});
      s.destroy();
      resolve(buf.split('\n')[0]!.replace(/\r$/, ''));
    };
    s.setTimeout(timeoutMs, done);
    s.on('data', (b: Buffer) => {
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

/** Waits until sshd accepts a connection on host:port and greets with an SSH-2.0 banner; fails when it dies first. */
async function waitBanner(child: ChildProcess, host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`sshd exited (${child.exitCode ?? child.signalCode}) before accepting connections`);
    }
    const line = await readBanner(host, port, Math.max(100, Math.min(2_000, deadline - Date.now())));
    if (line.startsWith('SSH-2.0-')) return;
    if (line) last = line;
    await sleep(30);
  }
  throw new Error(`sshd sent no SSH-2.0 banner on ${host}:${port} within ${timeoutMs} ms${last ? ` (got ${JSON.stringify(last)})` : ''}`);
}

/**
 * Starts a throwaway sshd on 127.0.0.1 (ed25519 and RSA host keys, password and public-key login
 * for SSH_USER, sftp, TCP forwarding). Needs root and openssh-server.
 */
export async function startSshd(): Promise<SshdServer> {
  if (!asRoot) throw new Error('startSshd() needs root (sshd privilege separation, logging in as another user, creating the account)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'portcullis-sshd-'));
  const f = (n: string) => path.join(dir, n);
  const cfg = f('sshd_config');
  const logFile = f('sshd.log');
  let child: ChildProcess | undefined;
  try {
    chmodSync(dir, 0o755); // sshd reads authorized_keys as the user
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation dir (Debian's tmpfiles.d makes it at boot only with systemd)
    await Promise.all([
      ensureUser(),
      keygen(f('ssh_host_ed25519_key'), 'ed25519', ''),
      keygen(f('ssh_host_rsa_key'), 'rsa', ''),
      keygen(f('id_ed25519'), 'ed25519', 'portcullis-test-ed25519'),
      keygen(f('id_rsa'), 'rsa', 'portcullis-test-rsa'),
    ]);
    writeFileSync(f('authorized_keys'), readFileSync(f('id_ed25519.pub'), 'utf8') + readFileSync(f('id_rsa.pub'), 'utf8'));
    chmodSync(f('authorized_keys'), 0o644);
    const hostPublicKey = publicKey(f('ssh_host_ed25519_key.pub'));
    const lf = (await runOk('ssh-keygen', ['-lf', f('ssh_host_ed25519_key.pub')])).trim();
    const hostKeyFingerprint = /^\d+ (SHA256:\S+) /.exec(lf)?.[1];
    if (!hostKeyFingerprint) throw new Error(`unexpected ssh-keygen -lf output: ${lf}`);

    let port = 0;
    let sftpServer = false;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      writeFileSync(cfg, sshdConfig(dir, port));
      const test = await run(SSHD, ['-t', '-f', cfg], { timeoutMs: 30_000 });
      if (test.code !== 0) throw new Error(`${SSHD} -t -f ${cfg}: exit ${test.code ?? test.signal}\n${test.stderr.trim() || test.stdout.trim()}`);
      if (attempt === 1) sftpServer = /^subsystem sftp \S/m.test(await runOk(SSHD, ['-T', '-f', cfg], { timeoutMs: 30_000 }));

      const logFd = openSync(logFile, 'w');
      try {
        child = spawn(SSHD, ['-D', '-e', '-f', cfg], { stdio: ['ignore', logFd, logFd] });
      } finally {
        closeSync(logFd);
      }
      child.unref(); // never keeps the test process alive; the exit hook below kills it
      child.on('error', () => {}); // a spawn failure shows up as an early exit in waitBanner
      live.set(dir, child);
      installExitHook();
      try {
        await waitBanner(child, '127.0.0.1', port, 10_000);
        break;
      } catch (e) {
        await terminate(child, 1_000);
        live.delete(dir);
        const log = tail(logFile);
        if (attempt < 6 && isAddrInUse(log)) continue; // another process took the port between freePort() and bind(): try another one
        throw new Error(`${(e as Error).message}\n--- ${logFile} ---\n${log}`);
      }
    }

    const info: SshdInfo = {
      host: '127.0.0.1',
      port,
      dir,
      user: SSH_USER.user,
      password: SSH_USER.password,
      privateKeyFile: f('id_ed25519'),
      privateKeyRsaFile: f('id_rsa'),
      hostKeyFingerprint,
      hostPublicKey,
      sftpServer,
    };
    const server = child;
    let stopped = false;
    return {
      ...info,
      async stop() {
        if (stopped) return;
        stopped = true;
        await terminate(server, 3_000);
        live.delete(dir);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    if (child) {
      await terminate(child, 1_000);
      live.delete(dir);
    }
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
