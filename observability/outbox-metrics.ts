import { Gauge, type Registry } from 'prom-client';
import type { OutboxBacklog } from '../db/queries/outboxes';
import { errorField, logger } from './logger';

/** A scrape reads the backlog once for both gauges: a read started this recently is shared. */
const SHARED_READ_MS = 1_000;

/**
 * The outboxes' backlog on a process's metrics: `outbox_queued_rows` and
 * `outbox_oldest_row_age_seconds` by outbox (a table name, nothing about the rows). A backlog that
 * only grows, or an oldest row older than a few relay rounds, means a relay cannot hand over (Temporal
 * or the email provider away) or falls behind. Read at each scrape, one read at a time (scrapes while
 * a slow database answers wait for the same read, not one connection each); while the database does
 * not answer the gauges have no samples (readiness says why) and the other metrics still answer.
 */
export function registerOutboxMetrics(registry: Registry, read: () => Promise<OutboxBacklog[]>): void {
  let shared: { at: number; pending: boolean; backlog: Promise<OutboxBacklog[] | undefined> } | undefined;
  const backlog = () => {
    if (!shared || (!shared.pending && Date.now() - shared.at > SHARED_READ_MS)) {
      const current = {
        at: Date.now(),
        pending: true,
        backlog: read()
          .catch((error: unknown) => {
            logger.warn({ err: errorField(error) }, 'outbox backlog not read for metrics');
            return undefined;
          })
          .finally(() => {
            current.pending = false;
          }),
      };
      shared = current;
    }
    return shared.backlog;
  };
  const gauge = (name: string, help: string, value: (b: OutboxBacklog) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['outbox'],
      registers: [registry],
      async collect() {
        const rows = await backlog();
        this.reset();
        for (const row of rows ?? []) this.set({ outbox: row.outbox }, value(row));
      },
    });
  gauge('outbox_queued_rows', 'Rows waiting in an outbox for its relay', (b) => b.queued);
  gauge(
    'outbox_oldest_row_age_seconds',
    'How long the oldest row of an outbox has waited (0 when it is empty)',
    (b) => b.oldestAgeSeconds,
  );
}
