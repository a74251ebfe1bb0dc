/**
 * N7 and issue 15: a change of a site sends its first statements together (one round trip), and
 * PostgreSQL runs them in the order they were sent. That order is the lock order every change keeps:
 * the site's row first, then the caller's membership (read once the lock is held, so it sees what
 * committed while the lock was waited for), then a redemption's throttle keys. These tests watch the
 * statements as the driver sends them, through a database handle that reports each one.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database } from '../../db/client';
import { THROTTLES } from '../../domain/throttling';
import { lockSiteAs } from '../../operations/site-lock';
import { chooseNotifications } from '../../operations/sites';
import { redeemVoucher } from '../../operations/subscription';
import { createTestDatabase } from '../support/database';
import { siteWithOwner } from '../support/fixtures';
import { heldTransaction, untilAnsweredOrWaiting } from '../support/lock-waits';

let database: Database & { url: string };
let watched: Database;
let sent: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  watched = connectDatabase(database.url, { max: 2, onQuery: (statement) => sent.push(statement) });
});
afterAll(async () => {
  await watched?.close();
  await database?.close();
});

/** Which lock or read a statement is, by what it names. */
const kind = (statement: string) =>
  /for no key update/.test(statement)
    ? 'site lock'
    : /from memberships/.test(statement)
      ? 'membership'
      : /insert into throttles/.test(statement)
        ? 'throttle keys'
        : /update "?sites"? set "?notify_event_types/.test(statement)
          ? 'notification choice'
          : undefined;

/** A site and its owner, as these tests name them. */
const ownedSite = async () => {
  const { site, ownerId } = await siteWithOwner(database);
  return { siteId: site.id, ownerId };
};

describe('statements sent together go out in lock order', () => {
  it('a change under lockSiteAs: the site lock, then the membership', async () => {
    const { siteId, ownerId } = await ownedSite();
    sent = [];
    const { role } = await watched.db.transaction((tx) =>
      lockSiteAs(tx, siteId, {
        id: ownerId,
        holdsInstallerRole: false,
        roles: ['owner'],
        needsSubscription: false,
      }),
    );
    expect(role).toBe('owner');
    expect(sent.map(kind).filter(Boolean)).toEqual(['site lock', 'membership']);
  });

  it('a redemption asked over HTTP: the site lock, the membership, then the throttle keys', async () => {
    const { siteId, ownerId } = await ownedSite();
    const key = (name: 'redeemActor' | 'redeemSite') => ({
      key: `${name}:${randomUUID()}`,
      policy: THROTTLES[name],
    });
    sent = [];
    const outcome = await redeemVoucher(
      watched.db,
      { siteId, codeHash: 'no such code', requestId: randomUUID(), actorProfileId: ownerId },
      Date.now,
      {
        actor: {
          id: ownerId,
          holdsInstallerRole: false,
          roles: ['owner', 'admin', 'installer'],
          needsSubscription: false,
        },
        throttle: { actor: key('redeemActor'), shared: [key('redeemSite')] },
      },
    );
    expect(outcome).toMatchObject({ ok: false, code: 'voucher_not_found' });
    expect(sent.map(kind).filter(Boolean)).toEqual(['site lock', 'membership', 'throttle keys']);
  });

  it('the owner’s notification choice goes out with the lock, and a refusal under the lock rolls it back', async () => {
    const { siteId, ownerId } = await ownedSite();
    const owner = {
      id: ownerId,
      holdsInstallerRole: false,
      roles: ['owner'],
      needsSubscription: false,
    } as const;
    const choose = (eventTypes: string[]) =>
      chooseNotifications(watched.db, { siteId, eventTypes, actor: owner, now: new Date() });
    const choice = async () => {
      const [row] = await database.sql`select notify_event_types from sites where id = ${siteId}`;
      const [events] = await database.sql`select count(*)::int as n from events
        where site_id = ${siteId} and type = 'site.notifications_changed'`;
      return { chosen: row?.notify_event_types as string[], events: events?.n as number };
    };
    const before = await choice();

    // While another transaction holds the site's lock, the choice waits behind it, already sent:
    // what went out by then went out without waiting for an answer.
    let held = await heldTransaction(
      database.sql,
      (tx) => tx`select 1 from sites where id = ${siteId} for no key update`,
    );
    sent = [];
    const chosen = choose(['tamper']);
    await untilAnsweredOrWaiting(database.sql, chosen);
    expect(sent.map(kind).filter(Boolean)).toEqual(['site lock', 'membership', 'notification choice']);
    await held.commit();
    await chosen;
    expect(await choice()).toEqual({ chosen: ['tamper'], events: before.events + 1 });

    // The owner made an admin while the next choice waited: refused under the lock, its write undone.
    held = await heldTransaction(database.sql, async (tx) => {
      await tx`select 1 from sites where id = ${siteId} for no key update`;
      await tx`update memberships set role = 'admin' where site_id = ${siteId} and profile_id = ${ownerId}`;
    });
    const refused = choose(['lock.open_refused']);
    await untilAnsweredOrWaiting(database.sql, refused);
    await held.commit();
    await expect(refused).rejects.toMatchObject({ reason: 'forbidden' });
    expect(await choice()).toEqual({ chosen: ['tamper'], events: before.events + 1 });
  });
});
