import { createRoute, z } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import type { AppDeps } from '../deps';
import { createRouter } from '../router';

const Health = z.object({
  status: z.enum(['ok', 'degraded']),
  database: z.boolean(),
  temporal: z.boolean(),
});

const health = createRoute({
  method: 'get',
  path: '/health',
  tags: ['Operations'],
  summary: '200 when PostgreSQL and Temporal are reachable, 503 otherwise',
  responses: {
    200: { description: 'All reachable', content: { 'application/json': { schema: Health } } },
    503: { description: 'Something is unreachable', content: { 'application/json': { schema: Health } } },
  },
});

/** `p`, or a rejection after `ms`; the timer is cleared either way, so no probe outlives its request. */
async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(deps: AppDeps) {
  return createRouter().openapi(health, async (c) => {
    const [database, temporal] = await Promise.all([
      within(2000, deps.db.execute(sql`select 1`)).then(
        () => true,
        () => false,
      ),
      within(2000, deps.temporal.connection.workflowService.getSystemInfo({})).then(
        () => true,
        () => false,
      ),
    ]);
    const ok = database && temporal;
    return c.json({ status: ok ? 'ok' : 'degraded', database, temporal } as const, ok ? 200 : 503);
  });
}
