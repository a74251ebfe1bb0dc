import { createRoute, z } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import type { AppDeps } from '../deps';
import { createRouter } from '../router';
import { problemResponses } from '../schemas';

const Health = z.object({
  status: z.enum(['ok', 'degraded']),
  database: z.boolean(),
  temporal: z.boolean(),
});

// Like every route: 400 for a query that is not valid UTF-8 or holds NUL (N2).
const readinessResponses = {
  200: { description: 'All reachable', content: { 'application/json': { schema: Health } } },
  503: { description: 'Something is unreachable', content: { 'application/json': { schema: Health } } },
  ...problemResponses('validation_failed'),
} as const;

/** Readiness (API.md's `GET /health`): send traffic here only while PostgreSQL and Temporal answer. */
const health = createRoute({
  method: 'get',
  path: '/health',
  operationId: 'getHealth',
  tags: ['Operations'],
  summary: 'Readiness: 200 when PostgreSQL and Temporal are reachable, 503 otherwise',
  security: [],
  responses: readinessResponses,
});

const ready = createRoute({
  method: 'get',
  path: '/health/ready',
  operationId: 'getReadiness',
  tags: ['Operations'],
  summary: 'Readiness, as GET /health',
  security: [],
  responses: readinessResponses,
});

/** Liveness: the process answers. A dependency being away is not a reason to restart the API. */
const live = createRoute({
  method: 'get',
  path: '/health/live',
  operationId: 'getLiveness',
  tags: ['Operations'],
  summary: 'Liveness: 200 while the process serves requests, whatever its dependencies do',
  security: [],
  responses: {
    200: {
      description: 'The process is up',
      content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } },
    },
    ...problemResponses('validation_failed'),
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
  const readiness = async () => {
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
    return {
      body: { status: ok ? 'ok' : 'degraded', database, temporal } as const,
      status: ok ? 200 : 503,
    } as const;
  };
  return createRouter()
    .openapi(health, async (c) => {
      const { body, status } = await readiness();
      return c.json(body, status);
    })
    .openapi(ready, async (c) => {
      const { body, status } = await readiness();
      return c.json(body, status);
    })
    .openapi(live, (c) => c.json({ status: 'ok' } as const, 200));
}
