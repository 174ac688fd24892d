// Binary-format encodings of the replacement values masking gives non-text columns, so that a masked
// int4 is still 4 bytes a driver can read (PostgreSQL's send functions: int2send, int4send, float8send,
// date_send, timestamp_send, uuid_send, boolsend). Types without an encoder here become NULL.

const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

type Encoder = (text: string) => Buffer | null;

const int = (bytes: 2 | 4 | 8): Encoder => (text) => {
  if (!/^-?\d+$/.test(text)) return null;
  const b = Buffer.alloc(bytes);
  if (bytes === 2) b.writeInt16BE(Number(text));
  else if (bytes === 4) b.writeInt32BE(Number(text));
  else b.writeBigInt64BE(BigInt(text));
  return b;
};

const float = (bytes: 4 | 8): Encoder => (text) => {
  const n = Number(text);
  if (!Number.isFinite(n)) return null;
  const b = Buffer.alloc(bytes);
  if (bytes === 4) b.writeFloatBE(n);
  else b.writeDoubleBE(n);
  return b;
};

const ENCODERS: Record<number, Encoder> = {
  16: (t) => Buffer.from([t === 't' || t === 'true' ? 1 : 0]), // bool
  20: int(8), // int8
  21: int(2), // int2
  23: int(4), // int4
  26: (t) => (/^\d+$/.test(t) ? (() => { const b = Buffer.alloc(4); b.writeUInt32BE(Number(t) >>> 0); return b; })() : null), // oid
  700: float(4), // float4
  701: float(8), // float8
  1082: (t) => {
    // date: Int32 days since 2000-01-01
    const ms = Date.parse(`${t.slice(0, 10)}T00:00:00Z`);
    if (Number.isNaN(ms)) return null;
    const b = Buffer.alloc(4);
    b.writeInt32BE(Math.round((ms - PG_EPOCH_MS) / 86_400_000));
    return b;
  },
  1114: (t) => timestamp(t), // timestamp
  1184: (t) => timestamp(t), // timestamptz
  3802: (t) => Buffer.concat([Buffer.from([1]), Buffer.from(t, 'utf8')]), // jsonb: version 1 · text
  2950: (t) => {
    const hex = t.replace(/-/g, '');
    return /^[0-9a-fA-F]{32}$/.test(hex) ? Buffer.from(hex, 'hex') : null;
  },
};

function timestamp(text: string): Buffer | null {
  // Int64 microseconds since 2000-01-01 00:00:00 UTC
  let iso = text.includes('T') ? text : text.replace(' ', 'T');
  if (/[+-]\d\d$/.test(iso)) iso += ':00'; // PostgreSQL prints +00, Date.parse wants +00:00
  const ms = Date.parse(/[zZ]|[+-]\d\d(:?\d\d)?$/.test(iso) ? iso : `${iso}Z`);
  if (Number.isNaN(ms)) return null;
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(ms - PG_EPOCH_MS) * 1000n);
  return b;
}

/** The binary form of `text` for a column of type `typeOid`, or null when there is no safe encoding. */
export function encodeBinary(typeOid: number, text: string): Buffer | null {
  const e = ENCODERS[typeOid];
  return e ? e(text) : null;
}
