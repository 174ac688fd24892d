import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
import { ensureGatewayTls } from '../../../src/tls.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'portcullis-tls-'));

describe('ensureGatewayTls', () => {
  it('generates a self-signed pair under dataDir/tls once, then reuses it', async () => {
    const dataDir = join(tmp(), 'data');
    const config = configSchema.parse({ dataDir });
    const first = await ensureGatewayTls(config);
    expect(first.generated).toBe(true);
    const cert = new X509Certificate(first.cert);
    expect(cert.subject).toContain('CN=portcullis');
    expect(cert.subjectAltName).toContain('DNS:localhost');
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(Date.parse(cert.validTo) - Date.now()).toBeGreaterThan(9 * 365 * 86_400_000);
    expect(cert.checkPrivateKey(createPrivateKey(first.key))).toBe(true);
    expect(statSync(join(dataDir, 'tls', 'gateway.key')).mode & 0o777).toBe(0o600);

    const second = await ensureGatewayTls(config);
    expect(second).toEqual({ cert: first.cert, key: first.key, generated: false });
  });

  it('regenerates when the stored key does not match the certificate', async () => {
    const dataDir = tmp();
    const config = configSchema.parse({ dataDir });
    const a = await ensureGatewayTls(config);
    const other = await ensureGatewayTls(configSchema.parse({ dataDir: tmp() }));
    writeFileSync(join(dataDir, 'tls', 'gateway.key'), other.key);
    const b = await ensureGatewayTls(config);
    expect(b.generated).toBe(true);
    expect(b.cert).not.toBe(a.cert);
  });

  it('reads configured files, and refuses a key that is not the certificate\'s', async () => {
    const src = tmp();
    const made = await ensureGatewayTls(configSchema.parse({ dataDir: src }));
    const dir = tmp();
    writeFileSync(join(dir, 'c.pem'), made.cert);
    writeFileSync(join(dir, 'k.pem'), made.key);
    const cfg = configSchema.parse({ dataDir: dir, tls: { cert: join(dir, 'c.pem'), key: join(dir, 'k.pem') } });
    expect(await ensureGatewayTls(cfg)).toEqual({ cert: made.cert, key: made.key, generated: false });

    const other = await ensureGatewayTls(configSchema.parse({ dataDir: tmp() }));
    writeFileSync(join(dir, 'k.pem'), other.key);
    await expect(ensureGatewayTls(cfg)).rejects.toThrow(/does not belong/);
    expect(readFileSync(join(dir, 'c.pem'), 'utf8')).toBe(made.cert);
  });
});
