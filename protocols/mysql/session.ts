// The relay after authentication. MySQL is request/response: every command the client sends is decided by
// the policy (frontend.ts) and, when forwarded, leaves an Op saying what the target will answer; the
// answers are read against that queue (backend.ts), masked, renumbered and translated where the two legs
// negotiated different capabilities. Unchanged packets go out as slices of the bytes that arrived.
import type net from 'node:net';
import type { Logger } from 'pino';
import type { AuditStore } from '../../src/audit/store.js';
import type { Policy, ResultMasker, SessionInfo } from '../../src/types.js';
import { Cap } from './codes.js';
import { MyFramer, newMessage, packet } from './packets.js';
import { encodeErr, type Err } from './messages.js';
import { errors } from './errors.js';
import type { Op, Stmt } from './ops.js';
import { onClientData, probeSqlMode } from './frontend.js';
import { onUpstreamData } from './backend.js';

/** MySQL's own ceiling for max_allowed_packet. */
const MAX_MESSAGE = 0x40000000;
/** How long the rest of a packet may take to arrive once it started (MySQL's net_read_timeout is 30 s). */
export const PARTIAL_PACKET_TIMEOUT_MS = 30_000;

function totalLength(parts: Buffer[]): number {
  let n = 0;
  for (const b of parts) n += b.length;
  return n;
}

export interface MySessionDeps {
  policy: Policy;
  masker: ResultMasker | null;
  audit: AuditStore;
  log: Logger;
  clientCaps: number;
  upstreamCaps: number;
  /** connection id the client was given in the greeting */
  threadId: number;
  /** the target's id for the same session */
  upstreamThreadId: number;
  targetVersion: string;
  localInfile: boolean;
  threads: Map<number, MySession>;
  onClose: (s: MySession) => void;
  /** tests: override the partial-packet timeout */
  partialPacketTimeoutMs?: number;
}

