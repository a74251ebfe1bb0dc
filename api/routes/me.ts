import { createRoute, z } from '@hono/zod-openapi';
import { listMembershipsOfProfile } from '../../db/queries/memberships';
import { findProfileById, updateProfile } from '../../db/queries/profiles';
import type { AppDeps } from '../deps';
import { notFound, problem } from '../problem';
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
  path: '/',
  tags: ['Accounts'],
  summary: 'The caller’s profile and memberships',
  security: [{ bearer: [] }],
  responses: {
    200: { description: 'Profile', content: { 'application/json': { schema: MeSchema } } },
    ...problemResponses('unauthorized'),
  },
});

// Emails never change (A3): an email field is refused explicitly rather than silently ignored.
const PatchMe = z
  .object({ name: z.string().trim().min(1).max(200).optional(), email: z.unknown().optional() })
  .strict();

const patchMe = createRoute({
  method: 'patch',
  path: '/',
  tags: ['Accounts'],
  summary: 'Change the caller’s name (an email cannot be changed: 422 email_immutable)',
  security: [{ bearer: [] }],
  request: jsonBody(PatchMe),
  responses: {
    200: { description: 'Profile', content: { 'application/json': { schema: MeSchema } } },
    ...problemResponses('validation_failed', 'malformed_json', 'unauthorized', 'email_immutable'),
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

  return createRouter()
    .openapi(getMe, async (c) => c.json(await me(c.get('profile').id), 200))
    .openapi(patchMe, async (c) => {
      const body = c.req.valid('json');
      if ('email' in body) {
        throw problem('email_immutable', undefined, {
          errors: [{ path: 'body.email', message: 'cannot be changed' }],
        });
      }
      if (body.name !== undefined) await updateProfile(db, c.get('profile').id, { name: body.name });
      return c.json(await me(c.get('profile').id), 200);
    });
}
