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
  if (config.store && 'postgres' in config.store) {
    out.push('store.postgres: the shared PostgreSQL audit store is not built yet');
  }
  const reviewRules = new Set(config.guardrails.filter((g) => g.action === 'review').map((g) => g.name));
  for (const c of config.connections) {
    const name = `connection "${c.name}"`;
    const usesReview = c.guardrails.some((g) => reviewRules.has(g)) || c.fallback === 'review';
    if (c.review || usesReview) {
      out.push(`${name}: reviews are not built yet: the gateway treats review decisions as blocks`);
    }
    if (c.protocol !== 'ssh') {
      if (c.forwarding) out.push(`${name}: forwarding applies to ssh connections only; ignored`);
      if (c.env) out.push(`${name}: env applies to ssh connections only; ignored`);
      if (c.hostKeyPolicy) out.push(`${name}: hostKeyPolicy applies to ssh connections only; ignored`);
      if (c.sftp) out.push(`${name}: sftp applies to ssh connections only; ignored`);
    }
    if (c.serverVersion && c.protocol !== 'mysql') out.push(`${name}: serverVersion applies to mysql connections only; ignored`);
    if (c.localInfile !== undefined && c.protocol !== 'mysql') out.push(`${name}: localInfile applies to mysql connections only; ignored`);
  }
  return out;
}

