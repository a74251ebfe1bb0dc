/**
 * What a subscription email is written from, read in one statement (db/queries/subscriptions.ts
 * findTermEmailFacts): the site, the address admin emails go to (S5: the owner's; while the owner an
 * installer named has not joined, the newest open owner invitation's), the term and the term it
 * replaced, each as the separate reads before it gave them.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import { findTerm, findTermEmailFacts } from '../../db/queries/subscriptions';
import { memberships, profiles, siteInvitations, sites, subscriptionTerms, vouchers } from '../../db/schema';
import { createTestDatabase } from '../support/database';

let database: Database;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

async function siteWithTerms(name: string) {
  const { db } = database;
  const [site] = await db
    .insert(sites)
    .values({ name, timezone: 'Europe/Prague', sandbox: true, clockOffsetSeconds: 86_400 })
    .returning({ id: sites.id });
  const voucherRows = await db
    .insert(vouchers)
    .values(
      [0, 1].map((i) => ({
        codeHash: `${name}-${i}`.padEnd(64, '0'),
        usersLimit: 5,
        iqsLimit: 1,
        durationDays: 30,
      })),
    )
    .returning({ id: vouchers.id });
  const [first] = await db
    .insert(subscriptionTerms)
    .values({
      siteId: site!.id,
      voucherId: voucherRows[0]!.id,
      requestId: `${name}-request-0`,
      startsAt: new Date('2026-01-01T00:00:00.123456Z'),
      endsAt: new Date('2026-02-01T00:00:00Z'),
      usersLimit: 5,
      iqsLimit: 1,
      replacedAt: new Date('2026-01-15T00:00:00Z'),
    })
    .returning({ id: subscriptionTerms.id });
  const [second] = await db
    .insert(subscriptionTerms)
    .values({
      siteId: site!.id,
      voucherId: voucherRows[1]!.id,
      requestId: `${name}-request-1`,
      startsAt: new Date('2026-01-15T00:00:00Z'),
      endsAt: new Date('2026-03-01T00:00:00Z'),
      usersLimit: 10,
      iqsLimit: 2,
      carriedOverSeconds: 1234,
      previousTermId: first!.id,
    })
    .returning({ id: subscriptionTerms.id });
  return { siteId: site!.id, firstId: first!.id, secondId: second!.id };
}

describe('findTermEmailFacts', () => {
  it('gives the site, the term and the term it replaced as they are stored', async () => {
    const { siteId, firstId, secondId } = await siteWithTerms('facts-terms');
    const facts = await findTermEmailFacts(database.db, { siteId, termId: secondId });
    expect(facts?.site).toEqual({
      id: siteId,
      name: 'facts-terms',
      timezone: 'Europe/Prague',
      sandbox: true,
      clockOffsetSeconds: 86_400,
    });
    expect(facts?.term).toEqual(await findTerm(database.db, secondId));
    expect(facts?.previous).toEqual(await findTerm(database.db, firstId));
    const first = await findTermEmailFacts(database.db, { siteId, termId: firstId });
    expect(first?.term).toEqual(await findTerm(database.db, firstId));
    expect(first).not.toHaveProperty('previous');
    // An unknown term: the site still, no term (no email); an unknown site: nothing.
    const unknown = await findTermEmailFacts(database.db, {
      siteId,
      termId: '00000000-0000-4000-8000-000000000000',
    });
    expect(unknown).not.toHaveProperty('term');
    expect(
      await findTermEmailFacts(database.db, {
        siteId: '00000000-0000-4000-8000-000000000000',
        termId: firstId,
      }),
    ).toBeUndefined();
  });

  it('sends to the owner, else the newest open owner invitation, else nobody', async () => {
    const { db } = database;
    const { siteId, secondId } = await siteWithTerms('facts-address');
    const to = async () => (await findTermEmailFacts(db, { siteId, termId: secondId }))?.to;
    expect(await to()).toBeUndefined();

    // An accepted or non-owner invitation is nobody's address for admin emails.
    await db.insert(siteInvitations).values([
      { siteId, email: 'accepted-owner@facts.test', role: 'owner', acceptedAt: new Date() },
      { siteId, email: 'admin@facts.test', role: 'admin' },
    ]);
    expect(await to()).toBeUndefined();
    await db.insert(siteInvitations).values([
      { siteId, email: 'older@facts.test', role: 'owner', createdAt: new Date('2026-01-01T00:00:00Z') },
      { siteId, email: 'newer@facts.test', role: 'owner', createdAt: new Date('2026-01-02T00:00:00Z') },
    ]);
    expect(await to()).toBe('newer@facts.test');

    const [admin] = await db
      .insert(profiles)
      .values({ email: 'member-admin@facts.test', name: 'A', passwordHash: 'x' })
      .returning({ id: profiles.id });
    await db.insert(memberships).values({ siteId, profileId: admin!.id, role: 'admin' });
    expect(await to()).toBe('newer@facts.test');
    const [owner] = await db
      .insert(profiles)
      .values({ email: 'owner@facts.test', name: 'O', passwordHash: 'x' })
      .returning({ id: profiles.id });
    await db.insert(memberships).values({ siteId, profileId: owner!.id, role: 'owner' });
    expect(await to()).toBe('owner@facts.test');
    await db.delete(memberships).where(eq(memberships.profileId, owner!.id));
    expect(await to()).toBe('newer@facts.test');
  });

  it('an expired owner invitation is nobody’s address: its link is dead, and no one consented to the site’s emails', async () => {
    const { db } = database;
    const { siteId, secondId } = await siteWithTerms('facts-expired');
    const to = async () => (await findTermEmailFacts(db, { siteId, termId: secondId }))?.to;
    const expired = new Date(Date.now() - 60_000);
    await db
      .insert(siteInvitations)
      .values([{ siteId, email: 'expired-newest@facts.test', role: 'owner', expiresAt: expired }]);
    expect(await to()).toBeUndefined();
    await db.insert(siteInvitations).values([
      {
        siteId,
        email: 'open-older@facts.test',
        role: 'owner',
        createdAt: new Date('2026-01-01T00:00:00Z'),
      },
    ]);
    expect(await to()).toBe('open-older@facts.test');
  });
});
