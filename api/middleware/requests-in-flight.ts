import { createMiddleware } from 'hono/factory';
import { CappedCounts } from '../../domain/capped-counts';
import { addressBucket } from '../client-address';
import type { AppEnv } from '../deps';
import { problem } from '../problem';

/**
 * At most `max` requests of one client address (an IPv6 /64; a trusted proxy's client, not the
 * proxy) being answered at once; the rest are answered 429 `too_many_attempts` before any database
 * work. Node hands every request pipelined on a connection to the app at once: one connection
 * sending 5,000 `GET /me` in one write had them all queued for the database, and another client's
 * request waited 2 s behind them. Requests that came through no socket (tests) are not counted.
 */
export function requestsInFlight(max: number) {
  const held = new CappedCounts(max);
  return createMiddleware<AppEnv>(async (c, next) => {
    const address = c.get('clientAddress');
    if (address === undefined) return next();
    const bucket = addressBucket(address);
    if (!held.take(bucket)) {
      throw problem(
        'too_many_attempts',
        'Too many requests at once from your network address; try again in 1 second.',
        {
          headers: { 'retry-after': '1' },
        },
      );
    }
    try {
      await next();
    } finally {
      held.release(bucket);
    }
  });
}
