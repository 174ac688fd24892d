#!/usr/bin/env node
// Bare Node.js TCP relay: the ceiling for any Node proxy on this machine (DESIGN "Performance principles").
// usage: node bench/relay.mjs LISTEN_PORT TARGET_HOST TARGET_PORT [LISTEN_HOST]
import net from 'node:net';

const [listenPort = '0', targetHost = '127.0.0.1', targetPort = '5432', listenHost = '127.0.0.1'] = process.argv.slice(2);

const server = net.createServer({ noDelay: true }, (client) => {
  const upstream = net.connect({ host: targetHost, port: Number(targetPort), noDelay: true });
  client.pipe(upstream);
  upstream.pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
});

server.listen(Number(listenPort), listenHost, () => {
  const addr = server.address();
  console.log(`relay ${listenHost}:${typeof addr === 'object' && addr ? addr.port : listenPort} -> ${targetHost}:${targetPort}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
