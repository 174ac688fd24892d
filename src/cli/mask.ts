// `portcullis mask -c FILE --connection C [--column NAME] [--table T] [--type T] [--explain]`:
// read lines on stdin and print each one masked by the connection's masking profile, for trying rules.
// Each line is one cell of a column named NAME (default: no name) in table T (`schema.table` allowed),
// text-like unless --type names a non-text type. A cell masked to NULL prints as `NULL`.
// Exit 0 once stdin ends; 2 on bad arguments or an invalid config (diagnostics on stderr).
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { createResultMasker } from '../../masking/engine.js';
import { typeKindOf } from '../../masking/typed.js';
import { ConfigError, loadConfig } from '../config/load.js';
import type { ColumnInfo, SessionInfo } from '../types.js';
import { CliExit, type CliIo } from './io.js';

export interface MaskOptions {
  config: string;
  connection: string;
  column?: string;
  table?: string;
  type?: string;
  explain?: boolean;
}

/** The column every input line stands for. */
export function maskColumn(opts: Pick<MaskOptions, 'column' | 'table' | 'type'>): ColumnInfo {
  let schema: string | undefined;
  let table = opts.table;
  if (table !== undefined && table.includes('.')) {
    schema = table.slice(0, table.lastIndexOf('.'));
    table = table.slice(table.lastIndexOf('.') + 1);
  }
  const kind = typeKindOf(opts.type);
  return {
    name: opts.column ?? '',
    ...(opts.column !== undefined ? { column: opts.column } : {}),
    ...(table !== undefined && table !== '' ? { table } : {}),
    ...(schema !== undefined && schema !== '' ? { schema } : {}),
    textLike: kind === undefined || kind === 'string' || kind === 'json' || kind === 'array',
    ...(opts.type !== undefined ? { typeName: opts.type } : {}),
    format: 'text',
  };
}

/** Runs the command; `input` defaults to io.stdin. Returns the exit code. */
export async function maskCommand(io: CliIo, opts: MaskOptions, input: Readable = io.stdin): Promise<number> {
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig(opts.config, io.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`${err.message}\n`);
    throw new CliExit(2, `${opts.config}: invalid config`);
  }
  const { config } = loaded;
  const conn = config.connections.find((c) => c.name === opts.connection);
  if (!conn) {
    const known = config.connections.map((c) => c.name).join(', ') || 'none';
    throw new CliExit(2, `unknown connection "${opts.connection}" (known: ${known})`);
  }
  if (conn.masking === undefined) throw new CliExit(2, `connection "${conn.name}" has no masking profile`);
  const profile = config.masking.find((m) => m.name === conn.masking);
  if (!profile) throw new CliExit(2, `connection "${conn.name}": unknown masking profile "${conn.masking}"`);
  if (opts.type !== undefined && typeKindOf(opts.type) === undefined) {
    io.err(`warning: unknown type "${opts.type}": treated as a non-text type without a known replacement\n`);
  }

  let masker: ReturnType<typeof createResultMasker>;
  try {
    masker = createResultMasker(profile);
  } catch (err) {
    throw new CliExit(2, (err as Error).message);
  }
  for (const note of masker.notes) io.err(`note: ${note}\n`);

  const session: SessionInfo = {
    id: 'cli-mask',
    user: 'cli',
    groups: [],
    authMethod: 'password',
    connection: conn.name,
    protocol: conn.protocol,
    clientAddress: '127.0.0.1',
  };
  const plan = masker.plan(session, [maskColumn(opts)]);
  const cell = plan?.cells[0] ?? null;
  if (opts.explain) {
    io.err(`profile "${profile.name}": ${plan && cell ? plan.reasons.join(', ') : 'nothing applies to this column'}\n`);
  }

  const lines = createInterface({ input, crlfDelay: Infinity, terminal: false });
  for await (const line of lines) {
    let out: string | null | undefined;
    if (cell !== null) {
      const buf = Buffer.from(line, 'utf8');
      out = cell(buf, 0, buf.length);
    }
    io.out((out === undefined ? line : out === null ? 'NULL' : out) + '\n');
  }
  return 0;
}

export function registerMaskCommands(program: Command, io: CliIo, setCode: (code: number) => void): void {
  program
    .command('mask')
    .description("read lines on stdin and print them masked by a connection's masking profile (for trying rules)")
    .option('-c, --config <file>', 'config file', 'portcullis.yaml')
    .requiredOption('--connection <name>', 'connection whose masking profile applies')
    .option('--column <name>', 'column name each line stands for (default: no name)')
    .option('--table <name>', 'table the column belongs to (table or schema.table)')
    .option('--type <type>', 'column type (e.g. int4, date, jsonb, _text); default text')
    .option('--explain', 'print the rules and detectors that apply on stderr')
    .action(async (opts: MaskOptions) => setCode(await maskCommand(io, opts)));
}
