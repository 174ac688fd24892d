// Character sets in which a multibyte character may end in 0x5C (backslash) or a quote byte: a lexer
// reading bytes would see an escape or a string end the server does not (the GBK/SJIS injection).
// The gateway refuses them as the connection's character set and in SET NAMES / SET CHARACTER SET.

const UNSAFE_NAMES = new Set(['big5', 'sjis', 'gbk', 'cp932', 'gb18030']);

/** One-byte collation ids of those character sets (HandshakeResponse41 carries one byte). */
const UNSAFE_IDS = new Map<number, string>([
  [1, 'big5'], [84, 'big5'],
  [13, 'sjis'], [88, 'sjis'],
  [28, 'gbk'], [87, 'gbk'],
  [95, 'cp932'], [96, 'cp932'],
  [248, 'gb18030'], [249, 'gb18030'], [250, 'gb18030'],
]);

export function unsafeCollation(id: number): string | undefined {
  return UNSAFE_IDS.get(id);
}

export function isUnsafeCharset(name: string): boolean {
  const n = name.toLowerCase().replace(/^['"`]|['"`]$/g, '');
  const cs = n.split('_')[0]!;
  return UNSAFE_NAMES.has(cs);
}
