// Error factories: every refusal the gateway makes, as the client's own protocol says it (DESIGN "Errors").
import type { ErrorFields } from './messages.js';

const fatal = (code: string, message: string, hint?: string): ErrorFields => ({ severity: 'FATAL', code, message, hint });

export const errors = {
  blocked: (rule: string, message: string): ErrorFields => ({ severity: 'ERROR', code: '42501', message, hint: `portcullis rule: ${rule}` }),
  badPassword: (user: string): ErrorFields => fatal('28P01', `password authentication failed for user "${user}"`),
  notAllowed: (user: string, connection: string): ErrorFields =>
    fatal('28000', `user "${user}" is not allowed on connection "${connection}"`),
  tlsRequired: (): ErrorFields =>
    fatal('28000', 'TLS required: this gateway accepts passwords and tokens only over TLS (use sslmode=require) or from loopback'),
  tlsRequiredAlways: (): ErrorFields => fatal('28000', 'TLS required: connect with sslmode=require'),
  unknownConnection: (name: string): ErrorFields => fatal('3D000', `connection "${name}" does not exist`),
  noConnection: (): ErrorFields =>
    fatal('3D000', 'no connection named: use the database name or user "USER#CONNECTION"'),
  suffixOnOwnPort: (): ErrorFields =>
    fatal('3D000', 'this port belongs to one connection: give the user name without "#CONNECTION"'),
  upstream: (connection: string, detail: string): ErrorFields =>
    fatal('08001', `could not connect to the target of connection "${connection}": ${detail}`),
  protocol: (message: string): ErrorFields => fatal('08P01', message),
  targetLost: (): ErrorFields => fatal('08006', 'the target closed the connection'),
  unsupportedProtocol: (major: number, minor: number): ErrorFields =>
    fatal('0A000', `unsupported frontend protocol ${major}.${minor}: server supports 3.0`),
  replication: (): ErrorFields => fatal('28000', 'replication connections are not allowed through portcullis'),
  badOption: (detail: string): ErrorFields => fatal('28000', `startup option refused: ${detail}`),
  badEncoding: (enc: string): ErrorFields =>
    fatal('22023', `client_encoding ${enc} is not supported through portcullis (a quote byte can hide in its multibyte characters)`),
  noPassword: (): ErrorFields => fatal('28P01', 'empty password refused'),
  shuttingDown: (): ErrorFields => fatal('57P01', 'terminating connection: the gateway is shutting down'),
  internal: (): ErrorFields => fatal('XX000', 'internal gateway error; the session was closed'),
  auditUnavailable: (): ErrorFields => fatal('58000', 'the audit store is unavailable; refusing to continue (fail closed)'),
};
