// What the gateway expects back from the target for each command it forwarded, in order.
import type { SqlAnalysis } from '../../src/policy/sql/analyze.js';
import type { ColumnDef } from './messages.js';
import type { MyPlan } from './rows.js';

/** A prepared statement as the target knows it. */
export interface Stmt {
  id: number;
  text: string;
  cmdId: number;
  analysis: SqlAnalysis | null;
  /** executing it may change sql_mode (a prepared SET …) */
  changesSqlMode: boolean;
  /** column definitions of the open cursor (COM_STMT_FETCH rows carry none) */
  cursorDefs?: ColumnDef[];
  cursorPlan?: MyPlan | null;
  /** the column definitions of its last result (bytes), their decoding and masking plan */
  resultKey?: Buffer;
  resultDefs?: ColumnDef[];
  resultPlan?: MyPlan | null;
}

export const St = {
  First: 0,
  Cols: 1,
  ColEof: 2,
  Rows: 3,
  PParams: 4,
  PParamsEof: 5,
  PCols: 6,
  PColsEof: 7,
  Fields: 8,
  Single: 9,
  Raw: 10,
} as const;
export type St = (typeof St)[keyof typeof St];

export type OpKind =
  /** a result: OK, ERR, LOCAL INFILE request or result sets (text rows, or binary rows when `binary`) */
  | 'result'
  /** COM_STMT_PREPARE */
  | 'prepare'
  /** COM_STMT_FETCH: binary rows of an open cursor */
  | 'fetch'
  /** COM_FIELD_LIST: column definitions */
  | 'fields'
  /** one OK / ERR / EOF packet */
  | 'single'
  /** one packet of any shape (COM_STATISTICS) */
  | 'raw'
  /** an answer the gateway gives itself (a blocked command), written when it reaches the head */
  | 'local';

export interface Op {
  t: OpKind;
  /** audit command id; 0 when the completion is not audited */
  cmdId: number;
  via: string;
  started: number;
  /** next sequence id toward the client */
  outSeq: number;
  binary: boolean;
  stmt?: Stmt;
  /** the response is the gateway's own (SELECT @@sql_mode): read, never forwarded */
  swallow?: boolean;
  /** this answer waits (in MySession.held) until the sql_mode probe sent after it is answered */
  hold?: boolean;
  local?: Buffer;
  state: St;
  remaining: number;
  defs: ColumnDef[];
  plan: MyPlan | null;
  rows: number;
  masked: number;
  error?: string;
  /**
   * The target (CLIENT_DEPRECATE_EOF) sent no EOF after the column definitions and the client expects one:
   * it is written before the next packet, merged with it when that packet says a cursor was opened.
   */
  defsEofPending?: boolean;
  /** definitions of a prepared statement's result, collected to compare with its last execution's */
  defBytes?: Buffer[];
  /** column count of a prepared statement, read after its parameter definitions */
  pendingCols?: number;
  /** the result set has the shape of SHOW WARNINGS: messages are redacted like error messages */
  warnings?: boolean;
  /** rows of a swallowed sql_mode probe */
  probe?: string;
  /** the target's max_allowed_packet, from the same probe */
  maxPacket?: number;
  /** the session's character_set_client, from the same probe */
  charset?: string;
}

export function newOp(t: OpKind, outSeq: number, via: string, cmdId = 0): Op {
  return {
    t,
    cmdId,
    via,
    started: performance.now(),
    outSeq,
    binary: false,
    state: t === 'fetch' ? St.Rows : t === 'fields' ? St.Fields : t === 'single' ? St.Single : t === 'raw' ? St.Raw : St.First,
    remaining: 0,
    defs: [],
    plan: null,
    rows: 0,
    masked: 0,
  };
}
