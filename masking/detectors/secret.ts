// `secret` in config is a group: jwt, aws_key, private_key and api_token (masking/detectors/index.ts).
// This composite runs the four as one detector, for tools and tests; the engine runs them separately.
import { apiToken } from './api_token.js';
import { awsKey } from './aws_key.js';
import type { Detector, Span } from './detector.js';
import { jwt } from './jwt.js';
import { privateKey } from './private_key.js';

export const SECRET_DETECTORS: readonly Detector[] = Object.freeze([jwt, awsKey, privateKey, apiToken]);

export const secret: Detector = {
  name: 'secret',
  kind: 'secret',
  prefilter: (p, buf, start, end) => SECRET_DETECTORS.some((d) => d.prefilter(p, buf, start, end)),
  find(text: string): Span[] {
    const out: Span[] = [];
    for (const d of SECRET_DETECTORS) for (const span of d.find(text)) out.push(span);
    return out;
  },
};
