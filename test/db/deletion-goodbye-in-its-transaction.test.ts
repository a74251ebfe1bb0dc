import { MockActivityEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProfileDeletionActivities } from '../../activities/profile-deletion';
import { connectDatabase, type Database } from '../../db/client';
import { profiles, sentEmails } from '../../db/schema';
import { goodbyeEmailKey } from '../../domain/profile-deletion';
import { createMailer } from '../../emails/mailer';
import { DELETED_RECIPIENT } from '../../operations/profile-deletion';
import { createTestDatabase } from '../support/database';
import { approvedRequest } from '../support/deletion-rows';

let database: Database & { url: string };
let oneConnection: Database;

beforeAll(async () => {
  database = await createTestDatabase();
  oneConnection = connectDatabase(database.url, { max: 1 });
});
afterAll(async () => {
  await oneConnection?.close();
  await database?.close();
});

describe('the goodbye email and the deletion', () => {
  it('complete on a pool of one connection: the goodbye is written in the deletion’s transaction', async () => {
    const { db } = database;
    const { person, requestId } = await approvedRequest(db, 1);

    const activities = createProfileDeletionActivities({
      db: oneConnection.db,
      mailer: createMailer({ db: oneConnection.db, from: 'KS Cloud <test@ks.test>' }),
      publicBaseUrl: 'https://cloud.example.test',
      supportEmail: 'support@ks.test',
    });
    const stuck = new Promise<'stuck'>((r) => setTimeout(() => r('stuck'), 15_000).unref());
    const outcome = await Promise.race([
      new MockActivityEnvironment().run(activities.deleteProfile, { requestId }),
      stuck,
    ]);

    expect(outcome).toEqual({ kind: 'deleted' });
    expect(await db.select().from(profiles).where(eq(profiles.id, person.id))).toEqual([]);
    const goodbye = await db
      .select({ to: sentEmails.toAddress, template: sentEmails.template })
      .from(sentEmails)
      .where(eq(sentEmails.idempotencyKey, goodbyeEmailKey(requestId)));
    expect(goodbye).toEqual([{ to: DELETED_RECIPIENT, template: 'profile-deleted' }]);
  }, 30_000);
});
