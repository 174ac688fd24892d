// Channels of an authenticated SSH session, bridged to the same channels on the target: session channels
// (pty, env, shell, exec, subsystem, window changes, signals, exit status), direct-tcpip (-L) and
// tcpip-forward (-R) where the connection allows them, and what is refused (agent and X11 forwarding).
// Both legs honour SSH windows and stream backpressure; the client's channel is ended (EOF, then close)
// only after everything from the target was written and its exit status sent.
import path from 'node:path';
import type { ClientChannel, PseudoTtyInfo, ServerChannel, Session } from 'ssh2';
import type { Command, Decision } from '../../src/types.js';
import { auditDecision, decideNow, refusalOf } from '../../src/policy/enforce.js';
import { AsciicastRecorder } from '../../src/recording/asciicast.js';
import { SftpError, SftpMonitor, type SftpEvent } from './sftp.js';
import type { SshContext, SshSession } from './server.js';


let cmdSeq = 0;

/** Recording caps: a terminal session is recorded up to 64 MiB of traffic, a channel without a pty 64 KiB. */
const RECORD_LIMIT_PTY = 64 * 1024 * 1024;
const RECORD_LIMIT_NO_PTY = 64 * 1024;

function audit(s: SshSession, ctx: SshContext, via: string, text: string, d: Decision): number {
  const commandId = ++cmdSeq;
  auditDecision(ctx.audit, s.log, s.info.id, commandId, via, text, d);
  return commandId;
}

/** Glob of the connection's env allow-list (`LC_*`). */
function envAllowed(list: readonly string[] | undefined, name: string): boolean {
  if (!list) return false;
  return list.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : p === name));
}

export function bridgeClient(s: SshSession, ctx: SshContext): void {
  const { client, upstream } = s;
  client.on('session', (accept, reject) => {
    if (s.draining) return reject();
    const session = accept();
    s.channels++;
    session.once('close', () => s.channelClosed());
    new SessionBridge(s, ctx, session);
  });
  client.on('tcpip', (accept, reject, info) => {
    // direct-tcpip (ssh -L): the target dials, if the connection allows it
    const cmd: Command = { kind: 'forward', host: info.destIP, port: info.destPort };
    const d = s.conn.forwarding?.local ? decideNow(ctx.policy, s.info, cmd, s.log) : ({ action: 'block', rule: 'forwarding', message: 'local port forwarding (ssh -L) is not allowed on this connection' } as Decision);
    audit(s, ctx, 'direct-tcpip', `${info.destIP}:${info.destPort}`, d);
    if (d.action !== 'allow') return reject();
    upstream.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, up) => {
      if (err) return reject();
      const ch = accept();
      pipeBoth(s, ch, up);
    });
  });
  client.on('request', (accept, reject, requestName, info) => {
    const name = requestName as string;
    if (name === 'keepalive@openssh.com') return accept?.();
    if (name === 'tcpip-forward' || name === 'cancel-tcpip-forward') {
      const bind = info as { bindAddr: string; bindPort: number };
      const cmd: Command = { kind: 'forward', host: bind.bindAddr, port: bind.bindPort };
      const d = s.conn.forwarding?.remote ? decideNow(ctx.policy, s.info, cmd, s.log) : ({ action: 'block', rule: 'forwarding', message: 'remote port forwarding (ssh -R) is not allowed on this connection' } as Decision);
      audit(s, ctx, name, `${bind.bindAddr}:${bind.bindPort}`, d);
      if (d.action !== 'allow') return reject?.();
      if (name === 'cancel-tcpip-forward') {
        upstream.unforwardIn(bind.bindAddr, bind.bindPort, (err?: Error | null) => (err ? reject?.() : accept?.()));
        return;
      }
      upstream.forwardIn(bind.bindAddr, bind.bindPort, (err, port) => (err ? reject?.() : accept?.(bind.bindPort === 0 ? port : undefined)));
      return;
    }
    reject?.();
  });
  // the target's forwarded connections (-R) go to the client
  upstream.on('tcp connection', (info, acceptUp, rejectUp) => {
    client.forwardOut(info.destIP, info.destPort, info.srcIP, info.srcPort, (err, ch) => {
      if (err) return rejectUp();
      pipeBoth(s, ch, acceptUp());
    });
  });
}