export class MySession {
  readonly clientFramer = new MyFramer(MAX_MESSAGE);
  readonly upFramer = new MyFramer(MAX_MESSAGE);
  readonly cm = newMessage();
  readonly um = newMessage();
  readonly ops: Op[] = [];
  readonly stmts = new Map<number, Stmt>();
  readonly trace: boolean;
  /** client and target legs both use CLIENT_DEPRECATE_EOF */
  readonly clientDeprecateEof: boolean;
  readonly upDeprecateEof: boolean;
  /** lexer settings as the target last reported them (SELECT @@sql_mode) */
  noBackslashEscapes = false;
  ansiQuotes = false;
  /** sql_mode probes sent and not yet answered: judge text under every reading meanwhile */
  sqlModeInFlight = 0;
  /** LOAD DATA LOCAL INFILE: the client is sending the file; next expected sequence id */
  infile: { op: Op; seq: number } | null = null;
  lastPrepared: Stmt | null = null;
  /** answers held until the sql_mode probe behind them is answered */
  held: Buffer[] = [];
  /** detectors for error messages on a masked connection (undefined: not built yet) */
  errDetect: ((t: string) => string) | null | undefined = undefined;
  cmdSeq = 0;
  /** last server status flags seen */
  status = 0x0002;
  closed = false;
  draining = false;
  private failing = false;
  private partialTimer: NodeJS.Timeout | null = null;
  upSuspended = false;
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    readonly info: SessionInfo,
    readonly client: net.Socket,
    readonly upstream: net.Socket,
    readonly deps: MySessionDeps,
  ) {
    this.trace = deps.log.isLevelEnabled('trace');
    this.clientDeprecateEof = (deps.clientCaps & Cap.DEPRECATE_EOF) !== 0;
    this.upDeprecateEof = (deps.upstreamCaps & Cap.DEPRECATE_EOF) !== 0;
  }

  /** Start relaying; `hello` (the login OK) is released when the first sql_mode probe is answered. */
  start(clientRest: Buffer, upstreamRest: Buffer, hello?: Buffer): void {
    if (hello) this.held.push(hello);
    this.client.on('data', (d: Buffer) => onClientData(this, d));
    this.upstream.on('data', (d: Buffer) => onUpstreamData(this, d));
    this.client.on('drain', () => this.upstream.resume());
    this.upstream.on('drain', () => this.client.resume());
    this.client.on('close', () => this.close('client closed'));
    this.upstream.on('close', () => this.fatal(errors.targetLost(), 'target closed'));
    this.client.on('error', (e) => this.deps.log.debug({ err: e.message }, 'client socket error'));
    this.upstream.on('error', (e) => this.deps.log.debug({ err: e.message }, 'target socket error'));
    // The lexer must read text as the target will: learn sql_mode before the first command is judged.
    probeSqlMode(this);
    if (upstreamRest.length) onUpstreamData(this, upstreamRest);
    if (clientRest.length) onClientData(this, clientRest);
    this.client.resume();
    this.upstream.resume();
  }

  /**
   * A client that starts a packet and stops sending must not hold the session forever: like MySQL's
   * net_read_timeout, the limit is on silence while a packet is incomplete, not on the packet's total time.
   */
  watchPartial(): void {
    const pending = this.clientFramer.buffered() > 0;
    if (pending && this.partialTimer) this.partialTimer.refresh();
    else if (pending) {
      this.partialTimer = setTimeout(() => {
        this.partialTimer = null;
        if (this.clientFramer.buffered() > 0) this.fatal(errors.timeout(), 'partial packet timeout');
      }, this.deps.partialPacketTimeoutMs ?? PARTIAL_PACKET_TIMEOUT_MS);
      this.partialTimer.unref();
    } else if (!pending && this.partialTimer) {
      clearTimeout(this.partialTimer);
      this.partialTimer = null;
    }
  }

  shutdown(): void {
    this.draining = true;
    if (this.ops.length === 0 && !(this.status & 0x0001)) this.fatal(errors.shuttingDown(), 'gateway shutdown');
  }

  /** Close now (the audit store failed: nothing may wait for it), telling the client why. */
  destroy(reason: string): void {
    if (this.closed) return;
    const seq = this.ops.length > 0 ? this.ops[0]!.outSeq : 0;
    if (!this.client.destroyed) this.client.write(packet(seq & 0xff, encodeErr(errors.auditFailed())));
    this.close(reason);
  }

  writeTo(dest: net.Socket, out: Buffer[], source: net.Socket): void {
    if (this.closed || dest.destroyed || out.length === 0) return;
    let ok = true;
    if (out.length === 1) ok = dest.write(out[0]!);
    else if (out.length > 8 || totalLength(out) < 65536) {
      // one write: a copy of a few small pieces costs less than a writev through cork/uncork
      ok = dest.write(Buffer.concat(out));
    } else {
      dest.cork();
      for (const b of out) ok = dest.write(b);
      dest.uncork();
    }
    if (!ok) source.pause();
  }

  /** Tell the client (an ERR packet with the next sequence id of the command in progress), then close. */
  fatal(e: Err, reason: string): void {
    if (this.closed || this.failing) return;
    this.failing = true;
    const seq = this.ops.length > 0 ? this.ops[0]!.outSeq : 0;
    const msg = packet(seq & 0xff, encodeErr(e));
    this.deps.audit.append({ sessionId: this.info.id, at: Date.now(), kind: 'error', message: `${e.code} ${e.message}` });
    this.deps.audit.afterCommit(() => {
      if (!this.client.destroyed) this.client.end(msg);
      this.close(reason);
    });
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.partialTimer) clearTimeout(this.partialTimer);
    // COM_QUIT, so the target logs a clean disconnect
    if (!this.upstream.destroyed) this.upstream.end(Buffer.from([1, 0, 0, 0, 1]));
    setTimeout(() => this.upstream.destroy(), 1000).unref();
    if (!this.client.destroyed) this.client.end();
    setTimeout(() => this.client.destroy(), 1000).unref();
    this.deps.log.info({ reason, bytesIn: this.bytesIn, bytesOut: this.bytesOut }, 'session closed');
    this.deps.audit.endSession(this.info.id, { endedAt: Date.now(), reason, bytesIn: this.bytesIn, bytesOut: this.bytesOut });
    this.deps.onClose(this);
  }
}
