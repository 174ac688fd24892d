// `portcullis policy test`: print the analysis and the decision for a statement or command.
import type { Command } from 'commander';
import type { CliIo } from './io.js';

export function registerPolicyCommands(program: Command, io: CliIo, setCode: (code: number) => void): void {
  void program;
  void io;
  void setCode;
}
