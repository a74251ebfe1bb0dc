import { MockActivityEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProfileDeletionActivities } from '../../activities/profile-deletion';
import { profiles } from '../../db/schema';
import { createMailer } from '../../emails/mailer';
import { createTestDatabase } from '../support/database';
import { approvedRequest } from '../support/deletion-rows';

/**
 * D7 on mail kept for others: a name the plain text wrote with its spaces collapsed, and a name too
 * long for the preview line, leave nothing of the person behind.
 */

let database: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

describe('the deletion redacts a person from mail kept for others', () => {
  it('a name with two spaces and past the preview’s 150 characters: nothing of it stays', async () => {
    const { person, requestId } = await approvedRequest(database.db, 1);
    const name = `Adam  Doublespace ${'Longname'.repeat(20)}`;
    await database.db.update(profiles).set({ name }).where(eq(profiles.id, person.id));
    const mailer = createMailer({ db: database.db, from: 'KS Cloud <test@ks.test>' });
    await mailer.send({
      to: 'friend@example.test',
      template: 'invitation',
      props: {
        siteName: 'Head office',
        role: 'user',
        inviterName: name,
        acceptUrl: 'https://ks.example/invitations/x',
        expiresAt: '2030-01-01T00:00:00.000Z',
      },
      idempotencyKey: `invitation:${requestId}`,
    });

    const activities = createProfileDeletionActivities({
      db: database.db,
      mailer,
      publicBaseUrl: 'https://ks.example',
      supportEmail: 'support@ks.test',
    });
    expect(await new MockActivityEnvironment().run(activities.deleteProfile, { requestId })).toEqual({
      kind: 'deleted',
    });

    const [kept] = await database.sql`select subject, html, text from sent_emails
      where to_address = 'friend@example.test'`;
    expect(kept!.text).toContain('deleted-profile invited you to the site Head office');
    expect(JSON.stringify(kept)).not.toMatch(/Doublespace|Longname/);
  });
});
