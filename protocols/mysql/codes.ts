// MySQL client/server protocol constants: capability flags, commands, status flags, column types.
// https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html and MariaDB's protocol pages.

/** Capability flags (lower and upper 16 bits of the 32-bit word). */
export const Cap = {
  LONG_PASSWORD: 0x1, // MariaDB reads this bit as CLIENT_MYSQL
  FOUND_ROWS: 0x2,
  LONG_FLAG: 0x4,
  CONNECT_WITH_DB: 0x8,
  NO_SCHEMA: 0x10,
  COMPRESS: 0x20,
  ODBC: 0x40,
  LOCAL_FILES: 0x80,
  IGNORE_SPACE: 0x100,
  PROTOCOL_41: 0x200,
  INTERACTIVE: 0x400,
  SSL: 0x800,
  IGNORE_SIGPIPE: 0x1000,
  TRANSACTIONS: 0x2000,
  RESERVED: 0x4000,
  SECURE_CONNECTION: 0x8000,
  MULTI_STATEMENTS: 0x10000,
  MULTI_RESULTS: 0x20000,
  PS_MULTI_RESULTS: 0x40000,
  PLUGIN_AUTH: 0x80000,
  CONNECT_ATTRS: 0x100000,
  PLUGIN_AUTH_LENENC_DATA: 0x200000,
  CAN_HANDLE_EXPIRED_PASSWORDS: 0x400000,
  SESSION_TRACK: 0x800000,
  DEPRECATE_EOF: 0x1000000,
  OPTIONAL_RESULTSET_METADATA: 0x2000000,
  ZSTD_COMPRESSION: 0x4000000,
  QUERY_ATTRIBUTES: 0x8000000,
  MULTI_FACTOR_AUTH: 0x10000000,
  SSL_VERIFY_SERVER_CERT: 0x40000000,
  REMEMBER_OPTIONS: 0x80000000,
} as const;

/**
 * What the gateway can relay and understand, toward the client and the target. Everything else is cleared in
 * both directions: compression, query attributes (bytes before the SQL text: a misparse would be a policy
 * bypass), optional result-set metadata (rows without column definitions cannot be masked), zstd, MFA.
 * MariaDB's extended capabilities (metadata caching, bulk operations…) are never offered: the gateway sets
 * CLIENT_MYSQL (bit 0), so MariaDB clients do not send them, and sends zeros where the target reads them.
 */
export const GATEWAY_CAPS =
  (Cap.LONG_PASSWORD |
    Cap.FOUND_ROWS |
    Cap.LONG_FLAG |
    Cap.CONNECT_WITH_DB |
    Cap.ODBC |
    Cap.LOCAL_FILES |
    Cap.IGNORE_SPACE |
    Cap.PROTOCOL_41 |
    Cap.INTERACTIVE |
    Cap.IGNORE_SIGPIPE |
    Cap.TRANSACTIONS |
    Cap.RESERVED |
    Cap.SECURE_CONNECTION |
    Cap.MULTI_STATEMENTS |
    Cap.MULTI_RESULTS |
    Cap.PS_MULTI_RESULTS |
    Cap.PLUGIN_AUTH |
    Cap.CONNECT_ATTRS |
    Cap.PLUGIN_AUTH_LENENC_DATA |
    Cap.SESSION_TRACK |
    Cap.DEPRECATE_EOF) >>>
  0;

export const Com = {
  SLEEP: 0x00,
  QUIT: 0x01,
  INIT_DB: 0x02,
  QUERY: 0x03,
  FIELD_LIST: 0x04,
  CREATE_DB: 0x05,
  DROP_DB: 0x06,
  REFRESH: 0x07,
  SHUTDOWN: 0x08,
  STATISTICS: 0x09,
  PROCESS_INFO: 0x0a,
  CONNECT: 0x0b,
  PROCESS_KILL: 0x0c,
  DEBUG: 0x0d,
  PING: 0x0e,
  TIME: 0x0f,
  DELAYED_INSERT: 0x10,
  CHANGE_USER: 0x11,
  BINLOG_DUMP: 0x12,
  TABLE_DUMP: 0x13,
  CONNECT_OUT: 0x14,
  REGISTER_SLAVE: 0x15,
  STMT_PREPARE: 0x16,
  STMT_EXECUTE: 0x17,
  STMT_SEND_LONG_DATA: 0x18,
  STMT_CLOSE: 0x19,
  STMT_RESET: 0x1a,
  SET_OPTION: 0x1b,
  STMT_FETCH: 0x1c,
  DAEMON: 0x1d,
  BINLOG_DUMP_GTID: 0x1e,
  RESET_CONNECTION: 0x1f,
  STMT_BULK_EXECUTE: 0xfa, // MariaDB
} as const;

const COM_NAMES = new Map<number, string>(Object.entries(Com).map(([k, v]) => [v, `COM_${k}`]));
export const comName = (c: number): string => COM_NAMES.get(c) ?? `0x${c.toString(16)}`;

export const Status = {
  IN_TRANS: 0x0001,
  AUTOCOMMIT: 0x0002,
  MORE_RESULTS_EXISTS: 0x0008,
  CURSOR_EXISTS: 0x0040,
  LAST_ROW_SENT: 0x0080,
  SESSION_STATE_CHANGED: 0x4000,
} as const;

/** Column types (enum_field_types). */
export const Type = {
  DECIMAL: 0x00,
  TINY: 0x01,
  SHORT: 0x02,
  LONG: 0x03,
  FLOAT: 0x04,
  DOUBLE: 0x05,
  NULL: 0x06,
  TIMESTAMP: 0x07,
  LONGLONG: 0x08,
  INT24: 0x09,
  DATE: 0x0a,
  TIME: 0x0b,
  DATETIME: 0x0c,
  YEAR: 0x0d,
  NEWDATE: 0x0e,
  VARCHAR: 0x0f,
  BIT: 0x10,
  TIMESTAMP2: 0x11,
  DATETIME2: 0x12,
  TIME2: 0x13,
  VECTOR: 0xf2,
  JSON: 0xf5,
  NEWDECIMAL: 0xf6,
  ENUM: 0xf7,
  SET: 0xf8,
  TINY_BLOB: 0xf9,
  MEDIUM_BLOB: 0xfa,
  LONG_BLOB: 0xfb,
  BLOB: 0xfc,
  VAR_STRING: 0xfd,
  STRING: 0xfe,
  GEOMETRY: 0xff,
} as const;

/** Column definition flags. */
export const Flag = { NOT_NULL: 0x1, UNSIGNED: 0x20, BINARY: 0x80, ENUM: 0x100, SET: 0x800 } as const;

/** The binary character set: a column of it holds bytes, not text. */
export const BINARY_CHARSET = 63;
/** utf8mb4_general_ci: what the gateway asks the target for when the client's collation cannot be used. */
export const UTF8MB4_GENERAL_CI = 45;

/** Largest payload of one packet; a payload of this size or more continues in the next packet. */
export const MAX_PACKET = 0xffffff;
