/**
 * The one logger: pino, JSON lines, pretty-printed when a person is watching a terminal.
 * The same instance backs Temporal's Runtime logger so SDK and core messages land beside ours.
 */
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export function createLogger(name: string, level: LevelWithSilent = 'info'): Logger {
  const pretty = process.stdout.isTTY && process.env['LOG_FORMAT'] !== 'json';
  return pino({
    name,
    level,
    ...(pretty
      ? { transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' } } }
      : {}),
  });
}

const TEMPORAL_TO_PINO: Readonly<Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'>> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Adapts pino to the logger interface Temporal's Runtime expects. */
export class PinoTemporalLogger implements TemporalLogger {
  constructor(private readonly target: Logger) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    this.target[TEMPORAL_TO_PINO[level]](meta ?? {}, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}
