import { configSchema, type Config } from '../../../src/config/schema.js';
import type { Command, SessionInfo } from '../../../src/types.js';

/** The DESIGN config sketch's rules, plus whatever a test adds. */
export function makeConfig(extra: Record<string, unknown> = {}): Config {
  return configSchema.parse({
    connections: [
      {
        name: 'app-db',
        protocol: 'postgres',
        target: { host: '127.0.0.1', port: 5432 },
        allow: ['dev'],
        guardrails: ['no-drop', 'where-required', 'ddl-review'],
        review: { approvers: ['dba-leads'] },
      },
      {
        name: 'shop-db',
        protocol: 'mysql',
        target: { host: '127.0.0.1', port: 3306 },
        allow: ['dev'],
        guardrails: ['no-drop', 'where-required', 'ddl-review'],
        review: { approvers: ['dba-leads'] },
      },
      {
        name: 'web-prod',
        protocol: 'ssh',
        target: { host: '127.0.0.1', port: 22 },
        allow: ['sre'],
        guardrails: ['no-rm-root'],
      },
    ],
    guardrails: [
      { name: 'no-drop', when: { statements: ['drop', 'truncate'] }, action: 'block' },
      { name: 'where-required', when: { statements: ['update', 'delete'], where: 'missing' }, action: 'block' },
      { name: 'ddl-review', when: { category: 'ddl' }, action: 'review' },
      { name: 'no-rm-root', when: { command: 'rm\\s+-[a-z]*r[a-z]*f?\\s+/(\\s|$)' }, action: 'block' },
    ],
    ...extra,
  });
}

export function session(connection: string, over: Partial<SessionInfo> = {}): SessionInfo {
  const protocol = connection === 'shop-db' ? 'mysql' : connection === 'web-prod' ? 'ssh' : 'postgres';
  return { id: 's1', user: 'alice', groups: ['dev'], authMethod: 'password', connection, protocol, clientAddress: '127.0.0.1', ...over };
}

export const pg = (text: string): Command => ({ kind: 'sql', dialect: 'postgres', text, via: 'query' });
export const my = (text: string, lexer: { noBackslashEscapes?: boolean; ansiQuotes?: boolean } = {}): Command => ({
  kind: 'sql',
  dialect: 'mysql',
  text,
  via: 'query',
  lexer: { dialect: 'mysql', ...lexer },
});
