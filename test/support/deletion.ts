import { randomUUID } from 'node:crypto';
import { expect, vi } from 'vitest';
import { addMember, createSite } from './fixtures';
import { TEST_BASE_URL, type TestSystem } from './system';

/** A person with a unique name and email, member (with access) of `siteCount` sites of other owners. */
export async function personInSites(sys: TestSystem, siteCount: number) {
  const tag = randomUUID().slice(0, 8);
  const name = `Ada Deletable ${tag}`;
  const person = await sys.signIn({ email: `ada-${tag}@example.test`, name });
  const sites = [];
  for (let i = 0; i < siteCount; i++) {
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id);
    await addMember(sys, site.id, person.id);
    sites.push({ ...site, owner });
  }
  return { person: { ...person, name }, sites };
}

export async function fileDeletion(sys: TestSystem, supportToken: string, email: string) {
  const res = await sys.request('POST', '/support/profile-deletions', {
    token: supportToken,
    body: { email },
  });
  expect(res.status).toBe(202);
  return (await res.json()) as {
    id: string;
    status: string;
    blockingSites: { siteId: string; name: string }[];
  };
}

/** The token in the consent email of `kind` for (request, site), once it has been sent. */
export async function consentToken(
  sys: TestSystem,
  requestId: string,
  siteId: string,
  kind: 'request' | 'reminder' = 'request',
): Promise<string> {
  const key = `deletion-consent-${kind}:${requestId}:${siteId}`;
  return vi.waitFor(
    async () => {
      const mail = (await sys.mailbox()).find((m) => m.idempotencyKey === key);
      const match = mail && new RegExp(`${TEST_BASE_URL}/consents/([A-Za-z0-9_-]{43})`).exec(mail.text);
      if (!match?.[1]) throw new Error(`no ${kind} email for ${siteId} yet`);
      return match[1];
    },
    { timeout: 15_000, interval: 100 },
  );
}

export function answer(sys: TestSystem, token: string, decision: 'approve' | 'deny') {
  return sys.request('POST', `/consents/${token}`, {
    body: `decision=${decision}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
}

export async function deletionStatus(sys: TestSystem, supportToken: string, id: string) {
  const res = await sys.request('GET', `/support/profile-deletions/${id}`, { token: supportToken });
  expect(res.status).toBe(200);
  return (await res.json()) as {
    id: string;
    status: string;
    sites: { siteId: string; decision: string }[];
    blockingSiteIds: string[];
    blockingSites: { siteId: string; name: string }[];
    consentDeadline: string;
    deadlineAt: string;
    finishedAt: string | null;
  };
}
