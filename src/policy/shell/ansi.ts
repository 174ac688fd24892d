// ANSI-C quoting, $'…': backslash escapes decoded as bash does.

const SIMPLE: Readonly<Record<string, string>> = {
  a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?',
};
const OCTAL = /[0-7]{0,2}/y;
const HEX = { x: /[0-9a-fA-F]{1,2}/y, u: /[0-9a-fA-F]{1,4}/y, U: /[0-9a-fA-F]{1,8}/y } as const;

/** $'…' from `start` (just after the opening quote): the decoded text and the position after the closing quote. */
export function decodeAnsiC(src: string, start: number): { text: string; end: number; closed: boolean } {
  let pos = start;
  let out = '';
  while (pos < src.length) {
    const c = src[pos]!;
    if (c === "'") return { text: out, end: pos + 1, closed: true };
    if (c !== '\\') {
      out += c;
      pos++;
      continue;
    }
    const n = src[pos + 1] ?? '';
    pos += 2;
    if (n in SIMPLE) {
      out += SIMPLE[n];
    } else if (n >= '0' && n <= '7') {
      OCTAL.lastIndex = pos;
      const m = OCTAL.exec(src)?.[0] ?? '';
      pos += m.length;
      out += String.fromCharCode(parseInt(n + m, 8) & 0xff);
    } else if (n === 'x' || n === 'u' || n === 'U') {
      const re = HEX[n];
      re.lastIndex = pos;
      const m = re.exec(src)?.[0];
      if (!m) {
        out += `\\${n}`;
      } else {
        pos += m.length;
        const cp = parseInt(m, 16);
        out += cp <= 0x10ffff ? String.fromCodePoint(cp) : '';
      }
    } else if (n === 'c') {
      const ch = src[pos++] ?? '';
      out += String.fromCharCode(ch.toUpperCase().charCodeAt(0) & 0x1f);
    } else {
      out += `\\${n}`;
    }
  }
  return { text: out, end: pos, closed: false };
}
