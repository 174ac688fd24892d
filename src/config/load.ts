// The one config loader: YAML (with source positions) → ${env:}/${file:} substitution → strict zod
// schema → paths resolved against the config file's directory → semantic checks. Every problem is a
// `FILE:LINE:COL: key.path: message` line; secret values are never part of a message.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { isMap, LineCounter, parseDocument } from 'yaml';
import { configSchema, type Config } from './schema.js';
import { formatPath, YamlLocator, type KeyPath, type Position } from './locate.js';
import { substituteDocument } from './substitute.js';
import { describeIssues } from './issues.js';
import { checkSemantics, type SemanticIssue } from './semantic.js';

export { notYetEnforced } from './pending.js';

export interface ConfigIssue {
  readonly file: string;
  /** 1-based; 0 when the problem is the file itself (unreadable) */
  readonly line: number;
  readonly col: number;
  /** `connections[0].target`, or '' for problems with the file as a whole */
  readonly path: string;
  readonly message: string;
}

export function formatIssue(i: ConfigIssue): string {
  const where = i.line > 0 ? `${i.file}:${i.line}:${i.col}` : i.file;
  return `${where}: ${i.path ? `${i.path}: ` : ''}${i.message}`;
}

/** An invalid config. `message` is one `FILE:LINE:COL: path: message` line per problem. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.issues = issues;
  }
}

/** A loaded config: paths are absolute and the store is always set. */
export type LoadedConfig = Config & { store: NonNullable<Config['store']> };

export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): { config: LoadedConfig; path: string; warnings: string[] } {
  const full = resolve(path);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError([{ file: path, line: 0, col: 0, path: '', message: `cannot read the config file (${code})` }]);
  }
  const { config, warnings } = parseConfigText(text, { file: path, baseDir: dirname(full), env });
  return { config, path: full, warnings };
}

export function parseConfigText(
  text: string,
  opts: { file: string; baseDir: string; env?: NodeJS.ProcessEnv },
): { config: LoadedConfig; warnings: string[] } {
  const { file } = opts;
  const baseDir = resolve(opts.baseDir);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const locator = new YamlLocator(doc, lineCounter);
  const at = (pos: Position, path: KeyPath | '', message: string): ConfigIssue => ({
    file,
    line: pos.line,
    col: pos.col,
    path: path === '' ? '' : formatPath(path),
    message,
  });

  if (doc.errors.length > 0) {
    // only the parser's first line: its pretty form quotes the source, which may hold a secret
    throw new ConfigError(doc.errors.map((e) => at(locator.pos(e.pos[0]), '', `YAML: ${e.message.split('\n')[0]}`)));
  }
  if (doc.contents !== null && !isMap(doc.contents)) {
    throw new ConfigError([at(locator.locate([]), '', 'the config must be a mapping of keys (dataDir:, listen:, connections: …)')]);
  }

  const subIssues = substituteDocument(doc, { env: opts.env ?? process.env, baseDir, source: text, locator });
  if (subIssues.length > 0) throw new ConfigError(subIssues.map((i) => at(i.pos, i.path, i.message)));

  let data: unknown;
  try {
    data = dropNulls(doc.toJS({ maxAliasCount: 100 }) ?? {});
  } catch (err) {
    throw new ConfigError([at({ line: 1, col: 1 }, '', `YAML: ${(err as Error).message.split('\n')[0]}`)]);
  }

  const parsed = configSchema.safeParse(data);
  if (!parsed.success) {
    const issues = describeIssues(parsed.error.issues, data).map((m) => at(locator.locate(m.path, m.atKey ? 'key' : 'value'), m.path, m.message));
    throw new ConfigError(sortIssues(issues));
  }

  const config = resolvePaths(parsed.data, baseDir);
  const { errors, warnings } = checkSemantics(config);
  const toIssue = (s: SemanticIssue): ConfigIssue => at(locator.locate(s.path, s.atKey ? 'key' : 'value'), s.path, s.message);
  if (errors.length > 0) throw new ConfigError(sortIssues(errors.map(toIssue)));
  const yamlWarnings = doc.warnings.map((w) => formatIssue(at(locator.pos(w.pos[0]), '', `YAML: ${w.message.split('\n')[0]}`)));
  return { config, warnings: [...yamlWarnings, ...sortIssues(warnings.map(toIssue)).map(formatIssue)] };
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.sort((a, b) => a.line - b.line || a.col - b.col);
}

/** `key:` with nothing after it means the same as leaving the key out (commented-out children). */
function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = dropNulls(v);
    return out;
  }
  return value;
}

const isPem = (v: string): boolean => v.trimStart().startsWith('-----BEGIN');

/** Relative paths in the config are relative to the config file, not to the working directory. */
function resolvePaths(config: Config, baseDir: string): LoadedConfig {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const dataDir = abs(config.dataDir);
  let store: NonNullable<Config['store']>;
  if (!config.store) store = { sqlite: join(dataDir, 'portcullis.db') };
  else if ('sqlite' in config.store) store = { sqlite: config.store.sqlite === ':memory:' ? ':memory:' : abs(config.store.sqlite) };
  else store = config.store;
  const tls = { ...config.tls };
  if (tls.cert && !isPem(tls.cert)) tls.cert = abs(tls.cert);
  if (tls.key && !isPem(tls.key)) tls.key = abs(tls.key);
  return {
    ...config,
    dataDir,
    store,
    tls,
    identity: {
      ...config.identity,
      tokens: config.identity.tokens.map((t) => (t.jwksFile ? { ...t, jwksFile: abs(t.jwksFile) } : t)),
    },
    connections: config.connections.map((c) =>
      c.target.ca && !isPem(c.target.ca) ? { ...c, target: { ...c.target, ca: abs(c.target.ca) } } : c,
    ),
  };
}
