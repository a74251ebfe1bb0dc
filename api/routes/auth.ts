import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { html } from 'hono/html';
import { findUsableToken } from '../../db/queries/email-tokens';
import { findProfileByEmail } from '../../db/queries/profiles';
import { confirmEmail, requestPasswordReset, resetPassword, signUp } from '../../operations/accounts';
import { burnPasswordCheck, hashPassword, verifyPassword } from '../auth/passwords';
import { issueBearerToken } from '../auth/tokens';
import type { AppDeps } from '../deps';
import { linkGonePage, page } from '../pages';
import { problem } from '../problem';
import { createRouter } from '../router';
import {
  htmlContent,
  jsonBody,
  linkPageResponses,
  PasswordField,
  ProfileSchema,
  problemContent,
  problemResponses,
  TokenParam,
} from '../schemas';

/** Sign-up email, trimmed and lower-cased before it is checked: " Ann@X.org " is ann@x.org. */
const SignupEmail = z.string().trim().toLowerCase().max(320).pipe(z.email('must be an email address'));

const signup = createRoute({
  method: 'post',
  path: '/signup',
  tags: ['Accounts'],
  summary: 'Create an account; a confirmation email is sent',
  request: jsonBody(
    z.object({ email: SignupEmail, password: PasswordField, name: z.string().trim().min(1).max(200) }),
  ),
  responses: {
    201: {
      description: 'Created',
      content: { 'application/json': { schema: z.object({ profileId: z.uuid() }) } },
    },
    ...problemResponses('validation_failed', 'malformed_json', 'email_taken', 'email_unavailable'),
  },
});

const confirmPage = createRoute({
  method: 'get',
  path: '/confirm/{token}',
  tags: ['Accounts'],
  summary: 'Page with a button that confirms the email address (changes nothing by itself)',
  request: { params: TokenParam },
  responses: linkPageResponses('HTML page with a confirm button'),
});

const confirm = createRoute({
  method: 'post',
  path: '/confirm/{token}',
  tags: ['Accounts'],
  summary: 'Confirm the email address',
  request: { params: TokenParam },
  responses: linkPageResponses('HTML page: confirmed'),
});

const login = createRoute({
  method: 'post',
  path: '/login',
  tags: ['Accounts'],
  summary: 'Log in with email and password',
  request: jsonBody(z.object({ email: z.string().min(1).max(320), password: z.string().min(1).max(1024) })),
  responses: {
    200: {
      description: 'Logged in',
      content: { 'application/json': { schema: z.object({ token: z.string(), profile: ProfileSchema }) } },
    },
    ...problemResponses('validation_failed', 'malformed_json', 'invalid_credentials', 'email_not_confirmed'),
  },
});

const resetRequest = createRoute({
  method: 'post',
  path: '/password-reset',
  tags: ['Accounts'],
  summary: 'Email a password-reset link (same answer whether or not the email exists)',
  request: jsonBody(z.object({ email: z.string().min(1).max(320) })),
  responses: { 202: { description: 'Accepted' }, ...problemResponses('validation_failed', 'malformed_json') },
});

const resetPage = createRoute({
  method: 'get',
  path: '/password-reset/{token}',
  tags: ['Accounts'],
  summary: 'Page with a form to choose a new password',
  request: { params: TokenParam },
  responses: linkPageResponses('HTML page with a new-password form'),
});

const resetForm = z.object({ password: PasswordField });
const reset = createRoute({
  method: 'post',
  path: '/password-reset/{token}',
  tags: ['Accounts'],
  summary: 'Set a new password with a reset token (JSON answers 204; the HTML form answers a page)',
  request: {
    params: TokenParam,
    // Not `required`: with it, @hono/zod-openapi runs the JSON and the form validator on every request,
    // so each content type fails the other's check (every reset answered 400). The handler refuses a
    // request that matched neither.
    body: {
      content: {
        'application/json': { schema: resetForm },
        'application/x-www-form-urlencoded': { schema: resetForm },
      },
    },
  },
  responses: {
    204: { description: 'Password changed' },
    200: { description: 'HTML page: password changed', content: htmlContent },
    ...problemResponses('validation_failed', 'malformed_json', 'unsupported_media_type'),
    410: {
      description:
        'token_invalid: the link was used or has expired (a problem for JSON, a page for the HTML form)',
      content: { ...problemContent, ...htmlContent },
    },
  },
});

