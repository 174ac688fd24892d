// OpenSSH clients through the gateway to a throwaway sshd: exec (stdout, stderr, exit status), a pty shell,
// scp (SFTP mode and -O), sftp, port forwarding, guardrails on exec, recordings, and clear refusals.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestGateway, testHash, type TestGateway } from '../harness/gateway.js';
import { freePort, sshArgs } from '../harness/sshd.js';

const run = promisify(execFile);
const sshd = inject('sshd');
let gw: TestGateway;
let port = 0;
let tmp = '';
let aliceKey = '';
let known = '';

interface Res {
  stdout: string;
  stderr: string;
  code: number;
}

async function sh(cmd: string, args: string[], input?: string | Buffer, timeout = 60_000): Promise<Res> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => undefined);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code: code ?? -1 });
    });
    child.stdin.end(input);
  });
}

const opts = (): string[] => [...sshArgs(sshd, known), '-p', String(port)];
const ssh = (user: string, command: string[], extra: string[] = [], input?: string | Buffer): Promise<Res> =>
  sh('ssh', [...extra, ...opts(), '-i', aliceKey, `${user}@127.0.0.1`, ...command], input);
const sshPw = (user: string, password: string, command: string[], extra: string[] = []): Promise<Res> =>
  sh('sshpass', ['-p', password, 'ssh', '-o', 'BatchMode=no', '-o', 'PubkeyAuthentication=no', ...extra, ...opts(), `${user}@127.0.0.1`, ...command]);

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-ssh-'));
  aliceKey = path.join(tmp, 'alice');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', aliceKey]);
  const alicePub = fs.readFileSync(`${aliceKey}.pub`, 'utf8').trim();
  const targetKey = fs.readFileSync(sshd.privateKeyFile, 'utf8');
  const target = { host: sshd.host, port: sshd.port, user: sshd.user, privateKey: targetKey, hostKey: sshd.hostKeyFingerprint };
  const closed = await freePort();
  gw = await startTestGateway({
    listen: { ssh: { host: '127.0.0.1', port: 0 } },
    identity: {
      users: [
        { name: 'alice', groups: ['ops'], password: { hash: testHash('alice-pw') }, sshKeys: [alicePub] },
        { name: 'bob', groups: ['other'], password: { hash: testHash('bob-pw') } },
      ],
    },
    connections: [
      { name: 'web', protocol: 'ssh', target, allow: ['ops'], guardrails: ['no-marker'], env: ['LC_*', 'PORTCULLIS_TEST_*'] },
      { name: 'web-pw', protocol: 'ssh', target: { host: sshd.host, port: sshd.port, user: sshd.user, password: sshd.password, hostKey: sshd.hostKeyFingerprint }, allow: ['ops'], forwarding: { local: true, remote: false } },
      { name: 'readonly', protocol: 'ssh', target, allow: ['ops'], sftp: 'read-only' },
      { name: 'badkey', protocol: 'ssh', target: { ...target, hostKey: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, allow: ['ops'] },
      { name: 'down', protocol: 'ssh', target: { ...target, port: closed }, allow: ['ops'] },
    ],
    guardrails: [{ name: 'no-marker', when: { command: 'touch\\s+\\S*pc-blocked-marker' }, action: 'block' }],
  });
  port = gw.gateway.ports.ssh!;
  const hostPub = fs.readFileSync(path.join(gw.dataDir, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  known = path.join(tmp, 'known_hosts');
  fs.writeFileSync(known, `[127.0.0.1]:${port} ${hostPub}\n`);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('exec', () => {
  it('relays stdout and stderr apart, and the exit status', async () => {
    const r = await ssh('alice#web', ['echo out; echo err >&2; id -un; exit 3']);
    expect(r.stdout).toBe(`out\n${sshd.user}\n`);
    expect(r.stderr).toBe('err\n');
    expect(r.code).toBe(3);
  });

  it('logs in with a password too (keyboard-interactive or password), and passes allowed env names only', async () => {
    const r = await sshPw('alice#web', 'alice-pw', ['echo "$LC_PCTEST/$PORTCULLIS_TEST_X/${OTHER_VAR:-unset}"'], ['-o', 'SendEnv=LC_PCTEST PORTCULLIS_TEST_X OTHER_VAR']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\/unset\n$/);
  });

  it('a blocked command writes the rule to stderr, exits 126 and never runs', async () => {
    const marker = `/tmp/pc-blocked-marker-${process.pid}`;
    const r = await ssh('alice#web', [`touch ${marker}`]);
    expect(r.code).toBe(126);
    expect(r.stderr).toMatch(/portcullis: .*no-marker/);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('streams 200 MB intact both ways', async () => {
    const down = await sh('bash', ['-c', `ssh ${opts().map((a) => `'${a}'`).join(' ')} -i ${aliceKey} 'alice#web@127.0.0.1' 'head -c 200000000 /dev/zero' | wc -c`]);
    expect(down.stdout.trim()).toBe('200000000');
    const data = randomBytes(20 * 1024 * 1024);
    const up = await ssh('alice#web', ['sha256sum'], [], data);
    expect(up.stdout.split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'));
  }, 120_000);
});

describe('shell', () => {
  it('a pty shell driven by a script, recorded as asciicast v2', async () => {
    const r = await ssh('alice#web', [], ['-tt'], 'echo hello-$((40+2))\nexit 5\n');
    expect(r.stdout).toContain('hello-42');
    expect(r.code).toBe(5);
    await new Promise((res) => setTimeout(res, 400));
    gw.audit.flush();
    const session = gw.audit.listSessions(50).filter((s) => s.protocol === 'ssh').find((s) => gw.audit.recordings(s.id).some((x) => x.kind === 'shell'));
    expect(session).toBeDefined();
    const rec = gw.audit.recordings(session!.id).find((x) => x.kind === 'shell')!;
    const lines = fs.readFileSync(path.resolve(gw.dataDir, rec.file), 'utf8').trim().split('\n');
    const header = JSON.parse(lines[0]!) as { version: number; width: number; height: number };
    expect(header.version).toBe(2);
    const events = lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    expect(events.some((e) => e[1] === 'o' && e[2].includes('hello-42'))).toBe(true);
    expect(events.some((e) => e[1] === 'i' && e[2].includes('echo hello'))).toBe(true);
  });
});

describe('files', () => {
  it('scp both ways, in SFTP mode and legacy (-O), byte for byte', async () => {
    const src = path.join(tmp, 'up.bin');
    fs.writeFileSync(src, randomBytes(3 * 1024 * 1024 + 17));
    for (const legacy of [false, true]) {
      const remote = `/tmp/pc-scp-${process.pid}-${legacy ? 'O' : 's'}.bin`;
      const back = path.join(tmp, `back-${legacy}.bin`);
      // scp refuses '#' in a user@host spec: the user goes in -o User
      const flags = [...(legacy ? ['-O'] : []), '-o', 'User=alice#web', ...sshArgs(sshd, known), '-P', String(port), '-i', aliceKey];
      const put = await sh('scp', [...flags, src, `127.0.0.1:${remote}`]);
      expect(put.stderr, `put ${legacy}`).toBe('');
      const get = await sh('scp', [...flags, `127.0.0.1:${remote}`, back]);
      expect(get.stderr, `get ${legacy}`).toBe('');
      expect(fs.readFileSync(back).equals(fs.readFileSync(src))).toBe(true);
    }
  });

  it('sftp in batch mode works and is audited; a read-only connection refuses writes', async () => {
    const file = path.join(tmp, 'sftp.txt');
    fs.writeFileSync(file, 'sftp contents\n');
    const remote = `/tmp/pc-sftp-${process.pid}.txt`;
    const batch = path.join(tmp, 'batch');
    fs.writeFileSync(batch, `put ${file} ${remote}\nget ${remote} ${file}.back\nls -l ${remote}\n`);
    const r = await sh('sftp', ['-b', batch, ...sshArgs(sshd, known), '-P', String(port), '-i', aliceKey, 'alice#web@127.0.0.1']);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(`${file}.back`, 'utf8')).toBe('sftp contents\n');
    gw.audit.flush();
    const texts = gw.audit.events(undefined, 10_000).filter((e) => e.via === 'sftp').map((e) => e.text ?? '');
    expect(texts.some((t) => t.startsWith('open ') && t.includes(remote))).toBe(true);
    fs.writeFileSync(batch, `put ${file} ${remote}.ro\n`);
    const ro = await sh('sftp', ['-b', batch, ...sshArgs(sshd, known), '-P', String(port), '-i', aliceKey, 'alice#readonly@127.0.0.1']);
    expect(ro.code).not.toBe(0);
    expect(ro.stderr).toMatch(/read-only|Permission denied/i);
    expect(fs.existsSync(`${remote}.ro`)).toBe(false);
  });
});

describe('forwarding', () => {
  it('-L works where the connection allows it and is refused elsewhere', async () => {
    for (const [conn, allowed] of [['web-pw', true], ['web', false]] as const) {
      const local = await freePort();
      const child = spawn('sshpass', ['-p', 'alice-pw', 'ssh', '-o', 'BatchMode=no', '-o', 'PubkeyAuthentication=no', '-o', 'ExitOnForwardFailure=no', ...opts(), '-N', '-L', `${local}:127.0.0.1:${sshd.port}`, `alice#${conn}@127.0.0.1`], { stdio: 'ignore' });
      try {
        let banner = '';
        for (let i = 0; i < 50 && !banner; i++) {
          await new Promise((r) => setTimeout(r, 100));
          banner = await new Promise<string>((resolve) => {
            const c = net.connect(local, '127.0.0.1');
            let got = '';
            c.on('data', (d) => {
              got += d.toString();
              c.destroy();
            });
            c.on('error', () => resolve(''));
            c.on('close', () => resolve(got === '' ? 'closed' : got));
            setTimeout(() => c.destroy(), 1000);
          });
          if (banner === '') continue;
        }
        if (allowed) expect(banner).toMatch(/^SSH-2\.0-/);
        else expect(banner).not.toMatch(/^SSH-2\.0-/);
      } finally {
        child.kill();
      }
    }
  });
});

// OpenSSH shows the server's banner only at LogLevel INFO or above (ssh takes the first value of an option)
const INFO = ['-o', 'LogLevel=INFO'];

describe('refusals', () => {
  it('unknown connection, user not allowed, no connection: authentication fails with a banner that says why', async () => {
    const a = await ssh('alice#nope', ['true'], INFO);
    expect(a.code).toBe(255);
    expect(a.stderr).toMatch(/unknown connection 'nope'/);
    const b = await sshPw('bob#web', 'bob-pw', ['true'], INFO);
    expect(b.code).not.toBe(0); // sshpass exits 5 when the password prompt comes back
    expect(b.stderr).toMatch(/may not use connection 'web'/);
    const c = await ssh('alice', ['true'], INFO);
    expect(c.stderr).toMatch(/USER#CONNECTION/);
  });

  it('a target that is down or whose host key does not match is a clear message, not a hang', async () => {
    const down = await ssh('alice#down', ['true'], INFO);
    expect(down.code).toBe(255);
    expect(down.stderr).toMatch(/cannot reach the target of connection 'down'/);
    const key = await ssh('alice#badkey', ['true'], INFO);
    expect(key.code).toBe(255);
    expect(key.stderr).toMatch(/host key .* does not match/);
  });

  it('garbage instead of an SSH banner does not disturb the gateway', async () => {
    const c = net.connect(port, '127.0.0.1');
    await new Promise((r) => c.once('connect', r));
    c.write('GET / HTTP/1.1\r\n\r\n');
    await new Promise((r) => setTimeout(r, 300));
    c.destroy();
    const r = await ssh('alice#web', ['echo still-here']);
    expect(r.stdout).toBe('still-here\n');
  });
});

describe('shutdown', () => {
  it('is graceful: a running command finishes, then the connection ends', async () => {
    const alicePub = fs.readFileSync(`${aliceKey}.pub`, 'utf8').trim();
    const g = await startTestGateway({
      listen: { ssh: { host: '127.0.0.1', port: 0 } },
      identity: { users: [{ name: 'alice', groups: ['ops'], sshKeys: [alicePub] }] },
      connections: [{ name: 'web', protocol: 'ssh', target: { host: sshd.host, port: sshd.port, user: sshd.user, privateKey: fs.readFileSync(sshd.privateKeyFile, 'utf8'), hostKey: sshd.hostKeyFingerprint }, allow: ['ops'] }],
    });
    try {
      const p = g.gateway.ports.ssh!;
      const hostPub = fs.readFileSync(path.join(g.dataDir, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
      const kh = path.join(tmp, 'known_hosts_shutdown');
      fs.writeFileSync(kh, `[127.0.0.1]:${p} ${hostPub}\n`);
      const running = sh('ssh', [...sshArgs(sshd, kh), '-p', String(p), '-i', aliceKey, 'alice#web@127.0.0.1', 'sleep 1; echo done']);
      await new Promise((r) => setTimeout(r, 500));
      const closing = g.gateway.close(5000);
      const r = await running;
      await closing;
      expect(r.stdout).toBe('done\n');
      expect(r.code).toBe(0);
    } finally {
      await g.stop();
    }
  });
});
