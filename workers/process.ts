/**
 * What every releng-o-tron process does at start: read and check the config (a bad value is
 * a clear message and exit code 2, not a stack trace), make the logger, and install pino as
 * Temporal's Runtime logger.
 */
import { makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import { ConfigError, loadConfig, type Config } from '../common/config.js';
import { createLogger, PinoTemporalLogger, type Logger } from '../common/logger.js';

export interface ProcessContext {
  readonly config: Config;
  readonly log: Logger;
}

export function startProcess(name: string): ProcessContext {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(name, config.logLevel);
  return { config, log };
}

/** Routes the SDK's and the Rust core's logs through pino; shutdown signals stay the SDK's. */
export function installTemporalRuntime(log: Logger): void {
  Runtime.install({
    logger: new PinoTemporalLogger(log.child({ component: 'temporal' })),
    telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) } },
  });
}

export function requireDatabaseUrl(config: Config, name: string): string {
  if (config.database.url) return config.database.url;
  process.stderr.write(
    `${name}: DATABASE_URL is not set. Run everything with \`relengotron up\` (which starts an embedded ` +
      `database), or set DATABASE_URL=postgres://... to the results store.\n`,
  );
  process.exit(2);
}

/** Runs main, logging a failure and exiting non-zero instead of printing an unhandled rejection. */
export function runMain(log: Logger, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      log.fatal({ err }, 'stopped on an error');
      // Give pino's transport a moment to write the line.
      setTimeout(() => process.exit(1), 200);
    },
  );
}
