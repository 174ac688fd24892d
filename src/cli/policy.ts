// `portcullis policy test -c FILE --connection C --user U [--group G …] [--json] "SQL or command"`:
// print the analysis and the decision for a statement or command, as the gateway would make it for
// that user on that connection. Exit 0 whatever the decision; 2 on bad arguments or an invalid config.
import type { Command as Program } from 'commander';
import { ConfigError, loadConfig, type LoadedConfig } from '../config/load.js';
import type { CommandAnalysis } from '../policy/command.js';
import { joinArgv } from '../policy/command.js';
import { GuardrailPolicy, type PolicyExplanation } from '../policy/guardrails.js';
import type { SqlAnalysis, StatementAnalysis } from '../policy/sql/types.js';
import type { Command, SessionInfo } from '../types.js';
import { CliExit, readAllStdin, type CliIo } from './io.js';

interface PolicyTestOptions {
  config: string;
  connection: string;
  user: string;
  group: string[];
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerPolicyCommands(program: Program, io: CliIo, setCode: (code: number) => void): void {
  const policy = program.command('policy').description('try the guardrail rules of a config');
  policy
    .command('test')
    .description('print the analysis and the decision for a statement or command (exit 0 whatever the decision)')
    .argument('[text...]', 'the SQL text (postgres/mysql connection) or the command line (ssh connection); "-" reads stdin')
    .option('-c, --config <file>', 'config file', 'portcullis.yaml')
    .requiredOption('--connection <name>', 'the connection to test against')
    .requiredOption('--user <name>', 'a local user of the config, or a token user (with --group)')
    .option('--group <group>', "a token user's group (repeatable); a local user's groups come from the config", collect, [])
    .option('--json', 'one JSON object on stdout: action, rule, message, analysis')
    .action(async (words: string[], opts: PolicyTestOptions) => setCode(await policyTest(io, words, opts)));
}

export interface PolicyTestResult {
  action: 'allow' | 'block' | 'review';
  rule: string | null;
  message: string | null;
  approvers?: string[];
  /** every rule (and built-in: fallback, function-call …) that matched */
  matched: string[];
  session: { user: string; groups: string[]; source: 'config' | 'token'; connection: string; protocol: string; allowed: boolean };
  kind: 'sql' | 'exec';
  text: string;
  analysis: SqlAnalysis | CommandAnalysis | null;
}

export async function policyTest(io: CliIo, words: readonly string[], opts: PolicyTestOptions): Promise<number> {
  let config: LoadedConfig;
  try {
    config = loadConfig(opts.config, io.env).config;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`${err.message}\n`);
    throw new CliExit(2);
  }
  const conn = config.connections.find((c) => c.name === opts.connection);
  if (!conn) {
    const names = config.connections.map((c) => c.name);
    throw new CliExit(2, `unknown connection "${opts.connection}" (${names.length > 0 ? `one of ${names.join(', ')}` : 'the config has none'})`);
  }
  const text = words.length === 1 && words[0] === '-' ? await readAllStdin(io.stdin) : words.join(' ');
  if (text.trim() === '') throw new CliExit(2, `missing the ${conn.protocol === 'ssh' ? 'command' : 'SQL'} to test`);

  const local = config.identity.users.find((u) => u.name === opts.user);
  let groups: string[];
  let source: 'config' | 'token';
  if (opts.group.length > 0) {
    // a token user's groups come from the token, a local user's from the config: never merged
    groups = [...new Set(opts.group)];
    source = 'token';
    if (local) io.err(`note: "${opts.user}" is also a local user (groups ${local.groups.join(', ') || '-'}); testing as a token user with the --group values\n`);
  } else if (local) {
    groups = [...local.groups];
    source = 'config';
  } else {
    throw new CliExit(2, `unknown user "${opts.user}": not a local user of the config (pass --group for a token user)`);
  }

  let policy: GuardrailPolicy;
  try {
    policy = new GuardrailPolicy(config);
  } catch (err) {
    throw new CliExit(2, (err as Error).message);
  }
  const session: SessionInfo = {
    id: 'policy-test',
    user: opts.user,
    groups,
    authMethod: source === 'token' ? 'jwt' : 'password',
    connection: conn.name,
    protocol: conn.protocol,
    clientAddress: 'cli',
    ...(conn.target.database !== undefined ? { database: conn.target.database } : {}),
  };
  const cmd: Command = conn.protocol === 'ssh' ? { kind: 'exec', command: text } : { kind: 'sql', dialect: conn.protocol, text, via: 'query' };
  const explained = policy.explain(session, cmd);
  const allowed = conn.allow.some((g) => groups.includes(g));
  const result = toResult(explained, session, source, allowed, cmd.kind === 'sql' ? 'sql' : 'exec', text);