/** Bytes both ways with backpressure; EOF passed on; either side closing closes the other. */
function pipeBoth(s: SshSession, a: ServerChannel | ClientChannel, b: ServerChannel | ClientChannel): void {
  a.on('data', (d: Buffer) => {
    s.bytesIn += d.length;
    if (!b.write(d)) a.pause();
  });
  b.on('data', (d: Buffer) => {
    s.bytesOut += d.length;
    if (!a.write(d)) b.pause();
  });
  a.on('drain', () => b.resume());
  b.on('drain', () => a.resume());
  a.on('end', () => b.end());
  b.on('end', () => a.end());
  a.on('close', () => b.close());
  b.on('close', () => a.close());
  a.on('error', () => b.close());
  b.on('error', () => a.close());
}

type Kind = 'shell' | 'exec' | 'subsystem';

class SessionBridge {
  private pty: PseudoTtyInfo | null = null;
  private env: Record<string, string> = {};
  private started = false;
  private up: ClientChannel | null = null;
  private ch: ServerChannel | null = null;
  private recorder: AsciicastRecorder | null = null;
  private sftp: SftpMonitor | null = null;
  private exit: { code?: number | null; signal?: string; dump?: boolean; desc?: string } | null = null;
  private commandId = 0;
  private started_at = performance.now();

  constructor(
    private readonly s: SshSession,
    private readonly ctx: SshContext,
    private readonly session: Session,
  ) {
    session.on('pty', (accept, _reject, info) => {
      this.pty = info;
      accept?.();
    });
    session.on('env', (accept, reject, info) => {
      if (!this.started && envAllowed(s.conn.env, info.key)) {
        this.env[info.key] = info.val;
        accept?.();
      } else reject?.();
    });
    session.on('window-change', (accept, _reject, info) => {
      if (this.pty) Object.assign(this.pty, { cols: info.cols, rows: info.rows, width: info.width, height: info.height });
      this.up?.setWindow(info.rows, info.cols, info.height, info.width);
      this.recorder?.resize(info.cols, info.rows);
      accept?.();
    });
    session.on('signal', (accept, _reject, info) => {
      this.up?.signal(info.name);
      accept?.();
    });
    session.on('auth-agent', (_accept, reject) => reject?.());
    session.on('x11', (_accept, reject) => reject?.());
    session.on('shell', (accept, reject) => this.start('shell', '', accept, reject));
    session.on('exec', (accept, reject, info) => this.start('exec', info.command, accept, reject));
    session.on('subsystem', (accept, reject, info) => this.start('subsystem', info.name, accept, reject));
  }

