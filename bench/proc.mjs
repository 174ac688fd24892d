// Process helpers shared by the benchmarks (no shell): run a program and collect its output, long-running
// daemons that are killed on exit, free ports, waiting for a listener.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** Every child started through these helpers, so the caller can kill what is left on exit. */
export const children = new Set();

let envFor = () => ({ ...process.env });
/** The environment children get unless a call passes its own (each benchmark strips its clients' variables). */
export function setDefaultEnv(fn) {
  envFor = fn;
}
const cleanEnv = () => envFor();

export function die(msg) {
  console.error(`bench: ${msg}`);
  process.exit(2);
}
export const log = (msg) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function run(cmd, args, { env, input, timeoutMs = 120_000, stdout = 'pipe' } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: env ?? cleanEnv(), stdio: ['pipe', stdout, 'pipe'] });
    children.add(child);
    const out = [];
    const err = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout?.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => err.push(b));
    child.stdin.on('error', () => {});
    child.on('error', (e) => {
      clearTimeout(timer);
      children.delete(child);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, timedOut, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.end(input ?? undefined);
  });
}
export async function runOk(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${path.basename(cmd)} ${args.join(' ')}: ${r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`}: ${lastLines(r.stderr || r.stdout)}`);
  return r.stdout;
}
export function lastLines(s, n = 3) {
  return s.trim().split('\n').slice(-n).join(' | ').slice(0, 400);
}

/** The last error in a gateway log: pino JSON lines (err.message / msg) or plain text. */
export function logReason(text) {
  const lines = text.trim().split('\n').filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const j = JSON.parse(lines[i]);
      if (j && typeof j === 'object' && (j.level ?? 0) >= 40) return String(j.err?.message ?? j.msg ?? lines[i]).split('\n')[0].slice(0, 300);
    } catch {
      return lastLines(lines.slice(-2).join('\n'));
    }
  }
  return lastLines(lines.slice(-2).join('\n'));
}

/** A long-running process; output goes to logFile. */
export function daemon(cmd, args, logFile, env) {
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { env: env ?? cleanEnv(), stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  children.add(child);
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.on('error', () => {});
  child.exited.then(() => children.delete(child));
  return child;
}
export async function stopDaemon(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await child.exited;
  clearTimeout(t);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port, timeoutMs, child) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`exited (${child.exitCode ?? child.signalCode}) before listening`);
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => (s.destroy(), resolve(false)));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
}


/** Absolute path of a program in PATH or the sbin directories, or null. */
export function which(name) {
  for (const d of (process.env.PATH ?? '').split(':').concat(['/usr/local/sbin', '/usr/sbin', '/usr/bin', '/sbin'])) {
    if (!d) continue;
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  return null;
}

// ------------------------------------------------------------------------------------------------
// process trees (a daemon that forks per connection, such as sshd -D: its children call setsid and outlive it)

function procStat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' '); // fields 3… (state, ppid, …)
    return { state: rest[0] ?? '', ppid: Number(rest[1]), start: rest[19] ?? '' }; // field 22: starttime
  } catch {
    return undefined;
  }
}

/** Every live descendant of `root` as { pid, start } (children before grandchildren); empty without /proc. */
export function descendants(root) {
  const kids = new Map();
  let names = [];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    const st = procStat(Number(n));
    if (!st) continue;
    if (!kids.has(st.ppid)) kids.set(st.ppid, []);
    kids.get(st.ppid).push({ pid: Number(n), start: st.start });
  }
  const out = [];
  const queue = [root];
  while (queue.length) {
    for (const c of kids.get(queue.shift()) ?? []) {
      out.push(c);
      queue.push(c.pid);
    }
  }
  return out;
}

/** Signals the processes still alive (a pid is matched with its start time, so a reused pid is never hit). */
function signalProcs(procs, sig) {
  for (const p of procs) {
    const st = procStat(p.pid);
    if (!st || st.start !== p.start || st.state === 'Z') continue;
    try {
      process.kill(p.pid, sig);
    } catch {}
  }
}

/**
 * Stops a daemon() child and every process it forked (found through /proc while it still lives): SIGTERM to
 * all, SIGKILL to whatever is left after termMs; resolves when they are gone (or after 5 s more).
 */
export async function stopTree(child, termMs = 3000) {
  if (!child) return;
  const tree = child.pid ? descendants(child.pid) : [];
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    signalProcs(tree, 'SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), termMs);
    await child.exited;
    clearTimeout(t);
  }
  signalProcs(tree, 'SIGKILL');
  const alive = (p) => {
    const st = procStat(p.pid);
    return st !== undefined && st.start === p.start && st.state !== 'Z';
  };
  for (const deadline = Date.now() + 5000; tree.some(alive) && Date.now() < deadline; ) await sleep(10);
}
