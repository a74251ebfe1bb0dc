import { createMiddleware } from 'hono/factory';
import type { AppDeps, AppEnv } from '../deps';
import { problem } from '../problem';
import {
  resolveBearerToken,
  resolveBearerTokenAtSite,
  resolveBearerTokenOpeningLock,
  resolveBearerTokenWithMemberships,
} from './tokens';

/** `/sites/<uuid>` and below: the site a request names (any hex UUID shape PostgreSQL can read). */
const SITE_PATH = /^\/sites\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:\/|$)/i;
/** `/sites/<uuid>/locks/<uuid>/open`: the lock a remote opening names. */
const LOCK_OPEN_PATH =
  /^\/sites\/[^/]+\/locks\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/open$/i;

/**
 * Resolves the bearer token to its session and confirmed profile or answers 401, in one query. A
 * request under `/sites/:siteId` reads the site and the caller's membership in the same query, which
 * siteAccess then decides on (issue 15: one round trip instead of three before the route's own); GET /me
 * reads the caller's memberships in it, and a remote opening the lock's K4 facts.
 */
export function requireAuth(deps: AppDeps) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const token = match?.[1];
    const siteId = SITE_PATH.exec(c.req.path)?.[1]?.toLowerCase();
    let caller: Awaited<ReturnType<typeof resolveBearerToken>>;
    const lockId = c.req.method === 'POST' ? LOCK_OPEN_PATH.exec(c.req.path)?.[1]?.toLowerCase() : undefined;
    if (token && siteId && lockId) {
      // A remote opening: the lock's K4 facts with the session too.
      const found = await resolveBearerTokenOpeningLock(deps.db, token, deps.now(), { siteId, lockId });
      if (found) {
        const { site, membership, openTarget, ...rest } = found;
        caller = rest;
        c.set('siteOfPath', { siteId, site, membership });
        c.set('openTargetOfPath', { lockId, target: openTarget });
      }
    } else if (token && siteId) {
      const found = await resolveBearerTokenAtSite(deps.db, token, deps.now(), siteId);
      if (found) {
        const { site, membership, ...rest } = found;
        caller = rest;
        c.set('siteOfPath', { siteId, site, membership });
      }
    } else if (token && c.req.method === 'GET' && c.req.path === '/me') {
      // GET /me answers the caller's memberships: read with the session (issue 15).
      const found = await resolveBearerTokenWithMemberships(deps.db, token, deps.now());
      if (found) {
        const { membershipsJson, ...rest } = found;
        caller = rest;
        c.set('membershipsJson', membershipsJson);
      }
    } else if (token) {
      caller = await resolveBearerToken(deps.db, token, deps.now());
    }
    if (!caller) throw problem('unauthorized', undefined, { headers: { 'www-authenticate': 'Bearer' } });
    const { sessionId, ...profile } = caller;
    c.set('profile', profile);
    c.set('sessionId', sessionId);
    await next();
  });
}
