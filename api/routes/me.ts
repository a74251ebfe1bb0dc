import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { membershipsOfProfileJson } from '../../db/queries/memberships';
import { findProfileById, renameProfile } from '../../db/queries/profiles';
import { hashPassword, verifyPassword } from '../auth/passwords';
import { readOf } from '../auth/reads-with-session';
import { changeOwnPassword } from '../auth/tokens';
import type { AppDeps, AppEnv, AuthProfile } from '../deps';
import { jsonText } from '../json-text';
import { notFound, problem } from '../problem';
import { createRouter } from '../router';
import { displayName, jsonBody, PasswordField, ProfileSchema, problemResponses } from '../schemas';
import { forget, takeAttempt, throttleKey } from '../throttle';

/** 401 for a current password that is wrong, or no longer the password (a reset or change came between). */
const wrongCurrentPassword = () =>
  problem('invalid_credentials', 'The current password is wrong.', {
    errors: [{ path: 'body.currentPassword', message: 'is wrong' }],
  });

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
  operationId: 'getMe',
  tags: ['Accounts'],
  summary: 'The caller’s profile and memberships',
  security: [{ bearer: [] }],
  responses: {
    200: { description: 'Profile', content: { 'application/json': { schema: MeSchema } } },
    ...problemResponses('unauthorized'),
  },
});

// Emails never change (A3): an email field is refused explicitly rather than silently ignored.
const PatchMe = z.object({ name: displayName(200).optional(), email: z.unknown().optional() }).strict();

const patchMe = createRoute({
  method: 'patch',
  path: '/',
  operationId: 'updateMe',
  tags: ['Accounts'],
  summary: 'Change the caller’s name (an email cannot be changed: 422 email_immutable)',
  security: [{ bearer: [] }],
  request: jsonBody(PatchMe),
  responses: {
    200: { description: 'Profile', content: { 'application/json': { schema: MeSchema } } },
    ...problemResponses('validation_failed', 'malformed_json', 'unauthorized', 'email_immutable'),
  },
});

const changePasswordRoute = createRoute({
  method: 'post',
  path: '/password',
  operationId: 'changePassword',
  tags: ['Accounts'],
  summary: 'Change the caller’s password: every other session of the profile ends; a new token is returned',
  security: [{ bearer: [] }],
  request: jsonBody(z.object({ currentPassword: z.string().min(1).max(1024), newPassword: PasswordField })),
  responses: {
    200: {
      description: 'Password changed; the token of the new session',
      content: { 'application/json': { schema: z.object({ token: z.string() }) } },
    },
    ...problemResponses(
      'validation_failed',
      'malformed_json',
      'unauthorized',
      'invalid_credentials',
      'too_many_attempts',
      'temporarily_unavailable',
    ),
  },
});

export function meRoutes(deps: AppDeps) {
  const { db } = deps;
  /** /me's answer; the memberships come as JSON text from PostgreSQL (issue 15). */
  const me = (c: Context<AppEnv>, profile: AuthProfile, membershipsJson: string) => {
    const { id, email, name, platformRole } = profile;
    const fields = JSON.stringify({ id, email, name, platformRole });
    return jsonText<z.infer<typeof MeSchema>>(c, `${fields.slice(0, -1)},"memberships":${membershipsJson}}`);
  };

  return (
    createRouter()
      // The profile and its memberships came with the session (reads-with-session.ts: one statement).
      .openapi(getMe, async (c) => {
        const profile = c.get('profile');
        const read = readOf(c.get('readWithSession'), 'me');
        return me(c, profile, read?.membershipsJson ?? (await membershipsOfProfileJson(db, profile.id)));
      })
      .openapi(patchMe, async (c) => {
        const body = c.req.valid('json');
        if ('email' in body) {
          throw problem('email_immutable', undefined, {
            errors: [{ path: 'body.email', message: 'cannot be changed' }],
          });
        }
        const caller = c.get('profile');
        if (body.name === undefined) return me(c, caller, await membershipsOfProfileJson(db, caller.id));
        const renamed = await renameProfile(db, caller.id, body.name);
        if (!renamed) throw notFound('profile');
        return me(c, { ...caller, name: renamed.name }, renamed.membershipsJson);
      })
      .openapi(changePasswordRoute, async (c) => {
        const { currentPassword, newPassword } = c.req.valid('json');
        const caller = c.get('profile');
        // A stolen token must not guess the password faster than a login could (A6); counted on the
        // profile alone, so no one's failed logins hold its signed-in owner up.
        const tries = throttleKey(deps.env.TOKEN_SECRET, 'passwordChange', caller.id);
        await takeAttempt(deps, [tries]);
        const profile = await findProfileById(db, caller.id);
        if (!profile || !(await verifyPassword(currentPassword, profile.passwordHash))) {
          throw wrongCurrentPassword();
        }
        await forget(deps, tries);
        const token = await changeOwnPassword(db, {
          profileId: caller.id,
          currentPasswordHash: profile.passwordHash,
          passwordHash: await hashPassword(newPassword),
          now: deps.now(),
        });
        // A reset or another change came between the check and now: the password checked is gone.
        if (token === undefined) throw wrongCurrentPassword();
        return c.json({ token }, 200);
      })
  );
}
