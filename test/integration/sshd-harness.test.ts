// Proves the throwaway-sshd harness: the host key tests pin, key (ed25519, RSA) and password logins,
// scp (SFTP and legacy protocol), sftp batches, and that startSshd()/stop() leave nothing behind.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { run, runOk, type RunResult } from '../harness/processes.js';
import { knownHostsLine, SSH_USER, sshArgs, sshdLogFile, startSshd, type SshdInfo } from '../harness/sshd.js';

/** No agent or askpass from the caller: only the keys and passwords a test names are used. */
const ENV = { SSH_AUTH_SOCK: undefined, SSH_ASKPASS: undefined, SSH_ASKPASS_REQUIRE: undefined, DISPLAY: undefined };

/** ssh to `server` with the harness options (after `pre`, whose values win), returning the result (never throws for a failed login). */
function ssh(server: SshdInfo, knownHosts: string, pre: string[], command: string, user = server.user): Promise<RunResult> {
  return run('ssh', [...pre, ...sshArgs(server, knownHosts), '-p', String(server.port), `${user}@${server.host}`, command], { env: ENV, timeoutMs: 20_000 });
}

/** Key login options: only this key, no password fallback. */
function withKey(keyFile: string): string[] {
  return ['-i', keyFile, '-o', 'IdentitiesOnly=yes', '-o', 'PasswordAuthentication=no', '-o', 'KbdInteractiveAuthentication=no'];
}

/** Password login through sshpass (BatchMode would forbid the prompt). */
function sshPassword(server: SshdInfo, knownHosts: string, password: string, command: string): Promise<RunResult> {
  return run(
    'sshpass',
    ['-p', password, 'ssh', '-o', 'BatchMode=no', '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password', '-o', 'NumberOfPasswordPrompts=1', ...sshArgs(server, knownHosts), '-p', String(server.port), `${server.user}@${server.host}`, command],
    { env: ENV, timeoutMs: 20_000 },
  );
}

/** 'SHA256:…' of a key file (private or public) or of stdin ('-'), as `ssh-keygen -lf` prints it. */
async function fingerprint(file: string, input?: string): Promise<string> {
  const out = await runOk('ssh-keygen', ['-lf', file], input === undefined ? {} : { input });
  const m = /^\d+ (SHA256:\S+) /.exec(out);
  if (!m) throw new Error(`unexpected ssh-keygen -lf output: ${out}`);
  return m[1]!;
}

