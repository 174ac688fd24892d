// Core types shared by the protocols, the policy core and the masking engine.
// The core knows nothing about wire formats; a protocol knows nothing about rules.

export type Protocol = 'postgres' | 'mysql' | 'ssh';

/** Who is connected, to what. One per client session; immutable after authentication. */
export interface SessionInfo {
  readonly id: string;
  readonly user: string;
  readonly groups: readonly string[];
  /** how the identity was proven */
  readonly authMethod: 'password' | 'scram' | 'jwt' | 'publickey';
  readonly connection: string;
  readonly protocol: Protocol;
  readonly clientAddress: string;
  /** target database, when the protocol has one */
  readonly database?: string;
}

/** Lexer settings that change how SQL text must be read. Part of the analysis cache key. */
export interface SqlLexerSettings {
  readonly dialect: 'postgres' | 'mysql';
  /** postgres: standard_conforming_strings (default on) */
  readonly standardConformingStrings?: boolean;
  /** mysql: sql_mode NO_BACKSLASH_ESCAPES */
  readonly noBackslashEscapes?: boolean;
  /** mysql: sql_mode ANSI_QUOTES */
  readonly ansiQuotes?: boolean;
}

export type Command =
  | { kind: 'sql'; dialect: 'postgres' | 'mysql'; text: string; via: 'query' | 'prepare' | 'copy'; lexer?: SqlLexerSettings }
  | { kind: 'exec'; command: string }
  | { kind: 'shell' }
  | { kind: 'subsystem'; name: string }
  | { kind: 'forward'; host: string; port: number }
  | { kind: 'function-call' };

export type Decision =
  | { action: 'allow' }
  | { action: 'block'; rule: string; message: string }
  | { action: 'review'; rule: string; approvers: string[]; message?: string };

export interface Policy {
  decide(session: SessionInfo, cmd: Command): Decision | Promise<Decision>;
}

/** One column of a result, as far as the protocol can tell. */
export interface ColumnInfo {
  /** the name the client sees (may be an alias) */
  readonly name: string;
  /** schema of the source table, when the column comes straight from a table */
  readonly schema?: string;
  /** source table name (unqualified) */
  readonly table?: string;
  /** source column name in that table (alias-proof) */
  readonly column?: string;
  /** true when the cell bytes are text the detectors can scan (text, varchar, char, json, name, ...) */
  readonly textLike: boolean;
  /** protocol type name, informative (e.g. 'int4', 'text') */
  readonly typeName?: string;
  /**
   * Wire format of the cell bytes, when the protocol knows it. Optional: masking uses it only to
   * read a non-text-like cell as text (`partial` keeping a date's year); absent means "unknown".
   */
  readonly format?: 'text' | 'binary';
}

/**
 * Masks one cell given its bytes (UTF-8 for text-like columns).
 * Returns undefined when the cell is unchanged (the caller keeps the original bytes),
 * null for SQL NULL, or the replacement text.
 */
export type CellMasker = (buf: Buffer, start: number, end: number) => string | null | undefined;

/** Per-result plan: one entry per column; null means the column passes through untouched. */
export interface RowPlan {
  readonly cells: readonly (CellMasker | null)[];
  /** names of the rules/detectors that may apply, for audit */
  readonly reasons: readonly string[];
  /**
   * Optional, per column: true when every replacement the column's masker returns is a valid
   * text-format value of the column's type (ColumnInfo.typeName), e.g. 0 for an int4, 1970-01-01
   * for a date, valid JSON for json. A protocol may then keep it (or encode it in binary format)
   * instead of replacing it by NULL. Absent or false: only NULL is known to be valid.
   */
  readonly typeValid?: readonly boolean[];
}

export interface ResultMasker {
  /** null = pass rows through untouched */
  plan(session: SessionInfo, columns: readonly ColumnInfo[]): RowPlan | null;
}
