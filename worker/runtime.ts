import { DefaultLogger, type LogLevel, Runtime } from '@temporalio/worker';
import type { Logger } from '../observability/logger';

const LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * The Temporal SDK's runtime for this process, installed before any connection: its logs (workflow
 * and activity loggers included) as lines of the process's JSON log, and its metrics (task latencies,
 * slots, polls, workflow and activity outcomes) exported the SDK's own way, by the Prometheus exporter
 * of its core on `metricsPort`.
 */
export function installRuntime(opts: { logger: Logger; metricsPort?: number | undefined }): void {
  const logger = opts.logger.child({ component: 'temporal-sdk' });
  Runtime.install({
    // The SDK adds each activity's task token to its lines: a credential that completes or fails that
    // activity in the worker's place. The activity's id, type and workflow say which it was.
    logger: new DefaultLogger('INFO', (entry) => {
      const { taskToken: _, ...meta } = entry.meta ?? {};
      logger[LEVEL[entry.level]](meta, entry.message);
    }),
    telemetryOptions: {
      // Core's own (Rust) logs through the same logger, as JSON lines, instead of its console output.
      logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} },
      ...(opts.metricsPort !== undefined
        ? {
            metrics: {
              prometheus: { bindAddress: `0.0.0.0:${opts.metricsPort}`, countersTotalSuffix: true },
            },
          }
        : {}),
    },
  });
}