const confirmGone = (c: Context) =>
  linkGonePage(c, html`<p>This confirmation link was used or has expired.</p>`);
const resetGone = (c: Context) => linkGonePage(c, html`<p>This reset link was used or has expired.</p>`);

export function authRoutes(deps: AppDeps) {
  const { db, env } = deps;
  const mailing = { mailer: deps.mailer, publicBaseUrl: env.PUBLIC_BASE_URL };

  return createRouter()
    .openapi(signup, async (c) => {
      const { email, password, name } = c.req.valid('json');
      const passwordHash = await hashPassword(password);
      const profile = await signUp(db, mailing, { email, name, passwordHash, now: deps.now() });
      return c.json({ profileId: profile.id }, 201);
    })
    .openapi(confirmPage, async (c) => {
      const { token } = c.req.valid('param');
      const row = await findUsableToken(db, 'confirm_email', token, deps.now());
      if (!row) return confirmGone(c) as never;
      return page(
        c,
        'Confirm your email',
        html`<p>Press the button to confirm your email address.</p>
          <form method="post"><button type="submit">Confirm my email</button></form>`,
      ) as never;
    })
    .openapi(confirm, async (c) => {
      const { token } = c.req.valid('param');
      if (!(await confirmEmail(db, { token, now: deps.now() }))) return confirmGone(c) as never;
      return page(c, 'Email confirmed', html`<p>Your account is ready. You can now log in.</p>`) as never;
    })
    .openapi(login, async (c) => {
      const { email, password } = c.req.valid('json');
      const profile = await findProfileByEmail(db, email);
      if (!profile) {
        await burnPasswordCheck(password);
        throw problem('invalid_credentials');
      }
      if (!(await verifyPassword(password, profile.passwordHash))) throw problem('invalid_credentials');
      if (!profile.emailConfirmedAt) throw problem('email_not_confirmed');
      const token = await issueBearerToken(profile.id, env.TOKEN_SECRET, deps.now());
      return c.json({ token, profile: { id: profile.id, email: profile.email, name: profile.name } }, 200);
    })
    .openapi(resetRequest, async (c) => {
      // The same answer whether or not the email has a profile (A4).
      await requestPasswordReset(db, mailing, { email: c.req.valid('json').email, now: deps.now() });
      return c.body(null, 202);
    })
    .openapi(resetPage, async (c) => {
      const { token } = c.req.valid('param');
      const row = await findUsableToken(db, 'password_reset', token, deps.now());
      if (!row) return resetGone(c) as never;
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
      // The same tests @hono/zod-openapi applies to pick the validator (it validated that one only).
      const contentType = (c.req.header('content-type') ?? '').toLowerCase();
      const isJson = /^application\/([a-z-.]+\+)?json/.test(contentType);
      const isForm =
        contentType.startsWith('application/x-www-form-urlencoded') ||
        contentType.startsWith('multipart/form-data');
      if (!isJson && !isForm) throw problem('unsupported_media_type');
      const { password } = isJson ? c.req.valid('json') : c.req.valid('form');
      const now = deps.now();
      const changed = await resetPassword(db, { token, passwordHash: await hashPassword(password), now });
      if (!changed) {
        if (isForm) return resetGone(c) as never;
        throw problem('token_invalid', 'This reset link was used or has expired.');
      }
      if (isForm)
        return page(c, 'Password changed', html`<p>You can now log in with your new password.</p>`) as never;
      return c.body(null, 204);
    });
}
