// The guardrail policy: per command, the most restrictive outcome of the connection's rules
// (block > review > allow). An allow rule never overrides another rule's block; it only waives
// a built-in default (the opaque-statement fallback, the FunctionCall refusal) for what it names.
import type { Config, ConnectionConfig } from '../config/schema.js';
import type { Command, Decision, Policy, SessionInfo } from '../types.js';
import { type CompiledRule, appliesToSession, compileRule, globToRegExp, matchNonSql, matchSql, type NonSqlCommand } from './rules.js';
import { analyzeCommand, type CommandAnalysis } from './command.js';
import { analyzeSql } from './sql/analyze.js';
import type { SqlAnalysis, StatementAnalysis } from './sql/types.js';

interface Verdict {
  /** 1 review, 2 block */
  readonly level: 1 | 2;
  readonly rule: string;
  readonly message: string;
}

interface ConnectionRules {
  readonly conn: ConnectionConfig;
  readonly rules: readonly CompiledRule[];
  readonly forwardAllow: readonly RegExp[];
}

export interface PolicyExplanation {
  decision: Decision;
  analysis?: SqlAnalysis;
  /** exec commands: the argv analysis `when.command` rules are matched against */
  command?: CommandAnalysis;
  /** every rule that matched, plus built-ins that applied (fallback, function-call, forwarding, unknown-connection) */
  matched: string[];
}

const ALLOW: Decision = Object.freeze({ action: 'allow' });
const DECISIONS_PER_ANALYSIS = 256;

const worse = (a: Verdict | null, b: Verdict | null): Verdict | null => (b && (!a || b.level > a.level) ? b : a);

const OPAQUE_REASONS: Readonly<Record<string, string>> = {
  do: 'opaque: DO block',
  call: 'opaque: CALL',
  execute: 'opaque: EXECUTE of a prepared statement',
  prepare: 'opaque: PREPARE of dynamic SQL',
};

function opaqueReason(s: StatementAnalysis): string {
  if (s.category === 'unknown') return `unknown statement "${s.verb.toUpperCase()}"`;
  return OPAQUE_REASONS[s.verb] ?? `opaque: ${s.verb.toUpperCase()}`;
}

export class GuardrailPolicy implements Policy {
  /** rule entries that name verbs the analyser never reports (for `portcullis check`) */
  readonly warnings: string[] = [];
  private readonly connections = new Map<string, ConnectionRules>();
  private readonly decisions = new WeakMap<SqlAnalysis, Map<string, Decision>>();
  private readonly sessionKeys = new WeakMap<SessionInfo, string>();

  constructor(config: Config) {
    const compiled = new Map<string, CompiledRule>();
    for (const g of config.guardrails) compiled.set(g.name, compileRule(g, this.warnings));
    for (const conn of config.connections) {
      const rules = conn.guardrails.map((name) => {
        const r = compiled.get(name);
        if (!r) throw new Error(`connection "${conn.name}": unknown guardrail "${name}"`);
        return r;
      });
      this.connections.set(conn.name, { conn, rules, forwardAllow: (conn.forwarding?.allow ?? []).map(globToRegExp) });
    }
  }

  decide(session: SessionInfo, cmd: Command): Decision {
    if (cmd.kind !== 'sql') return this.evaluate(session, cmd, null).decision;
    const entry = this.connections.get(session.connection);
    if (!entry) return this.evaluate(session, cmd, null).decision;
    const analysis = analyzeSql(cmd.text, cmd.lexer ?? { dialect: cmd.dialect });
    let perAnalysis = this.decisions.get(analysis);
    const key = this.sessionKey(session);
    const hit = perAnalysis?.get(key);
    if (hit) return hit;
    const decision = this.judgeSql(session, entry, analysis, null);
    if (!perAnalysis) {
      perAnalysis = new Map();
      this.decisions.set(analysis, perAnalysis);
    } else if (perAnalysis.size >= DECISIONS_PER_ANALYSIS) {
      perAnalysis.clear();
    }
    perAnalysis.set(key, decision);
    return decision;
  }

  /** The decision with its reasons, uncached (`portcullis policy test`). */
  explain(session: SessionInfo, cmd: Command): PolicyExplanation {
    const matched: string[] = [];
    const command = cmd.kind === 'exec' ? analyzeCommand(cmd.command) : undefined;
    const out = this.evaluate(session, cmd, matched, command);
    const unique = [...new Set(matched)];
    return {
      decision: out.decision,
      ...(out.analysis ? { analysis: out.analysis } : {}),
      ...(command ? { command } : {}),
      matched: unique,
    };
  }

  private evaluate(session: SessionInfo, cmd: Command, trace: string[] | null, command?: CommandAnalysis): { decision: Decision; analysis?: SqlAnalysis } {
    const entry = this.connections.get(session.connection);
    if (!entry) {
      trace?.push('unknown-connection');
      return { decision: freezeDecision({ action: 'block', rule: 'unknown-connection', message: `unknown connection "${session.connection}"` }) };
    }
    if (cmd.kind === 'sql') {
      const analysis = analyzeSql(cmd.text, cmd.lexer ?? { dialect: cmd.dialect });
      return { decision: this.judgeSql(session, entry, analysis, trace), analysis };
    }
    return { decision: this.judgeOther(session, entry, cmd, trace, command) };
  }

  private sessionKey(session: SessionInfo): string {
    let key = this.sessionKeys.get(session);
    if (key === undefined) {
      key = [session.connection, session.user, session.protocol, ...[...session.groups].sort()].join('\0');
      this.sessionKeys.set(session, key);
    }
    return key;
  }

