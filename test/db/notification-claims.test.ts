import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { eq } from 'drizzle-orm';
import { Resend } from 'resend';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createNotificationActivities,
  type SendEventNotificationInput,
} from '../../activities/notifications';
import { recordEvent } from '../../db/queries/events';
import { notifiedEvents, sentEmails, sites } from '../../db/schema';
import { notificationEmailKey } from '../../domain/notification-emails';
import { createMailer, EmailDeliveryError } from '../../emails/mailer';
import { createTestDatabase } from '../support/database';
import { newSite } from '../support/deletion-rows';
import { startResendEndpoint } from '../support/resend-endpoint';

/**
 * K6, N3 at the email activity: each event is told of by one email. The activity claims the events it
 * emails in the transaction that queues the email and sends it after the commit, so a retry (same
 * input) sends that email and no other email tells of those events again.
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

const send = (input: SendEventNotificationInput) => {
  const activities = createNotificationActivities({
    db: database.db,
    mailer: createMailer({ db: database.db, from: 'KS Cloud <test@ks.test>', resend: new Resend('re_test') }),
  });
  // Its lines (ids and counts, the failed attempt this file makes) stay out of the test output.
  return new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run(
    activities.sendEventNotification,
    input,
  );
};

/** A site whose owner chose tamper alarms, and a function that records one. */
async function tamperSite() {
  const { siteId } = await newSite(database.db);
  await database.db
    .update(sites)
    .set({ notifyEventTypes: ['tamper'] })
    .where(eq(sites.id, siteId));
  const tamper = async () => {
    const id = randomUUID();
    await recordEvent(database.db, { id, siteId, type: 'lock.tamper', actorKind: 'device' });
    return id;
  };
  return { siteId, tamper };
}

/** What the provider was asked to send, in order. */
const asked = () => endpoint.seen.map((r) => ({ key: r.idempotencyKey, subject: r.body.subject }));

describe('the owner notification activity', () => {
  it('retried after the provider failed, sends its digest once; no later email tells of its events again', async () => {
    const { siteId, tamper } = await tamperSite();
    const [e1, e2] = [await tamper(), await tamper()];
    const digest = { siteId, eventIds: [e1, e2], digest: true, overflow: 0 };
    const key = notificationEmailKey({ kind: 'digest', eventIds: [e1, e2] });
    endpoint.answers = [
      { status: 500, body: { statusCode: 500, name: 'application_error', message: 'down' } },
    ];
    await expect(send(digest)).rejects.toBeInstanceOf(EmailDeliveryError);
    // The claims committed with the queued email: the retry finds them and sends that email.
    expect(await send(digest)).toEqual({ sent: true, events: 2 });
    expect(await send(digest)).toEqual({ sent: true, events: 2 });
    const told = { key, subject: 'Site: 2 events you asked to be told of' };
    expect(asked()).toEqual([told, told]);
    expect(
      await database.db
        .select({ status: sentEmails.status })
        .from(sentEmails)
        .where(eq(sentEmails.idempotencyKey, key)),
    ).toEqual([{ status: 'sent' }]);

    // Handed over again: a new run's first email, a later digest with a new alarm.
    expect(await send({ siteId, eventIds: [e1], digest: false, overflow: 0 })).toEqual({
      sent: false,
      events: 0,
    });
    const e3 = await tamper();
    expect(await send({ siteId, eventIds: [e2, e3], digest: true, overflow: 0 })).toEqual({
      sent: true,
      events: 1,
    });
    expect(asked().slice(2)).toEqual([
      {
        key: notificationEmailKey({ kind: 'digest', eventIds: [e2, e3] }),
        subject: 'Site: 1 event you asked to be told of',
      },
    ]);
    expect(
      (await database.db.select().from(notifiedEvents).where(eq(notifiedEvents.eventId, e3))).map(
        (c) => c.emailKey,
      ),
    ).toEqual([notificationEmailKey({ kind: 'digest', eventIds: [e2, e3] })]);
  });
});
