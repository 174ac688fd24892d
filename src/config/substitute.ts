// `${env:NAME}` and `${file:PATH}` inside scalar strings, resolved on the YAML tree before validation
// so that errors keep their line and column. `$${` is a literal `${`. Values are never echoed.
import { readFileSync } from 'node:fs';
import { isAlias, isMap, isScalar, isSeq, type Document, type Scalar } from 'yaml';
import { isAbsolute, resolve } from 'node:path';
import type { KeyPath, Position, YamlLocator } from './locate.js';

export interface SubstitutionIssue {
  path: KeyPath;
  pos: Position;
  message: string;
}

export interface SubstitutionContext {
  env: NodeJS.ProcessEnv;
  baseDir: string;
  source: string;
  locator: YamlLocator;
}

// Keys whose values are numbers or booleans: `${env:PORT}` there becomes a number/boolean.
const NUMERIC_KEYS = new Set(['port', 'approvals']);
const BOOLEAN_KEYS = new Set(['local', 'remote', 'risky']);

const REF_RE = /^(env|file):(.+)$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Substitutes in place; returns the issues (empty when every reference resolved). */
export function substituteDocument(doc: Document, ctx: SubstitutionContext): SubstitutionIssue[] {
  const issues: SubstitutionIssue[] = [];
  const walk = (node: unknown, path: Array<string | number>): void => {
    if (isAlias(node)) return; // the anchored node is visited where it is defined
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : '?';
        walk(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
      substituteScalar(node as Scalar<string>, path, ctx, issues);
    }
  };
  walk(doc.contents, []);
  return issues;
}

function substituteScalar(node: Scalar<string>, path: KeyPath, ctx: SubstitutionContext, issues: SubstitutionIssue[]): void {
  const text = node.value;
  const nodeStart = node.range?.[0] ?? 0;
  const raw = node.range ? ctx.source.slice(node.range[0], node.range[1]) : '';
  // point at the reference itself when it appears verbatim in the source (plain or simply quoted scalars)
  const posOf = (ref: string): Position => {
    const at = raw.indexOf(ref);
    return ctx.locator.pos(at >= 0 ? nodeStart + at : nodeStart);
  };
  let out = '';
  let substituted = false;
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    if (text.startsWith('$${', dollar)) {
      out += '${';
      i = dollar + 3;
      continue;
    }
    if (!text.startsWith('${', dollar)) {
      out += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    if (close < 0) {
      issues.push({ path, pos: posOf('${'), message: 'unterminated "${" (write "$${" for a literal "${")' });
      return;
    }
    const ref = text.slice(dollar, close + 1);
    const m = REF_RE.exec(text.slice(dollar + 2, close));
    if (!m) {
      issues.push({
        path,
        pos: posOf(ref),
        message: 'unknown substitution: use ${env:NAME} or ${file:PATH} (write "$${" for a literal "${")',
      });
      return;
    }
    const value = m[1] === 'env' ? envValue(m[2]!, ctx.env) : fileValue(m[2]!, ctx.baseDir);
    if ('error' in value) {
      issues.push({ path, pos: posOf(ref), message: value.error });
      return;
    }
    out += value.ok;
    substituted = true;
    i = close + 1;
  }
  node.value = out;
  // quoting does not matter here: these keys only ever hold numbers or booleans in the schema
  if (!substituted) return;
  const key = path[path.length - 1];
  if (typeof key === 'string' && NUMERIC_KEYS.has(key) && /^\d+$/.test(out)) {
    (node as Scalar<unknown>).value = Number(out);
  } else if (typeof key === 'string' && BOOLEAN_KEYS.has(key) && (out === 'true' || out === 'false')) {
    (node as Scalar<unknown>).value = out === 'true';
  }
}

function envValue(name: string, env: NodeJS.ProcessEnv): { ok: string } | { error: string } {
  if (!ENV_NAME_RE.test(name)) return { error: `\${env:${name}}: not a valid environment variable name` };
  const v = env[name];
  if (v === undefined) return { error: `environment variable ${name} is not set` };
  return { ok: v };
}

function fileValue(path: string, baseDir: string): { ok: string } | { error: string } {
  const full = isAbsolute(path) ? path : resolve(baseDir, path);
  try {
    // one trailing newline is what editors and `echo` add; it is not part of the secret
    return { ok: readFileSync(full, 'utf8').replace(/\r?\n$/, '') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return { error: `cannot read ${full} (${code})` };
  }
}
