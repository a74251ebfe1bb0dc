import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { refusingMailer } from '../../emails/mailer';
import { createAccountMailRelay } from '../../outbox/account-mail-relay';
import { addMember, createSite } from '../support/fixtures';
import { productionApp } from '../support/production-app';
import { startTestSystem, TEST_BASE_URL, type TestSystem } from '../support/system';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({});
});
afterAll(async () => {
  await sys?.close();
});

const PASSWORD = 'a long enough password';
const newEmail = () => `person-${randomUUID()}@example.test`;

async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

/** Asserts an application/problem+json answer with that status and code; returns the body. */
async function expectProblem(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = await json<{
    type: string;
    title: string;
    status: number;
    detail: string;
    code: string;
    errors?: Array<{ path: string; message: string }>;
  }>(res);
  expect(body).toMatchObject({ status, code });
  expect(typeof body.type).toBe('string');
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  return body;
}

function expectLinkPage(res: Response) {
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  expect(res.headers.get('content-security-policy')).toMatch(/(^|;\s*)default-src 'none'/);
}

async function mailsTo(email: string) {
  return (await sys.mailbox()).filter((m) => m.to === email.toLowerCase());
}

/** The one link of `kind` in the plain-text part of the newest email to `email`. */
async function linkIn(email: string, pathPrefix: string): Promise<string> {
  const mails = await mailsTo(email);
  const text = mails.at(-1)?.text ?? '';
  const escaped = `${TEST_BASE_URL}${pathPrefix}`.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const match = new RegExp(`${escaped}([A-Za-z0-9_-]+)`).exec(text);
  if (!match) throw new Error(`no ${pathPrefix} link in ${JSON.stringify(text)}`);
  return match[0].slice(TEST_BASE_URL.length);
}

const login = (email: string, password = PASSWORD) =>
  sys.request('POST', '/auth/login', { body: { email, password } });

async function signUpAndConfirm(email = newEmail(), name = 'Ann Example') {
  const res = await sys.request('POST', '/auth/signup', { body: { email, password: PASSWORD, name } });
  expect(res.status).toBe(202);
  const confirmPath = await linkIn(email, '/auth/confirm/');
  expect((await sys.request('POST', confirmPath)).status).toBe(200);
  return email;
}

/** The same app in production mode, with a mailer whose provider always fails. */
const productionAppWithFailingMailer = (reason: string) =>
  productionApp(sys, { mailer: refusingMailer(reason) });

