// Reading asciicast v2 recordings back: a streaming parser (line by line, so a large recording is never
// held in memory) and a player that writes the output events with their original timing.
import fs from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

export type CastEvent = [time: number, code: string, data: string];

export class RecordingFormatError extends Error {
  override name = 'RecordingFormatError';
}

export interface CastReader {
  header: Record<string, unknown> & { version: 2; width: number; height: number };
  events: AsyncGenerator<CastEvent>;
  /** lines that were not a valid event (counted as `events` is consumed; e.g. a line torn by a full disk) */
  skipped(): number;
}

export function isCastEvent(v: unknown): v is CastEvent {
  return Array.isArray(v) && v.length === 3 && typeof v[0] === 'number' && Number.isFinite(v[0]) && typeof v[1] === 'string' && typeof v[2] === 'string';
}

/** Opens a recording: the header is read and checked at once (RecordingFormatError when it is not asciicast v2). */
export async function openCast(file: string): Promise<CastReader> {
  const stream = fs.createReadStream(file, { encoding: 'utf8' });
  const lines = createInterface({ input: stream, crlfDelay: Infinity })[Symbol.asyncIterator]();
  const first = await lines.next();
  let header: unknown;
  try {
    header = first.done ? undefined : JSON.parse(first.value);
  } catch {
    header = undefined;
  }
  const h = header as Record<string, unknown> | undefined;
  if (!h || typeof h !== 'object' || Array.isArray(h) || h.version !== 2) {
    stream.destroy();
    throw new RecordingFormatError(`${file}: not an asciicast v2 recording (the first line is not a version 2 header)`);
  }
  let skipped = 0;
  async function* events(): AsyncGenerator<CastEvent> {
    try {
      for (let next = await lines.next(); !next.done; next = await lines.next()) {
        if (next.value === '') continue;
        let ev: unknown;
        try {
          ev = JSON.parse(next.value);
        } catch {
          ev = undefined;
        }
        if (isCastEvent(ev)) yield ev;
        else skipped++;
      }
    } finally {
      stream.destroy();
    }
  }
  return { header: h as CastReader['header'], events: events(), skipped: () => skipped };
}

export interface PlayOptions {
  /** divide the recorded delays by this; 0 (or wait: false) plays without delays */
  speed?: number;
  wait?: boolean;
}

/** Writes every output ('o') event's data, at the recorded times divided by `speed`. Returns how many were written. */
export async function playCast(reader: CastReader, write: (data: string) => void, opts: PlayOptions = {}): Promise<number> {
  const speed = opts.speed ?? 1;
  const timed = opts.wait !== false && speed > 0;
  const t0 = performance.now();
  let n = 0;
  for await (const [t, code, data] of reader.events) {
    if (code !== 'o') continue;
    if (timed) {
      // against the start, not the previous event: no drift from timer lateness
      const due = (t * 1000) / speed - (performance.now() - t0);
      if (due > 1) await sleep(due);
    }
    write(data);
    n++;
  }
  return n;
}
