/**
 * api/auth/read-of-request.ts: which read a request's sign-in statement makes besides the caller, from
 * the declarations in api/auth/reads-with-session.ts.
 */
import { describe, expect, it } from 'vitest';
import { isBoundedRead, signInReadOf } from '../../api/auth/read-of-request';

const SITE = '0b3c6d1e-2f40-4a5b-8c9d-0e1f2a3b4c5d';
const LOCK = 'aa3c6d1e-2f40-4a5b-8c9d-0e1f2a3b4c5d';
const noQuery = () => ({});

describe('the sign-in read of a request (signInReadOf)', () => {
  it("reads a declared route's columns with its path's ids, lower-cased", () => {
    expect(signInReadOf('GET', '/me', noQuery)).toEqual({
      kind: 'declared',
      name: 'me',
      siteId: undefined,
      values: {},
    });
    expect(signInReadOf('GET', `/sites/${SITE.toUpperCase()}/subscription`, noQuery)).toEqual({
      kind: 'declared',
      name: 'subscription',
      siteId: SITE,
      values: { siteId: SITE },
    });
    expect(signInReadOf('POST', `/sites/${SITE}/locks/${LOCK.toUpperCase()}/open`, noQuery)).toEqual({
      kind: 'declared',
      name: 'lockOpen',
      siteId: SITE,
      values: { siteId: SITE, lockId: LOCK },
    });
  });

  it("parses the query with the route's schema: the default page, a cursor's, none for a refused query", () => {
    const events = (query: Record<string, string | string[]>) =>
      signInReadOf('GET', `/sites/${SITE}/events`, () => query);
    expect(events({})).toMatchObject({
      name: 'events',
      values: { siteId: SITE, beforeSeq: null, limit: 50 },
    });
    const cursor = Buffer.from('seq:41').toString('base64url');
    expect(events({ cursor, limit: '7' })).toMatchObject({
      values: { beforeSeq: 41, limit: 7 },
    });
    // The path's site wins over a query key of the same name.
    expect(events({ siteId: LOCK })).toMatchObject({
      values: { siteId: SITE },
    });
    // Refused by the route (400): the site only, no page.
    for (const refused of [{ limit: '0' }, { limit: '201' }, { cursor: 'nope' }, { limit: ['5', '6'] }]) {
      expect(events(refused)).toEqual({ kind: 'site', siteId: SITE });
    }
  });

  it('reads only the query of a declaration that takes one', () => {
    let read = 0;
    signInReadOf('GET', `/sites/${SITE}/people`, () => {
      read++;
      return {};
    });
    expect(read).toBe(0);
  });

  it("reads the path's site for other site paths and methods, the caller alone elsewhere", () => {
    expect(signInReadOf('PUT', `/sites/${SITE}/subscription`, noQuery)).toEqual({
      kind: 'site',
      siteId: SITE,
    });
    expect(signInReadOf('GET', `/sites/${SITE}/locks`, noQuery)).toEqual({
      kind: 'site',
      siteId: SITE,
    });
    expect(signInReadOf('GET', `/sites/${SITE}`, noQuery)).toEqual({
      kind: 'site',
      siteId: SITE,
    });
    expect(signInReadOf('GET', `/sites/${SITE}/events/`, noQuery)).toEqual({
      kind: 'site',
      siteId: SITE,
    });
    expect(signInReadOf('POST', `/sites/${SITE}/locks/not-a-uuid/open`, noQuery)).toEqual({
      kind: 'site',
      siteId: SITE,
    });
    expect(signInReadOf('GET', '/me/', noQuery)).toEqual({ kind: 'caller' });
    expect(signInReadOf('PATCH', '/me', noQuery)).toEqual({ kind: 'caller' });
    expect(signInReadOf('GET', '/sites', noQuery)).toEqual({ kind: 'caller' });
    expect(signInReadOf('GET', '/sites/not-a-uuid/events', noQuery)).toEqual({
      kind: 'caller',
    });
  });

  it('counts as bounded the caller, a site and the declarations of bounded size, not what grows with the data', () => {
    const bounded = (method: string, path: string) => isBoundedRead(signInReadOf(method, path, noQuery));
    expect(bounded('GET', '/sites')).toBe(true);
    expect(bounded('PATCH', '/me')).toBe(true);
    expect(bounded('GET', `/sites/${SITE}`)).toBe(true);
    expect(bounded('GET', `/sites/${SITE}/events`)).toBe(true);
    expect(bounded('POST', `/sites/${SITE}/locks/${LOCK}/open`)).toBe(true);
    // A person's memberships, a site's people, its subscribed members counted.
    expect(bounded('GET', '/me')).toBe(false);
    expect(bounded('GET', `/sites/${SITE}/people`)).toBe(false);
    expect(bounded('GET', `/sites/${SITE}/subscription`)).toBe(false);
  });
});
