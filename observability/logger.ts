import { pino } from 'pino';
import { LOG_LEVELS } from '../config/env';
import { withoutQueryParams } from '../db/errors';

export type Logger = pino.Logger;
type LogLevel = (typeof LOG_LEVELS)[number];

/** LOG_LEVEL when it names a level (config/env.ts reports a bad value), else `info`. */
function levelFromEnv(): LogLevel {
  const value = process.env.LOG_LEVEL;
  return (LOG_LEVELS as readonly string[]).includes(value ?? '') ? (value as LogLevel) : 'info';
}

/**
 * The process's structured log: one JSON object per line on stdout, with an ISO time, the level by
 * name, and `process` (api, worker, gateway) set by each entry point. Ids only: never an email, a
 * name, a token or a query string.
 */
export const logger: Logger = pino({
  level: levelFromEnv(),
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }) },
});

/** Names the process in every line from here on (entry points call it once). */
export function setLogProcess(name: string): void {
  logger.setBindings({ process: name });
}

/**
 * An error as a log field: its name, message and stack, nothing else the error object carries, and
 * never the bound values of a failed query (emails, names; see db/errors.ts).
 */
export function errorField(error: unknown): { name: string; message: string; stack?: string } {
  const cleaned = withoutQueryParams(error);
  if (cleaned instanceof Error) {
    return {
      name: cleaned.name,
      message: cleaned.message,
      ...(cleaned.stack ? { stack: cleaned.stack } : {}),
    };
  }
  return { name: 'NonError', message: String(cleaned) };
}
