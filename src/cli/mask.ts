// `portcullis mask`: read lines on stdin and print them masked by a connection's profile.
import type { Command } from 'commander';
import type { CliIo } from './io.js';

export function registerMaskCommands(program: Command, io: CliIo, setCode: (code: number) => void): void {
  void program;
  void io;
  void setCode;
}
