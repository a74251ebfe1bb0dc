import { MockActivityEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProfileDeletionActivities } from '../../activities/profile-deletion';
import { sentEmails } from '../../db/schema';
import { consentEmailKey, outcomeEmailKey } from '../../domain/profile-deletion';
import { createMailer } from '../../emails/mailer';
import { createTestDatabase } from '../support/database';
import { pendingRequest } from '../support/deletion-rows';

/**
 * The links of the deletion's emails when PUBLIC_BASE_URL ends in "/" (as a URL's origin is often
 * written): one slash before the path, as every other email's links have.
 */

let database: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

const activities = () =>
  createProfileDeletionActivities({
    db: database.db,
    mailer: createMailer({ db: database.db, from: 'KS Cloud <test@ks.test>' }),
    publicBaseUrl: 'https://cloud.example.test/',
    supportEmail: 'support@ks.test',
  });

const textOf = async (key: string) => {
  const [row] = await database.db
    .select({ text: sentEmails.text })
    .from(sentEmails)
    .where(eq(sentEmails.idempotencyKey, key));
  return row?.text ?? '';
};

describe('deletion email links under a base URL that ends in "/"', () => {
  it('the consent link and the support link have one slash before their path', async () => {
    const { requestId, siteIds } = await pendingRequest(database.db, 1);
    const siteId = siteIds[0]!;
    const env = new MockActivityEnvironment();
    const sent = await env.run(activities().sendConsentLink, {
      requestId,
      siteId,
      kind: 'request' as const,
      tokenExpiresAtMs: Date.now() + 3_600_000,
    });
    expect(sent).toEqual({ sent: true });
    const consent = await textOf(consentEmailKey('request', requestId, siteId));
    expect(consent).toMatch(/https:\/\/cloud\.example\.test\/consents\/[A-Za-z0-9_-]{43}/);
    expect(consent).not.toContain('test//');

    await env.run(activities().notifySupport, { requestId, outcome: 'denied' as const, siteIds });
    const support = await textOf(outcomeEmailKey(requestId));
    expect(support).toContain(`https://cloud.example.test/support/profile-deletions/${requestId}`);
    expect(support).not.toContain('test//');
  });
});
