// The CLI's edges: where output goes and where a password comes from. Injected so that commands run
// in-process in tests; `processIo()` is the real thing.
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

export interface CliStdin extends Readable {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

export interface CliIo {
  /** results (summaries, hashes, JSON) */
  out(text: string): void;
  /** diagnostics, prompts, warnings */
  err(text: string): void;
  stdin: CliStdin;
  env: NodeJS.ProcessEnv;
}

export function processIo(): CliIo {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    stdin: process.stdin,
    env: process.env,
  };
}

/** Ends a command with an exit code (DESIGN: 0 ok, 1 operational failure, 2 bad input, 3 refused). */
export class CliExit extends Error {
  override name = 'CliExit';
  constructor(
    readonly code: number,
    message = '',
  ) {
    super(message);
  }
}

/** All of stdin, with ONE trailing newline (`\n` or `\r\n`) removed. */
export async function readAllStdin(stdin: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Prompts on stderr and reads a line from a TTY without echo. Ctrl-C aborts (exit 130). */
export function promptHidden(io: CliIo, prompt: string): Promise<string> {
  const stdin = io.stdin;
  io.err(prompt);
  stdin.setRawMode?.(true);
  const decoder = new StringDecoder('utf8');
  return new Promise((resolvePromise, reject) => {
    let line = '';
    const finish = (): void => {
      stdin.removeListener('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      io.err('\n');
    };
    const onData = (chunk: Buffer | string): void => {
      const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
      for (const ch of text) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          finish();
          resolvePromise(line);
          return;
        }
        if (ch === '\u0003') {
          finish();
          reject(new CliExit(130, 'aborted'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') line = Array.from(line).slice(0, -1).join('');
        else if (ch === '\u0015') line = ''; // Ctrl-U
        else if (ch >= ' ') line += ch;
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

/** A password from stdin: a hidden prompt (asked twice) on a TTY, else all of stdin minus one newline. */
export async function readPassword(io: CliIo): Promise<string> {
  if (!io.stdin.isTTY) return readAllStdin(io.stdin);
  const first = await promptHidden(io, 'Password: ');
  if (first === '') return first;
  const again = await promptHidden(io, 'Repeat password: ');
  if (again !== first) throw new CliExit(2, 'the passwords do not match');
  return first;
}
