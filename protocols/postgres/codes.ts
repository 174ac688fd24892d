// PostgreSQL frontend/backend protocol 3.0 message codes (PostgreSQL docs, "Message Formats").

export const enum Frontend {
  Bind = 0x42, // 'B'
  Close = 0x43, // 'C'
  CopyData = 0x64, // 'd'
  CopyDone = 0x63, // 'c'
  CopyFail = 0x66, // 'f'
  Describe = 0x44, // 'D'
  Execute = 0x45, // 'E'
  Flush = 0x48, // 'H'
  FunctionCall = 0x46, // 'F'
  Parse = 0x50, // 'P'
  Password = 0x70, // 'p' (also SASLInitialResponse, SASLResponse, GSSResponse)
  Query = 0x51, // 'Q'
  Sync = 0x53, // 'S'
  Terminate = 0x58, // 'X'
}

export const enum Backend {
  Authentication = 0x52, // 'R'
  BackendKeyData = 0x4b, // 'K'
  BindComplete = 0x32, // '2'
  CloseComplete = 0x33, // '3'
  CommandComplete = 0x43, // 'C'
  CopyBothResponse = 0x57, // 'W'
  CopyData = 0x64, // 'd'
  CopyDone = 0x63, // 'c'
  CopyInResponse = 0x47, // 'G'
  CopyOutResponse = 0x48, // 'H'
  DataRow = 0x44, // 'D'
  EmptyQueryResponse = 0x49, // 'I'
  ErrorResponse = 0x45, // 'E'
  FunctionCallResponse = 0x56, // 'V'
  NegotiateProtocolVersion = 0x76, // 'v'
  NoData = 0x6e, // 'n'
  NoticeResponse = 0x4e, // 'N'
  NotificationResponse = 0x41, // 'A'
  ParameterDescription = 0x74, // 't'
  ParameterStatus = 0x53, // 'S'
  ParseComplete = 0x31, // '1'
  PortalSuspended = 0x73, // 's'
  ReadyForQuery = 0x5a, // 'Z'
  RowDescription = 0x54, // 'T'
}

/** Request codes carried in the version field of an untyped first message. */
export const PROTOCOL_3_0 = 196608; // 3 << 16
export const SSL_REQUEST = 80877103; // 1234 << 16 | 5679
export const GSSENC_REQUEST = 80877104; // 1234 << 16 | 5680
export const CANCEL_REQUEST = 80877102; // 1234 << 16 | 5678

export const enum AuthCode {
  Ok = 0,
  CleartextPassword = 3,
  MD5Password = 5,
  SASL = 10,
  SASLContinue = 11,
  SASLFinal = 12,
}

/** Message name for trace logs. */
export function frontendName(code: number): string {
  return FRONTEND_NAMES[code] ?? `0x${code.toString(16)}`;
}
export function backendName(code: number): string {
  return BACKEND_NAMES[code] ?? `0x${code.toString(16)}`;
}

const FRONTEND_NAMES: Record<number, string> = {
  0x42: 'Bind', 0x43: 'Close', 0x64: 'CopyData', 0x63: 'CopyDone', 0x66: 'CopyFail', 0x44: 'Describe',
  0x45: 'Execute', 0x48: 'Flush', 0x46: 'FunctionCall', 0x50: 'Parse', 0x70: 'PasswordMessage',
  0x51: 'Query', 0x53: 'Sync', 0x58: 'Terminate',
};
const BACKEND_NAMES: Record<number, string> = {
  0x52: 'Authentication', 0x4b: 'BackendKeyData', 0x32: 'BindComplete', 0x33: 'CloseComplete',
  0x43: 'CommandComplete', 0x57: 'CopyBothResponse', 0x64: 'CopyData', 0x63: 'CopyDone', 0x47: 'CopyInResponse',
  0x48: 'CopyOutResponse', 0x44: 'DataRow', 0x49: 'EmptyQueryResponse', 0x45: 'ErrorResponse',
  0x56: 'FunctionCallResponse', 0x76: 'NegotiateProtocolVersion', 0x6e: 'NoData', 0x4e: 'NoticeResponse',
  0x41: 'NotificationResponse', 0x74: 'ParameterDescription', 0x53: 'ParameterStatus', 0x31: 'ParseComplete',
  0x73: 'PortalSuspended', 0x5a: 'ReadyForQuery', 0x54: 'RowDescription',
};
