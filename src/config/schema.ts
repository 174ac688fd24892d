// The whole config schema (DESIGN "Config sketch"). Strict: unknown keys are errors.
// Keys whose feature is not built yet are accepted here and reported by `check` (see notYetEnforced).
import { z } from 'zod';

export const NAME_RE = /^[a-z0-9][a-z0-9._-]*$/;

const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, 'a duration like 90s, 15m, 2h');

export function parseDuration(s: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(s);
  if (!m) throw new Error(`bad duration: ${s}`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return n * unit;
}

const port = z.number().int().min(0).max(65535);
const tlsMode = z.enum(['off', 'prefer', 'require']);

const listener = z
  .object({
    host: z.string().optional(),
    port: port.optional(),
    tls: tlsMode.optional(),
    clientAuth: z.enum(['password', 'scram']).optional(),
    /** mysql: the version string of the greeting (default MySQL-8.0-compatible) */
    serverVersion: z.string().min(1).optional(),
  })
  .strict();

const user = z
  .object({
    name: z.string().regex(/^[^#\s]+$/, 'no "#" or spaces in a user name'),
    groups: z.array(z.string()).default([]),
    password: z.object({ hash: z.string().min(1) }).strict().optional(),
    sshKeys: z.array(z.string()).default([]),
  })
  .strict();

const tokenIssuer = z
  .object({
    issuer: z.string().min(1),
    audience: z.union([z.string(), z.array(z.string())]),
    jwks: z.string().url().optional(),
    jwksFile: z.string().optional(),
    algorithms: z.array(z.string()).default(['RS256', 'ES256', 'EdDSA', 'PS256']),
    userClaim: z.string().default('preferred_username'),
    groupsClaim: z.string().default('groups'),
  })
  .strict()
  .refine((t) => (t.jwks ? 1 : 0) + (t.jwksFile ? 1 : 0) === 1, { message: 'exactly one of jwks or jwksFile' })
  .refine((t) => !t.algorithms.some((a) => a.toLowerCase() === 'none'), { message: '"none" is not an algorithm' });

const target = z
  .object({
    host: z.string().min(1),
    port: port.optional(),
    database: z.string().optional(),
    user: z.string().optional(),
    password: z.string().optional(),
    privateKey: z.string().optional(),
    tls: z.enum(['disable', 'prefer', 'require', 'verify-full']).optional(),
    ca: z.string().optional(),
    hostKey: z.string().optional(),
  })
  .strict();

const review = z
  .object({
    approvers: z.array(z.string()).min(1),
    approvals: z.number().int().min(1).default(1),
    wait: duration.default('60s'),
    ttl: duration.default('15m'),
  })
  .strict();

const connection = z
  .object({
    name: z.string().regex(NAME_RE, 'connection names match [a-z0-9][a-z0-9._-]*'),
    protocol: z.enum(['postgres', 'mysql', 'ssh']),
    listen: z.object({ host: z.string().optional(), port, tls: tlsMode.optional() }).strict().optional(),
    target,
    allow: z.array(z.string()).default([]),
    guardrails: z.array(z.string()).default([]),
    masking: z.string().optional(),
    review: review.optional(),
    access: z.enum(['open', 'request']).default('open'),
    fallback: z.enum(['block', 'review', 'allow']).default('block'),
    forwarding: z
      .object({ local: z.boolean().default(false), remote: z.boolean().default(false), allow: z.array(z.string()).default([]) })
      .strict()
      .optional(),
    env: z.array(z.string()).optional(),
    hostKeyPolicy: z.enum(['strict', 'tofu']).optional(),
    serverVersion: z.string().optional(),
    // mysql: let clients use LOAD DATA LOCAL INFILE (the target asks the client for a file); default refused
    localInfile: z.boolean().optional(),
    // ssh: the sftp subsystem (also what scp uses since OpenSSH 9): allowed, read-only, or refused
    sftp: z.enum(['allow', 'read-only', 'deny']).optional(),
  })
  .strict();

const when = z
  .object({
    statements: z.array(z.string()).optional(),
    category: z.union([z.string(), z.array(z.string())]).optional(),
    tables: z.array(z.string()).optional(),
    where: z.enum(['missing']).optional(),
    functions: z.array(z.string()).optional(),
    risky: z.boolean().optional(),
    pattern: z.string().optional(),
    groups: z.array(z.string()).optional(),
    users: z.array(z.string()).optional(),
    protocol: z.union([z.enum(['postgres', 'mysql', 'ssh']), z.array(z.enum(['postgres', 'mysql', 'ssh']))]).optional(),
    command: z.string().optional(),
    forward: z.string().optional(),
  })
  .strict();

const guardrail = z
  .object({
    name: z.string().regex(NAME_RE, 'rule names match [a-z0-9][a-z0-9._-]*'),
    when,
    action: z.enum(['allow', 'block', 'review']),
    message: z.string().optional(),
  })
  .strict();

const maskWith = z.enum(['redact', 'partial', 'hash', 'null', 'replace']);

const maskingProfile = z
  .object({
    name: z.string().regex(NAME_RE),
    columns: z.array(z.object({ match: z.string().min(1), with: maskWith.default('redact') }).strict()).default([]),
    detect: z.array(z.string()).default([]),
    with: maskWith.default('redact'),
    hashKey: z.string().optional(),
  })
  .strict();

const webhook = z
  .object({ url: z.string().url(), secret: z.string().optional(), events: z.array(z.string()).default(['review']) })
  .strict();

export const configSchema = z
  .object({
    dataDir: z.string().default('./data'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    listen: z
      .object({
        postgres: listener.optional(),
        mysql: listener.optional(),
        ssh: listener.optional(),
        admin: listener.optional(),
      })
      .strict()
      .default({}),
    tls: z
      .object({ mode: tlsMode.default('prefer'), cert: z.string().optional(), key: z.string().optional() })
      .strict()
      .default({ mode: 'prefer' }),
    store: z
      .union([
        z.object({ sqlite: z.string() }).strict(),
        z.object({ postgres: z.string() }).strict(),
      ])
      .optional(),
    identity: z
      .object({
        users: z.array(user).default([]),
        tokens: z.array(tokenIssuer).default([]),
        admins: z.array(z.string()).default([]),
        auditors: z.array(z.string()).default([]),
      })
      .strict()
      .default({ users: [], tokens: [], admins: [], auditors: [] }),
    connections: z.array(connection).default([]),
    guardrails: z.array(guardrail).default([]),
    masking: z.array(maskingProfile).default([]),
    webhooks: z.array(webhook).default([]),
  })
  .strict();

export type Config = z.output<typeof configSchema>;
export type ConnectionConfig = Config['connections'][number];
export type GuardrailConfig = Config['guardrails'][number];
export type MaskingProfileConfig = Config['masking'][number];
export type UserConfig = Config['identity']['users'][number];
export type TokenIssuerConfig = Config['identity']['tokens'][number];
export type TlsMode = z.output<typeof tlsMode>;

export const DEFAULT_PORTS = { postgres: 15432, mysql: 13306, ssh: 12222, admin: 18080 } as const;
