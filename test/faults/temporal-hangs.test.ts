/**
 * A Temporal that takes the connection and never answers (a stuck frontend, a connection a network
 * fault left half-open): the API answers once its call's deadline has passed (config/temporal.ts),
 * where before it held the request for as long as the connection lived (grpc-js sets no deadline of
 * its own): 503 `temporarily_unavailable` where the request needs Temporal; a site's creation, which
 * has committed by then, 201. The client is the one api/main.ts makes, with a short deadline. The
 * relays, which hold their rows meanwhile, give up at their own deadline whatever their client.
 */

import { randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRedemptionAnnouncer } from '../../activities/subscription';
import type { App } from '../../api/app';
import { apiTemporalClient, temporalTarget } from '../../config/temporal';
import { recordEvent } from '../../db/queries/events';
import { notificationOutbox, sites } from '../../db/schema';
import { createMailer, type Mailer } from '../../emails/mailer';
import { noopGatewayClient } from '../../gateway/client';
import { redeemVoucher } from '../../operations/subscription';
import { createNotificationRelay } from '../../outbox/notification-relay';
import { createRedemptionRelay } from '../../outbox/redemption-relay';
import { querySubscriptionState } from '../../workflows/client/subscription';
import { createSite, voucher } from '../support/fixtures';
import { productionApp } from '../support/production-app';
import { startTestSystem, type TestSystem } from '../support/system';

const DEADLINE_MS = 400;
/** Far past the deadline, far short of the test's timeout: an answer later than this was held. */
const HELD_MS = 6_000;

let sys: TestSystem;
let temporal: Client;
let app: App;
let mailer: Mailer;
const held = new Set<Socket>();
const hanging = createServer((socket) => {
  held.add(socket);
  socket.on('close', () => held.delete(socket));
});

const hangingAddress = () => `127.0.0.1:${(hanging.address() as { port: number }).port}`;

beforeAll(async () => {
  sys = await startTestSystem({});
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  temporal = apiTemporalClient(temporalTarget({ TEMPORAL_ADDRESS: hangingAddress() }), {
    deadlineMs: DEADLINE_MS,
  });
  app = productionApp(sys, { temporal });
  // What sends the emails of the tests that send one (an owner's invitation, a receipt): rows, as in development.
  mailer = createMailer({ db: sys.db, from: 'KS Cloud <test@ks.test>' });
});

afterAll(async () => {
  await temporal?.connection.close();
  for (const socket of held) socket.destroy();
  hanging.close();
  await sys?.close();
});

/** What `promise` settled to, or 'held' when it did not within HELD_MS. */
async function within<T>(promise: Promise<T>): Promise<T | 'held'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'held'>((resolve) => {
    timer = setTimeout(() => resolve('held'), HELD_MS);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The request's answer, or 'held' when none came within HELD_MS. */
async function answerOf(request: Response | Promise<Response>) {
  const res = await within(Promise.resolve(request));
  if (res === 'held') return res;
  return { status: res.status, code: ((await res.json()) as { code?: string }).code };
}

describe('the API against a Temporal that never answers', () => {
  it('takes the connection and answers nothing: a call fails once its deadline has passed', async () => {
    const call = temporal.workflow
      .getHandle('any')
      .describe()
      .then(
        () => 'answered',
        (error: Error) => error.name,
      );
    await vi.waitFor(() => expect(held.size).toBeGreaterThan(0));
    expect(await call).toBe('ServiceError');
  });

  it('creating a site answers 201 and makes one site, whose first redemption starts its workflow', async () => {
    const owner = await sys.signIn();
    const name = `Held Site ${owner.id.slice(0, 8)}`;
    const answer = await answerOf(
      app.request('/sites', {
        method: 'POST',
        headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      }),
    );
    // A 503 here told the client to retry a creation that had committed: a second site.
    expect(answer).toMatchObject({ status: 201 });
    const created = await sys.db.select().from(sites).where(eq(sites.name, name));
    expect(created).toHaveLength(1);

    // Its owner's first redemption, told by a relay that reaches Temporal, starts its workflow.
    const siteId = created[0]!.id;
    const code = await voucher(sys);
    const claim = await redeemVoucher(sys.db, {
      siteId,
      codeHash: code.codeHash,
      requestId: randomUUID(),
      actorProfileId: owner.id,
      announce: true,
    });
    if (!claim.ok) throw new Error(`claim refused: ${claim.code}`);
    expect(await sys.redemptions.handOver()).toBe(1);
    expect(await querySubscriptionState(sys.temporal, siteId)).toMatchObject({
      status: 'active',
      term: { id: claim.term.id },
    });
  });

  it('creating a sandbox site answers 201 and makes one site', async () => {
    const support = await sys.signIn({ platformRole: 'support' });
    const name = `Held Sandbox ${support.id.slice(0, 8)}`;
    // This one invites its owner by email: a mailer that writes the email's row.
    const inviting = productionApp(sys, {
      temporal,
      mailer,
    });
    const answer = await answerOf(
      inviting.request('/support/sites', {
        method: 'POST',
        headers: { authorization: `Bearer ${support.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, ownerEmail: `owner-${support.id}@example.test`, sandbox: true }),
      }),
    );
    expect(answer).toMatchObject({ status: 201 });
    expect(await sys.db.select().from(sites).where(eq(sites.name, name))).toHaveLength(1);
  });

  it('a sandbox’s clock (an update) answers 503 temporarily_unavailable, not held', async () => {
    const support = await sys.signIn({ platformRole: 'support' });
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id, { sandbox: true });
    const answer = await answerOf(
      app.request(`/support/sites/${site.id}/clock`, {
        method: 'POST',
        headers: { authorization: `Bearer ${support.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ advanceSeconds: 60 }),
      }),
    );
    expect(answer).toEqual({ status: 503, code: 'temporarily_unavailable' });
  });

  it('the relays’ hand-overs give up at their own deadline, their rows left queued and unlocked', async () => {
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id);
    const eventId = randomUUID();
    await recordEvent(sys.db, {
      id: eventId,
      siteId: site.id,
      type: 'lock.open_refused',
      actorProfileId: owner.id,
    });
    await sys.db.insert(notificationOutbox).values({ eventId, siteId: site.id });
    const code = await voucher(sys);
    const claim = await redeemVoucher(sys.db, {
      siteId: site.id,
      codeHash: code.codeHash,
      requestId: randomUUID(),
      actorProfileId: owner.id,
      announce: true,
    });
    if (!claim.ok) throw new Error(`claim refused: ${claim.code}`);

    // No deadline of its client's own: the relays' are the only bound.
    const silent = new Client({
      connection: Connection.lazy({ address: hangingAddress(), interceptors: [] }),
    });
    const notifications = createNotificationRelay({ db: sys.db, temporal: silent, taskQueue: sys.taskQueue });
    const redemptions = createRedemptionRelay({
      db: sys.db,
      temporal: silent,
      taskQueue: sys.taskQueue,
      announce: createRedemptionAnnouncer({
        db: sys.db,
        mailer,
        gateway: noopGatewayClient,
      }),
    });
    try {
      expect(await Promise.all([within(notifications.handOver()), within(redemptions.handOver())])).toEqual([
        0, 0,
      ]);
      // Still queued, and no lock left on them: another relay takes them at once.
      const free = await sys.sql.begin(async (tx) => [
        (await tx`select 1 from notification_outbox where event_id = ${eventId} for update nowait`).length,
        (await tx`select 1 from redemption_announcements where site_id = ${site.id} for update nowait`)
          .length,
      ]);
      expect(free).toEqual([1, 1]);
    } finally {
      await silent.connection.close();
    }
  });
});