describe('sign-up and confirmation', () => {
  const email = newEmail();
  let profileId: string;
  let confirmPath: string;

  it('creates a profile (202 check_email) and sends one confirmation email with a link', async () => {
    const res = await sys.request('POST', '/auth/signup', {
      body: { email, password: PASSWORD, name: 'Ann Example' },
    });
    expect(res.status).toBe(202);
    expect(await json(res)).toEqual({ status: 'check_email' });
    const [row] = await sys.sql`select id from profiles where email = ${email}`;
    profileId = row?.id as string;
    expect(profileId).toMatch(/^[0-9a-f-]{36}$/);

    const mails = await mailsTo(email);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.template).toBe('confirm-email');
    confirmPath = await linkIn(email, '/auth/confirm/');
    expect(mails[0]!.html).toContain(`${TEST_BASE_URL}${confirmPath}`);
  });

  it('refuses login before confirmation with 403 email_not_confirmed', async () => {
    await expectProblem(await login(email), 403, 'email_not_confirmed');
  });

  it('GET of the confirmation link shows a form and changes nothing', async () => {
    const res = await sys.request('GET', confirmPath);
    expect(res.status).toBe(200);
    expectLinkPage(res);
    const page = await res.text();
    expect(page).toMatch(/<form[^>]*method="post"/i);
    expect(page).toMatch(/<button/i);
    await expectProblem(await login(email), 403, 'email_not_confirmed');
    // A second GET still works: nothing was consumed.
    expect((await sys.request('GET', confirmPath)).status).toBe(200);
  });

  it('POST confirms; the account can log in', async () => {
    const res = await sys.request('POST', confirmPath);
    expect(res.status).toBe(200);
    expectLinkPage(res);
    expect(await res.text()).toMatch(/confirmed/i);

    const ok = await login(email);
    expect(ok.status).toBe(200);
    const body = await json<{ token: string; profile: { id: string; email: string; name: string } }>(ok);
    expect(body.token).toEqual(expect.any(String));
    expect(body.profile).toEqual({ id: profileId, email, name: 'Ann Example' });
  });

  it('a second POST of the same link answers 410 and the GET page says so', async () => {
    const again = await sys.request('POST', confirmPath);
    expect(again.status).toBe(410);
    expectLinkPage(again);
    const get = await sys.request('GET', confirmPath);
    expect(get.status).toBe(410);
    expectLinkPage(get);
  });

  it('an unknown confirmation token answers 410', async () => {
    expect((await sys.request('POST', '/auth/confirm/not-a-real-token')).status).toBe(410);
  });

  it('logs in with differently written email', async () => {
    expect((await login(`  ${email.toUpperCase()} `)).status).toBe(200);
  });

  it('wrong password and unknown email both answer 401 invalid_credentials', async () => {
    const wrong = await expectProblem(await login(email, 'not the password'), 401, 'invalid_credentials');
    const unknown = await expectProblem(await login(newEmail()), 401, 'invalid_credentials');
    expect(unknown.detail).toBe(wrong.detail);
  });

  it('a duplicate sign-up answers like a new one and emails the owner, at most 3 times an hour (A4, A6)', async () => {
    for (const variant of [email, email.toUpperCase(), `  ${email}  `, ` ${email.replace(/^p/, 'P')}`]) {
      const res = await sys.request('POST', '/auth/signup', {
        body: { email: variant, password: PASSWORD, name: 'Someone Else' },
      });
      expect(res.status).toBe(202);
      expect(await json(res)).toEqual({ status: 'check_email' });
    }
    const mails = await mailsTo(email);
    expect(mails.map((m) => m.template)).toEqual([
      'confirm-email',
      'account-exists',
      'account-exists',
      'account-exists',
    ]);
    // Nothing changed: the name and the password are the first sign-up's.
    const [row] = await sys.sql`select name from profiles where email = ${email}`;
    expect(row?.name).toBe('Ann Example');
    expect((await login(email)).status).toBe(200);
  });

  it('stores a sign-up email trimmed and lower-cased', async () => {
    const raw = `  MiXeD-${randomUUID()}@Example.TEST `;
    const res = await sys.request('POST', '/auth/signup', {
      body: { email: raw, password: PASSWORD, name: 'Mixed' },
    });
    expect(res.status).toBe(202);
    expect(await mailsTo(raw.trim())).toHaveLength(1);
    const [row] = await sys.sql`select email from profiles where email = ${raw.trim().toLowerCase()}`;
    expect(row?.email).toBe(raw.trim().toLowerCase());
  });
});

describe('request validation', () => {
  it('malformed JSON answers 400 malformed_json', async () => {
    const res = await sys.request('POST', '/auth/signup', { body: '{"email": "a@b.c",' });
    await expectProblem(res, 400, 'malformed_json');
  });

  it('missing fields answer 400 validation_failed naming each field', async () => {
    const res = await sys.request('POST', '/auth/signup', { body: {} });
    const body = await expectProblem(res, 400, 'validation_failed');
    const paths = body.errors?.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['body.email', 'body.password', 'body.name']));
    for (const error of body.errors ?? []) expect(error.message).toEqual(expect.any(String));
  });

  it('a bad email and a short password are named', async () => {
    const res = await sys.request('POST', '/auth/signup', {
      body: { email: 'not-an-email', password: 'short', name: 'X' },
    });
    const body = await expectProblem(res, 400, 'validation_failed');
    expect(body.errors?.map((e) => e.path).sort()).toEqual(['body.email', 'body.password']);
  });

  it('login without a password is validation_failed on body.password', async () => {
    const body = await expectProblem(
      await sys.request('POST', '/auth/login', { body: { email: 'a@b.test' } }),
      400,
      'validation_failed',
    );
    expect(body.errors?.map((e) => e.path)).toEqual(['body.password']);
  });

  it('an unknown path answers a 404 problem', async () => {
    await expectProblem(await sys.request('GET', '/no/such/path'), 404, 'not_found');
  });
});

