#!/usr/bin/env node
// `npm run bench`: every benchmark in bench/, in one run. bench/pg.mjs writes bench/RESULTS.md (arguments are
// passed on to it); bench/mysql.mjs then adds its "MySQL / MariaDB" section (only --duration, --bulk-runs, --out,
// --keep and --help are passed on to it: the other options differ between the two); bench/ssh.mjs then adds its
// "SSH" section (only --out, --keep and --help are passed on to it); the micro-benchmarks of the policy core and
// the masking engine are appended last. A failed MySQL or SSH run leaves a "failed" section and the rest goes on.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (f) => fileURLToPath(new URL(f, import.meta.url));
const r = spawnSync(process.execPath, [here('./pg.mjs'), ...process.argv.slice(2)], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
const out = process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1] : here('./RESULTS.md');

const argv = process.argv.slice(2);
const myArgs = [];
for (let i = 0; i < argv.length; i++) {
  const [name] = argv[i].split('=', 1);
  if (argv[i] === '--keep' || argv[i] === '--help') myArgs.push(argv[i]);
  else if (['--duration', '--bulk-runs', '--out'].includes(name)) myArgs.push(...(argv[i].includes('=') ? [argv[i]] : [argv[i], argv[++i]]));
}
const my = spawnSync(process.execPath, [here('./mysql.mjs'), ...myArgs], { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
if (my.stderr) process.stderr.write(my.stderr);
if (my.status !== 0) {
  const lines = (my.stderr ?? '').trim().split('\n');
  const why = lines.filter((l) => l.startsWith('bench: ')).pop()?.slice(7) || lines.pop() || `exit ${my.status ?? my.signal}`;
  fs.appendFileSync(out, `\n<!-- bench/mysql.mjs: start -->\n## MySQL / MariaDB\n\nfailed: ${why.replace(/\|/g, '\\|')}\n<!-- bench/mysql.mjs: end -->\n`);
}

const sshArgs = [];
for (let i = 0; i < argv.length; i++) {
  const [name] = argv[i].split('=', 1);
  if (argv[i] === '--keep' || argv[i] === '--help') sshArgs.push(argv[i]);
  else if (name === '--out') sshArgs.push(...(argv[i].includes('=') ? [argv[i]] : [argv[i], argv[++i]]));
}
const ssh = spawnSync(process.execPath, [here('./ssh.mjs'), ...sshArgs], { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
if (ssh.stderr) process.stderr.write(ssh.stderr);
if (ssh.status !== 0) {
  const lines = (ssh.stderr ?? '').trim().split('\n');
  const why = lines.filter((l) => l.startsWith('bench: ')).pop()?.slice(7) || lines.pop() || `exit ${ssh.status ?? ssh.signal}`;
  fs.appendFileSync(out, `\n<!-- bench/ssh.mjs: start -->\n## SSH\n\nfailed: ${why.replace(/\|/g, '\\|')}\n<!-- bench/ssh.mjs: end -->\n`);
}

for (const [title, script] of [['SQL analysis and decisions', './analyzer.mjs'], ['Masking engine', './masking.mjs']]) {
  const m = spawnSync(process.execPath, [here(script)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (m.status !== 0) {
    fs.appendFileSync(out, `\n## ${title}\n\nfailed: exit ${m.status}\n`);
    continue;
  }
  fs.appendFileSync(out, `\n## ${title} (micro-benchmark)\n\n${m.stdout.trim()}\n`);
}
