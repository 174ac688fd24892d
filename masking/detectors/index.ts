// The detector registry: config `detect:` names → detectors.
//
//   email, credit_card, iban, us_ssn, phone, ip, jwt, aws_key, private_key, api_token   (issue 3)
//   ipv4, ipv6      one address family each (`ip` is both)
//   secret          group: jwt, aws_key, private_key, api_token
import { apiToken } from './api_token.js';
import { awsKey } from './aws_key.js';
import { creditCard } from './credit_card.js';
import type { Detector } from './detector.js';
import { email } from './email.js';
import { iban } from './iban.js';
import { ip, ipv4, ipv6 } from './ip.js';
import { jwt } from './jwt.js';
import { phone } from './phone.js';
import { privateKey } from './private_key.js';
import { SECRET_DETECTORS } from './secret.js';
import { usSsn } from './us_ssn.js';

export type { ByteProfile, Detector, EntityKind, Span } from './detector.js';
export { prefilterBytes, profileBytes } from './detector.js';

/** Every single detector, by config name. */
const ALL: readonly Detector[] = [email, creditCard, iban, usSsn, phone, ip, jwt, awsKey, privateKey, apiToken, ipv4, ipv6];

export const DETECTORS: ReadonlyMap<string, Detector> = new Map(ALL.map((d) => [d.name, d]));

/** Names that stand for several detectors. */
export const DETECTOR_GROUPS: ReadonlyMap<string, readonly Detector[]> = new Map([['secret', SECRET_DETECTORS]]);

/** Every name `detect:` accepts: single detectors, then groups. */
export const DETECTOR_NAMES: readonly string[] = Object.freeze([...ALL.map((d) => d.name), ...DETECTOR_GROUPS.keys()]);

/** The detectors a config name stands for, or undefined when the name is unknown. */
export function resolveDetector(name: string): readonly Detector[] | undefined {
  const d = DETECTORS.get(name);
  return d !== undefined ? [d] : DETECTOR_GROUPS.get(name);
}
