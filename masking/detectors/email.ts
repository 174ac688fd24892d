// E-mail addresses (RFC 5321 shapes, Unicode letters allowed for internationalised addresses).
import { regexSpans, type Detector, type Span } from './detector.js';

// Every quantifier is bounded (local part 64, label 63, TLD 24 as in RFC 5321/1035) so that a long
// run of address-like characters costs linear time, not quadratic backtracking. No lookbehind on
// purpose: an over-long local part still gets its last 64 characters and the domain masked.
const EMAIL =
  /[\p{L}\p{N}_%+'-](?:[\p{L}\p{N}._%+'-]{0,62}[\p{L}\p{N}_%+'-])?@(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.){1,8}\p{L}{2,24}(?![\p{L}\p{N}-])/gu;

export const email: Detector = {
  name: 'email',
  kind: 'email',
  // needs '@' and a dot in the domain
  prefilter: (p) => p.at > 0 && p.dot > 0 && p.len >= 6,
  find: (text: string): Span[] => regexSpans(EMAIL, text),
};
