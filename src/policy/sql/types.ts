// What the SQL analyser reports about a query text (DESIGN "SQL analysis").

export type SqlCategory =
  | 'read'
  | 'write'
  | 'ddl'
  | 'privilege'
  | 'transaction'
  | 'utility'
  | 'code'
  | 'admin'
  | 'unknown';

export const SQL_CATEGORIES: readonly SqlCategory[] = [
  'read',
  'write',
  'ddl',
  'privilege',
  'transaction',
  'utility',
  'code',
  'admin',
  'unknown',
];

export interface CopyInfo {
  table?: string;
  columns?: string[];
  /** COPY (query) TO … */
  query: boolean;
  direction: 'to' | 'from';
  endpoint: 'stdio' | 'program' | 'file';
  format?: 'text' | 'csv' | 'binary';
  /** other options by lower-case name (HEADER, DELIMITER, QUOTE, ESCAPE, NULL, ENCODING, FORCE_*…); true when given without a value */
  options?: Record<string, string | true>;
}

export interface StatementAnalysis {
  /** lower-case first keyword (the main statement's for WITH); 'empty' for an empty text */
  verb: string;
  category: SqlCategory;
  /** effects cannot be seen: DO blocks, dynamic EXECUTE, CALL, PREPARE … FROM, unknown verbs */
  opaque: boolean;
  /** lower-cased unless quoted, schema-qualified as written */
  tables: { read: string[]; written: string[] };
  /** update/delete only: no WHERE, a trivially true one, or a real one */
  where: 'present' | 'missing' | 'trivial' | 'n/a';
  /** called function names, lower-case; a qualified call is listed both qualified and bare */
  functions: string[];
  /** reasons this statement reaches outside the database or hides a write */
  risky: string[];
  copy?: CopyInfo;
  /** the statement as rules' `pattern` sees it: comments removed, whitespace collapsed, words lower-cased */
  text: string;
  /**
   * Statements that this one runs as well and that rules must also judge: data-modifying CTE bodies,
   * the target of EXPLAIN ANALYZE / PREPARE … AS / DECLARE CURSOR / COPY (query), and the statements
   * of a routine or compound-statement body.
   */
  inner?: StatementAnalysis[];
}

export interface SqlAnalysis {
  statements: StatementAnalysis[];
  /** set when (part of) the text could not be analysed: the connection's fallback applies */
  error?: string;
}
