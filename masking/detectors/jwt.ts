// JSON Web Tokens (JWS compact form): base64url header "eyJ…" (a JSON object), payload "eyJ…",
// signature. Validator: the header decodes to a JSON object naming an algorithm ("alg"), so that
// look-alikes made of eyJ-prefixed words pass untouched.
import type { Detector, Span } from './detector.js';

const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,4096}\.eyJ[A-Za-z0-9_-]{2,8192}\.[A-Za-z0-9_-]{0,4096}/g;

/** Does this base64url segment decode to a JSON object with a string "alg"? */
export function jwtHeaderValid(segment: string): boolean {
  try {
    const header: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

export const jwt: Detector = {
  name: 'jwt',
  kind: 'secret',
  prefilter(p, buf, start, end) {
    if (p.upperJ < 2 || p.dot < 2 || p.len < 20) return false;
    for (let i = start; i + 2 < end; i++) if (buf[i] === 0x65 && buf[i + 1] === 0x79 && buf[i + 2] === 0x4a) return true;
    return false;
  },
  find(text: string): Span[] {
    const out: Span[] = [];
    JWT.lastIndex = 0;
    for (let m = JWT.exec(text); m !== null; m = JWT.exec(text)) {
      if (jwtHeaderValid(m[0].slice(0, m[0].indexOf('.')))) out.push([m.index, m.index + m[0].length]);
    }
    return out;
  },
};
