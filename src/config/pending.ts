// Keys the schema accepts today whose feature is not built yet (DESIGN: "accepted and reported by
// `check` as not yet enforced — never silently ignored"). One human line per item; `start` logs them.
import type { Config } from './schema.js';

export function notYetEnforced(config: Config): string[] {
  const out: string[] = [];
  if (config.webhooks.length > 0) {
    out.push(`webhooks (${config.webhooks.length}): webhooks are not built yet; nothing is sent`);
  }
  if (config.identity.admins.length > 0) {
    out.push('identity.admins: admin roles are not built yet; the list is not enforced');
  }
  if (config.identity.auditors.length > 0) {
    out.push('identity.auditors: auditor roles are not built yet; the list is not enforced');
  }
  if (config.listen.admin) {
    out.push('listen.admin: the admin HTTP API is not built yet; it is not started');
  }
  for (const kind of ['ssh'] as const) {
    if (config.listen[kind]) out.push(`listen.${kind}: the ${label(kind)} listener is not built yet; it is not started`);
  }
  if (config.store && 'postgres' in config.store) {
    out.push('store.postgres: the shared PostgreSQL audit store is not built yet');
  }
  const reviewRules = new Set(config.guardrails.filter((g) => g.action === 'review').map((g) => g.name));
  for (const c of config.connections) {
    const name = `connection "${c.name}"`;
    if (c.protocol === 'ssh') {
      out.push(`${name}: the ${label(c.protocol)} protocol is not built yet; the connection cannot be reached`);
    }
    const usesReview = c.guardrails.some((g) => reviewRules.has(g)) || c.fallback === 'review';
    if (c.review || usesReview) {
      out.push(`${name}: reviews are not built yet: the gateway treats review decisions as blocks`);
    }
    if (c.forwarding) out.push(`${name}: forwarding is not built yet`);
    if (c.env) out.push(`${name}: env is not built yet`);
    if (c.hostKeyPolicy) out.push(`${name}: hostKeyPolicy is not built yet`);
    if (c.serverVersion && c.protocol !== 'mysql') out.push(`${name}: serverVersion applies to mysql connections only; ignored`);
    if (c.localInfile !== undefined && c.protocol !== 'mysql') out.push(`${name}: localInfile applies to mysql connections only; ignored`);
  }
  return out;
}

function label(kind: 'mysql' | 'ssh'): string {
  return kind === 'mysql' ? 'MySQL' : 'SSH';
}
