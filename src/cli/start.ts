// `portcullis start -c FILE`: load the config, make sure TLS material exists, run the gateway until
// SIGTERM/SIGINT (graceful close, 5 s), a second signal exits at once. Logs (pino JSON) go to stdout;
// pino's destination flushes itself on process exit.
import { ConfigError, loadConfig, notYetEnforced } from '../config/load.js';
import { createLogger } from '../log.js';
import { ensureGatewayTls } from '../tls.js';
import { CliExit, type CliIo } from './io.js';

const GRACE_MS = 5000;

export async function startCommand(io: CliIo, file: string): Promise<number> {
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig(file, io.env);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliExit(2, `${err.message}\n${file}: invalid config; not starting`);
    throw err;
  }
  const { config, path: configPath } = loaded;
  const logger = createLogger(config.logLevel);
  for (const w of loaded.warnings) logger.warn(`config: ${w}`);
  for (const p of notYetEnforced(config)) logger.warn(`not yet enforced: ${p}`);

  try {
    await ensureGatewayTls(config, logger);
  } catch (err) {
    logger.error({ err }, 'cannot prepare TLS material');
    throw new CliExit(1, `cannot prepare TLS material: ${(err as Error).message}`);
  }

  let gatewayModule: typeof import('../gateway.js');
  try {
    // loaded only by `start`: its wiring pulls in every protocol, which no other command needs
    gatewayModule = await import('../gateway.js');
  } catch (err) {
    logger.error({ err }, 'cannot load the gateway');
    throw new CliExit(1, `cannot load the gateway: ${(err as Error).message}`);
  }

  // Signals are handled from before the listeners open: a SIGTERM that arrives while they start waits
  // for the start to finish and then closes gracefully.
  let gateway: Awaited<ReturnType<typeof gatewayModule.startGateway>> | undefined;
  let closing = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (!gateway) return;
    logger.info({ signal, graceMs: GRACE_MS }, 'shutting down');
    gateway.close(GRACE_MS).then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  let pendingSignal: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (closing) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    closing = true;
    if (gateway) shutdown(signal);
    else pendingSignal = signal;
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    gateway = await gatewayModule.startGateway(config, { logger, configPath });
  } catch (err) {
    logger.error({ err }, 'the gateway failed to start');
    throw new CliExit(1, `the gateway failed to start: ${(err as Error).message}`);
  }
  if (pendingSignal) shutdown(pendingSignal);
  return 0;
}
