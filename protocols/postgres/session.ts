// The relay after authentication: frames from the client go through the policy and on to the target;
// frames from the target go through the masking plan and back. Each direction is split into frames once;
// unchanged frames are forwarded as slices of the bytes that arrived, one write per chunk.
// This file is the session's state and lifecycle; client → target is frontend.ts, target → client backend.ts.
import type net from 'node:net';
import type { Logger } from 'pino';
import type { AuditStore } from '../../src/audit/store.js';
import type { CellMasker, Policy, ResultMasker, SessionInfo } from '../../src/types.js';
import { Reader, Writer } from './bytes.js';
import { Framer } from './framer.js';
import { encodeErrorResponse, encodeTerminate, type ErrorFields } from './messages.js';
import { errors } from './errors.js';
import type { CatalogResolver } from './catalog.js';
import { ChunkOut, type ActivePlan, type CopyFormat } from './results.js';
import type { Op, Portal, Statement } from './ops.js';
import { onClientData } from './frontend.js';
import { onUpstreamData } from './backend.js';

/** PostgreSQL's own cap on a message from the client. */
const MAX_CLIENT_FRAME = 0x3fffffff;
const MAX_SERVER_FRAME = 0x3fffffff;

export interface SessionDeps {
  policy: Policy;
  masker: ResultMasker | null;
  catalog: CatalogResolver | null;
  audit: AuditStore;
  log: Logger;
  onClose: (s: PgSession) => void;
  /** as the target reported it at login */
  standardConformingStrings: boolean;
}

export class PgSession {
  // Relay state, read and written by frontend.ts and backend.ts; not for callers outside this folder.
  readonly clientFramer = new Framer(MAX_CLIENT_FRAME);
  readonly upFramer = new Framer(MAX_SERVER_FRAME);
  readonly r = new Reader();
  readonly w = new Writer(1024);
  /** rewritten rows of the chunk being processed (target → client) */
  readonly rowsOut = new ChunkOut();
  /** masker for text the target echoes in errors and notices (undefined: not built yet) */
  noticeMasker: CellMasker | null | undefined = undefined;
  readonly ops: Op[] = [];
  readonly statements = new Map<string, Statement>();
  /** a statement that may change standard_conforming_strings was sent and not yet answered */
  scsChangeInFlight = false;
  /** Parsed, not yet confirmed by ParseComplete (latest Parse per name) */
  readonly pendingStatements = new Map<string, Statement>();
  readonly portals = new Map<string, Portal>();
  readonly copyTableColumns = new Map<string, string[]>();
  readonly trace: boolean;
  standardConformingStrings = true;
  cmdSeq = 0;
  bindSeq = 0;
  /** the simple-query result being streamed */
  qPlan: ActivePlan | null = null;
  copy: { plan: ActivePlan | null; format: CopyFormat | null; skipHeader: boolean } | null = null;
  upSuspended = false;
  upQueue: Buffer[] = [];
  closed = false;
  draining = false;
  private failing = false;
  txStatus = 0x49; // 'I'
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    readonly info: SessionInfo,
    readonly client: net.Socket,
    readonly upstream: net.Socket,
    readonly deps: SessionDeps,
  ) {
    this.trace = deps.log.isLevelEnabled('trace');
    this.standardConformingStrings = deps.standardConformingStrings;
  }

  /** Start relaying; `clientRest`/`upstreamRest` are bytes that arrived during the handshake. */
  start(clientRest: Buffer, upstreamRest: Buffer): void {
    this.client.on('data', (d: Buffer) => onClientData(this, d));
    this.upstream.on('data', (d: Buffer) => onUpstreamData(this, d));
    this.client.on('drain', () => this.upSuspended || this.upstream.resume());
    this.upstream.on('drain', () => this.client.resume());
    this.client.on('close', () => this.close('client closed'));
    // A target that goes away is said in the client's protocol, not as a bare disconnect.
    this.upstream.on('close', () => this.fatal(errors.targetLost(), 'target closed'));
    this.client.on('error', (e) => this.deps.log.debug({ err: e.message }, 'client socket error'));
    this.upstream.on('error', (e) => this.deps.log.debug({ err: e.message }, 'target socket error'));
    if (upstreamRest.length) onUpstreamData(this, upstreamRest);
    if (clientRest.length) onClientData(this, clientRest);
    this.client.resume();
    this.upstream.resume();
  }

  /** Graceful shutdown: idle sessions end now; busy ones when their current command finishes. */
  shutdown(): void {
    this.draining = true;
    if (this.ops.length === 0 && this.txStatus === 0x49) this.fatal(errors.shuttingDown(), 'gateway shutdown');
  }

  destroy(reason: string): void {
    this.close(reason);
  }

  // ---- writes, errors, close ----------------------------------------------------------------------

  writeTo(dest: net.Socket, out: Buffer[], source: net.Socket): void {
    if (this.closed || dest.destroyed) return;
    let ok = true;
    if (out.length === 1) ok = dest.write(out[0]!);
    else if (out.length > 8) {
      // Many pieces (masked rows between slices): one copy beats a writev of hundreds of small buffers.
      ok = dest.write(Buffer.concat(out));
    } else {
      dest.cork();
      for (const b of out) ok = dest.write(b);
      dest.uncork();
    }
    // Backpressure: stop reading the other side until this one drains.
    if (!ok) source.pause();
  }

  /** Tell the client in its protocol, then close both legs. */
  fatal(fields: ErrorFields, reason: string): void {
    if (this.closed || this.failing) return;
    this.failing = true;
    const msg = encodeErrorResponse(fields);
    this.deps.audit.append({ sessionId: this.info.id, at: Date.now(), kind: 'error', message: `${fields.code} ${fields.message}` });
    this.deps.audit.afterCommit(() => {
      if (!this.client.destroyed) this.client.end(msg);
      this.close(reason);
    });
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.upstream.destroyed) this.upstream.end(encodeTerminate());
    setTimeout(() => this.upstream.destroy(), 1000).unref();
    if (!this.client.destroyed) this.client.end();
    setTimeout(() => this.client.destroy(), 1000).unref();
    this.deps.log.info({ reason, bytesIn: this.bytesIn, bytesOut: this.bytesOut }, 'session closed');
    this.deps.audit.endSession(this.info.id, { endedAt: Date.now(), reason, bytesIn: this.bytesIn, bytesOut: this.bytesOut });
    this.deps.onClose(this);
  }
}
