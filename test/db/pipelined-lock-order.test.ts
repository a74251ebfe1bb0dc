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
import { insertProfile } from '../../db/queries/profiles';
import { memberships, sites } from '../../db/schema';
import { THROTTLES } from '../../domain/throttling';
import { lockSiteAs } from '../../operations/site-lock';
import { redeemVoucher } from '../../operations/subscription';
import { createTestDatabase } from '../support/database';

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
        : undefined;

async function siteWithOwner() {
  const owner = await insertProfile(database.db, {
    email: `${randomUUID()}@example.test`,
    name: 'Owner',
    passwordHash: 'x',
    emailConfirmedAt: new Date(),
  });
  const [site] = await database.db.insert(sites).values({ name: 'Site' }).returning();
  await database.db
    .insert(memberships)
    .values({ siteId: site!.id, profileId: owner!.id, role: 'owner', masterKey: true });
  return { siteId: site!.id, ownerId: owner!.id };
}

describe('statements sent together go out in lock order', () => {
  it('a change under lockSiteAs: the site lock, then the membership', async () => {
    const { siteId, ownerId } = await siteWithOwner();
    sent = [];
    const { role } = await watched.db.transaction((tx) =>
      lockSiteAs(tx, siteId, { id: ownerId, roles: ['owner'], needsSubscription: false }),
    );
    expect(role).toBe('owner');
    expect(sent.map(kind).filter(Boolean)).toEqual(['site lock', 'membership']);
  });

  it('a redemption asked over HTTP: the site lock, the membership, then the throttle keys', async () => {
    const { siteId, ownerId } = await siteWithOwner();
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
        actor: { id: ownerId, roles: ['owner', 'admin', 'installer'], needsSubscription: false },
        throttle: { actor: key('redeemActor'), shared: [key('redeemSite')], now: new Date() },
      },
    );
    expect(outcome).toMatchObject({ ok: false, code: 'voucher_not_found' });
    expect(sent.map(kind).filter(Boolean)).toEqual(['site lock', 'membership', 'throttle keys']);
  });
});
