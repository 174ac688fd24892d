#!/usr/bin/env node
// `npm run bench`: every benchmark in bench/, in one run. bench/pg.mjs writes bench/RESULTS.md (arguments are
// passed on to it); the micro-benchmarks of the policy core and the masking engine are appended to it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (f) => fileURLToPath(new URL(f, import.meta.url));
const r = spawnSync(process.execPath, [here('./pg.mjs'), ...process.argv.slice(2)], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
const out = process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1] : here('./RESULTS.md');
for (const [title, script] of [['SQL analysis and decisions', './analyzer.mjs'], ['Masking engine', './masking.mjs']]) {
  const m = spawnSync(process.execPath, [here(script)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (m.status !== 0) {
    fs.appendFileSync(out, `\n## ${title}\n\nfailed: exit ${m.status}\n`);
    continue;
  }
  fs.appendFileSync(out, `\n## ${title} (micro-benchmark)\n\n${m.stdout.trim()}\n`);
}
