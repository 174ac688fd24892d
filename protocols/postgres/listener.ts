// PostgreSQL listeners: the shared port (connection chosen by name) and each connection's own port.
import net from 'node:net';
import type { ConnectionConfig } from '../../src/config/schema.js';
import { handleClient, type PgContext } from './handshake.js';

export interface PgListener {
  server: net.Server;
  port: number;
  host: string;
  close(): Promise<void>;
}

export async function listenPostgres(ctx: PgContext, host: string, port: number): Promise<PgListener> {
  const server = net.createServer({ noDelay: true }, (sock) => {
    handleClient(sock, ctx).catch((err: unknown) => {
      ctx.log.error({ err }, 'unhandled error in client handshake');
      sock.destroy();
    });
  });
  server.on('error', (err) => ctx.log.error({ err }, 'postgres listener error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as net.AddressInfo;
  ctx.log.info({ host, port: addr.port, connection: ctx.ownConnection?.name, tls: ctx.tlsMode, clientAuth: ctx.clientAuth }, 'postgres listener ready');
  return {
    server,
    port: addr.port,
    host,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export function ownPortConnections(connections: readonly ConnectionConfig[]): ConnectionConfig[] {
  return connections.filter((c) => c.protocol === 'postgres' && c.listen);
}
