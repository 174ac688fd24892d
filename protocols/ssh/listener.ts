// SSH listeners: the shared port (connection chosen by USER#CONNECTION) and each connection's own port.
// ssh2's default algorithm lists are the modern ones (curve25519/ECDH/DH-group14+, AES-GCM/CTR and
// chacha20-poly1305, SHA-2 MACs; no SHA-1, no CBC).
import type net from 'node:net';
import ssh2 from 'ssh2';
import type { ConnectionConfig } from '../../src/config/schema.js';
import { handleSshClient, type SshContext } from './server.js';

const { Server } = ssh2;

export interface SshListener {
  port: number;
  host: string;
  close(): Promise<void>;
}

export async function listenSsh(ctx: SshContext, hostKeys: string[], host: string, port: number): Promise<SshListener> {
  const server = new Server({ hostKeys, ident: 'portcullis' }, (client, info) => {
    try {
      handleSshClient(client, info.ip, ctx);
    } catch (err) {
      ctx.log.error({ err }, 'unhandled error in ssh connection setup');
      client.end();
    }
  });
  server.on('error', (err: Error) => ctx.log.error({ err }, 'ssh listener error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as net.AddressInfo;
  ctx.log.info({ host, port: addr.port, connection: ctx.ownConnection?.name }, 'ssh listener ready');
  return {
    port: addr.port,
    host,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export function ownSshPortConnections(connections: readonly ConnectionConfig[]): ConnectionConfig[] {
  return connections.filter((c) => c.protocol === 'ssh' && c.listen);
}