  private start(kind: Kind, text: string, accept: () => ServerChannel | undefined, reject: (() => void) | undefined): void {
    if (this.started) return reject?.();
    this.started = true;
    const s = this.s;
    let d: Decision;
    let cmd: Command;
    if (kind === 'exec') cmd = { kind: 'exec', command: text };
    else if (kind === 'shell') cmd = { kind: 'shell' };
    else cmd = { kind: 'subsystem', name: text };
    d = decideNow(this.ctx.policy, s.info, cmd, s.log);
    const sftpMode = s.conn.sftp ?? 'allow';
    if (d.action === 'allow' && kind === 'subsystem' && text === 'sftp' && sftpMode === 'deny') {
      d = { action: 'block', rule: 'sftp', message: 'SFTP is not allowed on this connection' };
    }
    if (d.action === 'allow' && kind === 'subsystem' && text !== 'sftp') {
      d = { action: 'block', rule: 'subsystem', message: `the ${text} subsystem is not supported through portcullis` };
    }
    this.commandId = audit(s, this.ctx, kind, kind === 'shell' ? 'shell' : text, d);
    if (d.action !== 'allow') {
      // a refused command still gets a channel: the message on stderr, exit status 126, nothing run
      const ch = accept();
      if (!ch) return;
      ch.stderr.write(`portcullis: ${refusalOf(d).message}\r\n`);
      ch.exit(126);
      ch.end();
      return;
    }
    const opts: { pty?: PseudoTtyInfo; env?: Record<string, string> } = {};
    if (this.pty) opts.pty = this.pty;
    if (Object.keys(this.env).length > 0) opts.env = this.env;
    // Accepted at once: a client may send EOF right behind its request (ssh host cmd </dev/null), after which
    // the channel could no longer be accepted. Its data waits (paused) until the target's channel is open.
    const ch = accept();
    if (!ch) return;
    ch.pause();
    const onUp = (err: Error | undefined, up: ClientChannel): void => {
      if (err) {
        s.log.info({ kind, err: err.message }, 'the target refused the channel request');
        ch.stderr.write(`portcullis: the target refused the ${kind} request: ${err.message}\r\n`);
        ch.exit(255);
        ch.end();
        return;
      }
      this.up = up;
      this.ch = ch;
      if (kind !== 'subsystem') this.record(kind, text);
      else this.sftp = new SftpMonitor({ readOnly: sftpMode === 'read-only' }, (e: SftpEvent) => this.auditSftp(e));
      this.relay(ch, up);
    };
    if (kind === 'shell') s.upstream.shell(opts.pty ?? false, opts.env ? { env: opts.env } : {}, onUp);
    else if (kind === 'exec') s.upstream.exec(text, opts, onUp);
    else s.upstream.subsys(text, onUp);
  }

  private record(kind: 'shell' | 'exec', command: string): void {
    const s = this.s;
    try {
      this.recorder = AsciicastRecorder.open(path.join(this.ctx.dataDir, 'recordings'), {
        width: this.pty?.cols ?? 80,
        height: this.pty?.rows ?? 24,
        term: this.pty?.term,
        command: kind === 'exec' ? command : undefined,
        user: s.info.user,
        connection: s.info.connection,
        sessionId: s.info.id,
        channel: this.commandId,
      }, {
        onError: (err: Error) => {
          s.log.error({ err: err.message }, 'recording failed; the session goes on unrecorded');
          this.ctx.audit.append({ sessionId: s.info.id, at: Date.now(), kind: 'error', message: `recording failed: ${err.message}` });
        },
      });
      this.recordBudget = this.pty ? RECORD_LIMIT_PTY : RECORD_LIMIT_NO_PTY;
      const file = path.relative(this.ctx.dataDir, this.recorder.file);
      this.ctx.audit.recording({ sessionId: s.info.id, channel: this.commandId, file, startedAt: Date.now(), kind });
    } catch (err) {
      s.log.error({ err: (err as Error).message }, 'cannot record the session channel');
    }
  }

  /** Bytes the recording may still take: terminals are recorded whole (up to a cap); a channel without a
   * pty (scp -O, rsync, a command streaming data) only its first bytes — a recording of a 1 GiB binary
   * stream is neither replayable nor affordable, and would let any user fill the gateway's disk. */
  private recordBudget = 0;

  private rec(code: 'o' | 'i', d: Buffer): void {
    const r = this.recorder;
    if (!r) return;
    if (d.length <= this.recordBudget) {
      this.recordBudget -= d.length;
      if (code === 'o') r.output(d);
      else r.input(d);
      return;
    }
    const part = d.subarray(0, this.recordBudget);
    if (part.length > 0) {
      if (code === 'o') r.output(part);
      else r.input(part);
    }
    r.marker('portcullis: recording truncated here (size limit); the session went on unrecorded');
    r.close();
    this.recorder = null;
    this.ctx.audit.append({ sessionId: this.s.info.id, at: Date.now(), kind: 'error', commandId: this.commandId, message: 'recording truncated (size limit)' });
  }

  private auditSftp(e: SftpEvent): void {
    const text = 'path' in e && e.path !== undefined ? `${e.op} ${e.path}` : 'from' in e ? `${e.op} ${e.from} -> ${e.to}` : e.op;
    this.ctx.audit.append({
      sessionId: this.s.info.id,
      at: Date.now(),
      kind: 'decision',
      commandId: ++cmdSeq,
      via: 'sftp',
      text: e.op === 'close' ? `${text} (read ${e.bytesRead}, written ${e.bytesWritten})` : text,
      decision: e.op === 'denied' ? 'block' : 'allow',
      ...(e.op === 'denied' ? { rule: 'sftp', message: e.reason } : {}),
    });
  }

