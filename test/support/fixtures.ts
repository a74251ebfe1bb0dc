import { randomUUID } from 'node:crypto';
import { issueVouchers, type VoucherSpec } from '../../db/queries/vouchers';
import { accessMethods, iqs, locks, memberships, sites } from '../../db/schema';
import { hashVoucherCode, normalizeVoucherCode } from '../../domain/voucher-codes';
import type { TestSystem } from './system';

/** A released site owned by `ownerId`, optionally a sandbox. */
export async function createSite(
  sys: TestSystem,
  ownerId: string,
  opts: { sandbox?: boolean; timezone?: string } = {},
) {
  const [site] = await sys.db
    .insert(sites)
    .values({
      name: `Site ${randomUUID().slice(0, 8)}`,
      timezone: opts.timezone ?? 'UTC',
      sandbox: opts.sandbox ?? false,
    })
    .returning();
  await sys.db
    .insert(memberships)
    .values({ siteId: site!.id, profileId: ownerId, role: 'owner', masterKey: true });
  return site!;
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
