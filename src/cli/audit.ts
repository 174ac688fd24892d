// `portcullis audit verify -c FILE [--json]` and `portcullis audit export -c FILE [--since T] [--format jsonl]`:
// read the SQLite audit store of a config, read-only (safe while a gateway runs on it, like `sessions`).
// verify walks the hash chain and cross-checks the rows (src/audit/verify.ts): exit 0 and
// "audit chain intact: N entries (M before the chain)", or exit 1 naming the first bad entry.
// export prints one JSON object per event and line (for a SIEM), in chain order.
// Exit 2 on bad arguments or an invalid config; 1 when the store is missing or cannot be read.
import type { Command as Program } from 'commander';
import { CliExit, type CliIo } from './io.js';
import { loadForCli, openAuditReader } from './store.js';

export interface AuditVerifyOptions {
  config: string;
  json?: boolean;
}

export interface AuditExportOptions {
  config: string;
  since?: string;
  format?: string;
}

export function registerAuditCommands(program: Program, io: CliIo, setCode: (code: number) => void): void {
  const audit = program.command('audit').description('the tamper-evident audit store');
  audit
    .command('verify')
    .description('check the hash chain of the audit store and every row against it (exit 1 naming the first bad entry)')
    .option('-c, --config <file>', 'config file', 'portcullis.yaml')
    .option('--json', 'a JSON result on stdout')
    .action((opts: AuditVerifyOptions) => setCode(auditVerify(io, opts)));
  audit
    .command('export')
    .description('the audit events as JSON lines (with user, connection, chain seq and hash), in chain order')
    .option('-c, --config <file>', 'config file', 'portcullis.yaml')
    .option('--since <time>', 'only events at or after this time (ISO 8601 or ms since the epoch)')
    .option('--format <format>', 'output format (jsonl)', 'jsonl')
    .action((opts: AuditExportOptions) => setCode(auditExport(io, opts)));
}

/** ms since the epoch, or an ISO 8601 date/time */
export function parseSince(value: string): number {
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const ms = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) throw new CliExit(2, `--since must be an ISO 8601 time or ms since the epoch, not "${value}"`);
  return ms;
}

export function auditVerify(io: CliIo, opts: AuditVerifyOptions): number {
  const { reader } = openAuditReader(loadForCli(io, opts.config), 'audit');
  let result;
  try {
    result = reader.verify();
  } catch (err) {
    throw new CliExit(1, `cannot read the audit store: ${(err as Error).message}`);
  } finally {
    reader.close();
  }
  if (opts.json) {
    io.out(`${JSON.stringify(result, null, 2)}\n`);
  } else if (result.ok) {
    io.out(`audit chain intact: ${result.entries} entries (${result.beforeChain} before the chain)\n`);
  } else {
    const more = result.problems.length - 1;
    io.err(
      `audit chain broken: ${result.problems[0]!.message}\n` +
        (more > 0 ? `(and ${more}${result.truncated ? '+' : ''} more problem${more === 1 ? '' : 's'}; --json lists them)\n` : ''),
    );
  }
  return result.ok ? 0 : 1;
}

export function auditExport(io: CliIo, opts: AuditExportOptions): number {
  const format = (opts.format ?? 'jsonl').trim().toLowerCase();
  if (format !== 'jsonl') throw new CliExit(2, `--format must be jsonl, not "${opts.format}"`);
  const since = opts.since === undefined ? undefined : parseSince(opts.since);
  const { reader } = openAuditReader(loadForCli(io, opts.config), 'audit');
  let events;
  try {
    events = reader.exportEvents(since);
  } catch (err) {
    throw new CliExit(1, `cannot read the audit store: ${(err as Error).message}`);
  } finally {
    reader.close();
  }
  let text = '';
  for (const e of events) {
    text += JSON.stringify(e) + '\n';
    if (text.length > 1 << 20) {
      io.out(text);
      text = '';
    }
  }
  if (text) io.out(text);
  return 0;
}
