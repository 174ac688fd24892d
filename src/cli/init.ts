// `portcullis init [DIR]`: the quickstart config (a copy of examples/portcullis.yaml) and TLS material.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ensureSelfSignedTls } from '../tls.js';
import { CliExit, type CliIo } from './io.js';

/** The installed package's root (the directory holding package.json and examples/), from src/cli or dist/src/cli. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'examples'))) return dir;
    dir = dirname(dir);
  }
  throw new CliExit(1, 'cannot find the portcullis package root (package.json and examples/)');
}

export function exampleConfigPath(): string {
  return join(packageRoot(), 'examples', 'portcullis.yaml');
}

export async function initCommand(io: CliIo, dirArg: string): Promise<number> {
  const dir = resolve(dirArg);
  const target = join(dir, 'portcullis.yaml');
  if (existsSync(target)) throw new CliExit(2, `${target} already exists; not overwriting it`);
  const template = readFileSync(exampleConfigPath(), 'utf8');
  mkdirSync(dir, { recursive: true });
  writeFileSync(target, template, { flag: 'wx', mode: 0o600 });
  io.err(`wrote ${target}\n`);

  // the data dir as written in the template (no substitution needed for it)
  const raw = (parse(template) ?? {}) as { dataDir?: unknown };
  const dataDirSetting = typeof raw.dataDir === 'string' ? raw.dataDir : './data';
  const dataDir = isAbsolute(dataDirSetting) ? dataDirSetting : resolve(dir, dataDirSetting);
  const tls = await ensureSelfSignedTls(dataDir);
  const tlsDir = join(dataDir, 'tls');
  io.err(`${tls.generated ? 'wrote' : 'kept existing'} ${join(tlsDir, 'gateway.crt')} and gateway.key (self-signed, CN portcullis)\n`);
  io.err(
    [
      '',
      'next steps:',
      `  - edit ${target}: the target connection, and alice's example password (alice-secret);`,
      '    make new hashes with `portcullis users hash`',
      '  - export APP_DB_PASSWORD=… (the target password the gateway logs in with)',
      `  - portcullis check -c ${target}`,
      `  - portcullis start -c ${target}`,
      '',
    ].join('\n'),
  );
  return 0;
}
