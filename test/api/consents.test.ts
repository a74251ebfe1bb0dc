import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setConsentToken } from '../../db/queries/deletions';
import { newToken } from '../../domain/secrets';
import { answer, consentToken, fileDeletion, personInSites } from '../support/deletion';
import { addMember } from '../support/fixtures';
import { startTestSystem, type TestSystem } from '../support/system';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({});
});
afterAll(async () => {
  await sys?.close();
});

/** Everything a consent link could change. */
async function snapshot(requestId: string) {
  const consents =
    await sys.sql`select * from deletion_consents where request_id = ${requestId} order by site_id`;
  const requests = await sys.sql`select * from deletion_requests where id = ${requestId}`;
  return JSON.stringify({ consents, requests });
}

function expectLinkPage(res: Response) {
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  expect(res.headers.get('content-security-policy')).toMatch(/(^|;\s*)default-src 'none'/);
}

async function openRequest(siteCount = 2) {
  const support = await sys.signIn({ platformRole: 'support' });
  const { person, sites } = await personInSites(sys, siteCount);
  const request = await fileDeletion(sys, support.token, person.email);
  const tokens = await Promise.all(sites.map((s) => consentToken(sys, request.id, s.id)));
  return { person, sites, request, tokens };
}

describe('consent pages', () => {
  it('GET names the person (name, masked email) and the site with Approve and Deny; GET and HEAD change nothing', async () => {
    const { person, sites, request, tokens } = await openRequest();
    const before = await snapshot(request.id);
    const res = await sys.request('GET', `/consents/${tokens[0]}`);
    expect(res.status).toBe(200);
    expectLinkPage(res);
    const body = await res.text();
    expect(body).toContain(person.name);
    expect(body).toContain(sites[0]!.name);
    expect(body).not.toContain(person.email);
    // Two people can share a name: the masked address tells them apart.
    expect(body).toContain(`${person.email[0]}•••@${person.email.split('@')[1]}`);
    expect(body).toMatch(/<form method="post"[ >]/);
    expect(body).toMatch(/name="decision" value="approve"/);
    expect(body).toMatch(/name="decision" value="deny"/);
    const head = await sys.request('HEAD', `/consents/${tokens[0]}`);
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await sys.request('GET', `/consents/${tokens[0]}`)).status).toBe(200);
    expect(await snapshot(request.id)).toBe(before);
  });

  it('the consent email names neither the person nor their address', async () => {
    const { person, request, sites } = await openRequest(1);
    const mail = (await sys.mailbox()).find(
      (m) => m.idempotencyKey === `deletion-consent-request:${request.id}:${sites[0]!.id}`,
    );
    expect(mail?.to).toBe(sites[0]!.owner.email);
    for (const part of [mail?.subject, mail?.html, mail?.text]) {
      expect(part).not.toContain(person.name);
      expect(part).not.toContain(person.email);
    }
  });

  it('an ownership transfer: the former owner’s link dies, the new owner is sent one that records the answer', async () => {
    const { request, sites, tokens } = await openRequest(1);
    const site = sites[0]!;
    const admin = await sys.signIn();
    await addMember(sys, site.id, admin.id, { role: 'admin' });
    const transferred = await sys.request('POST', `/sites/${site.id}/ownership`, {
      token: site.owner.token,
      body: { profileId: admin.id },
    });
    expect(transferred.status).toBe(200);
    expect((await sys.request('GET', `/consents/${tokens[0]}`)).status).toBe(410);
    expect((await answer(sys, tokens[0]!, 'approve')).status).toBe(410);
    const mail = (await sys.mailbox()).find(
      (m) => m.to === admin.email && m.template === 'deletion-consent-request',
    );
    const link = mail?.text.match(/\/consents\/([A-Za-z0-9_-]+)/)?.[1];
    expect(link).toBeDefined();
    expect((await answer(sys, link!, 'deny')).status).toBe(200);
    const [row] = await sys.sql`select decision from deletion_consents
      where request_id = ${request.id} and site_id = ${site.id}`;
    expect(row?.decision).toBe('denied');
  });

  it('an ownership transfer to the person whose deletion it is sends them no link, and no link works for them; the next owner is asked (D6)', async () => {
    const { person, request, sites, tokens } = await openRequest(2);
    const site = sites[0]!;
    await sys.sql`update memberships set role = 'admin' where site_id = ${site.id} and profile_id = ${person.id}`;
    const toPerson = await sys.request('POST', `/sites/${site.id}/ownership`, {
      token: site.owner.token,
      body: { profileId: person.id },
    });
    expect(toPerson.status).toBe(200);
    expect((await answer(sys, tokens[0]!, 'approve')).status).toBe(410);
    const consentMail = async (to: string) =>
      (await sys.mailbox()).filter((m) => m.to === to && m.template.startsWith('deletion-consent'));
    expect(await consentMail(person.email)).toEqual([]);
    // A link they hold while they own the site (as one sent before this rule) answers nothing.
    const held = newToken();
    await setConsentToken(sys.db, {
      requestId: request.id,
      siteId: site.id,
      tokenHash: held.hash,
      expiresAt: new Date(Date.now() + 86_400_000),
      reminded: false,
      now: new Date(),
    });
    expect((await sys.request('GET', `/consents/${held.token}`)).status).toBe(410);
    expect((await answer(sys, held.token, 'approve')).status).toBe(410);

    const admin = await sys.signIn();
    await addMember(sys, site.id, admin.id, { role: 'admin' });
    const onward = await sys.request('POST', `/sites/${site.id}/ownership`, {
      token: person.token,
      body: { profileId: admin.id },
    });
    expect(onward.status).toBe(200);
    const [mail] = await consentMail(admin.email);
    const link = mail?.text.match(/\/consents\/([A-Za-z0-9_-]+)/)?.[1];
    expect(link).toBeDefined();
    expect((await answer(sys, link!, 'approve')).status).toBe(200);
    const [row] = await sys.sql`select decision from deletion_consents
      where request_id = ${request.id} and site_id = ${site.id}`;
    expect(row?.decision).toBe('approved');
  });

  it('POST records the decision once; a second POST answers 410 and changes nothing', async () => {
    const { request, sites, tokens } = await openRequest();
    const first = await answer(sys, tokens[0]!, 'approve');
    expect(first.status).toBe(200);
    expectLinkPage(first);
    const [row] = await sys.sql`select decision, token_used_at from deletion_consents
      where request_id = ${request.id} and site_id = ${sites[0]!.id}`;
    expect(row?.decision).toBe('approved');
    expect(row?.token_used_at).not.toBeNull();

    const before = await snapshot(request.id);
    const second = await answer(sys, tokens[0]!, 'deny');
    expect(second.status).toBe(410);
    expectLinkPage(second);
    expect((await sys.request('GET', `/consents/${tokens[0]}`)).status).toBe(410);
    expect(await snapshot(request.id)).toBe(before);
  });

  it('a forged token answers 410, a truncated one 404, and neither changes anything', async () => {
    const { request, tokens } = await openRequest();
    const before = await snapshot(request.id);
    const forged = randomBytes(32).toString('base64url');
    const truncated = tokens[0]!.slice(0, -1);
    for (const [token, status] of [
      [forged, 410],
      [truncated, 404],
      ['x'.repeat(300), 404],
    ] as const) {
      const get = await sys.request('GET', `/consents/${token}`);
      expect(get.status).toBe(status);
      expectLinkPage(get);
      expect((await answer(sys, token, 'approve')).status).toBe(status);
    }
    expect(await snapshot(request.id)).toBe(before);
  });

  it('a bad decision answers a 400 page naming the field; JSON answers 415; nothing changes', async () => {
    const { request, tokens } = await openRequest();
    const before = await snapshot(request.id);
    const bad = await sys.request('POST', `/consents/${tokens[0]}`, {
      body: 'decision=maybe',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await bad.text()).toContain('decision: ');
    const json = await sys.request('POST', `/consents/${tokens[0]}`, { body: { decision: 'approve' } });
    expect(json.status).toBe(415);
    expect(await snapshot(request.id)).toBe(before);
  });
});
