// Which connection a client asked for (DESIGN "Selection rules"): USER#CONNECTION or the database name.

export type Selection =
  | { ok: true; user: string; connection: string; database?: string }
  | { ok: false; reason: 'no-connection' | 'suffix-on-own-port' | 'bad-user' };

export function selectConnection(rawUser: string, dbname: string | undefined, ownPortConnection?: string): Selection {
  const hash = rawUser.lastIndexOf('#');
  const user = hash >= 0 ? rawUser.slice(0, hash) : rawUser;
  const suffix = hash >= 0 ? rawUser.slice(hash + 1) : undefined;
  if (user === '') return { ok: false, reason: 'bad-user' };
  // libpq defaults dbname to the user name: then it names nothing.
  const db = dbname !== undefined && dbname !== '' && dbname !== rawUser ? dbname : undefined;
  if (ownPortConnection !== undefined) {
    if (suffix !== undefined) return { ok: false, reason: 'suffix-on-own-port' };
    return { ok: true, user, connection: ownPortConnection, database: db };
  }
  if (suffix !== undefined && suffix !== '') return { ok: true, user, connection: suffix, database: db };
  if (db !== undefined) return { ok: true, user, connection: db };
  return { ok: false, reason: 'no-connection' };
}

const UNSAFE_ENCODINGS = new Set(['sjis', 'shiftjis', 'shiftjis2004', 'big5', 'gbk', 'gb18030', 'uhc', 'johab', 'win932', 'win936', 'win949', 'win950', 'windows932', 'windows936', 'windows949', 'windows950', 'cp932', 'cp936', 'cp949', 'cp950', 'mskanji']);

/** Encodings where a multibyte character may contain a quote or backslash byte (lexer confusion). */
export function isUnsafeEncoding(enc: string): boolean {
  return UNSAFE_ENCODINGS.has(enc.toLowerCase().replace(/[^a-z0-9]/g, ''));
}

/** GUCs a client may set through the startup `options` parameter; everything else is refused. */
const SAFE_OPTIONS = new Set([
  'application_name', 'datestyle', 'timezone', 'intervalstyle', 'extra_float_digits', 'client_min_messages',
  'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'search_path', 'work_mem',
  'geqo', 'jit', 'bytea_output', 'default_transaction_isolation', 'default_transaction_read_only',
  'lc_messages', 'lc_monetary', 'lc_numeric', 'lc_time', 'enable_seqscan', 'enable_indexscan', 'enable_bitmapscan',
  'enable_hashjoin', 'enable_mergejoin', 'enable_nestloop', 'random_page_cost', 'effective_cache_size',
  'default_statistics_target', 'max_parallel_workers_per_gather', 'temp_buffers', 'maintenance_work_mem',
]);

/** Startup parameters that are not settings, or that the gateway handles itself. */
const STARTUP_PROTOCOL_PARAMS = new Set(['user', 'database', 'options', 'replication', 'client_encoding']);

/**
 * Vet the other StartupMessage parameters: each is a setting (names are case-insensitive, as the server
 * reads them), held to the same list as `options`. Returns the refusal reason, or null.
 */
export function vetStartupParams(params: ReadonlyMap<string, string>): string | null {
  for (const raw of params.keys()) {
    const name = raw.toLowerCase();
    if (STARTUP_PROTOCOL_PARAMS.has(name) || name.startsWith('_pq_.')) continue;
    if (!SAFE_OPTIONS.has(name)) return `setting "${raw}" may not be set at startup through the gateway`;
  }
  return null;
}

/** A startup parameter by case-insensitive name (the server reads CLIENT_ENCODING as client_encoding). */
export function startupParam(params: ReadonlyMap<string, string>, name: string): string | undefined {
  for (const [k, v] of params) if (k.toLowerCase() === name) return v;
  return undefined;
}

/**
 * Vet the startup `options` string ("-c name=value --name=value", backslash escapes spaces). Returns the
 * refusal reason, or null when every setting is harmless. role, session_authorization and
 * standard_conforming_strings (which changes how the lexer must read strings) are refused.
 */
export function vetOptions(options: string): string | null {
  const words: string[] = [];
  let cur = '';
  let escaped = false;
  for (const ch of options) {
    if (escaped) {
      cur += ch;
      escaped = false;
    } else if (ch === '\\') escaped = true;
    else if (ch === ' ' || ch === '\t' || ch === '\n') {
      if (cur) words.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur) words.push(cur);
  for (let i = 0; i < words.length; i++) {
    let w = words[i]!;
    if (w === '-c') {
      w = words[++i] ?? '';
    } else if (w.startsWith('-c')) {
      w = w.slice(2);
    } else if (w.startsWith('--')) {
      w = w.slice(2);
    } else {
      return `unsupported option "${w}"`;
    }
    const eq = w.indexOf('=');
    if (eq <= 0) return `malformed setting "${w}"`;
    const name = w.slice(0, eq).toLowerCase().replace(/-/g, '_');
    if (!SAFE_OPTIONS.has(name)) return `setting "${name}" may not be set at startup through the gateway`;
  }
  return null;
}
