// What every protocol does with the policy core: ask for a decision synchronously, failing closed, and
// record it in the audit before the command is forwarded or refused.
import type { Logger } from 'pino';
import type { AuditStore } from '../audit/store.js';
import type { Command, Decision, Policy, SessionInfo } from '../types.js';

/**
 * The decision for a command. Reviews (asynchronous decisions) are not built yet, and a policy that throws
 * cannot decide: both block (fail closed).
 */
export function decideNow(policy: Policy, info: SessionInfo, cmd: Command, log: Logger): Decision {
  try {
    const d = policy.decide(info, cmd);
    if (d instanceof Promise) {
      void d.catch(() => undefined);
      return { action: 'block', rule: 'review', message: 'this command needs a review, and reviews are not available yet' };
    }
    return d;
  } catch (err) {
    log.error({ err }, 'policy failed; blocking');
    return { action: 'block', rule: 'policy-error', message: 'the policy could not decide; blocked (fail closed)' };
  }
}

/** The rule and the message a refused command is answered with. */
export function refusalOf(d: Decision): { rule: string; message: string } {
  if (d.action === 'block') return { rule: d.rule, message: d.message };
  if (d.action === 'review') {
    return { rule: d.rule, message: d.message ?? `this command needs a review (rule "${d.rule}"), and reviews are not available yet` };
  }
  return { rule: 'internal', message: 'blocked' };
}

/** The decision event (appended before the command is forwarded or answered), and a log line when refused. */
export function auditDecision(audit: AuditStore, log: Logger, sessionId: string, commandId: number, via: string, text: string, d: Decision): void {
  audit.append({
    sessionId,
    at: Date.now(),
    kind: 'decision',
    commandId,
    via,
    text,
    decision: d.action,
    rule: d.action === 'allow' ? undefined : d.rule,
    message: d.action === 'allow' ? undefined : d.message,
  });
  if (d.action !== 'allow') log.info({ rule: d.rule, via, decision: d.action }, 'command blocked');
}
