import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from '../support/system';

/**
 * The email-link pages answer what they cannot read with a page, as a browser needs it: a token that
 * cannot be one we sent is a 404 page, a form's bad field a 400 page. The JSON endpoint that shares a
 * path with the reset form keeps its problem answers (API.md).
 */
let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({});
});
afterAll(async () => {
  await sys?.close();
});

const LINK_PAGES = ['/invitations/', '/auth/confirm/', '/auth/password-reset/', '/consents/'];
const BAD_TOKENS = { 'over 256 characters': 'a'.repeat(300), NUL: 'ab%00cd', 'invalid UTF-8': 'ab%FFcd' };
const WELL_FORMED = 'A'.repeat(43);
const form = (body: string) => ({
  body,
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
});

async function expectPage(res: Response, status: number, says: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  expect(await res.text()).toContain(says);
}

describe('email-link pages refuse with pages', () => {
  for (const [what, token] of Object.entries(BAD_TOKENS)) {
    it(`a token ${what}: GET of every link page, and its form's POST, answer the 404 page`, async () => {
      for (const path of LINK_PAGES) {
        await expectPage(await sys.request('GET', path + token), 404, 'This is not a valid link.');
      }
      await expectPage(await sys.request('POST', `/auth/confirm/${token}`), 404, 'not a valid link');
      await expectPage(
        await sys.request('POST', `/auth/password-reset/${token}`, form('password=long+enough+password')),
        404,
        'not a valid link',
      );
      await expectPage(
        await sys.request('POST', `/invitations/${token}`, form('name=Ann&password=long+enough+password')),
        404,
        'not a valid link',
      );
      await expectPage(
        await sys.request('POST', `/consents/${token}`, form('decision=approve')),
        404,
        'not a valid link',
      );
    });
  }

  it('the reset form with a short password answers a page naming the field', async () => {
    const res = await sys.request('POST', `/auth/password-reset/${WELL_FORMED}`, form('password=short'));
    await expectPage(res, 400, 'password: must be at least 10 characters');
  });

  it('the consent form without a decision answers a page naming it', async () => {
    await expectPage(await sys.request('POST', `/consents/${WELL_FORMED}`, form('')), 400, 'decision');
  });

  it('a form field with NUL answers a page naming it', async () => {
    const res = await sys.request('POST', `/invitations/${WELL_FORMED}`, form('name=A%00n'));
    await expectPage(res, 400, 'name: must not contain NUL characters');
  });

  it('the JSON reset endpoint keeps its problems', async () => {
    for (const [path, body] of [
      [`/auth/password-reset/${BAD_TOKENS['over 256 characters']}`, { password: 'long enough password' }],
      [`/auth/password-reset/${BAD_TOKENS.NUL}`, { password: 'long enough password' }],
      [`/auth/password-reset/${WELL_FORMED}`, { password: 'short' }],
    ] as const) {
      const res = await sys.request('POST', path, { body });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(await res.json()).toMatchObject({ code: 'validation_failed' });
    }
  });
});
