import { eq } from 'drizzle-orm';
import { expect } from 'vitest';
import { iqs } from '../../db/schema';
import { addIq, createSite, voucher } from './fixtures';
import { TEST_BASE_URL, type TestSystem } from './system';

export async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

/** Asserts a problem+json answer with that status and code. */
export async function expectProblem(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = await json<{ code: string; errors?: Array<{ path: string }> }>(res);
  expect(body.code).toBe(code);
  return body;
}

/** Redeems a fresh voucher through the API so the site has an active term with these limits. */
export async function activate(sys: TestSystem, token: string, siteId: string, usersLimit = 10) {
  const v = await voucher(sys, { usersLimit, iqsLimit: 5 });
  const res = await sys.request('POST', `/sites/${siteId}/subscription/redemptions`, {
    token,
    body: { code: v.code },
  });
  expect(res.status).toBe(200);
}

/** A new owner with a site of their own, active (a redeemed term with `usersLimit` users). */
export async function activeSite(sys: TestSystem, usersLimit = 10) {
  const owner = await sys.signIn();
  const site = await createSite(sys, owner.id);
  await activate(sys, owner.token, site.id, usersLimit);
  return { owner, site };
}

/** An IQ of the site, subscribed unless told otherwise. */
export async function subscribedIq(sys: TestSystem, siteId: string, subscribed = true) {
  const { iq } = await addIq(sys, siteId);
  await sys.db.update(iqs).set({ subscribed }).where(eq(iqs.id, iq.id));
  return iq;
}

/** The path of the newest link under `pathPrefix` in the plain-text emails to `email`. */
export async function linkIn(sys: TestSystem, email: string, pathPrefix: string): Promise<string> {
  const mails = (await sys.mailbox()).filter((m) => m.to === email.toLowerCase());
  const text = mails.at(-1)?.text ?? '';
  const match = new RegExp(`${TEST_BASE_URL}(${pathPrefix}[A-Za-z0-9_-]+)`).exec(text);
  if (!match?.[1]) throw new Error(`no ${pathPrefix} link in ${JSON.stringify(text)}`);
  return match[1];
}

export const form = (fields: Record<string, string>) => ({
  body: new URLSearchParams(fields).toString(),
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
});
