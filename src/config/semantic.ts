// Checks the schema cannot express: names that must be unique or must exist, port clashes, features
// that would fail open if accepted silently, regexes that must compile, files that must be readable.
import { accessSync, constants, readFileSync } from 'node:fs';
import type { Config } from './schema.js';
import { DEFAULT_PORTS } from './schema.js';
import type { KeyPath } from './locate.js';
import { parseStoredHash } from '../identity/passwords.js';

export interface SemanticIssue {
  path: KeyPath;
  message: string;
  /** point at the key rather than the value */
  atKey?: boolean;
}

export interface SemanticResult {
  errors: SemanticIssue[];
  warnings: SemanticIssue[];
}

const isPem = (v: string): boolean => v.trimStart().startsWith('-----BEGIN');

export function checkSemantics(config: Config): SemanticResult {
  const errors: SemanticIssue[] = [];
  const warnings: SemanticIssue[] = [];

  const unique = (items: ReadonlyArray<{ name: string }>, base: string, what: string): void => {
    const seen = new Map<string, number>();
    items.forEach((item, i) => {
      const first = seen.get(item.name);
      if (first !== undefined) {
        errors.push({ path: [...base.split('.'), i, 'name'], message: `duplicate ${what} name "${item.name}" (also ${base.split('.').pop()}[${first}])` });
      } else seen.set(item.name, i);
    });
  };
  unique(config.connections, 'connections', 'connection');
  unique(config.identity.users, 'identity.users', 'user');
  unique(config.guardrails, 'guardrails', 'guardrail');
  unique(config.masking, 'masking', 'masking profile');

  const guardrails = new Map(config.guardrails.map((g) => [g.name, g]));
  const profiles = new Set(config.masking.map((m) => m.name));

  // ports: every listener and every connection port must differ (0 = any free port, never clashes)
  const ports = new Map<number, string>();
  const claimPort = (port: number, owner: string, path: KeyPath): void => {
    if (port === 0) return;
    const other = ports.get(port);
    if (other) errors.push({ path, message: `port ${port} is already used by ${other}` });
    else ports.set(port, owner);
  };
  for (const kind of ['postgres', 'mysql', 'ssh', 'admin'] as const) {
    const l = config.listen[kind];
    if (!l) continue;
    claimPort(l.port ?? DEFAULT_PORTS[kind], `the ${kind} listener`, l.port === undefined ? ['listen', kind] : ['listen', kind, 'port']);
    if (l.clientAuth === 'scram' && kind !== 'postgres') {
      errors.push({ path: ['listen', kind, 'clientAuth'], message: 'clientAuth: scram applies to the postgres listener only' });
    }
  }

  config.connections.forEach((c, i) => {
    const at = (...rest: Array<string | number>): KeyPath => ['connections', i, ...rest];
    if (c.listen) claimPort(c.listen.port, `connection "${c.name}"`, at('listen', 'port'));
    if (c.access === 'request') {
      errors.push({ path: at('access'), message: 'access: request needs the just-in-time grants feature, which is not built yet' });
    }
    c.guardrails.forEach((name, j) => {
      const g = guardrails.get(name);
      if (!g) errors.push({ path: at('guardrails', j), message: `unknown guardrail "${name}"` });
      else if (g.action === 'review' && !c.review) {
        errors.push({ path: at('guardrails', j), message: `guardrail "${name}" has action: review, but connection "${c.name}" has no review block (approvers)` });
      }
    });
    if (c.fallback === 'review' && !c.review) {
      errors.push({ path: at('fallback'), message: `fallback: review needs a review block (approvers) on connection "${c.name}"` });
    }
    if (c.masking !== undefined && !profiles.has(c.masking)) {
      errors.push({ path: at('masking'), message: `unknown masking profile "${c.masking}"` });
    }
    if (c.allow.length === 0) {
      warnings.push({ path: at('allow'), message: `connection "${c.name}" allows nobody (empty allow list)` });
    }
    if (c.target.ca && !isPem(c.target.ca)) readable(c.target.ca, at('target', 'ca'), errors);
  });

  config.guardrails.forEach((g, i) => {
    for (const key of ['pattern', 'command'] as const) {
      const src = g.when[key];
      if (src === undefined) continue;
      try {
        new RegExp(src);
      } catch (err) {
        errors.push({ path: ['guardrails', i, 'when', key], message: `not a valid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}` });
      }
    }
  });

  config.identity.users.forEach((u, i) => {
    if (u.password) {
      try {
        parseStoredHash(u.password.hash);
      } catch (err) {
        errors.push({ path: ['identity', 'users', i, 'password', 'hash'], message: (err as Error).message });
      }
    } else if (u.sshKeys.length === 0) {
      warnings.push({ path: ['identity', 'users', i], message: `user "${u.name}" has neither a password nor sshKeys and cannot log in` });
    }
  });

  config.identity.tokens.forEach((t, i) => {
    if (t.jwksFile) checkJwksFile(t.jwksFile, ['identity', 'tokens', i, 'jwksFile'], errors);
  });

  const { cert, key } = config.tls;
  if ((cert === undefined) !== (key === undefined)) {
    errors.push({ path: ['tls', cert === undefined ? 'key' : 'cert'], message: 'tls.cert and tls.key must be set together' });
  }
  if (cert && !isPem(cert)) readable(cert, ['tls', 'cert'], errors);
  if (key && !isPem(key)) readable(key, ['tls', 'key'], errors);

  return { errors, warnings };
}

function readable(file: string, path: KeyPath, errors: SemanticIssue[]): void {
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    errors.push({ path, message: `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})` });
  }
}

function checkJwksFile(file: string, path: KeyPath, errors: SemanticIssue[]): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    errors.push({ path, message: `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})` });
    return;
  }
  try {
    const jwks = JSON.parse(text) as { keys?: unknown };
    if (!Array.isArray(jwks.keys)) errors.push({ path, message: `${file} is not a JWKS (no "keys" array)` });
  } catch {
    errors.push({ path, message: `${file} is not JSON` });
  }
}
