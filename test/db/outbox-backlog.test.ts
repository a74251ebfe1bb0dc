/**
 * The outboxes' backlog (db/queries/outboxes.ts) and its gauges on the API's metrics
 * (observability/outbox-metrics.ts), on real PostgreSQL: rows queued by the product's own writes (a
 * redemption's announcement, a refused opening's notification, an account email), a relay's locked
 * batch still counted, one statement per scrape, nothing about the rows in the text, and a scrape while
 * the database does not answer.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database } from '../../db/client';
import { recordEventForOwner } from '../../db/queries/notification-outbox';
import { OUTBOXES, outboxBacklogs } from '../../db/queries/outboxes';
import { issueVouchers } from '../../db/queries/vouchers';
import { memberships, profiles, sites } from '../../db/schema';
import { hashVoucherCode, normalizeVoucherCode } from '../../domain/voucher-codes';
import { freePort } from '../../infra/free-port';
import { registerOutboxMetrics } from '../../observability/outbox-metrics';
import { redeemVoucher } from '../../operations/subscription';
import { createTestDatabase } from '../support/database';

let database: Database & { url: string };
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

const OWNER_EMAIL = `owner-${randomUUID()}@example.test`;

/** A site with an owner who chose refused openings' emails; returns their ids. */
async function siteWithOwner() {
  const { db } = database;
  const [owner] = await db
    .insert(profiles)
    .values({ email: OWNER_EMAIL, name: 'Ada Owner', passwordHash: 'x', emailConfirmedAt: new Date() })
    .returning({ id: profiles.id });
  const [site] = await db
    .insert(sites)
    .values({ name: 'Backlog site', notifyEventTypes: ['lock.open_refused'] })
    .returning({ id: sites.id });
  await db.insert(memberships).values({ siteId: site!.id, profileId: owner!.id, role: 'owner' });
  return { siteId: site!.id, ownerId: owner!.id };
}

/** One row in each outbox, through the product's own writes (account emails: as sign-up queues them). */
async function queueOneOfEach(siteId: string, ownerId: string) {
  const { db } = database;
  const [issued] = await issueVouchers(db, { usersLimit: 5, iqsLimit: 1, durationDays: 30 }, 1);
  const redeemed = await redeemVoucher(db, {
    siteId,
    codeHash: hashVoucherCode(normalizeVoucherCode(issued!.code)!),
    requestId: randomUUID(),
    actorProfileId: ownerId,
    announce: true,
  });
  expect(redeemed.ok).toBe(true);
  const queued = await recordEventForOwner(db, {
    id: randomUUID(),
    siteId,
    type: 'lock.open_refused',
    actorProfileId: ownerId,
    data: { reason: 'no_access' },
  });
  expect(queued).toBe(true);
  await db.execute(sql`
    insert into account_emails (kind, email, token) values ('confirm_email', ${OWNER_EMAIL}, 'secret-token')`);
}

const byOutbox = async (db = database.db) =>
  Object.fromEntries((await outboxBacklogs(db)).map((b) => [b.outbox, b]));

/** The samples of a metric in Prometheus text, by their `outbox` label. */
const samplesOf = (text: string, metric: string) =>
  Object.fromEntries(
    [...text.matchAll(new RegExp(`^${metric}\\{outbox="([a-z_]+)"\\} (\\S+)$`, 'gm'))].map((m) => [
      m[1],
      Number(m[2]),
    ]),
  );

