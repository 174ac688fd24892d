// The detector registry: config `detect:` names → detectors.
import { creditCard } from './credit_card.js';
import type { Detector } from './detector.js';
import { email } from './email.js';
import { iban } from './iban.js';
import { ip, ipv4, ipv6 } from './ip.js';
import { phone } from './phone.js';
import { secret } from './secret.js';
import { usSsn } from './us_ssn.js';

export type { ByteProfile, Detector, EntityKind, Span } from './detector.js';
export { prefilterBytes, profileBytes } from './detector.js';

const ALL: readonly Detector[] = [secret, email, creditCard, iban, usSsn, phone, ipv4, ipv6, ip];

export const DETECTORS: ReadonlyMap<string, Detector> = new Map(ALL.map((d) => [d.name, d]));

export const DETECTOR_NAMES: readonly string[] = Object.freeze(ALL.map((d) => d.name));