  private judgeSql(session: SessionInfo, entry: ConnectionRules, analysis: SqlAnalysis, trace: string[] | null): Decision {
    const rules = entry.rules.filter((r) => appliesToSession(r, session));
    let v: Verdict | null = null;
    for (const s of analysis.statements) v = worse(v, this.judgeStatement(s, rules, entry.conn, trace));
    if (analysis.error !== undefined) v = worse(v, fallback(entry.conn, `statement cannot be analysed (${analysis.error})`, trace));
    return toDecision(v, entry.conn);
  }

  private judgeStatement(s: StatementAnalysis, rules: readonly CompiledRule[], conn: ConnectionConfig, trace: string[] | null): Verdict | null {
    let v: Verdict | null = null;
    let waived = false;
    for (const r of rules) {
      const m = matchSql(r, s);
      if (!m) continue;
      trace?.push(r.name);
      if (r.action === 'allow') {
        if (r.statements) waived = true;
        continue;
      }
      v = worse(v, verdict(r, `${m.phrase} ${r.action === 'block' ? (m.plural ? 'are not allowed' : 'is not allowed') : m.plural ? 'need approval' : 'needs approval'}`));
    }
    if ((s.opaque || s.category === 'unknown') && v?.level !== 2 && !waived) {
      v = worse(v, fallback(conn, `statement cannot be analysed (${opaqueReason(s)})`, trace));
    }
    for (const inner of s.inner ?? []) v = worse(v, this.judgeStatement(inner, rules, conn, trace));
    return v;
  }

  private judgeOther(session: SessionInfo, entry: ConnectionRules, cmd: NonSqlCommand, trace: string[] | null, command?: CommandAnalysis): Decision {
    let v: Verdict | null = null;
    let waived = false;
    // the argv analysis, only when a `command` rule needs it (cached by text)
    let analysis = command;
    for (const r of entry.rules) {
      if (!appliesToSession(r, session)) continue;
      if (r.command && cmd.kind === 'exec') analysis ??= analyzeCommand(cmd.command);
      if (!matchNonSql(r, cmd, analysis)) continue;
      trace?.push(r.name);
      if (r.action === 'allow') {
        if (r.statements) waived = true;
        continue;
      }
      v = worse(v, verdict(r, nonSqlPhrase(cmd, r.action)));
    }
    if (cmd.kind === 'exec' && analysis?.incomplete && !waived && v?.level !== 2 && entry.rules.some((r) => r.command && appliesToSession(r, session))) {
      // a cap cut the analysis short: a `command` rule may not have seen every command
      v = worse(v, fallback(entry.conn, `command cannot be fully analysed (${analysis.unparseable ?? 'incomplete'})`, trace));
    }
    if (cmd.kind === 'function-call' && !waived && v?.level !== 2) {
      // lo_import/lo_export and friends arrive this way; nothing in them can be analysed
      trace?.push('function-call');
      v = { level: 2, rule: 'function-call', message: 'the FunctionCall protocol message is not allowed on this connection' };
    }
    if (cmd.kind === 'forward' && v?.level !== 2 && !forwardingAllowed(entry, cmd.host, cmd.port)) {
      trace?.push('forwarding');
      v = { level: 2, rule: 'forwarding', message: `forwarding to ${cmd.host}:${cmd.port} is not allowed on this connection` };
    }
    return toDecision(v, entry.conn);
  }
}

function forwardingAllowed(entry: ConnectionRules, host: string, port: number): boolean {
  const f = entry.conn.forwarding;
  if (!f || (!f.local && !f.remote)) return false;
  const target = `${host}:${port}`;
  return entry.forwardAllow.length === 0 || entry.forwardAllow.some((g) => g.test(target));
}

function nonSqlPhrase(cmd: NonSqlCommand, action: 'block' | 'review'): string {
  const tail = (plural: boolean): string => (action === 'block' ? (plural ? 'are not allowed' : 'is not allowed') : plural ? 'need approval' : 'needs approval');
  switch (cmd.kind) {
    case 'exec':
      return `this command ${tail(false)}`;
    case 'shell':
      return `interactive shells ${tail(true)}`;
    case 'subsystem':
      return `the ${cmd.name} subsystem ${tail(false)}`;
    case 'forward':
      return `forwarding to ${cmd.host}:${cmd.port} ${tail(false)}`;
    case 'function-call':
      return `FunctionCall messages ${tail(true)}`;
  }
}

function verdict(r: CompiledRule, what: string): Verdict {
  const message = r.message ?? `${r.action === 'block' ? 'blocked' : 'held for review'} by rule "${r.name}": ${what}`;
  return { level: r.action === 'block' ? 2 : 1, rule: r.name, message };
}

function fallback(conn: ConnectionConfig, reason: string, trace: string[] | null): Verdict | null {
  const mode = conn.fallback ?? 'block';
  if (mode === 'allow') return null;
  trace?.push('fallback');
  return mode === 'block'
    ? { level: 2, rule: 'fallback', message: `${reason}; the connection's fallback blocks it` }
    : { level: 1, rule: 'fallback', message: `${reason}; the connection's fallback holds it for review` };
}

function toDecision(v: Verdict | null, conn: ConnectionConfig): Decision {
  if (!v) return ALLOW;
  if (v.level === 2) return freezeDecision({ action: 'block', rule: v.rule, message: v.message });
  return freezeDecision({ action: 'review', rule: v.rule, approvers: [...(conn.review?.approvers ?? [])], message: v.message });
}

function freezeDecision(d: Decision): Decision {
  if (d.action === 'review') Object.freeze(d.approvers);
  return Object.freeze(d);
}
