// Encoders and decoders for the MySQL messages the gateway reads or writes itself.
import { Cap, Status } from './codes.js';
import { MyReader, MyWriter, ProtocolError } from './packets.js';

// ---- handshake ------------------------------------------------------------------------------------

export interface Greeting {
  version: string;
  connectionId: number;
  /** 20-byte scramble */
  nonce: Buffer;
  caps: number;
  charset: number;
  status: number;
  plugin: string;
  /** MariaDB extended capabilities (when the server cleared CLIENT_MYSQL) */
  mariaCaps: number;
}

export function encodeGreeting(g: Greeting): Buffer {
  const w = new MyWriter(128);
  w.u8(10).cstring(g.version).u32(g.connectionId);
  w.bytes(g.nonce.subarray(0, 8)).u8(0);
  w.u16(g.caps & 0xffff).u8(g.charset).u16(g.status).u16((g.caps >>> 16) & 0xffff);
  w.u8(g.nonce.length + 1).zeros(10);
  w.bytes(g.nonce.subarray(8)).u8(0);
  w.cstring(g.plugin);
  return w.payload();
}

export function decodeGreeting(p: Buffer): Greeting {
  const r = new MyReader().reset(p, 0, p.length);
  const proto = r.u8();
  if (proto === 0xff) {
    const e = decodeErr(p, 0, p.length);
    throw new ProtocolError(`target refused the connection: ${e.code} ${e.message}`);
  }
  if (proto !== 10) throw new ProtocolError(`unsupported handshake protocol ${proto}`);
  const version = r.cstring();
  const connectionId = r.u32();
  const part1 = r.bytes(8);
  r.skip(1);
  let caps = r.u16();
  let charset = 0;
  let status = 0;
  let authLen = 0;
  let mariaCaps = 0;
  let part2: Buffer = Buffer.alloc(0);
  let plugin = 'mysql_native_password';
  if (r.remaining() > 0) {
    charset = r.u8();
    status = r.u16();
    caps = (caps | (r.u16() << 16)) >>> 0;
    authLen = r.u8();
    r.skip(6);
    mariaCaps = r.u32();
    if (caps & Cap.SECURE_CONNECTION) {
      const n = Math.max(13, authLen - 8);
      part2 = r.bytes(Math.min(n, r.remaining()));
      // the scramble's last byte is a NUL terminator
      if (part2.length > 0 && part2[part2.length - 1] === 0) part2 = part2.subarray(0, part2.length - 1);
    }
    if (caps & Cap.PLUGIN_AUTH) plugin = r.cstring() || plugin;
  }
  return { version, connectionId, nonce: Buffer.concat([part1, part2]), caps, charset, status, plugin, mariaCaps };
}

export interface HandshakeResponse {
  caps: number;
  maxPacket: number;
  charset: number;
  user: string;
  authResponse: Buffer;
  database?: string;
  plugin?: string;
  attrs: Map<string, string>;
}

/** SSLRequest: the first 32 bytes of a HandshakeResponse41, sent alone before the TLS handshake. */
export function isSslRequest(p: Buffer, start: number, end: number): boolean {
  return end - start === 32 && (p.readUInt32LE(start) & Cap.SSL) !== 0;
}

export function decodeHandshakeResponse(p: Buffer, start: number, end: number): HandshakeResponse {
  const r = new MyReader().reset(p, start, end);
  const caps = r.u32();
  if (!(caps & Cap.PROTOCOL_41)) throw new ProtocolError('the client does not speak protocol 4.1');
  const maxPacket = r.u32();
  const charset = r.u8();
  r.skip(23);
  const user = r.cstring();
  let authResponse: Buffer;
  if (caps & Cap.PLUGIN_AUTH_LENENC_DATA) authResponse = r.lenencBytes() ?? Buffer.alloc(0);
  else if (caps & Cap.SECURE_CONNECTION) authResponse = r.bytes(r.u8());
  else authResponse = r.cstringBytes();
  const out: HandshakeResponse = { caps, maxPacket, charset, user, authResponse: Buffer.from(authResponse), attrs: new Map() };
  if (caps & Cap.CONNECT_WITH_DB && r.remaining() > 0) out.database = r.cstring();
  if (caps & Cap.PLUGIN_AUTH && r.remaining() > 0) out.plugin = r.cstring();
  if (caps & Cap.CONNECT_ATTRS && r.remaining() > 0) {
    const total = r.lenencNum();
    const stop = r.off + total;
    if (stop > end) throw new ProtocolError('connection attributes overrun the packet');
    while (r.off < stop) {
      const k = r.lenencString();
      const v = r.lenencString();
      out.attrs.set(k, v);
    }
  }
  return out;
}

export function encodeSslRequest(caps: number, charset: number, maxPacket: number): Buffer {
  return new MyWriter(32).u32(caps).u32(maxPacket).u8(charset).zeros(23).payload();
}

