// PEM private keys ("-----BEGIN [RSA|EC|OPENSSH|ENCRYPTED…] PRIVATE KEY-----" to the matching END line).
// Validator: the block holds base64 key material (a run of 16+ base64 characters), so documentation
// that only shows the armour lines ("-----BEGIN PRIVATE KEY----- … -----END PRIVATE KEY-----") passes.
// A block cut short (a truncated column) is masked to the end of the text.
import { markAt, markLimit, type Detector, type Span } from './detector.js';

const PEM_BEGIN = /-----BEGIN (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY( BLOCK)?-----/g;
const PEM_END = /-----END (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY( BLOCK)?-----/g;
const KEY_MATERIAL = /[A-Za-z0-9+/=]{16}/;
const ARMOUR = Buffer.from('-----BEGIN', 'latin1');

export const privateKey: Detector = {
  name: 'private_key',
  kind: 'secret',
  prefilter(p, buf, start, end) {
    if (p.dash < 10 || p.len < 40) return false;
    // "-----BEGIN" at one of the '-' marks
    const lim = markLimit(p);
    for (let k = 0; k < lim; k++) {
      const i = markAt(p, start, k);
      if (i + ARMOUR.length > end || buf[i] !== 0x2d || buf[i + 5] !== 0x42) continue;
      let j = 1;
      while (j < ARMOUR.length && buf[i + j] === ARMOUR[j]) j++;
      if (j === ARMOUR.length) return true;
    }
    return false;
  },
  find(text: string): Span[] {
    const out: Span[] = [];
    PEM_BEGIN.lastIndex = 0;
    for (let m = PEM_BEGIN.exec(text); m !== null; m = PEM_BEGIN.exec(text)) {
      const bodyStart = m.index + m[0].length;
      PEM_END.lastIndex = bodyStart;
      const e = PEM_END.exec(text);
      const stop = e === null ? text.length : e.index + e[0].length;
      if (KEY_MATERIAL.test(text.slice(bodyStart, e === null ? stop : e.index))) out.push([m.index, stop]);
      PEM_BEGIN.lastIndex = stop;
    }
    return out;
  },
};
