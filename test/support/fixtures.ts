import { randomUUID } from 'node:crypto';
import { insertProfile } from '../../db/queries/profiles';
import { issueVouchers, type VoucherSpec } from '../../db/queries/vouchers';
import { accessMethods, iqs, locks, memberships, sites } from '../../db/schema';
import { hashVoucherCode, normalizeVoucherCode } from '../../domain/voucher-codes';
import type { TestSystem } from './system';

/** A released site owned by `ownerId`, optionally a sandbox or with its subscription's status set. */
export async function createSite(
  sys: Pick<TestSystem, 'db'>,
  ownerId: string,
  opts: { sandbox?: boolean; timezone?: string; subscriptionStatus?: 'active' } = {},
) {
  const [site] = await sys.db
    .insert(sites)
    .values({
      name: `Site ${randomUUID().slice(0, 8)}`,
      timezone: opts.timezone ?? 'UTC',
      sandbox: opts.sandbox ?? false,
      ...(opts.subscriptionStatus ? { subscriptionStatus: opts.subscriptionStatus } : {}),
    })
    .returning();
  await sys.db
    .insert(memberships)
    .values({ siteId: site!.id, profileId: ownerId, role: 'owner', masterKey: true });
  return site!;
}

/** A site and its owner, a confirmed profile of its own, written straight to the database. */
export async function siteWithOwner(
  sys: Pick<TestSystem, 'db'>,
  opts: Parameters<typeof createSite>[2] = {},
) {
  const owner = await insertProfile(sys.db, {
    email: `${randomUUID()}@example.test`,
    name: 'Owner',
    passwordHash: 'x',
    emailConfirmedAt: new Date(),
  });
  return { site: await createSite(sys, owner!.id, opts), ownerId: owner!.id };
}

export async function addMember(
  sys: TestSystem,
  siteId: string,
  profileId: string,
  opts: { role?: 'admin' | 'user'; joinedAt?: Date; access?: boolean } = {},
) {
  await sys.db.insert(memberships).values({
    siteId,
    profileId,
    role: opts.role ?? 'user',
    ...(opts.joinedAt ? { joinedAt: opts.joinedAt } : {}),
  });
  if (opts.access !== false) await sys.db.insert(accessMethods).values({ siteId, profileId, kind: 'remote' });
}

export async function giveAccess(sys: TestSystem, siteId: string, profileId: string) {
  await sys.db.insert(accessMethods).values({ siteId, profileId, kind: 'remote' });
}

export async function addIq(sys: TestSystem, siteId: string, opts: { registeredAt?: Date } = {}) {
  const [iq] = await sys.db
    .insert(iqs)
    .values({
      siteId,
      serial: `IQ-${randomUUID()}`,
      model: 'IQ2',
      secretHash: 'unused',
      ...(opts.registeredAt ? { registeredAt: opts.registeredAt } : {}),
    })
    .returning();
  const [lock] = await sys.db.insert(locks).values({ siteId, iqId: iq!.id, name: 'Door' }).returning();
  return { iq: iq!, lock: lock! };
}

export async function voucher(sys: TestSystem, spec: Partial<VoucherSpec> = {}) {
  const [v] = await issueVouchers(sys.db, { usersLimit: 10, iqsLimit: 2, durationDays: 365, ...spec }, 1);
  return { ...v!, codeHash: hashVoucherCode(normalizeVoucherCode(v!.code)!) };
}

export const DAY = 86_400_000;
