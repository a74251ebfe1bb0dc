import { createMiddleware } from 'hono/factory';
import { matchedRoutes } from 'hono/route';
import type { HttpMetrics } from '../../observability/http-metrics';
import type { Logger } from '../../observability/logger';
import type { AppEnv } from '../deps';

/** The label of a request that matched no route: its path would be unbounded (and may hold ids). */
const UNMATCHED = '(unmatched)';

/**
 * One log line and one metrics observation per request: the request id (request-and-answer-headers.ts
 * runs first), the method, the route *pattern* (`/sites/:siteId`, never the path with its ids, nor
 * the query string), the status and the duration. Nothing about the caller.
 */
export function requestTelemetry(opts: { logger: Logger; metrics?: HttpMetrics | undefined }) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    // The endpoint the request matched, even when a middleware (authentication) answered first;
    // middleware is registered for every method ('ALL').
    const endpoint = matchedRoutes(c).findLast((r) => r.method !== 'ALL');
    const route = endpoint?.path ?? UNMATCHED;
    const status = c.res.status;
    const labels = { method: c.req.method, route, status: String(status) };
    opts.metrics?.requests.inc(labels);
    opts.metrics?.duration.observe(labels, seconds);
    opts.logger.info(
      {
        reqId: c.get('requestId'),
        method: c.req.method,
        route,
        status,
        durationMs: Math.round(seconds * 10_000) / 10,
      },
      'request',
    );
  });
}
