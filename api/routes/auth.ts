import { createRoute, z } from '@hono/zod-openapi';
import { html } from 'hono/html';
import { consumeToken, findUsableToken, issueEmailToken } from '../../db/queries/email-tokens';
import { findProfileByEmail, insertProfile, normalizeEmail, updateProfile } from '../../db/queries/profiles';
import { burnPasswordCheck, hashPassword, verifyPassword } from '../auth/passwords';
import { issueBearerToken } from '../auth/tokens';
import type { AppDeps } from '../deps';
import { page } from '../pages';
import { ApiProblem } from '../problem';
import { createRouter } from '../router';
import { EmailField, jsonBody, PasswordField, ProfileSchema, problemResponses, TokenParam } from '../schemas';

const CONFIRM_TTL_MS = 48 * 3600_000;
const RESET_TTL_MS = 3600_000;

const signup = createRoute({
  method: 'post',
  path: '/auth/signup',
  tags: ['Accounts'],
  summary: 'Create an account; a confirmation email is sent',
  request: jsonBody(
    z.object({ email: EmailField, password: PasswordField, name: z.string().trim().min(1).max(200) }),
  ),
  responses: {
    201: {
      description: 'Created',
      content: { 'application/json': { schema: z.object({ profileId: z.uuid() }) } },
    },
    ...problemResponses(400, 409),
  },
});

const confirmPage = createRoute({
  method: 'get',
  path: '/auth/confirm/{token}',
  tags: ['Accounts'],
  summary: 'Page with a button that confirms the email address (changes nothing by itself)',
  request: { params: TokenParam },
  responses: { 200: { description: 'HTML page', content: { 'text/html': { schema: z.string() } } } },
});

const confirm = createRoute({
  method: 'post',
  path: '/auth/confirm/{token}',
  tags: ['Accounts'],
  summary: 'Confirm the email address',
  request: { params: TokenParam },
  responses: {
    200: { description: 'HTML page: confirmed', content: { 'text/html': { schema: z.string() } } },
    410: { description: 'HTML page: link used or expired', content: { 'text/html': { schema: z.string() } } },
  },
});

const login = createRoute({
  method: 'post',
  path: '/auth/login',
  tags: ['Accounts'],
  summary: 'Log in with email and password',
  request: jsonBody(z.object({ email: z.string().min(1).max(320), password: z.string().min(1).max(1024) })),
  responses: {
    200: {
      description: 'Logged in',
      content: { 'application/json': { schema: z.object({ token: z.string(), profile: ProfileSchema }) } },
    },
    ...problemResponses(400, 401, 403),
  },
});

const resetRequest = createRoute({
  method: 'post',
  path: '/auth/password-reset',
  tags: ['Accounts'],
  summary: 'Email a password-reset link (same answer whether or not the email exists)',
  request: jsonBody(z.object({ email: z.string().min(1).max(320) })),
  responses: { 202: { description: 'Accepted' }, ...problemResponses(400) },
});

const resetPage = createRoute({
  method: 'get',
  path: '/auth/password-reset/{token}',
  tags: ['Accounts'],
  summary: 'Page with a form to choose a new password',
  request: { params: TokenParam },
  responses: { 200: { description: 'HTML page', content: { 'text/html': { schema: z.string() } } } },
});

const resetForm = z.object({ password: PasswordField });
const reset = createRoute({
  method: 'post',
  path: '/auth/password-reset/{token}',
  tags: ['Accounts'],
  summary: 'Set a new password with a reset token (JSON answers 204; the HTML form answers a page)',
  request: {
    params: TokenParam,
    body: {
      required: true,
      content: {
        'application/json': { schema: resetForm },
        'application/x-www-form-urlencoded': { schema: resetForm },
      },
    },
  },
  responses: {
    204: { description: 'Password changed' },
    200: { description: 'HTML page: password changed', content: { 'text/html': { schema: z.string() } } },
    ...problemResponses(400, 410),
  },
});

