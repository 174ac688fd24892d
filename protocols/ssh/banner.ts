// SSH_MSG_USERAUTH_BANNER during authentication: how an SSH server tells a client *why* it refuses (unknown
// connection, not allowed, target down). ssh2 only sends a fixed banner at the start, so the packet is built
// here on its protocol object (the same calls its own static banner uses).
import { createRequire } from 'node:module';
import type { Connection } from 'ssh2';

const require = createRequire(import.meta.url);
const { sendPacket } = require('ssh2/lib/protocol/utils.js') as { sendPacket: (proto: unknown, packet: Buffer) => boolean };

const USERAUTH_BANNER = 53;

interface ProtoInternals {
  _packetRW: { write: { allocStart: number; alloc(n: number): Buffer; finalize(p: Buffer): Buffer } };
}

export function sendBanner(client: Connection, text: string): void {
  const proto = (client as unknown as { _protocol?: ProtoInternals })._protocol;
  if (!proto?._packetRW) return;
  const msg = text.endsWith('\r\n') ? text : `${text.replace(/\n$/, '')}\r\n`;
  const len = Buffer.byteLength(msg);
  const w = proto._packetRW.write;
  let p = w.allocStart;
  const packet = w.alloc(1 + 4 + len + 4);
  packet[p] = USERAUTH_BANNER;
  packet.writeUInt32BE(len, ++p);
  packet.write(msg, (p += 4), len, 'utf8');
  packet.writeUInt32BE(0, p + len);
  try {
    sendPacket(proto, w.finalize(packet));
  } catch {
    // the connection is going away; nothing to tell
  }
}
