// MySQL listeners: the shared port (connection chosen by USER#CONNECTION) and each connection's own port.
import net from 'node:net';
import type { ConnectionConfig } from '../../src/config/schema.js';
import { handleMysqlClient, type MyContext } from './handshake.js';

export interface MyListener {
  server: net.Server;
  port: number;
  host: string;
  close(): Promise<void>;
}

export async function listenMysql(ctx: MyContext, host: string, port: number): Promise<MyListener> {
  const server = net.createServer({ noDelay: true }, (sock) => {
    handleMysqlClient(sock, ctx).catch((err: unknown) => {
      ctx.log.error({ err }, 'unhandled error in mysql handshake');
      sock.destroy();
    });
  });
  server.on('error', (err) => ctx.log.error({ err }, 'mysql listener error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as net.AddressInfo;
  ctx.log.info({ host, port: addr.port, connection: ctx.ownConnection?.name, tls: ctx.tlsMode, version: ctx.serverVersion }, 'mysql listener ready');
  return {
    server,
    port: addr.port,
    host,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export function ownMysqlPortConnections(connections: readonly ConnectionConfig[]): ConnectionConfig[] {
  return connections.filter((c) => c.protocol === 'mysql' && c.listen);
}
