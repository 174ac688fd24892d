// What the read-only store commands (sessions, audit) share: the config, and the SQLite store opened
// read-only (safe while a gateway runs on it).
import { AuditStoreMissing, SqliteAuditReader } from '../audit/sqlite.js';
import { ConfigError, loadConfig, type LoadedConfig } from '../config/load.js';
import { CliExit, type CliIo } from './io.js';

/** The config, or exit 2 with its errors. */
export function loadForCli(io: CliIo, file: string): LoadedConfig {
  try {
    return loadConfig(file, io.env).config;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`${err.message}\n`);
    throw new CliExit(2, `${file}: invalid config`);
  }
}

/** The config's SQLite store, read-only; exit 1 when it does not exist (yet) or cannot be read. */
export function openAuditReader(config: LoadedConfig, commands: string): { reader: SqliteAuditReader; file: string } {
  if (!('sqlite' in config.store)) {
    throw new CliExit(2, `store.postgres is not built yet: the ${commands} commands read a SQLite store (store: { sqlite: FILE }, the default)`);
  }
  const file = config.store.sqlite;
  try {
    return { reader: new SqliteAuditReader(file), file };
  } catch (err) {
    if (err instanceof AuditStoreMissing) throw new CliExit(1, `${err.message} (has the gateway run with this config?)`);
    throw new CliExit(1, `cannot open the audit store ${file}: ${(err as Error).message}`);
  }
}
