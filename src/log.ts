// One logger for the whole gateway (pino, JSON to stdout); a child per session.
// Credentials never reach it: redact the usual keys as a second line of defence.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = 'info', dest?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { name: 'portcullis' },
      redact: {
        paths: ['password', '*.password', 'token', '*.token', 'secret', '*.secret', 'privateKey', '*.privateKey'],
        censor: '[redacted]',
      },
    },
    dest ? (dest as pino.DestinationStream) : pino.destination({ fd: 1, sync: false }),
  );
}

/** A logger that drops everything (tests, CLI commands that are not `start`). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
