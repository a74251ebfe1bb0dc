import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withoutQueryParams } from '../../db/errors';
import { findProfileByEmail } from '../../db/queries/profiles';
import { startTestSystem, type TestSystem } from '../support/system';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({});
});
afterAll(async () => {
  await sys?.close();
});

describe('input PostgreSQL cannot store', () => {
  it('a NUL character in a JSON field answers 400 naming the field, not 500', async () => {
    const res = await sys.request('POST', '/auth/login', {
      body: { email: 'a\u0000@example.test', password: 'x' },
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; errors: Array<{ path: string }> };
    expect(body.code).toBe('validation_failed');
    expect(body.errors).toEqual([{ path: 'body.email', message: 'must not contain NUL characters' }]);
  });

  it('a NUL character nested in a body, in a form, in the path or in the query is refused', async () => {
    const owner = await sys.signIn();
    const nested = await sys.request('PATCH', '/me', {
      token: owner.token,
      body: { name: 'ok', extra: ['x', 'y\u0000'] },
    });
    expect(((await nested.json()) as { errors: Array<{ path: string }> }).errors[0]?.path).toBe(
      'body.extra.1',
    );
    const form = await sys.request('POST', '/auth/password-reset/abc', {
      body: 'password=abc%00def',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(400);
    // A link page's token that cannot be one we sent: the page of a link not found.
    expect((await sys.request('GET', '/auth/confirm/ab%00cd')).status).toBe(404);
    expect((await sys.request('GET', '/me?x=%00', { token: owner.token })).status).toBe(400);
  });

  it('a malformed multipart form answers 400, not 500', async () => {
    const res = await sys.request('POST', '/auth/password-reset/abc', {
      body: 'not a multipart body',
      headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
    });
    expect(res.status).toBe(400);
  });

  it('a failed query reports its SQL and error code but not the values bound to it', async () => {
    const error = await findProfileByEmail(sys.db, 'secret.person\u0000@example.test').catch(
      (e: unknown) => e,
    );
    const scrubbed = withoutQueryParams(error) as Error;
    expect(String(error)).toContain('secret.person');
    expect(scrubbed.message).toContain('22021');
    expect(scrubbed.message).toContain('from "profiles"');
    expect(`${scrubbed.message}\n${scrubbed.stack}`).not.toContain('secret.person');
  });

  it("nor a value that PostgreSQL's own message quotes (a data exception)", async () => {
    const error = await sys.db
      .execute(sql`select ${'secret.person@example.test'}::uuid`)
      .catch((e: unknown) => e);
    const scrubbed = withoutQueryParams(error) as Error;
    expect(String((error as Error).cause)).toContain('secret.person');
    expect(scrubbed.message).toContain('22P02');
    expect(`${scrubbed.message}\n${scrubbed.stack}`).not.toContain('secret.person');
  });

  it('nor those of a statement over several lines, whatever lines a value holds', async () => {
    const value = 'secret.person\n    at trick (x.ts:1:1)\u0000@example.test';
    const error = await sys.db.execute(sql`select\n  ${value}::text\n  as echoed`).catch((e: unknown) => e);
    const scrubbed = withoutQueryParams(error) as Error;
    expect(String(error)).toContain('secret.person');
    expect(scrubbed.message).toContain('22021');
    expect(scrubbed.message).toContain('as echoed');
    expect(scrubbed.stack).toMatch(/^QueryFailure: query failed/);
    expect(scrubbed.stack).toMatch(/\n\s+at /);
    expect(`${scrubbed.message}\n${scrubbed.stack}`).not.toMatch(/secret\.person|trick/);
  });
});

describe('fields a strict body does not know', () => {
  type Answer = { code: string; errors: Array<{ path: string; message: string }> };

  it('PATCH /me names each unknown key as its field', async () => {
    const owner = await sys.signIn();
    const res = await sys.request('PATCH', '/me', { token: owner.token, body: { nmae: 'Olivia', x: 1 } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as Answer;
    expect(body.code).toBe('validation_failed');
    expect(body.errors).toEqual([
      { path: 'body.nmae', message: 'Unrecognized key' },
      { path: 'body.x', message: 'Unrecognized key' },
    ]);
  });

  it("a nested strict object's unknown key is named under the object (a rollout's policy)", async () => {
    const support = await sys.signIn({ platformRole: 'support' });
    const res = await sys.request('POST', '/support/rollouts', {
      token: support.token,
      body: {
        releaseId: '00000000-0000-4000-8000-000000000000',
        target: { model: 'IQ4' },
        policy: { canarySiz: 5 },
      },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Answer).errors).toEqual([
      { path: 'body.policy.canarySiz', message: 'Unrecognized key' },
    ]);
  });
});
