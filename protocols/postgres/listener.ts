// PostgreSQL listeners: the shared port (connection chosen by name) and each connection's own port.
import type { ConnectionConfig } from '../../src/config/schema.js';
import { listenTcp, type TcpListener } from '../tcp-listener.js';
import { handleClient, type PgContext } from './handshake.js';

export type PgListener = TcpListener;

export function listenPostgres(ctx: PgContext, host: string, port: number): Promise<PgListener> {
  return listenTcp(ctx.log, 'postgres', host, port, (sock) => handleClient(sock, ctx), {
    connection: ctx.ownConnection?.name,
    tls: ctx.tlsMode,
    clientAuth: ctx.clientAuth,
  });
}

export function ownPortConnections(connections: readonly ConnectionConfig[]): ConnectionConfig[] {
  return connections.filter((c) => c.protocol === 'postgres' && c.listen);
}
