import { createMiddleware } from 'hono/factory';
import { findProfileById } from '../../db/queries/profiles';
import type { AppDeps, AppEnv } from '../deps';
import { problem } from '../problem';
import { verifyBearerToken } from './tokens';

/** Resolves the bearer token to a confirmed profile or answers 401. */
export function requireAuth(deps: AppDeps) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const profileId = match?.[1] ? await verifyBearerToken(match[1], deps.env.TOKEN_SECRET) : null;
    const profile = profileId ? await findProfileById(deps.db, profileId) : undefined;
    if (!profile?.emailConfirmedAt) {
      throw problem('unauthorized', undefined, { headers: { 'www-authenticate': 'Bearer' } });
    }
    c.set('profile', { id: profile.id, platformRole: profile.platformRole });
    await next();
  });
}
