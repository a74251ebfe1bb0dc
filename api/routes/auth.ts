import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { html } from 'hono/html';
import { findUsableToken } from '../../db/queries/email-tokens';
import { findProfileByEmail, normalizeEmail } from '../../db/queries/profiles';
import { deleteSession } from '../../db/queries/sessions';
import { decideLogin } from '../../domain/login';
import { confirmEmail, requestPasswordReset, resetPassword, signUp } from '../../operations/accounts';
import { burnPasswordCheck, hashPassword, noOnesPasswordHash, verifyPassword } from '../auth/passwords';
import { issueBearerTokenIfPasswordIs } from '../auth/tokens';
import type { AppDeps } from '../deps';
import { isFormType, linkGonePage, page } from '../pages';
import { problem } from '../problem';
import { createRouter } from '../router';
import {
  displayName,
  htmlContent,
  jsonBody,
  linkPageResponses,
  PasswordField,
  ProfileSchema,
  problemContent,
  problemResponses,
  TokenParam,
} from '../schemas';
import { accountAddressKey, addressKey, succeeded, takeAttempt, throttleKey } from '../throttle';

/** Sign-up email, trimmed and lower-cased before it is checked: " Ann@X.org " is ann@x.org. */
const SignupEmail = z.string().trim().toLowerCase().max(320).pipe(z.email('must be an email address'));

const signup = createRoute({
  method: 'post',
  path: '/signup',
  operationId: 'signUp',
  tags: ['Accounts'],
  summary:
    'Sign up. The same answer for a new and a taken email (A4): a new or never-confirmed one gets a ' +
    'confirmation email of its own, a confirmed one an "you already have an account" email',
  security: [],
  request: jsonBody(z.object({ email: SignupEmail, password: PasswordField, name: displayName(200) })),
  responses: {
    202: {
      description: 'Check your email',
      content: { 'application/json': { schema: z.object({ status: z.literal('check_email') }) } },
    },
    ...problemResponses(
      'validation_failed',
      'malformed_json',
      'too_many_attempts',
      'temporarily_unavailable',
    ),
  },
});

const confirmPage = createRoute({
  method: 'get',
  path: '/confirm/{token}',
  operationId: 'getEmailConfirmationPage',
  tags: ['Accounts'],
  summary: 'Page with a button that confirms the email address (changes nothing by itself)',
  security: [],
  request: { params: TokenParam },
  responses: linkPageResponses('HTML page with a confirm button'),
});

const confirm = createRoute({
  method: 'post',
  path: '/confirm/{token}',
  operationId: 'confirmEmail',
  tags: ['Accounts'],
  summary: 'Confirm the email address',
  security: [],
  request: { params: TokenParam },
  responses: linkPageResponses('HTML page: confirmed'),
});

const login = createRoute({
  method: 'post',
  path: '/login',
  operationId: 'logIn',
  tags: ['Accounts'],
  summary: 'Log in with email and password',
  security: [],
  request: jsonBody(
    z
      .object({ email: z.string().min(1).max(320), password: z.string().min(1).max(1024) })
      .openapi({ example: { email: 'ann@example.com', password: 'correct horse battery staple' } }),
  ),
  responses: {
    200: {
      description: 'Logged in: send the token as `Authorization: Bearer <token>`',
      content: {
        'application/json': {
          schema: z.object({ token: z.string(), profile: ProfileSchema }).openapi({
            example: {
              token: 'kZ3v9QmT1xWc7LpR2sYb8NfH4dJ6gA0eUoKq5iVtXyM',
              profile: {
                id: '0b9c8d7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e',
                email: 'ann@example.com',
                name: 'Ann Example',
              },
            },
          }),
        },
      },
    },
    ...problemResponses(
      'validation_failed',
      'malformed_json',
      'invalid_credentials',
      'email_not_confirmed',
      'too_many_attempts',
      'temporarily_unavailable',
    ),
  },
});

const logout = createRoute({
  method: 'post',
  path: '/logout',
  operationId: 'logOut',
  tags: ['Accounts'],
  summary: 'End the session of this bearer token (it answers 401 from now on)',
  security: [{ bearer: [] }],
  responses: { 204: { description: 'Logged out' }, ...problemResponses('unauthorized') },
});

const resetRequest = createRoute({
  method: 'post',
  path: '/password-reset',
  operationId: 'requestPasswordReset',
  tags: ['Accounts'],
  summary: 'Email a password-reset link (same answer whether or not the email exists)',
  security: [],
  request: jsonBody(z.object({ email: z.string().min(1).max(320) })),
  responses: {
    202: { description: 'Accepted' },
    ...problemResponses('validation_failed', 'malformed_json', 'too_many_attempts'),
  },
});

