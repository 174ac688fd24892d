// Decoders and encoders for the messages the gateway reads or writes itself, named after the spec.
// Frames it only forwards are never decoded.
import { AuthCode, Backend, Frontend, PROTOCOL_3_0 } from './codes.js';
import { ProtocolError, Reader, Writer } from './bytes.js';

export interface ErrorFields {
  severity: 'ERROR' | 'FATAL' | 'WARNING' | 'NOTICE' | 'INFO' | 'LOG' | 'DEBUG';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

// ErrorResponse / NoticeResponse: Byte1('E'|'N') · Int32 len · { Byte1 field · String value }* · Byte1(0)
export function encodeErrorResponse(f: ErrorFields, w = new Writer(), notice = false): Buffer {
  w.begin(notice ? Backend.NoticeResponse : Backend.ErrorResponse);
  w.byte(0x53).cstring(f.severity); // 'S'
  w.byte(0x56).cstring(f.severity); // 'V' non-localized severity
  w.byte(0x43).cstring(f.code); // 'C'
  w.byte(0x4d).cstring(f.message); // 'M'
  if (f.detail) w.byte(0x44).cstring(f.detail); // 'D'
  if (f.hint) w.byte(0x48).cstring(f.hint); // 'H'
  w.byte(0).end();
  return w.flush();
}

/** Fields of an ErrorResponse/NoticeResponse by their one-letter code. */
export function decodeErrorFields(r: Reader): Map<string, string> {
  const out = new Map<string, string>();
  for (;;) {
    const t = r.byte();
    if (t === 0) break;
    out.set(String.fromCharCode(t), r.cstring());
  }
  return out;
}

// Authentication*: Byte1('R') · Int32 len · Int32 code · extra
export function encodeAuthentication(code: AuthCode, extra?: Buffer | string[]): Buffer {
  const w = new Writer().begin(Backend.Authentication).int32(code);
  if (Array.isArray(extra)) {
    for (const m of extra) w.cstring(m);
    w.byte(0);
  } else if (extra) {
    w.bytes(extra);
  }
  return w.end().flush();
}

export function encodeParameterStatus(name: string, value: string, w = new Writer()): Buffer {
  return w.begin(Backend.ParameterStatus).cstring(name).cstring(value).end().flush();
}

export function encodeBackendKeyData(pid: number, secret: number): Buffer {
  return new Writer().begin(Backend.BackendKeyData).int32(pid).int32(secret).end().flush();
}

export function encodeReadyForQuery(status: number): Buffer {
  return new Writer().begin(Backend.ReadyForQuery).byte(status).end().flush();
}

// NegotiateProtocolVersion: Byte1('v') · Int32 len · Int32 newest minor supported · Int32 n · String[n] options
export function encodeNegotiateProtocolVersion(minor: number, options: string[]): Buffer {
  const w = new Writer().begin(Backend.NegotiateProtocolVersion).int32(minor).int32(options.length);
  for (const o of options) w.cstring(o);
  return w.end().flush();
}

/** StartupMessage body after the version: { String name · String value }* · Byte1(0) */
export function decodeStartupParams(r: Reader): Map<string, string> {
  const params = new Map<string, string>();
  for (;;) {
    if (r.remaining() === 0) throw new ProtocolError('startup packet not terminated');
    const name = r.cstring();
    if (name === '') break;
    params.set(name, r.cstring());
  }
  return params;
}

export function encodeStartupMessage(params: Map<string, string>): Buffer {
  const w = new Writer().beginUntyped().int32(PROTOCOL_3_0);
  for (const [k, v] of params) w.cstring(k).cstring(v);
  return w.byte(0).end().flush();
}

export function encodeSSLRequest(): Buffer {
  return Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
}

export function encodeCancelRequest(pid: number, secret: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32BE(16, 0);
  b.writeInt32BE(80877102, 4);
  b.writeInt32BE(pid, 8);
  b.writeInt32BE(secret, 12);
  return b;
}

export function encodePasswordMessage(data: string | Buffer): Buffer {
  const w = new Writer().begin(Frontend.Password);
  if (typeof data === 'string') w.cstring(data);
  else w.bytes(data);
  return w.end().flush();
}

export function encodeSASLInitialResponse(mechanism: string, data: string): Buffer {
  const body = Buffer.from(data);
  return new Writer().begin(Frontend.Password).cstring(mechanism).int32(body.length).bytes(body).end().flush();
}

export function encodeQuery(sql: string, w = new Writer()): Buffer {
  return w.begin(Frontend.Query).cstring(sql).end().flush();
}

export function encodeTerminate(): Buffer {
  return Buffer.from([Frontend.Terminate, 0, 0, 0, 4]);
}

export interface FieldDescription {
  name: string;
  tableOid: number;
  attnum: number;
  typeOid: number;
  typeSize: number;
  typeMod: number;
  format: number;
}

// RowDescription: Byte1('T') · Int32 len · Int16 n · { String name · Int32 table · Int16 attnum · Int32 type ·
//                 Int16 size · Int32 typmod · Int16 format }[n]
export function decodeRowDescription(r: Reader): FieldDescription[] {
  const n = r.int16();
  const out: FieldDescription[] = new Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = {
      name: r.cstring(),
      tableOid: r.uint32(),
      attnum: r.int16(),
      typeOid: r.uint32(),
      typeSize: r.int16(),
      typeMod: r.int32(),
      format: r.int16(),
    };
  }
  return out;
}

