// `portcullis users hash [--mysql]`: prints the value for `password: { hash: … }`.
import { hashPassword } from '../identity/passwords.js';
import { CliExit, readPassword, type CliIo } from './io.js';

export async function usersHashCommand(io: CliIo, opts: { mysql?: boolean }): Promise<number> {
  const password = await readPassword(io);
  if (password.length === 0) throw new CliExit(2, 'refusing an empty password');
  io.out(`${hashPassword(password, { mysql: opts.mysql === true })}\n`);
  if (opts.mysql) {
    io.err('note: the mysql= part is an unsalted verifier (SHA1(SHA1(password))); use it only with a strong password\n');
  }
  return 0;
}
