// Client programs driven by the client-compatibility tests (clients/JdbcProbe.java, clients/psycopg2_probe.py)
// print one JSON object per line: run one and read its lines, and what the tests check of them.
import { expect } from 'vitest';
import { run, type RunOptions, type RunResult } from './processes.js';

/** One line of a probe's output. */
export type Line = Record<string, unknown> & { kind: string };

export interface ProbeResult {
  code: number | null;
  lines: Line[];
  stdout: string;
  stderr: string;
}

/** Runs a probe program and parses its stdout, one JSON object per line; `label` names it in a parse error. */
export async function runProbe(label: string, cmd: string, args: readonly string[], opts: RunOptions): Promise<ProbeResult> {
  const r: RunResult = await run(cmd, args, opts);
  const lines: Line[] = [];
  for (const l of r.stdout.split('\n')) {
    if (!l.trim()) continue;
    try {
      lines.push(JSON.parse(l) as Line);
    } catch {
      throw new Error(`${label}: unparseable line ${JSON.stringify(l)}\nstderr: ${r.stderr}`);
    }
  }
  return { code: r.code, lines, stdout: r.stdout, stderr: r.stderr };
}

/** The probe ran to the end; on failure show what it printed. */
export function expectDone(r: ProbeResult): void {
  const fatal = r.lines.find((l) => l.kind === 'fatal');
  expect(fatal, `fatal: ${JSON.stringify(fatal)}\nstderr: ${r.stderr}`).toBeUndefined();
  expect(r.code, r.stderr).toBe(0);
  expect(r.lines.at(-1)?.kind).toBe('done');
}

/** The lines of one kind. */
export function of(r: ProbeResult, kind: string): Line[] {
  return r.lines.filter((l) => l.kind === kind);
}

/** What the gateway must show for people.note: the card number (content detection) redacted, the rest intact. */
export function expectNote(id: number, note: unknown): void {
  if (id % 10 === 0) {
    expect(note).not.toContain('4111');
    expect(note).toMatch(/^card .+ on file$/);
  } else {
    expect(note).toBe(`note ${id}`);
  }
}