export function authRoutes(deps: AppDeps) {
  const { db, mailer, env } = deps;
  const link = (path: string) => new URL(path, env.PUBLIC_BASE_URL).toString();

  return createRouter()
    .openapi(signup, async (c) => {
      const { email, password, name } = c.req.valid('json');
      const profile = await insertProfile(db, { email, name, passwordHash: await hashPassword(password) });
      if (!profile) throw new ApiProblem(409, 'email_taken', 'A profile with this email already exists.');
      const token = await issueEmailToken(db, {
        kind: 'confirm_email',
        profileId: profile.id,
        ttlMs: CONFIRM_TTL_MS,
        now: deps.now(),
      });
      await mailer.send({
        to: profile.email,
        template: 'confirm-email',
        props: { name: profile.name, confirmUrl: link(`/auth/confirm/${token}`) },
        idempotencyKey: `confirm-email:${profile.id}`,
      });
      return c.json({ profileId: profile.id }, 201);
    })
    .openapi(confirmPage, async (c) => {
      const { token } = c.req.valid('param');
      const row = await findUsableToken(db, 'confirm_email', token, deps.now());
      if (!row)
        return page(
          c,
          'Link no longer valid',
          html`<p>This confirmation link was used or has expired.</p>`,
          410,
        ) as never;
      return page(
        c,
        'Confirm your email',
        html`<p>Press the button to confirm your email address.</p>
          <form method="post"><button type="submit">Confirm my email</button></form>`,
      ) as never;
    })
    .openapi(confirm, async (c) => {
      const { token } = c.req.valid('param');
      const now = deps.now();
      const confirmed = await db.transaction(async (tx) => {
        const row = await findUsableToken(tx, 'confirm_email', token, now);
        if (!row?.profileId || !(await consumeToken(tx, row.id, now))) return false;
        await updateProfile(tx, row.profileId, { emailConfirmedAt: now });
        return true;
      });
      if (!confirmed) {
        return page(
          c,
          'Link no longer valid',
          html`<p>This confirmation link was used or has expired.</p>`,
          410,
        ) as never;
      }
      return page(c, 'Email confirmed', html`<p>Your account is ready. You can now log in.</p>`) as never;
    })
    .openapi(login, async (c) => {
      const { email, password } = c.req.valid('json');
      const profile = await findProfileByEmail(db, email);
      if (!profile) {
        await burnPasswordCheck(password);
        throw new ApiProblem(401, 'invalid_credentials', 'The email or password is wrong.');
      }
      if (!(await verifyPassword(password, profile.passwordHash))) {
        throw new ApiProblem(401, 'invalid_credentials', 'The email or password is wrong.');
      }
      if (!profile.emailConfirmedAt) {
        throw new ApiProblem(403, 'email_not_confirmed', 'Follow the link in the confirmation email first.');
      }
      const token = await issueBearerToken(profile.id, env.TOKEN_SECRET, deps.now());
      return c.json({ token, profile: { id: profile.id, email: profile.email, name: profile.name } }, 200);
    })
    .openapi(resetRequest, async (c) => {
      const { email } = c.req.valid('json');
      const profile = await findProfileByEmail(db, normalizeEmail(email));
      if (profile) {
        const now = deps.now();
        const token = await issueEmailToken(db, {
          kind: 'password_reset',
          profileId: profile.id,
          ttlMs: RESET_TTL_MS,
          now,
        });
        await mailer.send({
          to: profile.email,
          template: 'password-reset',
          props: { name: profile.name, resetUrl: link(`/auth/password-reset/${token}`) },
          idempotencyKey: `password-reset:${token.slice(0, 16)}`,
        });
      }
      return c.body(null, 202);
    })
    .openapi(resetPage, async (c) => {
      const { token } = c.req.valid('param');
      const row = await findUsableToken(db, 'password_reset', token, deps.now());
      if (!row)
        return page(
          c,
          'Link no longer valid',
          html`<p>This reset link was used or has expired.</p>`,
          410,
        ) as never;
      return page(
        c,
        'Choose a new password',
        html`<form method="post">
          <label for="password">New password (at least 10 characters)</label>
          <input id="password" name="password" type="password" minlength="10" required autocomplete="new-password">
          <p><button type="submit">Save password</button></p>
        </form>`,
      ) as never;
    })
    .openapi(reset, async (c) => {
      const { token } = c.req.valid('param');
      const isForm = (c.req.header('content-type') ?? '').startsWith('application/x-www-form-urlencoded');
      const { password } = isForm ? c.req.valid('form') : c.req.valid('json');
      const now = deps.now();
      const passwordHash = await hashPassword(password);
      const changed = await db.transaction(async (tx) => {
        const row = await findUsableToken(tx, 'password_reset', token, now);
        if (!row?.profileId || !(await consumeToken(tx, row.id, now))) return false;
        await updateProfile(tx, row.profileId, { passwordHash });
        return true;
      });
      if (!changed) {
        if (isForm) {
          return page(
            c,
            'Link no longer valid',
            html`<p>This reset link was used or has expired.</p>`,
            410,
          ) as never;
        }
        throw new ApiProblem(410, 'token_invalid', 'This reset link was used or has expired.');
      }
      if (isForm)
        return page(c, 'Password changed', html`<p>You can now log in with your new password.</p>`) as never;
      return c.body(null, 204);
    });
}
