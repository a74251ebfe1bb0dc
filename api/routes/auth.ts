import { createRoute, z } from '@hono/zod-openapi';
import { and, eq, isNull } from 'drizzle-orm';
import { html } from 'hono/html';
import { consumeToken, findUsableToken, issueEmailToken } from '../../db/queries/email-tokens';
import {
  findProfileByEmail,
  findProfileById,
  insertProfile,
  normalizeEmail,
  updateProfile,
} from '../../db/queries/profiles';
import { emailTokens } from '../../db/schema';
import { errorField, logger } from '../../observability/logger';
import { burnPasswordCheck, hashPassword, verifyPassword } from '../auth/passwords';
import { issueBearerToken } from '../auth/tokens';
import type { AppDeps } from '../deps';
import { page } from '../pages';
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

const CONFIRM_TTL_MS = 48 * 3600_000;
const RESET_TTL_MS = 3600_000;

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

export function authRoutes(deps: AppDeps) {
  const { db, mailer, env } = deps;
  const link = (path: string) => new URL(path, env.PUBLIC_BASE_URL).toString();

  return createRouter()
    .openapi(signup, async (c) => {
      const { email, password, name } = c.req.valid('json');
      const passwordHash = await hashPassword(password);
      // One transaction up to the sent email: when the email cannot be sent, no profile remains that
      // blocks signing up again (409) yet can never be confirmed.
      const profile = await db.transaction(async (tx) => {
        const created = await insertProfile(tx, { email, name, passwordHash });
        if (!created) throw problem('email_taken');
        const token = await issueEmailToken(tx, {
          kind: 'confirm_email',
          profileId: created.id,
          ttlMs: CONFIRM_TTL_MS,
          now: deps.now(),
        });
        try {
          await mailer.send({
            to: created.email,
            template: 'confirm-email',
            props: { name: created.name, confirmUrl: link(`/auth/confirm/${token}`) },
            idempotencyKey: `confirm-email:${created.id}`,
          });
        } catch (error) {
          logger.error({ template: 'confirm-email', err: errorField(error) }, 'email not sent');
          throw problem('email_unavailable', 'The confirmation email could not be sent; try again shortly.');
        }
        return created;
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
        throw problem('invalid_credentials');
      }
      if (!(await verifyPassword(password, profile.passwordHash))) throw problem('invalid_credentials');
      if (!profile.emailConfirmedAt) throw problem('email_not_confirmed');
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
        try {
          await mailer.send({
            to: profile.email,
            template: 'password-reset',
            props: { name: profile.name, resetUrl: link(`/auth/password-reset/${token}`) },
            idempotencyKey: `password-reset:${token.slice(0, 16)}`,
          });
        } catch (error) {
          // Answering an error here (and 202 for unknown emails) would tell which emails have an
          // account (A4). The person asks again; the log says why nothing arrived.
          logger.error({ template: 'password-reset', err: errorField(error) }, 'email not sent');
        }
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
      // The same tests @hono/zod-openapi applies to pick the validator (it validated that one only).
      const contentType = (c.req.header('content-type') ?? '').toLowerCase();
      const isJson = /^application\/([a-z-.]+\+)?json/.test(contentType);
      const isForm =
        contentType.startsWith('application/x-www-form-urlencoded') ||
        contentType.startsWith('multipart/form-data');
      if (!isJson && !isForm) {
        throw problem('unsupported_media_type');
      }
      const { password } = isJson ? c.req.valid('json') : c.req.valid('form');
      const now = deps.now();
      const passwordHash = await hashPassword(password);
      const changed = await db.transaction(async (tx) => {
        const row = await findUsableToken(tx, 'password_reset', token, now);
        if (!row?.profileId || !(await consumeToken(tx, row.id, now))) return false;
        // Every other reset link of this profile dies with this one: an older email must not
        // change the password again. Following the link also proves the email address is theirs.
        await tx
          .update(emailTokens)
          .set({ usedAt: now })
          .where(
            and(
              eq(emailTokens.profileId, row.profileId),
              eq(emailTokens.kind, 'password_reset'),
              isNull(emailTokens.usedAt),
            ),
          );
        const profile = await findProfileById(tx, row.profileId);
        await updateProfile(tx, row.profileId, {
          passwordHash,
          emailConfirmedAt: profile?.emailConfirmedAt ?? now,
        });
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
        throw problem('token_invalid', 'This reset link was used or has expired.');
      }
      if (isForm)
        return page(c, 'Password changed', html`<p>You can now log in with your new password.</p>`) as never;
      return c.body(null, 204);
    });
}