describe('outbox backlog', () => {
  it('reads every outbox, empty ones as 0 rows waiting 0 seconds', async () => {
    const backlog = await byOutbox();
    expect(Object.keys(backlog).sort()).toEqual([...OUTBOXES].sort());
    for (const outbox of OUTBOXES)
      expect(backlog[outbox]).toEqual({ outbox, queued: 0, oldestAgeSeconds: 0 });
  });

  it('counts the rows each outbox holds and the age of its oldest, a batch a relay holds included', async () => {
    const { siteId, ownerId } = await siteWithOwner();
    await queueOneOfEach(siteId, ownerId);
    await queueOneOfEach(siteId, ownerId);
    // The oldest row of each waited 90 seconds; the other is new.
    for (const outbox of OUTBOXES) {
      await database.db.execute(
        sql.raw(`update ${outbox} set created_at = now() - interval '90 seconds'
          where created_at = (select min(created_at) from ${outbox})`),
      );
    }
    const backlog = await byOutbox();
    for (const outbox of OUTBOXES) {
      expect(backlog[outbox]!.queued).toBe(2);
      expect(backlog[outbox]!.oldestAgeSeconds).toBeGreaterThanOrEqual(90);
      expect(backlog[outbox]!.oldestAgeSeconds).toBeLessThan(120);
    }

    // A relay's transaction holds every announcement (FOR UPDATE SKIP LOCKED): still counted, and the
    // read does not wait for it.
    let whileHeld: Awaited<ReturnType<typeof byOutbox>> | undefined;
    await database.sql.begin(async (tx) => {
      const held = await tx`select term_id from redemption_announcements for update skip locked`;
      expect(held).toHaveLength(2);
      whileHeld = await byOutbox();
    });
    expect(whileHeld!.redemption_announcements!.queued).toBe(2);
  });

  it('exports two gauges by outbox, read by one statement per scrape, naming no row', async () => {
    const statements: string[] = [];
    const counted = connectDatabase(database.url, {
      max: 2,
      // The outboxes' reads (not postgres.js's own reading of the types when it connects).
      onQuery: (statement) => statement.includes('redemption_announcements') && statements.push(statement),
    });
    try {
      const registry = new Registry();
      registerOutboxMetrics(registry, () => outboxBacklogs(counted.db));
      const text = await registry.metrics();
      expect(statements).toHaveLength(1);

      const queued = samplesOf(text, 'outbox_queued_rows');
      const ages = samplesOf(text, 'outbox_oldest_row_age_seconds');
      const now = await byOutbox();
      for (const outbox of OUTBOXES) {
        expect(queued[outbox]).toBe(now[outbox]!.queued);
        expect(ages[outbox]).toBeGreaterThanOrEqual(90);
      }
      expect(text).toContain('# TYPE outbox_queued_rows gauge');
      // Table names only: no address, token or id of what waits.
      expect(text).not.toContain(OWNER_EMAIL);
      expect(text).not.toContain('secret-token');
      expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);

      // A row handed over (deleted by its relay) leaves the next scrape.
      await database.db.execute(sql`delete from account_emails`);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const after = samplesOf(await registry.metrics(), 'outbox_queued_rows');
      expect(statements).toHaveLength(2);
      expect(after.account_emails).toBe(0);
      expect(after.redemption_announcements).toBe(queued.redemption_announcements);
    } finally {
      await counted.close();
    }
  });

  it('reads once while the database is slow, however many scrapes come meanwhile', async () => {
    let reads = 0;
    let answer: (rows: Awaited<ReturnType<typeof outboxBacklogs>>) => void = () => {};
    const registry = new Registry();
    registerOutboxMetrics(registry, () => {
      reads++;
      return new Promise((resolve) => {
        answer = resolve;
      });
    });
    const first = registry.metrics();
    // Past the time a read is shared for, a flood of scrapes while the first read still waits.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const flood = Array.from({ length: 20 }, () => registry.metrics());
    expect(reads).toBe(1);
    answer([{ outbox: 'account_emails', queued: 3, oldestAgeSeconds: 7 }]);
    for (const text of await Promise.all([first, ...flood])) {
      expect(samplesOf(text, 'outbox_queued_rows')).toEqual({ account_emails: 3 });
    }
    // Once it has answered, a later scrape reads again.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const later = registry.metrics();
    expect(reads).toBe(2);
    answer([]);
    expect(samplesOf(await later, 'outbox_queued_rows')).toEqual({});
  });

  it('reads at most once a second under scrapes that follow each other', async () => {
    let reads = 0;
    const registry = new Registry();
    registerOutboxMetrics(registry, async () => {
      reads++;
      return [{ outbox: 'notification_outbox', queued: reads, oldestAgeSeconds: 1 }];
    });
    // Each scrape waits for the one before (its read has answered): within the second, one read.
    for (let i = 0; i < 30; i++) {
      expect(samplesOf(await registry.metrics(), 'outbox_queued_rows')).toEqual({ notification_outbox: 1 });
    }
    expect(reads).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(samplesOf(await registry.metrics(), 'outbox_queued_rows')).toEqual({ notification_outbox: 2 });
  });

  it('answers a scrape while the database does not: the other metrics, no outbox samples', async () => {
    // Nothing listens on this port.
    const url = new URL(database.url);
    url.searchParams.delete('host');
    url.port = String(await freePort());
    const away = connectDatabase(url.toString(), { max: 1 });
    try {
      const registry = new Registry();
      const requests = new Counter({
        name: 'requests_total',
        help: 'a metric of the process',
        registers: [registry],
      });
      requests.inc();
      registerOutboxMetrics(registry, () => outboxBacklogs(away.db));
      const text = await registry.metrics();
      expect(text).toContain('requests_total 1');
      expect(text).toContain('# TYPE outbox_queued_rows gauge');
      expect(samplesOf(text, 'outbox_queued_rows')).toEqual({});
      expect(samplesOf(text, 'outbox_oldest_row_age_seconds')).toEqual({});
    } finally {
      await away.close();
    }
  });
});