const resetPage = createRoute({
  method: 'get',
  path: '/password-reset/{token}',
  operationId: 'getPasswordResetPage',
  tags: ['Accounts'],
  summary: 'Page with a form to choose a new password',
  security: [],
  request: { params: TokenParam },
  responses: linkPageResponses('HTML page with a new-password form'),
});

const resetForm = z.object({ password: PasswordField });
const reset = createRoute({
  method: 'post',
  path: '/password-reset/{token}',
  operationId: 'resetPassword',
  tags: ['Accounts'],
  summary: 'Set a new password with a reset token (JSON answers 204; the HTML form answers a page)',
  security: [],
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
    ...problemResponses('unsupported_media_type', 'temporarily_unavailable'),
    400: {
      description:
        'validation_failed, malformed_json: a problem for JSON; for the HTML form a page (404 when the token cannot be one)',
      content: { ...problemResponses('validation_failed', 'malformed_json')[400]!.content, ...htmlContent },
    },
    404: {
      description: 'HTML page (the form only): the token cannot be a link we send',
      content: htmlContent,
    },
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
  const secret = env.TOKEN_SECRET;
  /** Sends what a request queued, after the answer (the worker sweeps what this misses). */
  const kickAccountMail = () => void deps.accountMail?.handOver();

  return createRouter()
    .openapi(signup, async (c) => {
      const { email, password, name } = c.req.valid('json');
      await takeAttempt(deps, addressKey(secret, 'signupAddress', c.get('clientAddress')));
      // Hashed for a taken email too: the answer takes as long either way (A4).
      const passwordHash = await hashPassword(password);
      await signUp(db, { email, name, passwordHash, now: deps.now() });
      kickAccountMail();
      return c.json({ status: 'check_email' as const }, 202);
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
      const confirmed = await confirmEmail(db, {
        token,
        now: deps.now(),
        noOnesPasswordHash: noOnesPasswordHash(),
      });
      if (!confirmed) return confirmGone(c) as never;
      if (confirmed.setPasswordToken)
        return page(
          c,
          'Email confirmed',
          html`<p>Your email address is confirmed. It was signed up more than once with different
              passwords, so none of them is kept: choose your password to log in.</p>
            <p><a href="../password-reset/${confirmed.setPasswordToken}">Choose my password</a></p>`,
        ) as never;
      return page(c, 'Email confirmed', html`<p>Your account is ready. You can now log in.</p>`) as never;
    })
    .openapi(login, async (c) => {
      const { email, password } = c.req.valid('json');
      const typed = normalizeEmail(email);
      const clientAddress = c.get('clientAddress');
      // A6: per account and per address. One client's tries at the account are held up soon; the
      // account's own limit is far looser, so another client's failures lock the owner out only in
      // numbers (THROTTLES).
      const own = accountAddressKey(secret, 'loginAccountAddress', typed, clientAddress);
      const shared = [
        throttleKey(secret, 'loginAccount', typed),
        ...addressKey(secret, 'loginAddress', clientAddress),
      ];
      // Counted before the password is checked, atomically, so a burst gets no more tries; and even
      // the right password waits while any limit is exceeded (else a spread-out guesser would learn it).
      await takeAttempt(deps, [own, ...shared]);
      const decided = await decideLogin(await findProfileByEmail(db, email), (hash) =>
        hash === undefined ? burnPasswordCheck(password) : verifyPassword(password, hash),
      );
      // Not the account's password (a sign-up's included): the account's failures are not forgotten.
      if ('refused' in decided) throw problem(decided.refused);
      const profile = decided.signedIn;
      // The right password: this client's failures at the account are forgotten and this try is no
      // failure; others' failures at the account stay counted.
      await succeeded(deps, own, shared);
      // Opened only while the password is still the one just checked (A5: a reset between the check and
      // the session would otherwise leave this token alive after it).
      const token = await issueBearerTokenIfPasswordIs(db, profile, deps.now());
      if (token === undefined) throw problem('invalid_credentials');
      return c.json({ token, profile: { id: profile.id, email: profile.email, name: profile.name } }, 200);
    })
    .openapi(logout, async (c) => {
      await deleteSession(db, c.get('sessionId'));
      return c.body(null, 204);
    })
    .openapi(resetRequest, async (c) => {
      const { email } = c.req.valid('json');
      await takeAttempt(deps, [
        throttleKey(secret, 'resetAccount', normalizeEmail(email)),
        ...addressKey(secret, 'resetAddress', c.get('clientAddress')),
      ]);
      // The same work whether or not the email has a profile (A4): the relay decides, off the request.
      await requestPasswordReset(db, { email });
      kickAccountMail();
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
      const isForm = isFormType(contentType);
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
