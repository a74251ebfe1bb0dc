/**
 * D7's goodbye email is written in the deletion's own transaction (activities/profile-deletion.ts
 * deleteProfile): that transaction holds the request's, the sites' and the profile's locks, and the
 * pool's other connections may all be waiting for them, so a write through the pool would wait for a
 * connection that never comes free. Shown with a pool of one connection, the extreme of it: the
 * deletion completes, and the goodbye's record stays, redacted. Before, it never finished.
 */
import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProfileDeletionActivities } from '../../activities/profile-deletion';
import { connectDatabase, type Database } from '../../db/client';
import { fileDeletionRequest, insertConsents } from '../../db/queries/deletions';
import { insertProfile } from '../../db/queries/profiles';
import { deletionConsents, memberships, profiles, sentEmails, sites } from '../../db/schema';
import { goodbyeEmailKey } from '../../domain/profile-deletion';
import { createMailer } from '../../emails/mailer';
import { DELETED_RECIPIENT } from '../../operations/profile-deletion';
import { createTestDatabase } from '../support/database';

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
    const person = await insertProfile(db, {
      email: `${randomUUID()}@example.test`,
      name: 'Leaving Person',
      passwordHash: 'unused',
      emailConfirmedAt: new Date(),
    });
    const [site] = await db.insert(sites).values({ name: 'Site' }).returning({ id: sites.id });
    await db.insert(memberships).values({ siteId: site!.id, profileId: person!.id, role: 'user' });
    const { request } = await fileDeletionRequest(db, person!.id, new Date(Date.now() + 86_400_000));
    await insertConsents(db, request.id, [site!.id]);
    await db
      .update(deletionConsents)
      .set({ decision: 'approved', decidedAt: new Date() })
      .where(eq(deletionConsents.requestId, request.id));

    const activities = createProfileDeletionActivities({
      db: oneConnection.db,
      mailer: createMailer({ db: oneConnection.db, from: 'KS Cloud <test@ks.test>' }),
      publicBaseUrl: 'https://cloud.example.test',
      supportEmail: 'support@ks.test',
    });
    const stuck = new Promise<'stuck'>((r) => setTimeout(() => r('stuck'), 15_000).unref());
    const outcome = await Promise.race([
      new MockActivityEnvironment().run(activities.deleteProfile, { requestId: request.id }),
      stuck,
    ]);

    expect(outcome).toEqual({ kind: 'deleted' });
    expect(await db.select().from(profiles).where(eq(profiles.id, person!.id))).toEqual([]);
    const goodbye = await db
      .select({ to: sentEmails.toAddress, template: sentEmails.template })
      .from(sentEmails)
      .where(eq(sentEmails.idempotencyKey, goodbyeEmailKey(request.id)));
    expect(goodbye).toEqual([{ to: DELETED_RECIPIENT, template: 'profile-deleted' }]);
  }, 30_000);
});