describe('password reset', () => {
  it('answers 202 for known and unknown emails, mailing only the known one', async () => {
    const email = await signUpAndConfirm();
    const unknown = newEmail();
    const before = (await sys.mailbox()).length;

    const known = await sys.request('POST', '/auth/password-reset', { body: { email } });
    const notKnown = await sys.request('POST', '/auth/password-reset', { body: { email: unknown } });
    expect(known.status).toBe(202);
    expect(notKnown.status).toBe(202);
    expect(await known.text()).toBe(await notKnown.text());

    const after = await sys.mailbox();
    expect(after).toHaveLength(before + 1);
    expect(after.at(-1)).toMatchObject({ to: email, template: 'password-reset' });
    expect(await mailsTo(unknown)).toHaveLength(0);
  });

  it('a reset link sets a new password once (204), the old one stops working, reuse is 410', async () => {
    const email = await signUpAndConfirm();
    await sys.request('POST', '/auth/password-reset', { body: { email } });
    const resetPath = await linkIn(email, '/auth/password-reset/');

    const page = await sys.request('GET', resetPath);
    expect(page.status).toBe(200);
    expectLinkPage(page);
    expect(await page.text()).toMatch(/<input[^>]*name="password"/);

    const newPassword = 'an entirely new password';
    const res = await sys.request('POST', resetPath, { body: { password: newPassword } });
    expect(res.status).toBe(204);
    expect((await login(email, newPassword)).status).toBe(200);
    await expectProblem(await login(email, PASSWORD), 401, 'invalid_credentials');

    await expectProblem(
      await sys.request('POST', resetPath, { body: { password: 'yet another password' } }),
      410,
      'token_invalid',
    );
    expect((await login(email, newPassword)).status).toBe(200);
    expect((await sys.request('GET', resetPath)).status).toBe(410);
  });

  it('the HTML form of the reset page works too', async () => {
    const email = await signUpAndConfirm();
    await sys.request('POST', '/auth/password-reset', { body: { email } });
    const resetPath = await linkIn(email, '/auth/password-reset/');
    const res = await sys.request('POST', resetPath, {
      body: new URLSearchParams({ password: 'form-set password' }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(200);
    expectLinkPage(res);
    expect((await login(email, 'form-set password')).status).toBe(200);
    const again = await sys.request('POST', resetPath, {
      body: new URLSearchParams({ password: 'form-set password 2' }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(again.status).toBe(410);
    expectLinkPage(again);
  });

  it('a reset in another content type is 415, a short password 400, and neither uses the link', async () => {
    const email = await signUpAndConfirm();
    await sys.request('POST', '/auth/password-reset', { body: { email } });
    const resetPath = await linkIn(email, '/auth/password-reset/');
    await expectProblem(
      await sys.request('POST', resetPath, {
        body: 'password=plain text body',
        headers: { 'content-type': 'text/plain' },
      }),
      415,
      'unsupported_media_type',
    );
    await expectProblem(await sys.request('POST', resetPath), 415, 'unsupported_media_type');
    const short = await expectProblem(
      await sys.request('POST', resetPath, { body: { password: 'short' } }),
      400,
      'validation_failed',
    );
    expect(short.errors?.map((e) => e.path)).toEqual(['body.password']);
    expect((await sys.request('POST', resetPath, { body: { password: 'finally long enough' } })).status).toBe(
      204,
    );
  });

  it('an expired reset link answers 410 and changes nothing', async () => {
    const email = await signUpAndConfirm();
    await sys.request('POST', '/auth/password-reset', { body: { email } });
    const resetPath = await linkIn(email, '/auth/password-reset/');
    await sys.sql`update email_tokens set expires_at = now() - interval '1 minute'
      where kind = 'password_reset' and profile_id = (select id from profiles where email = ${email})`;
    await expectProblem(
      await sys.request('POST', resetPath, { body: { password: 'never applied password' } }),
      410,
      'token_invalid',
    );
    expect((await sys.request('GET', resetPath)).status).toBe(410);
    expect((await login(email)).status).toBe(200);
  });

  it('using one reset link voids the older ones', async () => {
    const email = await signUpAndConfirm();
    await sys.request('POST', '/auth/password-reset', { body: { email } });
    const first = await linkIn(email, '/auth/password-reset/');
    await sys.request('POST', '/auth/password-reset', { body: { email } });
    const second = await linkIn(email, '/auth/password-reset/');
    expect(second).not.toBe(first);
    expect((await sys.request('POST', second, { body: { password: 'second link password' } })).status).toBe(
      204,
    );
    await expectProblem(
      await sys.request('POST', first, { body: { password: 'first link password' } }),
      410,
      'token_invalid',
    );
    expect((await login(email, 'second link password')).status).toBe(200);
  });

  it('a reset link also confirms an unconfirmed account (it proves the mailbox)', async () => {
    const email = newEmail();
    await sys.request('POST', '/auth/signup', { body: { email, password: PASSWORD, name: 'Lost Mail' } });
    await expectProblem(await login(email), 403, 'email_not_confirmed');
    await sys.request('POST', '/auth/password-reset', { body: { email } });
    const resetPath = await linkIn(email, '/auth/password-reset/');
    expect((await sys.request('POST', resetPath, { body: { password: 'reset and confirmed' } })).status).toBe(
      204,
    );
    expect((await login(email, 'reset and confirmed')).status).toBe(200);
  });

  it('an expired confirmation link answers 410', async () => {
    const email = newEmail();
    await sys.request('POST', '/auth/signup', { body: { email, password: PASSWORD, name: 'Late' } });
    const confirmPath = await linkIn(email, '/auth/confirm/');
    await sys.sql`update email_tokens set expires_at = now() - interval '1 minute'
      where kind = 'confirm_email' and profile_id = (select id from profiles where email = ${email})`;
    expect((await sys.request('GET', confirmPath)).status).toBe(410);
    expect((await sys.request('POST', confirmPath)).status).toBe(410);
    await expectProblem(await login(email), 403, 'email_not_confirmed');
  });
});

describe('/me', () => {
  it('answers the profile with a token and 401 without one', async () => {
    const me = await sys.signIn({ name: 'Me Myself' });
    const res = await sys.request('GET', '/me', { token: me.token });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({
      id: me.id,
      email: me.email,
      name: 'Me Myself',
      platformRole: null,
      memberships: [],
    });
    const none = await expectProblem(await sys.request('GET', '/me'), 401, 'unauthorized');
    expect(none.status).toBe(401);
  });

  it('refuses a garbage token, an unknown token of the right shape, and an expired session', async () => {
    const me = await sys.signIn();
    await expectProblem(await sys.request('GET', '/me', { token: 'garbage' }), 401, 'unauthorized');
    const unknown = 'A'.repeat(43);
    await expectProblem(await sys.request('GET', '/me', { token: unknown }), 401, 'unauthorized');
    expect((await sys.request('GET', '/me', { token: me.token })).status).toBe(200);
    await sys.sql`update sessions set expires_at = now() - interval '1 second' where profile_id = ${me.id}`;
    await expectProblem(await sys.request('GET', '/me', { token: me.token }), 401, 'unauthorized');
  });

  it('PATCH changes the name and answers the profile as GET /me does, memberships included', async () => {
    const me = await sys.signIn({ name: 'Old Name' });
    const other = await sys.signIn();
    const owned = await createSite(sys, me.id);
    const joined = await createSite(sys, other.id);
    await addMember(sys, joined.id, me.id, { role: 'admin' });
    const res = await sys.request('PATCH', '/me', { token: me.token, body: { name: '  New Name ' } });
    expect(res.status).toBe(200);
    const patched = await json<{ name: string; memberships: Array<{ siteId: string; role: string }> }>(res);
    expect(patched).toMatchObject({ id: me.id, name: 'New Name' });
    expect(patched.memberships.map((m) => [m.siteId, m.role]).sort()).toEqual(
      [
        [owned.id, 'owner'],
        [joined.id, 'admin'],
      ].sort(),
    );
    const again = await json(await sys.request('GET', '/me', { token: me.token }));
    expect(again).toEqual(patched);
    // Without a name the profile is answered unchanged.
    expect(await json(await sys.request('PATCH', '/me', { token: me.token, body: {} }))).toEqual(patched);
  });

  it('PATCH with an email field answers 422 email_immutable and changes nothing', async () => {
    const me = await sys.signIn({ name: 'Keep Me' });
    for (const body of [
      { email: 'other@example.test' },
      { email: me.email },
      { name: 'Changed', email: null },
    ]) {
      const problem = await expectProblem(
        await sys.request('PATCH', '/me', { token: me.token, body }),
        422,
        'email_immutable',
      );
      expect(problem.errors?.[0]?.path).toBe('body.email');
    }
    const after = await json(await sys.request('GET', '/me', { token: me.token }));
    expect(after).toMatchObject({ email: me.email, name: 'Keep Me' });
  });

  it('PATCH without a token is 401', async () => {
    await expectProblem(await sys.request('PATCH', '/me', { body: { name: 'X' } }), 401, 'unauthorized');
  });
});

describe('operations', () => {
  it('/health reports database and temporal', async () => {
    const res = await sys.request('GET', '/health');
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ status: 'ok', database: true, temporal: true });
  });

  it('/openapi.json is OpenAPI 3.1 with the account paths', async () => {
    const res = await sys.request('GET', '/openapi.json');
    expect(res.status).toBe(200);
    const doc = await json<{ openapi: string; paths: Record<string, unknown> }>(res);
    expect(doc.openapi).toMatch(/^3\.1\./);
    for (const path of ['/auth/signup', '/auth/login', '/me']) expect(doc.paths).toHaveProperty([path]);
    expect(doc.paths).toHaveProperty(['/auth/confirm/{token}']);
  });

  it('/docs is an HTML page', async () => {
    const res = await sys.request('GET', '/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toMatch(/<html/i);
  });
});

describe('development mailbox', () => {
  it('lists emails newest first and shows one as HTML', async () => {
    const first = newEmail();
    const second = newEmail();
    await sys.request('POST', '/auth/signup', { body: { email: first, password: PASSWORD, name: 'First' } });
    await sys.request('POST', '/auth/signup', {
      body: { email: second, password: PASSWORD, name: 'Second' },
    });
    // Sign-up emails go out off the request path: wait for the relay's round.
    await sys.accountMail.handOver();

    const res = await sys.request('GET', '/dev/mailbox');
    expect(res.status).toBe(200);
    const list =
      await json<Array<{ id: string; to: string; subject: string; template: string; sentAt: string }>>(res);
    const i = list.findIndex((m) => m.to === second);
    const j = list.findIndex((m) => m.to === first);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(j).toBe(i + 1);
    expect(list[i]).toMatchObject({ template: 'confirm-email', subject: expect.any(String) });
    expect(new Date(list[i]!.sentAt).toISOString()).toBe(list[i]!.sentAt);
    const times = list.map((m) => Date.parse(m.sentAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);

    const one = await sys.request('GET', `/dev/mailbox/${list[i]!.id}`);
    expect(one.status).toBe(200);
    expect(one.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await one.text()).toContain('Second');
    expect(one.headers.get('content-security-policy')).toMatch(/(^|;\s*)default-src 'none'/);

    await expectProblem(await sys.request('GET', `/dev/mailbox/${randomUUID()}`), 404, 'not_found');
    await expectProblem(await sys.request('GET', '/dev/mailbox/not-a-uuid'), 400, 'validation_failed');
  });

  it('does not exist in production', async () => {
    const app = productionAppWithFailingMailer('no mail in this test');
    const list = await app.request('/dev/mailbox');
    await expectProblem(list, 404, 'not_found');
    await expectProblem(await app.request(`/dev/mailbox/${randomUUID()}`), 404, 'not_found');
    const doc = (await (await app.request('/openapi.json')).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).some((p) => p.startsWith('/dev/'))).toBe(false);
    // The same app is otherwise complete.
    expect((await app.request('/health')).status).toBe(200);
  });

  it('reset and sign-up answer 202 while the email provider is down; the emails go out once it is back', async () => {
    const email = await signUpAndConfirm();
    const newcomer = newEmail();
    const app = productionAppWithFailingMailer('provider down');
    const post = (path: string, body: unknown) =>
      app.request(path, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
    const down = createAccountMailRelay({
      db: sys.db,
      mailing: {
        mailer: refusingMailer('provider down'),
        publicBaseUrl: TEST_BASE_URL,
      },
    });
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect((await post('/auth/password-reset', { email })).status).toBe(202);
      expect((await post('/auth/password-reset', { email: newEmail() })).status).toBe(202);
      const signup = await post('/auth/signup', { email: newcomer, password: PASSWORD, name: 'Patient' });
      expect(signup.status).toBe(202);
      expect(await down.handOver()).toBe(0);
    } finally {
      await down.stop();
      quiet.mockRestore();
    }
    const [queued] = await sys.sql`select count(*)::int as n from account_emails`;
    expect(queued?.n).toBeGreaterThanOrEqual(3);
    // The provider is back: the working relay sends both, and the unknown address gets nothing.
    expect((await mailsTo(email)).at(-1)?.template).toBe('password-reset');
    expect((await mailsTo(newcomer)).map((m) => m.template)).toEqual(['confirm-email']);
    const [left] = await sys.sql`select count(*)::int as n from account_emails`;
    expect(left?.n).toBe(0);
  });
});

describe('queued account emails of a deleted profile (D7)', () => {
  const queuedTo = async (email: string) =>
    (await sys.sql`select kind from account_emails where email = ${email} order by kind::text`).map(
      (r) => r.kind,
    );
  const deleteProfile = async (email: string) => {
    const support = await sys.signIn({ platformRole: 'support' });
    const filed = await sys.request('POST', '/support/profile-deletions', {
      token: support.token,
      body: { email },
    });
    expect(filed.status).toBe(202);
    const { id } = await json<{ id: string }>(filed);
    // In no site, the profile is deleted at once (D2).
    await vi.waitFor(
      async () => {
        const res = await sys.request('GET', `/support/profile-deletions/${id}`, { token: support.token });
        expect((await json<{ status: string }>(res)).status).toBe('completed');
      },
      { timeout: 30_000, interval: 100 },
    );
  };
  /** Reset and "you have an account" emails recorded as sent to a since-deleted profile. */
  const redactedAccountMail = async () =>
    (
      await sys.sql`select count(*)::int as n from sent_emails
        where to_address = '[deleted profile]' and template in ('password-reset', 'account-exists')`
    )[0]?.n;

  it('go unsent: the deletion removes them in its transaction; another address keeps its own', async () => {
    const leaving = await signUpAndConfirm();
    const staying = await signUpAndConfirm();
    // The production app kicks no relay: what it queues waits (as while the provider is down).
    const app = productionApp(sys);
    const post = (path: string, body: unknown) =>
      app.request(path, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
    expect((await post('/auth/password-reset', { email: leaving })).status).toBe(202);
    expect((await post('/auth/signup', { email: leaving, password: PASSWORD, name: 'Again' })).status).toBe(
      202,
    );
    expect((await post('/auth/password-reset', { email: staying })).status).toBe(202);
    expect(await queuedTo(leaving)).toEqual(['password_reset', 'account_exists'].sort());
    expect(await queuedTo(staying)).toEqual(['password_reset']);

    await deleteProfile(leaving);
    expect(await queuedTo(leaving)).toEqual([]);
    expect(await queuedTo(staying)).toEqual(['password_reset']);
    // The relay runs: the other address gets its reset; none went to the deleted profile.
    expect((await mailsTo(staying)).at(-1)?.template).toBe('password-reset');
    expect(await redactedAccountMail()).toBe(0);
  });

  it('a relay sending them while the deletion runs: nothing is left queued, and nothing sent keeps the address', async () => {
    const leaving = await signUpAndConfirm();
    const app = productionApp(sys);
    // Five requests: the most one email may ask for in an hour (A6).
    for (let i = 0; i < 5; i++) {
      const res = await app.request('/auth/password-reset', {
        method: 'POST',
        body: JSON.stringify({ email: leaving }),
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status).toBe(202);
    }
    expect((await queuedTo(leaving)).length).toBeGreaterThan(0);
    await Promise.all([deleteProfile(leaving), sys.accountMail.handOver(), sys.accountMail.handOver()]);
    await sys.accountMail.handOver();
    expect(await queuedTo(leaving)).toEqual([]);
    const [kept] = await sys.sql`select count(*)::int as n from sent_emails where to_address = ${leaving}`;
    expect(kept?.n).toBe(0);
  });
});