export function encodeHandshakeResponse(h: {
  caps: number;
  maxPacket: number;
  charset: number;
  user: string;
  authResponse: Buffer;
  database?: string;
  plugin: string;
  attrs?: Map<string, string>;
}): Buffer {
  const w = new MyWriter(256);
  w.u32(h.caps).u32(h.maxPacket).u8(h.charset).zeros(23);
  w.cstring(h.user);
  if (h.caps & Cap.PLUGIN_AUTH_LENENC_DATA) w.lenencBytes(h.authResponse);
  else w.u8(h.authResponse.length).bytes(h.authResponse);
  if (h.caps & Cap.CONNECT_WITH_DB) w.cstring(h.database ?? '');
  if (h.caps & Cap.PLUGIN_AUTH) w.cstring(h.plugin);
  if (h.caps & Cap.CONNECT_ATTRS) {
    const a = new MyWriter(128);
    for (const [k, v] of h.attrs ?? []) a.lenencBytes(k).lenencBytes(v);
    w.lenencBytes(a.payload());
  }
  return w.payload();
}

export function encodeAuthSwitch(plugin: string, data: Buffer): Buffer {
  return new MyWriter(64).u8(0xfe).cstring(plugin).bytes(data).payload();
}

// ---- OK / ERR / EOF --------------------------------------------------------------------------------

export interface Ok {
  affectedRows: number;
  insertId: number;
  status: number;
  warnings: number;
  /** the rest of the packet (info and session state), passed on unchanged */
  tail: Buffer;
}

export function decodeOk(p: Buffer, start: number, end: number): Ok {
  const r = new MyReader().reset(p, start + 1, end);
  const affectedRows = r.lenencNum();
  const insertId = r.lenencNum();
  const status = r.remaining() >= 2 ? r.u16() : 0;
  const warnings = r.remaining() >= 2 ? r.u16() : 0;
  return { affectedRows, insertId, status, warnings, tail: Buffer.from(r.rest()) };
}

export function encodeOk(o: Partial<Ok> & { status: number }, header = 0x00): Buffer {
  const w = new MyWriter(32);
  w.u8(header).lenenc(o.affectedRows ?? 0).lenenc(o.insertId ?? 0).u16(o.status).u16(o.warnings ?? 0);
  if (o.tail) w.bytes(o.tail);
  return w.payload();
}

export function encodeEof(status: number, warnings = 0): Buffer {
  return new MyWriter(5).u8(0xfe).u16(warnings).u16(status).payload();
}

/** Status flags and warnings of a 0xFE packet, whether an EOF or an OK with the EOF header. */
export function terminatorStatus(p: Buffer, start: number, end: number, deprecateEof: boolean): { status: number; warnings: number } {
  if (!deprecateEof) {
    if (end - start < 5) return { status: 0, warnings: 0 };
    return { warnings: p.readUInt16LE(start + 1), status: p.readUInt16LE(start + 3) };
  }
  const o = decodeOk(p, start, end);
  return { status: o.status, warnings: o.warnings };
}

export interface Err {
  code: number;
  state: string;
  message: string;
}

export function encodeErr(e: Err): Buffer {
  const w = new MyWriter(64 + e.message.length);
  w.u8(0xff).u16(e.code).u8(0x23).str((e.state + '00000').slice(0, 5)).str(e.message);
  return w.payload();
}

export function decodeErr(p: Buffer, start: number, end: number): Err {
  const r = new MyReader().reset(p, start + 1, end);
  const code = r.u16();
  let state = 'HY000';
  if (r.remaining() > 0 && p[r.off] === 0x23) {
    r.skip(1);
    state = r.bytes(Math.min(5, r.remaining())).toString('latin1');
  }
  return { code, state, message: r.rest().toString('utf8') };
}

// ---- result sets -------------------------------------------------------------------------------------

export interface ColumnDef {
  schema: string;
  table: string;
  orgTable: string;
  name: string;
  orgName: string;
  charset: number;
  length: number;
  type: number;
  flags: number;
  decimals: number;
}

export function decodeColumnDef(p: Buffer, start: number, end: number): ColumnDef {
  const r = new MyReader().reset(p, start, end);
  r.lenencBytes(); // catalog "def"
  const schema = r.lenencString();
  const table = r.lenencString();
  const orgTable = r.lenencString();
  const name = r.lenencString();
  const orgName = r.lenencString();
  r.lenenc(); // length of the fixed fields (0x0c)
  const charset = r.u16();
  const length = r.u32();
  const type = r.u8();
  const flags = r.u16();
  const decimals = r.u8();
  return { schema, table, orgTable, name, orgName, charset, length, type, flags, decimals };
}

export function encodeColumnDef(c: ColumnDef): Buffer {
  const w = new MyWriter(64);
  w.lenencBytes('def').lenencBytes(c.schema).lenencBytes(c.table).lenencBytes(c.orgTable);
  w.lenencBytes(c.name).lenencBytes(c.orgName).lenenc(0x0c);
  w.u16(c.charset).u32(c.length).u8(c.type).u16(c.flags).u8(c.decimals).u16(0);
  return w.payload();
}

/** OK packet of COM_STMT_PREPARE: 0x00 · stmt id · columns · params · filler · warnings. */
export interface PrepareOk {
  id: number;
  columns: number;
  params: number;
}

export function decodePrepareOk(p: Buffer, start: number, end: number): PrepareOk {
  const r = new MyReader().reset(p, start + 1, end);
  const id = r.u32();
  const columns = r.u16();
  const params = r.u16();
  return { id, columns, params };
}

export const hasMoreResults = (status: number): boolean => (status & Status.MORE_RESULTS_EXISTS) !== 0;
