// CLI entry (bin/portcullis calls main(process.argv)). Exit codes (DESIGN "CLI output and exit codes"):
// 0 ok, 1 operational failure, 2 bad arguments or invalid config, 3 refused.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { checkCommand } from './check.js';
import { initCommand, packageRoot } from './init.js';
import { CliExit, processIo, type CliIo } from './io.js';
import { startCommand } from './start.js';
import { usersHashCommand } from './users.js';
import { registerPolicyCommands } from './policy.js';
import { registerMaskCommands } from './mask.js';
import { registerSessionsCommands } from './sessions.js';
import { registerAuditCommands } from './audit.js';

export { CliExit, type CliIo } from './io.js';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function buildProgram(io: CliIo, setCode: (code: number) => void): Command {
  const program = new Command('portcullis')
    .description('identity-aware access gateway for PostgreSQL, MySQL/MariaDB and SSH')
    .version(version(), '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
    })
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('start')
    .description('start every listener in the config; logs (JSON) go to stdout')
    .option('-c, --config <file>', 'config file', 'portcullis.yaml')
    .action(async (opts: { config: string }) => setCode(await startCommand(io, opts.config)));

  program
    .command('init')
    .description('write a quickstart portcullis.yaml and TLS material into DIR')
    .argument('[dir]', 'directory', '.')
    .action(async (dir: string) => setCode(await initCommand(io, dir)));

  program
    .command('check')
    .description('validate a config and summarize what it sets up (exit 2 when invalid)')
    .option('-c, --config <file>', 'config file', 'portcullis.yaml')
    .option('--json', 'machine-readable output on stdout')
    .action((opts: { config: string; json?: boolean }) => setCode(checkCommand(io, opts.config, { json: opts.json })));

  const users = program.command('users').description('local users');
  users
    .command('hash')
    .description('read a password from stdin and print the value for `password: { hash: … }`')
    .option('--mysql', 'also store the unsalted mysql_native_password verifier (lets MySQL clients log in without cleartext)')
    .action(async (opts: { mysql?: boolean }) => setCode(await usersHashCommand(io, opts)));

  registerPolicyCommands(program, io, setCode);
  registerMaskCommands(program, io, setCode);
  registerSessionsCommands(program, io, setCode);
  registerAuditCommands(program, io, setCode);
  return program;
}

/** Runs the CLI with `args` (without node and script) and returns the exit code. */
export async function run(args: readonly string[], io: CliIo = processIo()): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync([...args], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CliExit) {
      if (err.message) io.err(`portcullis: ${err.message}\n`);
      return err.code;
    }
    if (err instanceof CommanderError) {
      // help and version requests are successes; everything else commander rejects is bad usage
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2;
    }
    io.err(`portcullis: ${(err as Error)?.message ?? String(err)}\n`);
    return 1;
  }
}

export async function main(argv: string[] = process.argv): Promise<void> {
  process.exitCode = await run(argv.slice(2));
}