  private relay(ch: ServerChannel, up: ClientChannel): void {
    const s = this.s;
    // target → client
    up.on('data', (d: Buffer) => {
      s.bytesOut += d.length;
      if (this.aborted) return;
      if (this.sftp) {
        let out: Buffer[];
        try {
          out = this.sftp.fromServer(d);
        } catch (err) {
          return this.abort(err);
        }
        for (const b of out) if (!ch.write(b)) up.pause();
        return;
      }
      this.rec('o', d);
      if (!ch.write(d)) up.pause();
    });
    up.stderr.on('data', (d: Buffer) => {
      s.bytesOut += d.length;
      this.rec('o', d);
      if (!ch.stderr.write(d)) up.pause();
    });
    ch.on('drain', () => up.resume());
    // client → target
    ch.on('data', (d: Buffer) => {
      s.bytesIn += d.length;
      if (this.aborted) return;
      if (this.sftp) {
        let r: { toServer: Buffer[]; toClient: Buffer[] };
        try {
          r = this.sftp.fromClient(d);
        } catch (err) {
          return this.abort(err);
        }
        for (const b of r.toClient) ch.write(b);
        for (const b of r.toServer) if (!up.write(b)) ch.pause();
        return;
      }
      this.rec('i', d);
      if (!up.write(d)) ch.pause();
    });
    up.on('drain', () => ch.resume());
    ch.on('end', () => up.end());
    up.on('exit', (code: number | null, signal?: string, dump?: boolean, desc?: string) => {
      this.exit = { code, signal, dump, desc };
    });
    // Done when the target closed its channel AND everything it sent was read (close can arrive while data
    // still waits in the paused stream).
    let upEnded = false;
    let upClosed = false;
    const maybeFinish = (): void => {
      if (upEnded && upClosed) this.finish(ch);
    };
    up.on('end', () => {
      upEnded = true;
      maybeFinish();
    });
    up.on('close', () => {
      upClosed = true;
      // a channel closed without EOF never ends its readable side when nothing is buffered
      if (!upEnded && up.readableLength === 0) upEnded = true;
      maybeFinish();
    });
    ch.on('close', () => {
      up.close();
      this.recorder?.close();
      this.sftp?.end();
    });
    ch.resume();
  }

  private aborted = false;

  private abort(err: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    const msg = err instanceof SftpError ? err.message : 'internal error';
    this.sftp?.end();
    this.sftp = null;
    this.s.log.warn({ err: msg }, 'sftp stream aborted');
    this.ch?.stderr.write(`portcullis: ${msg}\r\n`);
    this.ch?.exit(255);
    this.ch?.end();
    this.up?.close();
  }

  /** The target closed its channel: exit status (or a note that there was none), then EOF and close. */
  private finish(ch: ServerChannel): void {
    const done = (): void => {
      const e = this.exit;
      if (e?.signal) ch.exit(e.signal.replace(/^SIG/, ''), e.dump ?? false, e.desc ?? '');
      else if (typeof e?.code === 'number') ch.exit(e.code);
      else if (!this.sftp) {
        ch.stderr.write('portcullis: the target closed the session without an exit status\r\n');
        ch.exit(255);
      }
      ch.end();
      this.recorder?.close();
      this.ctx.audit.append({
        sessionId: this.s.info.id,
        at: Date.now(),
        kind: 'complete',
        commandId: this.commandId,
        durationMs: Math.round(performance.now() - this.started_at),
        ...(e?.signal ? { error: `signal ${e.signal}` } : typeof e?.code === 'number' && e.code !== 0 ? { error: `exit status ${e.code}` } : {}),
      });
    };
    // exit status after the last byte: an empty write completes once everything before it was sent
    if (ch.writableLength > 0) ch.write(Buffer.alloc(0), () => done());
    else done();
  }
}
