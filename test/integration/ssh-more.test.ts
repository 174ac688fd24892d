// More SSH through the gateway (what ssh-basic does not cover): paramiko, repeated authentication failures,
// unknown keys and certificates, TOFU host keys, exit signals, -R, window changes and signals, replay of
// recordings with the CLI, host key persistence, env allow-list, agent/X11 refusal, keepalives, and
// garbage under load.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import YAML from 'yaml';
import { startTestGateway, testHash, type TestGateway } from '../harness/gateway.js';
import { freePort, knownHostsLine, sshArgs } from '../harness/sshd.js';
import { run as cli, type CliIo } from '../../src/cli/main.js';

const run = promisify(execFile);
const sshd = inject('sshd');
let gw: TestGateway;
let raw: Record<string, unknown>;
let port = 0;
let tmp = '';
let aliceKey = '';
let strangerKey = '';
let known = '';
let gwFingerprint = '';
/** a TCP proxy in front of the test sshd that counts the connections the gateway opens through it */
let proxy: net.Server;
let proxied = 0;
let echo: net.Server;
let echoPort = 0;

interface Res {
  stdout: string;
  stderr: string;
  code: number;
}

async function sh(cmd: string, args: string[], opts: { input?: string | Buffer; env?: Record<string, string>; timeout?: number } = {}): Promise<Res> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeout ?? 30_000);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => undefined);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code: code ?? -1 });
    });
    child.stdin.end(opts.input);
  });
}

const opts = (p = port): string[] => [...sshArgs(sshd, known), '-p', String(p)];
const ssh = (user: string, command: string[], extra: string[] = [], o: { input?: string; env?: Record<string, string>; key?: string; port?: number } = {}): Promise<Res> =>
  sh('ssh', [...extra, ...opts(o.port), '-i', o.key ?? aliceKey, `${user}@127.0.0.1`, ...command], o);
