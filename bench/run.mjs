#!/usr/bin/env node
// `npm run bench`: every benchmark in bench/. For now only PostgreSQL (bench/pg.mjs); arguments are passed on.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const pg = fileURLToPath(new URL('./pg.mjs', import.meta.url));
const r = spawnSync(process.execPath, [pg, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