// Parse: Byte1('P') · Int32 len · String name · String query · Int16 n · Int32 paramType[n]
export interface ParseMessage {
  name: string;
  query: string;
  /** offset of the parameter-count field, to rebuild the message with another query text */
  paramTypes: Buffer;
}
export function decodeParse(r: Reader): ParseMessage {
  const name = r.cstring();
  const query = r.cstring();
  const paramTypes = r.rest();
  return { name, query, paramTypes };
}
export function encodeParse(name: string, query: string, paramTypes: Buffer): Buffer {
  return new Writer().begin(Frontend.Parse).cstring(name).cstring(query).bytes(paramTypes).end().flush();
}

// Bind: Byte1('B') · Int32 len · String portal · String statement · Int16 nf · Int16 fmt[nf] ·
//       Int16 np · { Int32 len · Byte[len] }[np] · Int16 nr · Int16 resultFmt[nr]
export interface BindMessage {
  portal: string;
  statement: string;
  resultFormats: number[];
}
export function decodeBind(r: Reader): BindMessage {
  const portal = r.cstring();
  const statement = r.cstring();
  const nf = r.int16();
  if (nf < 0) throw new ProtocolError('negative format count');
  r.bytes(nf * 2);
  const np = r.int16();
  if (np < 0) throw new ProtocolError('negative parameter count');
  for (let i = 0; i < np; i++) {
    const l = r.int32();
    if (l > 0) r.bytes(l);
    else if (l < -1) throw new ProtocolError('bad parameter length');
  }
  const nr = r.int16();
  if (nr < 0) throw new ProtocolError('negative result format count');
  const resultFormats: number[] = new Array(nr);
  for (let i = 0; i < nr; i++) resultFormats[i] = r.int16();
  return { portal, statement, resultFormats };
}

// Describe / Close: Byte1 · Int32 len · Byte1 'S'|'P' · String name
export function decodeTarget(r: Reader): { kind: 'S' | 'P'; name: string } {
  const k = r.byte();
  if (k !== 0x53 && k !== 0x50) throw new ProtocolError(`bad Describe/Close target 0x${k.toString(16)}`);
  return { kind: k === 0x53 ? 'S' : 'P', name: r.cstring() };
}
export function encodeDescribe(kind: 'S' | 'P', name: string): Buffer {
  return new Writer().begin(Frontend.Describe).byte(kind === 'S' ? 0x53 : 0x50).cstring(name).end().flush();
}

// Execute: Byte1('E') · Int32 len · String portal · Int32 maxRows
export function decodeExecute(r: Reader): { portal: string; maxRows: number } {
  return { portal: r.cstring(), maxRows: r.int32() };
}

// CommandComplete: Byte1('C') · Int32 len · String tag   ("SELECT 5", "INSERT 0 1", "COPY 3")
export function rowsFromTag(tag: string): number | undefined {
  const sp = tag.lastIndexOf(' ');
  if (sp < 0) return undefined;
  const n = Number(tag.slice(sp + 1));
  return Number.isFinite(n) ? n : undefined;
}
