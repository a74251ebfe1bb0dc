import { randomBytes, randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../api/app';
import { recordEventForOwner } from '../../db/queries/notification-outbox';
import { events, iqs, locks, memberships, notificationOutbox, sites } from '../../db/schema';
import { hashDeviceSecret } from '../../domain/secrets';
import { createMailer } from '../../emails/mailer';
import { createGatewayClient } from '../../gateway/client';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { freePort } from '../../infra/free-port';
import { createNotificationRelay, type NotificationRelay } from '../../outbox/notification-relay';
import { notificationsWorkflowId } from '../../workflows/ids';
import { rawClient } from '../gateway/helpers';
import { addMember, createSite } from '../support/fixtures';
import { startTestSystem, TEST_BASE_URL, TEST_TOKEN_SECRET, type TestSystem } from '../support/system';

let sys: TestSystem;
let gateway: RunningGateway;
let relay: NotificationRelay;

beforeAll(async () => {
  sys = await startTestSystem({});
  relay = createNotificationRelay({ db: sys.db, temporal: sys.temporal, taskQueue: sys.taskQueue });
  gateway = await startGateway({
    db: sys.db,
    sql: sys.sql,
    ports: [0],
    instanceId: 'gw-notify-test',
    heartbeatSeconds: 5,
    host: '127.0.0.1',
    onNotificationQueued: () => void relay.handOver(),
  });
});
afterAll(async () => {
  await gateway?.stop();
  await relay?.stop();
  await sys?.close();
});

/** A released, subscribed site with its owner and an admin (who must never get these emails). */
async function siteWithOwnerAndAdmin(chosen: string[]) {
  const owner = await sys.signIn();
  const admin = await sys.signIn();
  const site = await createSite(sys, owner.id, { timezone: 'Europe/Berlin' });
  await sys.db.update(sites).set({ subscriptionStatus: 'active' }).where(eqId(site.id));
  await addMember(sys, site.id, admin.id, { role: 'admin' });
  const put = await sys.request('PUT', `/sites/${site.id}/notifications`, {
    token: owner.token,
    body: { eventTypes: chosen },
  });
  expect(put.status).toBe(200);
  const secret = randomBytes(24).toString('base64url');
  const [iq] = await sys.db
    .insert(iqs)
    .values({
      siteId: site.id,
      serial: `IQ-N-${randomUUID()}`,
      model: 'IQ2',
      secretHash: hashDeviceSecret(secret),
      subscribed: true,
    })
    .returning();
  const [lock] = await sys.db
    .insert(locks)
    .values({ siteId: site.id, iqId: iq!.id, name: 'Front door' })
    .returning();
  return { owner, admin, site, iq: { ...iq!, secret }, lock: lock! };
}
const eqId = (id: string) => eq(sites.id, id);

const mailOf = async (siteName: string) =>
  (await sys.mailbox()).filter(
    (m) => m.subject.startsWith(`${siteName}:`) && m.template.startsWith('event-'),
  );

async function workflowExists(siteId: string) {
  try {
    await sys.temporal.workflow.getHandle(notificationsWorkflowId(siteId)).describe();
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}

describe('owner notifications (K6)', () => {
  it('a refused opening the owner chose emails the owner once, never the admin', async () => {
    const { owner, admin, site, lock } = await siteWithOwnerAndAdmin(['lock.open_refused']);
    // The admin holds no access method and is not subscribed: refused before reaching the IQ.
    const res = await sys.request('POST', `/sites/${site.id}/locks/${lock.id}/open`, { token: admin.token });
    expect(res.status).toBe(403);
    await vi.waitFor(async () => expect(await mailOf(site.name)).toHaveLength(1), {
      timeout: 15_000,
      interval: 100,
    });
    const [mail] = await mailOf(site.name);
    expect(mail!.template).toBe('event-notification');
    expect(mail!.to).toBe(owner.email.toLowerCase());
    expect(mail!.subject).toContain('Refused opening');
    expect(mail!.text).toContain('Front door');
    expect(mail!.text).toContain('(Europe/Berlin)');
    expect((await sys.mailbox()).some((m) => m.to === admin.email.toLowerCase())).toBe(false);
    // The window closes with nothing more to say: still one email, and the workflow ends by itself.
    // (default window is 10 minutes: do not wait for it here; the burst test below covers the end.)
  });

  it('an event the owner did not choose sends nothing and starts no workflow', async () => {
    const { admin, site, lock } = await siteWithOwnerAndAdmin(['tamper', 'intrusion']);
    const res = await sys.request('POST', `/sites/${site.id}/locks/${lock.id}/open`, { token: admin.token });
    expect(res.status).toBe(403);
    expect(await workflowExists(site.id)).toBe(false);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await mailOf(site.name)).toEqual([]);
  });

  it('a device event (tamper) reported to the gateway emails the owner', async () => {
    const { owner, site, iq, lock } = await siteWithOwnerAndAdmin(['tamper']);
    const device = await rawClient(gateway.ports[0]!);
    device.write(
      `${JSON.stringify({ type: 'hello', serial: iq.serial, secret: iq.secret, model: 'IQ2', firmware: '1.0.0', accessVersion: 0 })}\n`,
    );
    expect(await device.next()).toMatchObject({ type: 'welcome' });
    // Not chosen: low battery; chosen: tamper.
    device.write(
      `${JSON.stringify({ type: 'event', eventId: 'e1', lockId: lock.id, kind: 'low_battery' })}\n`,
    );
    device.write(`${JSON.stringify({ type: 'event', eventId: 'e2', lockId: lock.id, kind: 'tamper' })}\n`);
    await vi.waitFor(async () => expect(await mailOf(site.name)).toHaveLength(1), {
      timeout: 15_000,
      interval: 100,
    });
    const [mail] = await mailOf(site.name);
    expect(mail).toMatchObject({ template: 'event-notification', to: owner.email.toLowerCase() });
    expect(mail!.subject).toContain('Tamper alarm');
    device.socket.destroy();
  });

  it('50 events in a burst: one email at once, one digest at the window’s end, owner only', async () => {
    const { owner, admin, site, iq, lock } = await siteWithOwnerAndAdmin(['intrusion', 'lock.open_refused']);
    const burstRelay = createNotificationRelay({
      db: sys.db,
      temporal: sys.temporal,
      taskQueue: sys.taskQueue,
      windowSeconds: 3,
    });
    const queued = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        recordEventForOwner(sys.db, {
          id: randomUUID(),
          siteId: site.id,
          type: i % 2 ? 'lock.intrusion' : 'lock.open_refused',
          actorKind: 'device',
          iqId: iq.id,
          lockId: lock.id,
        }),
      ),
    );
    expect(queued.every(Boolean)).toBe(true);
    // Kicks arriving during a hand-over share one more round: all 50 are handed over, none twice.
    const handed = await Promise.all([burstRelay.handOver(), burstRelay.handOver(), burstRelay.handOver()]);
    expect(handed[0]! + handed[1]!).toBe(50);
    expect(await sys.db.select().from(notificationOutbox)).toEqual([]);

    await vi.waitFor(async () => expect((await mailOf(site.name)).length).toBeGreaterThanOrEqual(1), {
      timeout: 15_000,
      interval: 100,
    });
    const handle = sys.temporal.workflow.getHandle(notificationsWorkflowId(site.id));
    await handle.result(); // ends once a window passes with nothing more
    const mail = await mailOf(site.name);
    expect(mail.map((m) => m.template)).toEqual(['event-notification', 'event-digest']);
    expect(mail[1]!.subject).toBe(`${site.name}: 49 events you asked to be told of`);
    expect(mail.every((m) => m.to === owner.email.toLowerCase())).toBe(true);
    expect((await sys.mailbox()).some((m) => m.to === admin.email.toLowerCase())).toBe(false);
    // The memberships did not change along the way (admins stay admins, just not recipients).
    expect(await sys.db.select().from(memberships).where(eq(memberships.siteId, site.id))).toHaveLength(2);

    // What the Web UI shows (O1): the run's summary, and what each timer and activity was for.
    const description = await handle.describe();
    expect(await description.staticSummary()).toBe(`Owner notifications of site ${site.id}`);
    expect(await description.staticDetails()).toMatch(/digest/);
    const summaries = ((await handle.fetchHistory()).events ?? []).flatMap((e) => {
      const payload = e.userMetadata?.summary;
      if (!payload?.data) return [];
      const kind = e.workflowExecutionStartedEventAttributes
        ? 'run'
        : e.timerStartedEventAttributes
          ? 'timer'
          : e.activityTaskScheduledEventAttributes
            ? 'activity'
            : 'other';
      return [`${kind}: ${JSON.parse(Buffer.from(payload.data).toString('utf8'))}`];
    });
    expect(summaries).toEqual([
      `run: Owner notifications of site ${site.id}`,
      'activity: Email one event at once',
      'timer: Rate-limit window: digest at its end',
      'activity: Email the digest of the window',
      'timer: Rate-limit window: digest at its end',
    ]);
  });

  it('Temporal away when a refused opening is recorded: the refusal is answered, the notification stays queued, and a later hand-over delivers it once', async () => {
    const { owner, admin, site, lock } = await siteWithOwnerAndAdmin(['lock.open_refused']);
    // The same API, but its Temporal client points at a port where nothing listens.
    const deadConnection = Connection.lazy({ address: `127.0.0.1:${await freePort()}` });
    const gatewayClient = createGatewayClient({ db: sys.db, sql: sys.sql });
    const deadTemporal = new Client({ connection: deadConnection });
    const deadRelay = createNotificationRelay({
      db: sys.db,
      temporal: deadTemporal,
      taskQueue: sys.taskQueue,
    });
    const appWithoutTemporal = createApp({
      db: sys.db,
      temporal: deadTemporal,
      mailer: createMailer({ db: sys.db, from: 'KS Cloud <test@ks.test>' }),
      gateway: gatewayClient,
      notifications: deadRelay,
      env: {
        KS_MODE: 'development',
        PUBLIC_BASE_URL: TEST_BASE_URL,
        TOKEN_SECRET: TEST_TOKEN_SECRET,
        TEMPORAL_TASK_QUEUE: sys.taskQueue,
      },
      now: () => new Date(),
    });
    try {
      const res = await appWithoutTemporal.request(`/sites/${site.id}/locks/${lock.id}/open`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin.token}` },
      });
      expect(res.status).toBe(403);
      const [event] = await sys.db
        .select()
        .from(events)
        .where(and(eq(events.siteId, site.id), eq(events.type, 'lock.open_refused')));
      expect(event).toBeDefined();
      // Queued with the event. The API's own hand-over fails (stop waits for it to give up): the
      // row stays queued and nothing was started.
      expect(await sys.db.select().from(notificationOutbox)).toEqual([
        expect.objectContaining({ eventId: event!.id, siteId: site.id }),
      ]);
      await deadRelay.stop();
      expect(await sys.db.select().from(notificationOutbox)).toHaveLength(1);
      expect(await workflowExists(site.id)).toBe(false);
      expect(await mailOf(site.name)).toEqual([]);

      // The worker's sweep (a relay that reaches Temporal) hands it over; a second sweep finds nothing.
      expect(await relay.handOver()).toBe(1);
      expect(await relay.handOver()).toBe(0);
      expect(await sys.db.select().from(notificationOutbox)).toEqual([]);
      await vi.waitFor(async () => expect(await mailOf(site.name)).toHaveLength(1), {
        timeout: 15_000,
        interval: 100,
      });
      const [mail] = await mailOf(site.name);
      expect(mail).toMatchObject({ template: 'event-notification', to: owner.email.toLowerCase() });
    } finally {
      await deadRelay.stop();
      await gatewayClient.close();
      await deadConnection.close();
    }
  });
});

/**
 * N3 for K6: the relay signals a row and then deletes it in one transaction, so a crash between the
 * two (or a signalWithStart that reached Temporal but answered after its deadline) leaves the row
 * queued and the next sweep signals the event again. Each test puts the row back after a hand-over,
 * as such a fault leaves it, and hands it over again.
 */
describe('an event handed over again (N3)', () => {
  let repeatRelay: NotificationRelay;
  beforeAll(() => {
    repeatRelay = createNotificationRelay({
      db: sys.db,
      temporal: sys.temporal,
      taskQueue: sys.taskQueue,
      windowSeconds: 3,
    });
  });
  afterAll(async () => {
    await repeatRelay?.stop();
  });

  async function tamperSite() {
    const { site, iq, lock } = await siteWithOwnerAndAdmin(['tamper']);
    const record = async () => {
      const id = randomUUID();
      const queued = await recordEventForOwner(sys.db, {
        id,
        siteId: site.id,
        type: 'lock.tamper',
        actorKind: 'device',
        iqId: iq.id,
        lockId: lock.id,
      });
      expect(queued).toBe(true);
      return id;
    };
    const queueAgain = (...eventIds: string[]) =>
      sys.db.insert(notificationOutbox).values(eventIds.map((eventId) => ({ eventId, siteId: site.id })));
    const mailCount = (n: number) =>
      vi.waitFor(async () => expect(await mailOf(site.name)).toHaveLength(n), {
        timeout: 15_000,
        interval: 100,
      });
    const runEnds = () => sys.temporal.workflow.getHandle(notificationsWorkflowId(site.id)).result();
    return { site, record, queueAgain, mailCount, runEnds };
  }

  it('within the window after its email: not emailed again', async () => {
    const { site, record, queueAgain, mailCount, runEnds } = await tamperSite();
    const e1 = await record();
    expect(await repeatRelay.handOver()).toBe(1);
    await mailCount(1);
    await queueAgain(e1);
    expect(await repeatRelay.handOver()).toBe(1);
    await runEnds();
    // Before: the repeat went into the window's digest, a second email of the one event.
    expect((await mailOf(site.name)).map((m) => m.template)).toEqual(['event-notification']);
  });

  it('at the head of a later digest: the digest tells of the new event only, under a key of its own', async () => {
    const { site, record, queueAgain, mailCount, runEnds } = await tamperSite();
    await record();
    expect(await repeatRelay.handOver()).toBe(1);
    await mailCount(1);
    const e2 = await record();
    await record();
    expect(await repeatRelay.handOver()).toBe(2);
    await mailCount(2);
    await queueAgain(e2);
    await record(); // a new alarm
    expect(await repeatRelay.handOver()).toBe(2);
    await runEnds();
    const mail = await mailOf(site.name);
    // Before: the third digest took the key of the second (its first id, e2's) and was dropped as a
    // duplicate, so the new alarm was never emailed.
    expect(mail.map((m) => m.subject)).toEqual([
      `${site.name}: Tamper alarm`,
      `${site.name}: 2 events you asked to be told of`,
      `${site.name}: 1 event you asked to be told of`,
    ]);
    expect(new Set(mail.map((m) => m.idempotencyKey)).size).toBe(3);
  });

  it('after the run ended, an event a digest told of starts a new run and is not emailed again', async () => {
    const { site, record, queueAgain, mailCount, runEnds } = await tamperSite();
    await record();
    expect(await repeatRelay.handOver()).toBe(1);
    await mailCount(1);
    const e2 = await record();
    expect(await repeatRelay.handOver()).toBe(1);
    await runEnds();
    expect((await mailOf(site.name)).map((m) => m.template)).toEqual(['event-notification', 'event-digest']);
    // A new run, with nothing in memory: before, it emailed e2 at once, its second email.
    await queueAgain(e2);
    expect(await repeatRelay.handOver()).toBe(1);
    await runEnds();
    expect((await mailOf(site.name)).map((m) => m.template)).toEqual(['event-notification', 'event-digest']);
  });
});
