// The gateway's SSH host keys: generated into dataDir on first start (ed25519, and RSA for old clients) and
// kept, so clients' known_hosts stay valid across restarts.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import ssh2 from 'ssh2';
import type { Logger } from 'pino';

const { utils } = ssh2;

export interface HostKeys {
  /** private keys (OpenSSH format), ed25519 first */
  keys: string[];
  /** 'SHA256:…' of each public key, as ssh-keygen -lf prints it */
  fingerprints: string[];
}

/** SHA256 fingerprint of an SSH public key blob. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export function ensureHostKeys(dataDir: string, log: Logger): HostKeys {
  fs.mkdirSync(dataDir, { recursive: true });
  const out: HostKeys = { keys: [], fingerprints: [] };
  for (const [name, type] of [['ssh_host_ed25519_key', 'ed25519'], ['ssh_host_rsa_key', 'rsa']] as const) {
    const file = path.join(dataDir, name);
    if (!fs.existsSync(file)) {
      const pair = type === 'rsa' ? utils.generateKeyPairSync('rsa', { bits: 3072 }) : utils.generateKeyPairSync('ed25519');
      fs.writeFileSync(file, pair.private, { mode: 0o600 });
      fs.writeFileSync(`${file}.pub`, `${pair.public}\n`, { mode: 0o644 });
      log.info({ file: name }, 'generated an SSH host key');
    }
    const text = fs.readFileSync(file, 'utf8');
    const parsed = utils.parseKey(text);
    if (parsed instanceof Error) throw new Error(`${name}: ${parsed.message}`);
    const key = Array.isArray(parsed) ? parsed[0]! : parsed;
    out.keys.push(text);
    out.fingerprints.push(fingerprint(key.getPublicSSH()));
  }
  return out;
}
