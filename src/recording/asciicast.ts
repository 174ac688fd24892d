// Terminal session recording as asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a JSON
// header line, then one `[elapsedSeconds, code, data]` line per event ('o' output, 'i' input, 'r' resize
// "COLSxROWS", 'm' marker). Writes are incremental: events are buffered and written with one write(2) at
// most every FLUSH_INTERVAL_MS (an unref'd timer) or as soon as FLUSH_BYTES wait, so memory stays bounded
// and a crash loses at most the last fraction of a second. A write error never reaches the caller's data
// path: it is recorded in `failed`, reported once through `onError`, and recording stops.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';

export interface RecordingHeader {
  width: number;
  height: number;
  /** the client's TERM (pty-req) → header env.TERM */
  term?: string;
  /** the exec command (absent for a shell) */
  command?: string;
  user: string;
  connection: string;
  sessionId: string;
  channel: number;
  /** unix seconds; default now */
  timestamp?: number;
  title?: string;
}

export interface RecorderOptions {
  /** called once, on the first write error (recording has stopped by then); never lets an error escape */
  onError?: (err: Error) => void;
  /** write buffered events at least this often (default 250 ms) */
  flushIntervalMs?: number;
  /** write at once when this many bytes wait (default 64 KiB) */
  flushBytes?: number;
}

export type AsciicastCode = 'o' | 'i' | 'r' | 'm';

const FLUSH_INTERVAL_MS = 250;
const FLUSH_BYTES = 64 * 1024;

/** `${sessionId}-${channel}.cast`, with anything that is not safe in a file name replaced. */
export function recordingFileName(sessionId: string, channel: number, attempt = 1): string {
  const safe = sessionId.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_') || '_';
  return `${safe}-${channel}${attempt > 1 ? `.${attempt}` : ''}.cast`;
}

/** v2 wants integers: a missing or odd size becomes the usual default. */
const dimension = (n: number, fallback: number): number => (Number.isFinite(n) && n > 0 ? Math.trunc(n) : fallback);

/** The header object written as the first line. */
export function asciicastHeader(h: RecordingHeader): Record<string, unknown> {
  return {
    version: 2,
    width: dimension(h.width, 80),
    height: dimension(h.height, 24),
    timestamp: Math.floor(h.timestamp ?? Date.now() / 1000),
    ...(h.command !== undefined ? { command: h.command } : {}),
    ...(h.title !== undefined ? { title: h.title } : {}),
    env: h.term !== undefined ? { TERM: h.term } : {},
    portcullis: {
      user: h.user,
      connection: h.connection,
      sessionId: h.sessionId,
      channel: h.channel,
      ...(h.command !== undefined ? { command: h.command } : {}),
    },
  };
}

export class AsciicastRecorder {
  /** the recording's path (dir joined with the file name) */
  readonly file: string;
  /** the write error that stopped the recording, if any */
  failed: Error | null = null;
  onError: (err: Error) => void;

  private fd: number | null;
  private readonly start: number;
  private last = 0;
  private pending: string[] = [];
  private pendingBytes = 0;
  private written = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly outDecoder = new StringDecoder('utf8');
  private readonly inDecoder = new StringDecoder('utf8');
  private readonly flushIntervalMs: number;
  private readonly flushBytes: number;

