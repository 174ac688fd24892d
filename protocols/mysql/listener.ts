// MySQL listeners: the shared port (connection chosen by USER#CONNECTION) and each connection's own port.
import type { ConnectionConfig } from '../../src/config/schema.js';
import { listenTcp, type TcpListener } from '../tcp-listener.js';
import { handleMysqlClient, type MyContext } from './handshake.js';

export type MyListener = TcpListener;

export function listenMysql(ctx: MyContext, host: string, port: number): Promise<MyListener> {
  return listenTcp(ctx.log, 'mysql', host, port, (sock) => handleMysqlClient(sock, ctx), {
    connection: ctx.ownConnection?.name,
    tls: ctx.tlsMode,
    version: ctx.serverVersion,
  });
}

export function ownMysqlPortConnections(connections: readonly ConnectionConfig[]): ConnectionConfig[] {
  return connections.filter((c) => c.protocol === 'mysql' && c.listen);
}
