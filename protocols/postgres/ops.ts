// What the relay remembers between the two directions: the client's commands still waiting for their
// answers, in the order the target will answer them, and the prepared statements and portals they name.
import type { SqlAnalysis } from '../../src/policy/sql/analyze.js';
import type { FieldDescription } from './messages.js';
import type { ActivePlan } from './results.js';

export interface Blocked {
  rule: string;
  message: string;
}

export interface Statement {
  text: string;
  analysis: SqlAnalysis | null;
  /** undefined: not described yet; null: returns no rows */
  fields?: FieldDescription[] | null;
  /** masking plans by result-format codes, so re-executions cost a lookup */
  plans?: Map<string, ActivePlan | null>;
}

export interface Portal {
  /** order of its Bind, to forget it when its transaction ends */
  bound: number;
  stmt: Statement;
  formatCodes: number[];
  fields?: FieldDescription[] | null;
  plan?: ActivePlan | null;
}

/** A command sent to the target whose answer has not fully arrived, tagged by its frontend message. */
export type Op =
  | { t: 'Q'; bindSeq?: number; cmdId: number; started: number; blocked?: Blocked; analysis: SqlAnalysis | null; index: number; rows: number; error?: string; masked: number }
  | { t: 'P'; name: string; stmt?: Statement; blocked?: Blocked }
  | { t: 'B' }
  | { t: 'D'; stmt?: Statement; portal?: Portal; injected: boolean }
  | { t: 'E'; portal: Portal; started: number; rows: number; masked: number }
  | { t: 'C'; statement?: string }
  | { t: 'S'; bindSeq: number };
