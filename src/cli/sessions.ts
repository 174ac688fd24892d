// `portcullis sessions list -c FILE [--json] [--limit N]` and
// `portcullis sessions replay ID -c FILE [--speed N] [--channel N] [--no-wait]`: read the SQLite audit
// store of a config. Read-only and safe while a gateway runs on the same store: the database is opened
// read-only and its spool is read, never replayed or truncated (SqliteAuditReader).
// Exit 0 ok; 1 when the store, the session, its recording or the recording's file is missing;
// 2 on bad arguments or an invalid config.
import fs from 'node:fs';
import path from 'node:path';
import type { Command as Program } from 'commander';
import type { SqliteAuditReader, SessionSummary } from '../audit/sqlite.js';
import type { RecordingRecord } from '../audit/store.js';
import { openCast, playCast, RecordingFormatError, type CastReader } from '../recording/replay.js';
import { CliExit, type CliIo } from './io.js';
import { loadForCli, openAuditReader } from './store.js';

export interface SessionsListOptions {
  config: string;
  json?: boolean;
  limit?: string;
}

export interface SessionsReplayOptions {
  config: string;
  speed?: string;
  channel?: string;
  /** false with --no-wait */
  wait?: boolean;
}

export function registerSessionsCommands(program: Program, io: CliIo, setCode: (code: number) => void): void {
  const sessions = program.command('sessions').description('sessions recorded in the audit store');
  sessions
    .command('list')
    .description('the latest sessions: id, start, user, connection, protocol, end, reason, recordings')
    .option('-c, --config <file>', 'config file', 'portcullis.yaml')
    .option('--json', 'a JSON array on stdout')
    .option('--limit <n>', 'at most this many sessions, newest first', '100')
    .action((opts: SessionsListOptions) => setCode(sessionsList(io, opts)));
  sessions
    .command('replay')
    .description("play a session's terminal recording (output only) to stdout with its original timing")
    .argument('<id>', 'session id (see `sessions list`)')
    .option('-c, --config <file>', 'config file', 'portcullis.yaml')
    .option('--speed <n>', 'divide the recorded delays by N (0: no delays)', '1')
    .option('--channel <n>', "the SSH channel's recording (default: the session's first recording)")
    .option('--no-wait', 'no delays at all (same as --speed 0)')
    .action(async (id: string, opts: SessionsReplayOptions) => setCode(await sessionsReplay(io, id, opts)));
}

function parseCount(value: string, flag: string, min: number): number {
  if (!/^\d+$/.test(value.trim())) throw new CliExit(2, `${flag} must be a whole number, not "${value}"`);
  const n = Number(value.trim());
  if (n < min) throw new CliExit(2, `${flag} must be at least ${min}`);
  return n;
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));

export interface SessionListEntry {
  id: string;
  started: string;
  ended: string | null;
  user: string;
  groups: string[];
  connection: string;
  protocol: string;
  clientAddress: string;
  database: string | null;
  reason: string | null;
  bytesIn: number | null;
  bytesOut: number | null;
  recordings: number;
}

function toEntry(s: SessionSummary): SessionListEntry {
  return {
    id: s.id,
    started: iso(s.startedAt) ?? '',
    ended: iso(s.endedAt),
    user: s.user,
    groups: [...s.groups],
    connection: s.connection,
    protocol: s.protocol,
    clientAddress: s.clientAddress,
    database: s.database ?? null,
    reason: s.reason ?? null,
    bytesIn: s.bytesIn ?? null,
    bytesOut: s.bytesOut ?? null,
    recordings: s.recordings,
  };
}

export function formatSessions(entries: readonly SessionListEntry[]): string {
  const head = ['ID', 'STARTED', 'USER', 'CONNECTION', 'PROTOCOL', 'ENDED', 'REASON', 'RECORDINGS'];
  const rows = entries.map((e) => [e.id, e.started, e.user, e.connection, e.protocol, e.ended ?? '-', e.reason ?? '-', String(e.recordings)]);
  if (rows.length === 0) return '(no sessions)\n';
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

export function sessionsList(io: CliIo, opts: SessionsListOptions): number {
  const limit = parseCount(opts.limit ?? '100', '--limit', 1);
  const config = loadForCli(io, opts.config);
  const { reader } = openAuditReader(config, 'sessions');
  let entries: SessionListEntry[];
  try {
    entries = reader.listSessions(limit).map(toEntry);
  } finally {
    reader.close();
  }
  io.out(opts.json ? `${JSON.stringify(entries, null, 2)}\n` : formatSessions(entries));
  return 0;
}

export async function sessionsReplay(io: CliIo, id: string, opts: SessionsReplayOptions): Promise<number> {
  const speedText = (opts.speed ?? '1').trim();
  const speed = Number(speedText);
  if (speedText === '' || !Number.isFinite(speed) || speed < 0) throw new CliExit(2, `--speed must be a number >= 0, not "${opts.speed}"`);
  const channel = opts.channel === undefined ? undefined : parseCount(opts.channel, '--channel', 0);
  const config = loadForCli(io, opts.config);
  const { reader, file: storeFile } = openAuditReader(config, 'sessions');
  let recordings: RecordingRecord[];
  try {
    if (!reader.session(id)) throw new CliExit(1, `unknown session "${id}" (not in the audit store ${storeFile})`);
    recordings = reader.recordings(id);
  } finally {
    reader.close();
  }
  if (recordings.length === 0) throw new CliExit(1, `session ${id} has no recording`);
  const matching = channel === undefined ? recordings : recordings.filter((r) => r.channel === channel);
  const chosen = matching[0];
  if (!chosen) {
    const channels = [...new Set(recordings.map((r) => r.channel))].join(', ');
    throw new CliExit(1, `session ${id} has no recording of channel ${channel} (recorded channels: ${channels})`);
  }
  if (matching.length > 1) {
    io.err(
      channel === undefined
        ? `note: session ${id} has ${matching.length} recordings (channels ${matching.map((r) => r.channel).join(', ')}); playing the first (channel ${chosen.channel}, ${chosen.kind}); choose with --channel N\n`
        : `note: session ${id} has ${matching.length} recordings of channel ${channel} (the client reused the number); playing the first\n`,
    );
  }
  // relative paths in the index are relative to the data dir; an absolute one from a data dir that has
  // moved since is looked for under this data dir's recordings/ as well
  let castFile = path.resolve(config.dataDir, chosen.file);
  const moved = path.join(config.dataDir, 'recordings', path.basename(chosen.file));
  if (!fs.existsSync(castFile) && path.isAbsolute(chosen.file) && fs.existsSync(moved)) castFile = moved;
  if (!fs.existsSync(castFile)) throw new CliExit(1, `the recording file of session ${id} channel ${chosen.channel} is missing: ${castFile}`);
  let cast: CastReader;
  try {
    cast = await openCast(castFile);
  } catch (err) {
    if (err instanceof RecordingFormatError) throw new CliExit(1, err.message);
    throw new CliExit(1, `cannot read the recording ${castFile}: ${(err as Error).message}`);
  }
  await playCast(cast, (data) => io.out(data), { speed, wait: opts.wait !== false });
  if (cast.skipped() > 0) io.err(`warning: ${cast.skipped()} line(s) of ${castFile} are not asciicast events and were skipped\n`);
  return 0;
}
