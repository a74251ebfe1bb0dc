import { createRoute, z } from '@hono/zod-openapi';
import { listMembershipsOfProfile } from '../../db/queries/memberships';
import { findProfileById, updateProfile } from '../../db/queries/profiles';
import { requireAuth } from '../auth/require-auth';
import type { AppDeps } from '../deps';
import { ApiProblem, notFound } from '../problem';
import { createRouter } from '../router';
import { jsonBody, ProfileSchema, problemResponses } from '../schemas';

const MeSchema = ProfileSchema.extend({
  platformRole: z.enum(['installer', 'support']).nullable(),
  memberships: z.array(
    z.object({
      siteId: z.uuid(),
      siteName: z.string(),
      role: z.enum(['owner', 'admin', 'user']),
      subscribed: z.boolean(),
      masterKey: z.boolean(),
    }),
  ),
});

const getMe = createRoute({
  method: 'get',
  path: '/me',
  tags: ['Accounts'],
  summary: 'The caller’s profile and memberships',
  security: [{ bearer: [] }],
  responses: {
    200: { description: 'Profile', content: { 'application/json': { schema: MeSchema } } },
    ...problemResponses(401),
  },
});

// Emails never change (A3): an email field is refused explicitly rather than silently ignored.
const PatchMe = z
  .object({ name: z.string().trim().min(1).max(200).optional(), email: z.unknown().optional() })
  .strict();

const patchMe = createRoute({
  method: 'patch',
  path: '/me',
  tags: ['Accounts'],
  summary: 'Change the caller’s name (an email cannot be changed: 422 email_immutable)',
  security: [{ bearer: [] }],
  request: jsonBody(PatchMe),
  responses: {
    200: { description: 'Profile', content: { 'application/json': { schema: MeSchema } } },
    ...problemResponses(400, 401, 422),
  },
});

export function meRoutes(deps: AppDeps) {
  const { db } = deps;
  const me = async (profileId: string) => {
    const profile = await findProfileById(db, profileId);
    if (!profile) throw notFound('profile');
    return {
      id: profile.id,
      email: profile.email,
      name: profile.name,
      platformRole: profile.platformRole,
      memberships: await listMembershipsOfProfile(db, profile.id),
    };
  };

  const router = createRouter();
  router.use('/me', requireAuth(deps));
  return router
    .openapi(getMe, async (c) => c.json(await me(c.get('profile').id), 200))
    .openapi(patchMe, async (c) => {
      const body = c.req.valid('json');
      if ('email' in body) {
        throw new ApiProblem(
          422,
          'email_immutable',
          'An email address never changes; sign up again with the new one.',
          [{ path: 'body.email', message: 'cannot be changed' }],
        );
      }
      if (body.name !== undefined) await updateProfile(db, c.get('profile').id, { name: body.name });
      return c.json(await me(c.get('profile').id), 200);
    });
}
