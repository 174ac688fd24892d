// ERR packets the gateway itself sends, with the codes of DESIGN's error table.
import type { Err } from './messages.js';

const e = (code: number, state: string, message: string): Err => ({ code, state, message });

export const errors = {
  /** The policy's message already names the rule unless the rule supplied its own text. */
  blocked: (rule: string, message: string): Err =>
    e(1142, '42000', `portcullis: ${message}${message.includes(`"${rule}"`) ? '' : ` (rule "${rule}")`}`),
  badPassword: (user: string): Err => e(1045, '28000', `Access denied for user '${user}' (portcullis: wrong password or token)`),
  notAllowed: (user: string, conn: string): Err =>
    e(1044, '42000', `Access denied for user '${user}' to connection '${conn}' (portcullis: not in the connection's allow list)`),
  tlsRequired: (): Err =>
    e(1044, '42000', 'portcullis: a password may only be sent inside TLS or from loopback; connect with TLS (--ssl)'),
  tlsRequiredAlways: (): Err => e(1044, '42000', 'portcullis: this listener requires TLS; connect with TLS (--ssl)'),
  unknownConnection: (name: string): Err => e(1049, '42000', `portcullis: unknown connection '${name}'`),
  noConnection: (): Err =>
    e(1049, '42000', "portcullis: no connection named; log in as 'USER#CONNECTION' (for example -u 'alice#shop-db')"),
  suffixOnOwnPort: (): Err => e(1049, '42000', 'portcullis: this port belongs to one connection; log in as USER without #CONNECTION'),
  // Not 2003 / 2013: codes from 2000 up are the client library's own, and libmariadb (the mariadb CLI) turns
  // such a code sent by a server into "2027 Received malformed packet", hiding the message.
  // 1429 is ER_CONNECT_TO_FOREIGN_DATA_SOURCE, 1158 ER_NET_READ_ERROR.
  upstream: (conn: string, detail: string): Err => e(1429, 'HY000', `portcullis: cannot reach the target of connection '${conn}': ${detail}`),
  targetLost: (): Err => e(1158, '08S01', 'portcullis: lost the connection to the target'),
  protocol: (detail: string): Err => e(1047, '08S01', `portcullis: malformed packet: ${detail}`),
  unsupported: (what: string): Err => e(1047, '08S01', `portcullis: ${what}`),
  plugin: (plugin: string): Err =>
    e(
      1045,
      '28000',
      `portcullis: the client refused the authentication plugin ${plugin}; allow cleartext passwords (mysql --enable-cleartext-plugin, mysql2 enableCleartextPlugin: true)`,
    ),
  shuttingDown: (): Err => e(1053, '08S01', 'portcullis: the gateway is shutting down'),
  internal: (): Err => e(1105, 'HY000', 'portcullis: internal error'),
  timeout: (): Err => e(1159, '08S01', 'portcullis: timed out waiting for the rest of a packet'),
  charset: (name: string): Err =>
    e(1115, '42000', `portcullis: character set ${name} is not supported through portcullis (a quote byte can hide in its multibyte characters)`),
  auditFailed: (): Err => e(1105, 'HY000', 'portcullis: the audit store failed; the session is closed'),
};
