import { createMiddleware } from 'hono/factory';
import type { AppDeps, AppEnv } from '../deps';
import { problem } from '../problem';
import { resolveBearerToken } from './tokens';

/** Resolves the bearer token to its session and confirmed profile (one query) or answers 401. */
export function requireAuth(deps: AppDeps) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const caller = match?.[1] ? await resolveBearerToken(deps.db, match[1], deps.now()) : undefined;
    if (!caller) throw problem('unauthorized', undefined, { headers: { 'www-authenticate': 'Bearer' } });
    const { sessionId, ...profile } = caller;
    c.set('profile', profile);
    c.set('sessionId', sessionId);
    await next();
  });
}