/** Escapes a string for a regular expression. */
function re(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Waits until the server's log matches `pattern` (sshd writes "Accepted …" before the client sees the session). */
async function waitLog(server: SshdInfo, pattern: RegExp, timeoutMs = 3_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = readFileSync(sshdLogFile(server), 'utf8');
    if (pattern.test(log) || Date.now() > deadline) return log;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether `pid` is a live process (a zombie is dead: an orphan waits for PID 1 to reap it, which may take a while). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('harness: sshd', () => {
  const sshd = inject('sshd');
  let local = ''; // root only: known_hosts and the local side of copies
  let remote = ''; // owned by pcssh: the remote side of copies
  let knownHosts = '';
  let uid = -1;
  const payload = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(300_000), Buffer.from('\r\n\0 end')]);

  beforeAll(async () => {
    local = mkdtempSync(path.join(os.tmpdir(), 'portcullis-sshd-test-'));
    remote = mkdtempSync(path.join(os.tmpdir(), 'portcullis-sshd-remote-'));
    uid = Number((await runOk('id', ['-u', sshd.user])).trim());
    const gid = Number((await runOk('id', ['-g', sshd.user])).trim());
    chownSync(remote, uid, gid);
    knownHosts = path.join(local, 'known_hosts');
    writeFileSync(knownHosts, knownHostsLine(sshd) + '\n');
    writeFileSync(path.join(local, 'payload.bin'), payload);
  });

  afterAll(() => {
    for (const d of [local, remote]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('is provided by globalSetup', async () => {
    expect(sshd.host).toBe('127.0.0.1');
    expect(sshd.port).toBeGreaterThan(0);
    expect(sshd.user).toBe(SSH_USER.user);
    expect(sshd.password).toBe(SSH_USER.password);
    expect(sshd.sftpServer).toBe(true);
    expect(sshd.hostPublicKey).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]+=*$/);
    expect(sshd.hostKeyFingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(knownHostsLine(sshd)).toBe(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}`);
    expect(existsSync(sshdLogFile(sshd))).toBe(true);
    const authorized = readFileSync(path.join(sshd.dir, 'authorized_keys'), 'utf8');
    for (const [key, type] of [
      [sshd.privateKeyFile, 'ssh-ed25519'],
      [sshd.privateKeyRsaFile, 'ssh-rsa'],
    ] as const) {
      expect(statSync(key).mode & 0o777).toBe(0o600); // ssh refuses a private key others can read
      const pub = (await runOk('ssh-keygen', ['-y', '-f', key])).trim();
      expect(pub.startsWith(`${type} `)).toBe(true);
      expect(authorized).toContain(pub.split(' ').slice(0, 2).join(' '));
    }
    expect(await runOk('ssh-keygen', ['-lf', sshd.privateKeyRsaFile])).toMatch(/^3072 SHA256:.* \(RSA\)\n$/);
  });

  it('the host key fingerprint is what ssh-keyscan | ssh-keygen -lf - reports', async () => {
    const scan = await run('ssh-keyscan', ['-t', 'ed25519', '-p', String(sshd.port), '127.0.0.1'], { timeoutMs: 20_000 });
    expect(scan.code).toBe(0);
    const lines = scan.stdout.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).toEqual([knownHostsLine(sshd)]);
    expect(await fingerprint('-', scan.stdout)).toBe(sshd.hostKeyFingerprint);
  });

  it('logs in with the ed25519 key', async () => {
    const r = await ssh(sshd, knownHosts, withKey(sshd.privateKeyFile), 'echo hi; id -un');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('hi\npcssh\n');
    const fp = await fingerprint(sshd.privateKeyFile);
    expect(await waitLog(sshd, new RegExp(`Accepted publickey for pcssh from 127\\.0\\.0\\.1 port \\d+ ssh2: ED25519 ${re(fp)}`))).toMatch(/Accepted publickey .* ED25519/);
  });

  it('logs in with the RSA key', async () => {
    const r = await ssh(sshd, knownHosts, withKey(sshd.privateKeyRsaFile), 'echo hi; id -un');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('hi\npcssh\n');
    const fp = await fingerprint(sshd.privateKeyRsaFile);
    const accepted = new RegExp(`Accepted publickey for pcssh from 127\\.0\\.0\\.1 port \\d+ ssh2: RSA ${re(fp)}`);
    expect(await waitLog(sshd, accepted)).toMatch(accepted);
  });

  it('logs in with the password (sshpass)', async () => {
    const r = await sshPassword(sshd, knownHosts, sshd.password, 'echo hi; id -un');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('hi\npcssh\n');
  });

  it('refuses a wrong password', async () => {
    const r = await sshPassword(sshd, knownHosts, 'not-the-password', 'id -un');
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(await waitLog(sshd, /Failed password for pcssh from 127\.0\.0\.1/)).toMatch(/Failed password for pcssh from 127\.0\.0\.1/);
  });

  it('refuses root, even with an authorized key (PermitRootLogin no)', async () => {
    const r = await ssh(sshd, knownHosts, withKey(sshd.privateKeyFile), 'id -un', 'root');
    expect(r.code).toBe(255);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/Permission denied \(publickey/);
  });

  it('refuses a host whose key is not the pinned one (StrictHostKeyChecking=yes)', async () => {
    const other = path.join(local, 'other_key');
    await runOk('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', '', '-f', other]);
    const wrongHosts = path.join(local, 'known_hosts_wrong');
    writeFileSync(wrongHosts, `[127.0.0.1]:${sshd.port} ${readFileSync(`${other}.pub`, 'utf8').trim()}\n`);
    const r = await ssh(sshd, wrongHosts, withKey(sshd.privateKeyFile), 'id -un');
    expect(r.code).toBe(255);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/Host key verification failed/);
  });

  it('accepts PORTCULLIS_TEST_* environment variables (AcceptEnv)', async () => {
    const r = await run('ssh', [...withKey(sshd.privateKeyFile), '-o', 'SendEnv=PORTCULLIS_TEST_VALUE', ...sshArgs(sshd, knownHosts), '-p', String(sshd.port), `${sshd.user}@${sshd.host}`, 'echo "[$PORTCULLIS_TEST_VALUE]"'], {
      env: { ...ENV, PORTCULLIS_TEST_VALUE: 'from the client' },
      timeoutMs: 20_000,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('[from the client]\n');
  });

  it.each([
    ['SFTP (default)', [] as string[], /Sending subsystem: sftp/],
    ['legacy (-O)', ['-O'], /Sending command: scp -v (-f|-t)/],
  ])('scp %s copies a file both ways byte-identically', async (_name, mode, protocol) => {
    const tag = mode.length ? 'legacy' : 'sftp';
    const up = path.join(remote, `scp-${tag}.bin`);
    const down = path.join(local, `scp-${tag}-down.bin`);
    const scp = (from: string, to: string) =>
      run('scp', ['-v', ...mode, ...withKey(sshd.privateKeyFile), ...sshArgs(sshd, knownHosts), '-P', String(sshd.port), from, to], { env: ENV, timeoutMs: 20_000 });
    const put = await scp(path.join(local, 'payload.bin'), `${sshd.user}@${sshd.host}:${up}`);
    expect(put.code, put.stderr).toBe(0);
    expect(put.stderr).toMatch(protocol);
    expect(readFileSync(up).equals(payload)).toBe(true);
    expect(statSync(up).uid).toBe(uid); // written by pcssh's session, not by us
    const get = await scp(`${sshd.user}@${sshd.host}:${up}`, down);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stderr).toMatch(protocol);
    expect(readFileSync(down).equals(payload)).toBe(true);
  });

  it('sftp -b runs a batch (put, get, mkdir, rename, ls) and fails on a failing command', async () => {
    const batch = path.join(local, 'batch.sftp');
    const down = path.join(local, 'sftp-down.bin');
    writeFileSync(
      batch,
      [`put ${path.join(local, 'payload.bin')} ${remote}/sftp.bin`, `get ${remote}/sftp.bin ${down}`, `mkdir ${remote}/sub`, `rename ${remote}/sftp.bin ${remote}/sub/moved.bin`, `ls -1 ${remote}/sub`, ''].join('\n'),
    );
    const sftp = (file: string) =>
      run('sftp', ['-b', file, ...withKey(sshd.privateKeyFile), ...sshArgs(sshd, knownHosts), '-P', String(sshd.port), `${sshd.user}@${sshd.host}`], { env: ENV, timeoutMs: 20_000 });
    const r = await sftp(batch);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${remote}/sub/moved.bin`);
    expect(readFileSync(down).equals(payload)).toBe(true);
    expect(readFileSync(path.join(remote, 'sub', 'moved.bin')).equals(payload)).toBe(true);
    expect(existsSync(path.join(remote, 'sftp.bin'))).toBe(false);

    const bad = path.join(local, 'bad.sftp');
    writeFileSync(bad, `get ${remote}/no-such-file ${path.join(local, 'never.bin')}\n`);
    const failed = await sftp(bad);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(/not found|No such file/i);
    expect(existsSync(path.join(local, 'never.bin'))).toBe(false);
  });
});

describe('harness: own sshd', () => {
  it('starts another server, and stop() ends sshd and its sessions and removes its dir', async () => {
    const s = await startSshd();
    const local = mkdtempSync(path.join(os.tmpdir(), 'portcullis-sshd-test-'));
    let pid = 0;
    let remotePid = 0;
    let client: ReturnType<typeof spawn> | undefined;
    try {
      const shared = inject('sshd');
      expect(s.port).not.toBe(shared.port);
      expect(s.hostKeyFingerprint).not.toBe(shared.hostKeyFingerprint);
      expect(s.dir).not.toBe(shared.dir);
      pid = Number(readFileSync(path.join(s.dir, 'sshd.pid'), 'utf8').trim());
      expect(pid).toBeGreaterThan(0);
      const knownHosts = path.join(local, 'known_hosts');
      writeFileSync(knownHosts, knownHostsLine(s) + '\n');
      // the shared server's key does not open this one's door, and its host key is not this one's
      expect((await ssh(s, knownHosts, withKey(shared.privateKeyFile), 'true')).stderr).toMatch(/Permission denied/);
      writeFileSync(path.join(local, 'known_hosts_shared'), `[127.0.0.1]:${s.port} ${shared.hostPublicKey}\n`);
      expect((await ssh(s, path.join(local, 'known_hosts_shared'), withKey(s.privateKeyFile), 'true')).stderr).toMatch(/Host key verification failed/);

      // a session that would outlive the listener: its remote command prints its pid and sleeps
      const c = spawn('ssh', [...withKey(s.privateKeyFile), ...sshArgs(s, knownHosts), '-p', String(s.port), `${s.user}@${s.host}`, 'echo $$; exec sleep 60'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      client = c;
      const exited = new Promise<number | null>((resolve) => c.on('exit', (code) => resolve(code)));
      remotePid = await new Promise<number>((resolve, reject) => {
        let out = '';
        c.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes('\n')) resolve(Number(out.trim()));
        });
        c.on('exit', (code) => reject(new Error(`ssh exited (${code}) before the remote command started`)));
      });
      expect(remotePid).toBeGreaterThan(0);
      expect(running(remotePid)).toBe(true);
      const cmdline = () => readFileSync(`/proc/${remotePid}/cmdline`, 'utf8');
      for (const deadline = Date.now() + 5_000; cmdline() !== 'sleep\x0060\x00' && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20)); // the echo can arrive before the exec
      expect(cmdline()).toBe('sleep\x0060\x00');

      const t0 = Date.now();
      await s.stop();
      expect(Date.now() - t0).toBeLessThan(2_500); // SIGTERM suffices: no 3 s SIGKILL wait
      expect(await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 5_000))])).not.toBe('still running');
    } finally {
      client?.kill('SIGKILL');
      await s.stop();
      rmSync(local, { recursive: true, force: true });
    }
    expect(existsSync(s.dir)).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
    expect(running(remotePid)).toBe(false); // the session's command, whose sshd had called setsid()
  });
});