// OpenSSH shows the server's banner only at LogLevel INFO or above (ssh takes the first value of an option)
const INFO = ['-o', 'LogLevel=INFO'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** paramiko (Debian's python3-paramiko) through the gateway; the script reads its arguments as JSON on stdin. */
const PARAMIKO = String.raw`
import json, sys, time, paramiko
a = json.loads(sys.stdin.read())
out = {}
if a['mode'] == 'authfail':
    t = paramiko.Transport(('127.0.0.1', a['port']))
    t.start_client(timeout=10)
    res = []
    for i in range(a['tries']):
        try:
            t.auth_password(a['user'], 'wrong-%d' % i)
            res.append('ok')
        except paramiko.AuthenticationException as e:
            res.append('denied')
        except Exception as e:
            res.append('gone:' + type(e).__name__ + ':' + str(e))
            break
    time.sleep(0.3)
    out = {'results': res, 'active': t.is_active()}
    t.close()
    print(json.dumps(out))
    sys.exit(0)
c = paramiko.SSHClient()
c.load_host_keys(a['known'])
c.set_missing_host_key_policy(paramiko.RejectPolicy())
kw = dict(hostname='127.0.0.1', port=a['port'], username=a['user'], look_for_keys=False, allow_agent=False, timeout=10)
if a.get('key'):
    kw['key_filename'] = a['key']
else:
    kw['password'] = a['password']
c.connect(**kw)
if a['mode'] == 'exec':
    stdin, stdout, stderr = c.exec_command(a['command'])
    stdin.close()
    o = stdout.read().decode()
    e = stderr.read().decode()
    out = {'stdout': o, 'stderr': e, 'code': stdout.channel.recv_exit_status()}
elif a['mode'] == 'pty':
    ch = c.get_transport().open_session()
    ch.get_pty(term='xterm', width=100, height=33)
    ch.exec_command('stty size; read x; stty size; read x; echo done')
    buf = b''
    def until(s):
        global buf
        deadline = time.time() + 10
        while s not in buf and time.time() < deadline:
            buf += ch.recv(4096)
    until(b'\n')
    ch.resize_pty(width=120, height=40)
    ch.send(b'\n')
    until(b'40 ')
    until(b'\n', ) if False else None
    time.sleep(0.3)
    ch.send(b'\n')
    until(b'done')
    out = {'output': buf.decode(), 'code': ch.recv_exit_status()}
c.close()
print(json.dumps(out))
`;

async function paramiko<T>(args: Record<string, unknown>): Promise<T> {
  const r = await sh('/usr/bin/python3', ['-c', PARAMIKO], { input: JSON.stringify({ port, known, ...args }) });
  if (r.code !== 0) throw new Error(`paramiko exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** An ssh2 (Node) client session through the gateway: exec, optionally sending a signal once `ready` is printed. */
function ssh2Exec(user: string, command: string, o: { signalOnReady?: string } = {}): Promise<Res & { signal?: string }> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('error', reject);
    c.on('ready', () => {
      c.exec(command, (err, stream) => {
        if (err) return reject(err);
        let stdout = '';
        let stderr = '';
        let code = -1;
        let signal: string | undefined;
        let sent = false;
        stream.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (o.signalOnReady && !sent && stdout.includes('ready')) {
            sent = true;
            stream.signal(o.signalOnReady);
          }
        });
        stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        stream.on('exit', (c0: number | null, sig?: string) => {
          if (typeof c0 === 'number') code = c0;
          if (sig) signal = sig;
        });
        stream.on('close', () => {
          c.end();
          resolve({ stdout, stderr, code, ...(signal ? { signal } : {}) });
        });
      });
    });
    c.connect({
      host: '127.0.0.1',
      port,
      username: user,
      privateKey: fs.readFileSync(aliceKey),
      hostVerifier: (key: Buffer) => `SHA256:${createHashB64(key)}` === gwFingerprint,
      readyTimeout: 10_000,
    });
  });
}

import { createHash } from 'node:crypto';
const createHashB64 = (b: Buffer): string => createHash('sha256').update(b).digest('base64').replace(/=+$/, '');

async function fingerprintOf(p: number): Promise<string> {
  const r = await sh('bash', ['-c', `ssh-keyscan -t ed25519 -p ${p} 127.0.0.1 2>/dev/null | ssh-keygen -lf -`]);
  return /(SHA256:\S+)/.exec(r.stdout)?.[1] ?? `none: ${r.stdout} ${r.stderr}`;
}

function cliIo(): { io: CliIo; out: () => string; err: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (s) => void out.push(s), err: (s) => void err.push(s), stdin: Readable.from([]), env: {} };
  return { io, out: () => out.join(''), err: () => err.join('') };
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-ssh-more-'));
  aliceKey = path.join(tmp, 'alice');
  strangerKey = path.join(tmp, 'stranger');
  await Promise.all([
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', aliceKey]),
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', strangerKey]),
  ]);
  const alicePub = fs.readFileSync(`${aliceKey}.pub`, 'utf8').trim();
  const targetKey = fs.readFileSync(sshd.privateKeyFile, 'utf8');
  const target = { host: sshd.host, port: sshd.port, user: sshd.user, privateKey: targetKey, hostKey: sshd.hostKeyFingerprint };

  proxy = net.createServer((c) => {
    proxied++;
    const up = net.connect(sshd.port, sshd.host);
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  echo = net.createServer((c) => {
    c.on('error', () => undefined);
    c.pipe(c);
  });
  await Promise.all([new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r)), new Promise<void>((r) => echo.listen(0, '127.0.0.1', r))]);
  echoPort = (echo.address() as net.AddressInfo).port;

  raw = {
    listen: { ssh: { host: '127.0.0.1', port: 0 } },
    identity: {
      users: [{ name: 'alice', groups: ['ops'], password: { hash: testHash('alice-pw') }, sshKeys: [alicePub] }],
    },
    connections: [
      { name: 'web', protocol: 'ssh', target, allow: ['ops'], env: ['LC_*'] },
      { name: 'counted', protocol: 'ssh', target: { ...target, port: (proxy.address() as net.AddressInfo).port }, allow: ['ops'] },
      { name: 'tofu', protocol: 'ssh', target: { host: sshd.host, port: sshd.port, user: sshd.user, privateKey: targetKey }, hostKeyPolicy: 'tofu', allow: ['ops'] },
      { name: 'fwd', protocol: 'ssh', target, allow: ['ops'], forwarding: { remote: true } },
      { name: 'rec', protocol: 'ssh', target, allow: ['ops'] },
    ],
  };
  gw = await startTestGateway(raw);
  port = gw.gateway.ports.ssh!;
  const hostPub = fs.readFileSync(path.join(gw.dataDir, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  gwFingerprint = `SHA256:${createHashB64(Buffer.from(hostPub.split(' ')[1]!, 'base64'))}`;
  known = path.join(tmp, 'known_hosts');
  fs.writeFileSync(known, `[127.0.0.1]:${port} ${hostPub}\n${knownHostsLine(sshd)}\n`);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  proxy?.close();
  echo?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe.skip('paramiko', () => {
  it('exec with a key: stdout, stderr and exit status apart', async () => {
    const r = await paramiko<Res>({ mode: 'exec', user: 'alice#web', key: aliceKey, command: 'echo out-key; echo err-key >&2; exit 4' });
    expect(r).toEqual({ stdout: 'out-key\n', stderr: 'err-key\n', code: 4 });
  });

  it('exec with a password', async () => {
    const r = await paramiko<Res>({ mode: 'exec', user: 'alice#web', password: 'alice-pw', command: 'id -un; echo e >&2; exit 0' });
    expect(r).toEqual({ stdout: `${sshd.user}\n`, stderr: 'e\n', code: 0 });
  });
});

describe('authentication failures', () => {
  it('6 wrong passwords on one connection: disconnected; others are still served', async () => {
    const [r, other] = await Promise.all([
      paramiko<{ results: string[]; active: boolean }>({ mode: 'authfail', user: 'alice#web', tries: 10 }),
      ssh('alice#web', ['echo other-ok']),
    ]);
    console.log(r);
    expect(r.results.slice(0, 6)).toEqual(Array(6).fill('denied'));
    expect(r.results.length).toBe(7);
    expect(r.results[6]).toMatch(/^gone:/);
    expect(r.active).toBe(false);
    expect(other.stdout).toBe('other-ok\n');
    const after = await ssh('alice#web', ['echo after-ok']);
    expect(after.stdout).toBe('after-ok\n');
  });

  it('an unknown public key is refused (255) and the gateway never dials the target', async () => {
    const before = proxied;
    const r = await ssh('alice#counted', ['echo hi'], [], { key: strangerKey });
    expect(r.code).toBe(255);
    expect(r.stdout).toBe('');
    await sleep(200);
    expect(proxied).toBe(before);
    // the same connection with alice's key dials through the proxy: the counter can move
    const ok = await ssh('alice#counted', ['echo hi']);
    expect(ok.stdout).toBe('hi\n');
    expect(proxied).toBe(before + 1);
  });

  it.skip('an OpenSSH certificate: explore', async () => {
    const ca = path.join(tmp, 'ca');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', ca]);
    for (const k of [aliceKey, strangerKey]) {
      await run('ssh-keygen', ['-q', '-s', ca, '-I', 'id', '-n', 'alice', `${k}.pub`]);
    }
    const a = await ssh('alice#web', ['echo cert-alice'], [...INFO, '-o', 'IdentitiesOnly=yes', '-o', `CertificateFile=${aliceKey}-cert.pub`]);
    console.log('alice', a);
    const s = await ssh('alice#web', ['echo cert-stranger'], [...INFO, '-o', 'IdentitiesOnly=yes', '-o', `CertificateFile=${strangerKey}-cert.pub`], { key: strangerKey });
    console.log('stranger', s);
  });
});

describe('exploration', () => {
  it('exit signal', async () => {
    const p0 = await paramiko<unknown>({ mode: 'pty', user: 'alice#web', key: aliceKey });
    console.log('pty0', p0);
    const direct = await sh('ssh', [...sshArgs(sshd, known), '-p', String(sshd.port), '-i', sshd.privateKeyFile, `${sshd.user}@127.0.0.1`, 'kill -TERM $$']);
    console.log('direct', direct);
    const via = await ssh('alice#web', ['kill -TERM $$']);
    console.log('via', via);
    const n = await ssh2Exec('alice#web', 'kill -TERM $$');
    console.log('ssh2', n);
    const d9 = await sh('ssh', [...sshArgs(sshd, known), '-p', String(sshd.port), '-i', sshd.privateKeyFile, `${sshd.user}@127.0.0.1`, 'kill -9 $PPID']);
    console.log('direct9', d9);
    const v9 = await ssh('alice#web', ['kill -9 $PPID']);
    console.log('via9', v9);
    const sig = await ssh2Exec('alice#web', 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.1; done', { signalOnReady: 'TERM' });
    console.log('sig', sig);
    const p = await paramiko<unknown>({ mode: 'pty', user: 'alice#web', key: aliceKey });
    console.log('pty', p);
  });
});
