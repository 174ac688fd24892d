// The gateway's own TLS certificate (client side of every listener). Configured files win; otherwise a
// self-signed pair under <dataDir>/tls is loaded, or generated on first start.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generate } from 'selfsigned';
import type { Config } from './config/schema.js';
import type { Logger } from './log.js';

export interface GatewayTls {
  cert: string;
  key: string;
  generated: boolean;
}

const readPem = (value: string): string => (value.trimStart().startsWith('-----BEGIN') ? value : readFileSync(resolve(value), 'utf8'));

function keyMatchesCert(cert: string, key: string): boolean {
  try {
    return new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch {
    return false;
  }
}

export async function ensureGatewayTls(config: Config, log?: Logger): Promise<GatewayTls> {
  const { cert, key } = config.tls;
  if (cert || key) {
    if (!cert || !key) throw new Error('tls.cert and tls.key must be set together');
    const pair = { cert: readPem(cert), key: readPem(key) };
    if (!keyMatchesCert(pair.cert, pair.key)) throw new Error('tls.key does not belong to tls.cert');
    return { ...pair, generated: false };
  }
  return ensureSelfSignedTls(config.dataDir, log);
}

/** Loads `<dataDir>/tls/gateway.{crt,key}`, generating them when missing, mismatched or expired. */
export async function ensureSelfSignedTls(dataDir: string, log?: Logger): Promise<GatewayTls> {
  const dir = join(resolve(dataDir), 'tls');
  const certPath = join(dir, 'gateway.crt');
  const keyPath = join(dir, 'gateway.key');
  if (existsSync(certPath) && existsSync(keyPath)) {
    const cert = readFileSync(certPath, 'utf8');
    const key = readFileSync(keyPath, 'utf8');
    if (keyMatchesCert(cert, key) && Date.parse(new X509Certificate(cert).validTo) > Date.now()) {
      return { cert, key, generated: false };
    }
    log?.warn({ dir }, 'generated TLS certificate is unusable (mismatched key or expired); generating a new one');
  }

  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(notBeforeDate);
  notAfterDate.setFullYear(notAfterDate.getFullYear() + 10);
  // ECDSA P-256: every client library in scope speaks it and its handshakes cost a fraction of RSA's
  const pems = await generate([{ name: 'commonName', value: 'portcullis' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });

  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // write-then-rename so a crash never leaves half a key; the key first, so a cert never lacks its key
  writeAtomic(keyPath, pems.private, 0o600);
  writeAtomic(certPath, pems.cert, 0o644);
  log?.info({ cert: certPath, fingerprint: pems.fingerprint }, 'generated a self-signed TLS certificate');
  return { cert: pems.cert, key: pems.private, generated: true };
}

function writeAtomic(path: string, data: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}
