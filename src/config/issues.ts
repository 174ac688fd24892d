// Turns zod issues into short messages anchored at key paths. Messages describe what was expected and
// the *kind* of value found, never the value itself (the config holds secrets).
import type { z } from 'zod';
import type { KeyPath } from './locate.js';

type ZodIssue = z.core.$ZodIssue;

export interface PathMessage {
  path: KeyPath;
  message: string;
  atKey?: boolean;
}

// Unions whose generic "Invalid input" helps nobody.
const UNION_HINTS: Record<string, string> = {
  store: 'expected { sqlite: PATH } or { postgres: URL }',
  audience: 'expected a string or a list of strings',
  category: 'expected a string or a list of strings',
  protocol: 'expected postgres, mysql or ssh, or a list of them',
};

export function describeIssues(issues: readonly ZodIssue[], data: unknown, base: KeyPath = []): PathMessage[] {
  const out: PathMessage[] = [];
  for (const issue of issues) {
    const path: KeyPath = [...base, ...issue.path.map((p) => (typeof p === 'number' ? p : String(p)))];
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) out.push({ path: [...path, key], message: `unknown key "${key}"`, atKey: true });
        break;
      case 'invalid_type': {
        const value = valueAt(data, path);
        out.push({
          path,
          message: value === undefined ? 'missing (required)' : `expected ${kindName(issue.expected)}, got ${kindOf(value)}`,
        });
        break;
      }
      case 'invalid_value':
        out.push({ path, message: `expected ${issue.values.length === 1 ? String(issue.values[0]) : 'one of ' + issue.values.map(String).join(', ')}` });
        break;
      case 'too_small':
        out.push({ path, message: boundMessage('at least', issue.origin, issue.minimum) });
        break;
      case 'too_big':
        out.push({ path, message: boundMessage('at most', issue.origin, issue.maximum) });
        break;
      case 'invalid_format':
        out.push({ path, message: issue.format === 'url' ? 'not a valid URL' : issue.message });
        break;
      case 'invalid_union':
        out.push(...describeUnion(issue.errors, data, path));
        break;
      default:
        out.push({ path, message: issue.message });
    }
  }
  return out;
}

function describeUnion(branches: readonly (readonly ZodIssue[])[], data: unknown, path: KeyPath): PathMessage[] {
  const last = path[path.length - 1];
  const hint = typeof last === 'string' ? UNION_HINTS[last] : undefined;
  if (branches.length === 0) return [{ path, message: hint ?? 'matches more than one form' }];
  // every branch rejects the value's type outright: "expected X or Y, got Z"
  if (branches.every((b) => b.length === 1 && b[0]!.code === 'invalid_type' && b[0]!.path.length === 0)) {
    const expected = branches.map((b) => kindName((b[0] as z.core.$ZodIssueInvalidType).expected));
    return [{ path, message: hint ?? `expected ${expected.join(' or ')}, got ${kindOf(valueAt(data, path))}` }];
  }
  // one branch comes closest: report its issues
  const sizes = branches.map((b) => b.length);
  const fewest = Math.min(...sizes);
  if (sizes.filter((n) => n === fewest).length === 1) {
    return describeIssues(branches[sizes.indexOf(fewest)]!, data, path);
  }
  // a tie: name the unknown keys all branches agree on, and the forms accepted
  const out: PathMessage[] = [{ path, message: hint ?? 'does not match any accepted form' }];
  const unknownSets = branches.map(
    (b) => new Set(b.flatMap((i) => (i.code === 'unrecognized_keys' && i.path.length === 0 ? i.keys : []))),
  );
  for (const key of unknownSets[0] ?? []) {
    if (unknownSets.every((s) => s.has(key))) out.push({ path: [...path, key], message: `unknown key "${key}"`, atKey: true });
  }
  return out;
}

function boundMessage(which: 'at least' | 'at most', origin: string, bound: number | bigint): string {
  const n = Number(bound);
  if (origin === 'array') return `needs ${which} ${n} item${n === 1 ? '' : 's'}`;
  if (origin === 'string') return n === 1 && which === 'at least' ? 'must not be empty' : `must be ${which} ${n} characters`;
  return `must be ${which} ${n}`;
}

function kindName(expected: string): string {
  switch (expected) {
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'boolean':
      return 'true or false';
    case 'int':
      return 'an integer';
    default:
      return `a ${expected}`;
  }
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (an empty value)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'boolean') return 'true/false';
  return `a ${typeof value}`;
}

export function valueAt(data: unknown, path: KeyPath): unknown {
  let cur = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}
