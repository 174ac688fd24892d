// A TCP listener for a protocol's client connections (PostgreSQL, MySQL): binds, logs, hands each socket to
// the protocol's handler, and never lets a handler's failure take the listener down.
import net from 'node:net';
import type { Logger } from 'pino';

export interface TcpListener {
  server: net.Server;
  port: number;
  host: string;
  close(): Promise<void>;
}

export async function listenTcp(
  log: Logger,
  name: string,
  host: string,
  port: number,
  handle: (sock: net.Socket) => Promise<void>,
  details: Record<string, unknown>,
): Promise<TcpListener> {
  const server = net.createServer({ noDelay: true }, (sock) => {
    handle(sock).catch((err: unknown) => {
      log.error({ err }, `unhandled error in ${name} connection setup`);
      sock.destroy();
    });
  });
  server.on('error', (err) => log.error({ err }, `${name} listener error`));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as net.AddressInfo;
  log.info({ host, port: addr.port, ...details }, `${name} listener ready`);
  return {
    server,
    port: addr.port,
    host,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
