// Not a benchmark (no timing assertion): exercises the pass-through path at volume, where every
// cell must come back undefined and nothing may be allocated or decoded per cell.
import { expect, it } from 'vitest';
import { createResultMasker, DETECTOR_NAMES } from '../../../masking/engine.js';
import type { SessionInfo } from '../../../src/types.js';

const session: SessionInfo = {
  id: 's', user: 'u', groups: [], authMethod: 'password', connection: 'c', protocol: 'postgres', clientAddress: '127.0.0.1',
};

it('passes 100k benign cells through unchanged', () => {
  const masker = createResultMasker({ name: 'all', columns: [], detect: [...DETECTOR_NAMES], with: 'redact' });
  const plan = masker.plan(session, [{ name: 'note', textLike: true }]);
  const cell = plan?.cells[0];
  if (!cell) throw new Error('expected a detection masker');
  const samples = [
    'The quick brown fox jumps over the lazy dog',
    'order shipped on 2024-01-15 at 10:30',
    'Größe: 42, Farbe: blau',
    'status ok; retries 3; latency 12ms',
    'lorem ipsum dolor sit amet, consectetur adipiscing elit',
    'snake_case_identifier and kebab-case-name',
  ];
  const rows = Buffer.from(samples.join(''), 'utf8');
  const bounds: number[] = [0];
  for (const s of samples) bounds.push(bounds[bounds.length - 1] + Buffer.byteLength(s));
  let changed = 0;
  for (let i = 0; i < 100_000; i++) {
    const k = i % samples.length;
    if (cell(rows, bounds[k], bounds[k + 1]) !== undefined) changed++;
  }
  expect(changed).toBe(0);
});