  io.out(opts.json ? `${JSON.stringify(result, null, 2)}\n` : formatResult(result));
  if (!allowed) {
    io.err(`note: ${opts.user} (groups ${groups.join(', ') || '-'}) is not allowed on ${conn.name} (allow: ${conn.allow.join(', ') || '-'}); the gateway refuses the login before any command\n`);
  }
  return 0;
}

function toResult(e: PolicyExplanation, session: SessionInfo, source: 'config' | 'token', allowed: boolean, kind: 'sql' | 'exec', text: string): PolicyTestResult {
  const d = e.decision;
  return {
    action: d.action,
    rule: d.action === 'allow' ? null : d.rule,
    message: d.action === 'allow' ? null : (d.message ?? null),
    ...(d.action === 'review' ? { approvers: [...d.approvers] } : {}),
    matched: e.matched,
    session: { user: session.user, groups: [...session.groups], source, connection: session.connection, protocol: session.protocol, allowed },
    kind,
    text,
    analysis: e.analysis ?? e.command ?? null,
  };
}

const list = (xs: readonly string[]): string => (xs.length > 0 ? xs.join(', ') : '-');

export function formatResult(r: PolicyTestResult): string {
  const lines: string[] = [];
  lines.push(`decision: ${r.action}`);
  if (r.rule !== null) lines.push(`rule:     ${r.rule}`);
  if (r.message !== null) lines.push(`message:  ${r.message}`);
  if (r.approvers) lines.push(`approvers: ${list(r.approvers)}`);
  lines.push(`matched:  ${list(r.matched)}`);
  lines.push(`session:  ${r.session.user} (groups ${list(r.session.groups)}, from ${r.session.source}) on ${r.session.connection} (${r.session.protocol})`);
  lines.push('');
  if (r.kind === 'sql' && r.analysis && 'statements' in r.analysis) formatSql(r.analysis, lines);
  else if (r.kind === 'exec' && r.analysis && 'commands' in r.analysis) formatExec(r.analysis, lines);
  return `${lines.join('\n')}\n`;
}

function formatSql(a: SqlAnalysis, lines: string[]): void {
  if (a.statements.length === 0) lines.push('no statement');
  a.statements.forEach((s, i) => formatStatement(s, `statement ${i + 1}`, '', lines));
  if (a.error !== undefined) lines.push(`cannot be analysed: ${a.error} (the connection's fallback applies)`);
}

function formatStatement(s: StatementAnalysis, title: string, indent: string, lines: string[]): void {
  lines.push(`${indent}${title}: ${s.verb.toUpperCase()}`);
  const row = (k: string, v: string): void => void lines.push(`${indent}  ${`${k}:`.padEnd(16)}${v}`);
  row('category', s.category);
  row('tables read', list(s.tables.read));
  row('tables written', list(s.tables.written));
  row('where', s.where);
  row('functions', list(s.functions));
  row('risky', list(s.risky));
  row('opaque', s.opaque ? 'yes' : 'no');
  if (s.copy) row('copy', `${s.copy.direction} ${s.copy.endpoint}${s.copy.table ? ` (table ${s.copy.table})` : s.copy.query ? ' (query)' : ''}`);
  row('normalized', s.text);
  (s.inner ?? []).forEach((inner, i) => formatStatement(inner, `runs also ${i + 1}`, `${indent}    `, lines));
}

function formatExec(a: CommandAnalysis, lines: string[]): void {
  lines.push('commands:');
  if (a.commands.length === 0) lines.push('  (none)');
  a.commands.forEach((c, i) => {
    const indent = '  '.repeat(c.depth);
    const n = `${i + 1}.`.padEnd(4);
    lines.push(`  ${n}${indent}${c.via ? `[${c.via}] ` : ''}${joinArgv(c.argv)}`);
    if (c.wrappers.length > 0) lines.push(`      ${indent}runs: ${c.command.length > 0 ? joinArgv(c.command) : '(no command)'}  (through ${c.wrappers.join(', ')})`);
  });
  if (a.unparseable !== undefined) lines.push(`unparseable: ${a.unparseable} (rules also see the raw text)`);
  if (a.incomplete) lines.push("incomplete: a limit cut the analysis short (the connection's fallback applies when a command rule is in force)");
  for (const d of a.dynamic) lines.push(`dynamic: ${d}`);
  lines.push('forms matched by command rules (besides the raw text):');
  for (const f of a.forms) lines.push(`  ${f}`);
}
