import { MockActivityEnvironment } from '@temporalio/testing';
import { eq, sql } from 'drizzle-orm';
import { Resend } from 'resend';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createProfileDeletionActivities } from '../../activities/profile-deletion';
import { lockSite } from '../../db/queries/subscriptions';
import { profiles, sentEmails } from '../../db/schema';
import { goodbyeEmailKey } from '../../domain/profile-deletion';
import { createMailer, EmailDeliveryError } from '../../emails/mailer';
import { DELETED_RECIPIENT } from '../../operations/profile-deletion';
import { createTestDatabase } from '../support/database';
import { approvedRequest } from '../support/deletion-rows';
import { startResendEndpoint } from '../support/resend-endpoint';

/**
 * D7 with an email provider: the goodbye is queued in the deletion's transaction and sent once it has
 * committed, so the provider is never waited for under the deletion's locks (the person's sites, their
 * profile's row), and a provider that fails leaves the deletion standing.
 */

let endpoint: Awaited<ReturnType<typeof startResendEndpoint>>;
let database: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  endpoint = await startResendEndpoint();
  database = await createTestDatabase();
});
afterAll(async () => {
  await endpoint?.close();
  await database?.close();
});
beforeEach(() => endpoint.reset());

/** Each goodbye request's key and recipient, in order. */
const seen = () => endpoint.seen.map((r) => ({ key: r.idempotencyKey, to: [r.body.to].flat()[0] }));

const deleteProfile = (requestId: string) => {
  const activities = createProfileDeletionActivities({
    db: database.db,
    mailer: createMailer({ db: database.db, from: 'KS Cloud <test@ks.test>', resend: new Resend('re_test') }),
    publicBaseUrl: 'https://cloud.example.test',
    supportEmail: 'support@ks.test',
  });
  return new MockActivityEnvironment().run(activities.deleteProfile, { requestId });
};

const profileRows = (id: string) => database.db.select().from(profiles).where(eq(profiles.id, id));
const goodbyeRows = (requestId: string) =>
  database.db
    .select({ to: sentEmails.toAddress, status: sentEmails.status, text: sentEmails.text })
    .from(sentEmails)
    .where(eq(sentEmails.idempotencyKey, goodbyeEmailKey(requestId)));

describe('the goodbye email goes out after the deletion commits', () => {
  it('while the provider holds it, the profile is gone and the sites it left take changes', async () => {
    const { person, requestId, siteIds } = await approvedRequest(database.db, 2);
    let release!: () => void;
    endpoint.answers = [
      { status: 200, body: { id: 'msg_held' }, held: new Promise<void>((r) => (release = r)) },
    ];
    const inProvider = new Promise<void>((r) => (endpoint.onRequest = r));

    const deletion = deleteProfile(requestId);
    await inProvider;
    expect(seen()).toEqual([{ key: goodbyeEmailKey(requestId), to: person.email }]);
    // Committed before the provider was asked.
    expect(await profileRows(person.id)).toEqual([]);
    // A change at a site it left takes the site's lock at once (the deletion's transaction held it).
    for (const siteId of siteIds) {
      await database.db.transaction(async (tx) => {
        await tx.execute(sql`set local lock_timeout = '2s'`);
        expect(await lockSite(tx, siteId)).toMatchObject({ id: siteId });
      });
    }
    // Until it is sent, the goodbye's own row is the one place its address stays.
    expect(await goodbyeRows(requestId)).toMatchObject([
      { to: person.email.toLowerCase(), status: 'pending' },
    ]);

    release();
    expect(await deletion).toEqual({ kind: 'deleted' });
    expect(await goodbyeRows(requestId)).toMatchObject([{ to: DELETED_RECIPIENT, status: 'sent' }]);
    const [row] = await goodbyeRows(requestId);
    expect(row!.text).not.toContain('Leaving Person');
    expect(seen()).toHaveLength(1);
  });

  it('a provider that fails leaves the deletion standing; the activity’s retry sends the goodbye once', async () => {
    const { person, requestId } = await approvedRequest(database.db, 1);
    endpoint.answers = [
      { status: 500, body: { statusCode: 500, name: 'application_error', message: 'down' } },
    ];
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const failed = await deleteProfile(requestId).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(EmailDeliveryError);
      expect(failed).toMatchObject({ retryable: true });
    } finally {
      quiet.mockRestore();
    }
    expect(await profileRows(person.id)).toEqual([]);

    // The retry: the request is completed, and its goodbye goes out under the same key.
    expect(await deleteProfile(requestId)).toEqual({ kind: 'not_open', status: 'completed' });
    expect(seen().map((s) => s.key)).toEqual([goodbyeEmailKey(requestId), goodbyeEmailKey(requestId)]);
    expect(await goodbyeRows(requestId)).toMatchObject([{ to: DELETED_RECIPIENT, status: 'sent' }]);
    // Once sent, a further retry sends nothing.
    expect(await deleteProfile(requestId)).toEqual({ kind: 'not_open', status: 'completed' });
    expect(seen()).toHaveLength(2);
  });

  it('a goodbye whose content the provider refuses ends the deletion with nothing of the person kept', async () => {
    const { person, requestId } = await approvedRequest(database.db, 1);
    endpoint.answers = [
      { status: 422, body: { statusCode: 422, name: 'validation_error', message: 'Invalid `to`.' } },
    ];
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await deleteProfile(requestId)).toEqual({ kind: 'deleted' });
    } finally {
      quiet.mockRestore();
    }
    expect(await profileRows(person.id)).toEqual([]);
    expect(await goodbyeRows(requestId)).toEqual([]);
    expect(seen()).toHaveLength(1);
  });
});
