import { createMiddleware } from 'hono/factory';
import type { AppDeps, AppEnv } from '../deps';
import { problem } from '../problem';
import { isBoundedRead, signInReadOf } from './read-of-request';
import { resolveBearerToken, type SignedIn } from './tokens';

/**
 * Resolves the bearer token to its session and confirmed profile or answers 401, in one statement
 * that also reads what the request will need (issue 15: one round trip where there were two or
 * three): under `/sites/:siteId` the site and the caller's membership, which siteAccess decides on,
 * and for a route in reads-with-session.ts the columns it declares. A site route's columns are kept
 * with the site (siteOfPath) and reach the route only through siteAccess, once access is decided.
 * A statement of a bounded read goes on the sign-in connection when there is one (AppDeps.signInDb).
 */
export function requireAuth(deps: AppDeps) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    // The query as the route's validator reads it: a key given twice is an array.
    const query = () =>
      Object.fromEntries(
        Object.entries(c.req.queries()).map(([key, values]) => [
          key,
          values.length === 1 ? values[0]! : values,
        ]),
      );
    let signedIn: SignedIn | undefined;
    if (token) {
      const plan = signInReadOf(c.req.method, c.req.path, query);
      const db = deps.signInDb && isBoundedRead(plan) ? deps.signInDb : deps.db;
      signedIn = await resolveBearerToken(db, token, deps.now(), plan);
    }
    if (!signedIn) throw problem('unauthorized', undefined, { headers: { 'www-authenticate': 'Bearer' } });
    const { caller, siteOfPath, read } = signedIn;
    const { sessionId, ...profile } = caller;
    c.set('profile', profile);
    c.set('sessionId', sessionId);
    if (siteOfPath) c.set('siteOfPath', siteOfPath);
    if (read) c.set('readWithSession', read);
    await next();
  });
}