  /**
   * Creates `dir` (recursive, 0700) and `${sessionId}-${channel}.cast` in it (0600, never overwriting: when
   * the name is taken — an SSH channel number reused within a session — `${sessionId}-${channel}.2.cast`
   * and so on), and writes the header line at once. Throws when the file cannot be created or the header
   * not written: the caller decides whether the session may go on unrecorded.
   */
  static open(dir: string, header: RecordingHeader, opts: RecorderOptions = {}): AsciicastRecorder {
    if (!Number.isInteger(header.channel) || header.channel < 0) throw new Error(`invalid channel ${header.channel}`);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    let fd: number | undefined;
    let file = '';
    for (let attempt = 1; fd === undefined; attempt++) {
      file = path.join(dir, recordingFileName(header.sessionId, header.channel, attempt));
      try {
        fd = fs.openSync(file, 'wx', 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 1000) throw err;
      }
    }
    const line = Buffer.from(JSON.stringify(asciicastHeader(header)) + '\n', 'utf8');
    try {
      writeAll(fd, line);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    return new AsciicastRecorder(file, fd, line.length, opts);
  }

  private constructor(file: string, fd: number, headerBytes: number, opts: RecorderOptions) {
    this.file = file;
    this.fd = fd;
    this.written = headerBytes;
    this.start = performance.now();
    this.onError = opts.onError ?? (() => {});
    this.flushIntervalMs = opts.flushIntervalMs ?? FLUSH_INTERVAL_MS;
    this.flushBytes = opts.flushBytes ?? FLUSH_BYTES;
  }

  /** Output from the target ('o'). Bytes are decoded as UTF-8 across chunks. */
  output(data: Buffer | string): void {
    this.stream('o', this.outDecoder, data);
  }

  /** Input from the client ('i'). Keystrokes include whatever is typed at a password prompt. */
  input(data: Buffer | string): void {
    this.stream('i', this.inDecoder, data);
  }

  /** A window change ('r', "COLSxROWS"). */
  resize(cols: number, rows: number): void {
    if (!Number.isFinite(cols) || !Number.isFinite(rows)) return;
    this.event('r', `${Math.max(0, Math.trunc(cols))}x${Math.max(0, Math.trunc(rows))}`);
  }

  /** A marker ('m'), e.g. where a command was blocked. */
  marker(label: string): void {
    this.event('m', label);
  }

  /** Size of the recording so far: header and events, including those not yet written. */
  bytes(): number {
    return this.written + this.pendingBytes;
  }

  /** Seconds since the header, as the next event would carry it. */
  elapsed(): number {
    return Math.max(this.last, Math.round((performance.now() - this.start) * 1e3) / 1e6);
  }

  /** Writes everything still buffered (and any incomplete UTF-8 sequence, as U+FFFD), closes the file. Idempotent. */
  close(): void {
    if (this.closed) return;
    const out = this.outDecoder.end();
    if (out) this.event('o', out);
    const inp = this.inDecoder.end();
    if (inp) this.event('i', inp);
    this.closed = true;
    this.flush();
    this.release();
  }

  /** Writes the buffered events now (also done by the timer and at FLUSH_BYTES). */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.fd === null || this.pending.length === 0) return;
    const buf = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    this.pendingBytes = 0;
    try {
      writeAll(this.fd, buf);
      this.written += buf.length;
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private stream(code: 'o' | 'i', decoder: StringDecoder, data: Buffer | string): void {
    if (this.closed || this.failed) return;
    // a string after bytes ending mid-character: the incomplete sequence is given up first (U+FFFD)
    const text = typeof data === 'string' ? decoder.end() + data : decoder.write(data);
    if (text) this.event(code, text);
  }

  private event(code: AsciicastCode, data: string): void {
    if (this.closed || this.failed) return;
    // microseconds at most (6 decimals); never earlier than the previous event
    const t = Math.max(this.last, Math.round((performance.now() - this.start) * 1e3) / 1e6);
    this.last = t;
    const line = `${JSON.stringify([t, code, data])}\n`;
    this.pending.push(line);
    this.pendingBytes += Buffer.byteLength(line, 'utf8');
    if (this.pendingBytes >= this.flushBytes) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.flushIntervalMs).unref();
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.pending = [];
    this.pendingBytes = 0;
    this.release();
    try {
      this.onError(err);
    } catch {
      // the data path must not see it
    }
  }

  private release(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.fd !== null) {
      const fd = this.fd;
      this.fd = null;
      try {
        fs.closeSync(fd);
      } catch (err) {
        if (!this.failed) this.fail(err as Error);
      }
    }
  }
}

function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
}
