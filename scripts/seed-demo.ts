import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { Client } from '@temporalio/client';
import { hashPassword } from '../api/auth/passwords';
import type { Db } from '../db/client';
import { findProfileByEmail, insertProfile, updateProfile } from '../db/queries/profiles';
import { issueVouchers, stillRedeemable } from '../db/queries/vouchers';
import { accessMethods, iqs, locks, memberships, sites } from '../db/schema';
import { hashDeviceSecret } from '../domain/secrets';
import { hashVoucherCode, normalizeVoucherCode } from '../domain/voucher-codes';
import { redeemVoucher } from '../workflows/client/subscription';

export const DEMO_PASSWORD = 'demo-password';
export const DEMO_ACCOUNTS = [
  { email: 'owner@example.com', name: 'Olivia Owner', platformRole: null },
  { email: 'admin@example.com', name: 'Adam Admin', platformRole: null },
  { email: 'installer@example.com', name: 'Ines Installer', platformRole: 'installer' },
  { email: 'support@example.com', name: 'Sam Support', platformRole: 'support' },
] as const;

interface DemoRecord {
  siteId: string;
  unredeemedCodes: string[];
}

const DEMO_IQS = [
  { serial: 'IQ-DEMO-0001', model: 'IQ2', name: 'Main entrance', firmware: '2.0.0' },
  { serial: 'IQ-DEMO-0002', model: 'IQ2', name: 'Back office', firmware: '2.0.0' },
] as const;

/**
 * Development demo data, created once: accounts, a site owned by owner@example.com with IQs and
 * locks, one voucher redeemed through the real workflow, and unredeemed vouchers. Codes and device
 * secrets are kept only as hashes in the database, so the usable ones live in the local data
 * directory: the codes in the record file, the IQs' credentials in a file `npm run iq-sim` reads.
 */
export async function seedDemo(opts: {
  db: Db;
  temporal: Client;
  taskQueue: string;
  recordFile: string;
  iqCredentialsFile: string;
}) {
  const { db } = opts;
  if (existsSync(opts.recordFile)) {
    // A later start: the codes printed are only those nobody has redeemed since.
    const record = JSON.parse(await readFile(opts.recordFile, 'utf8')) as DemoRecord;
    return { ...record, unredeemedCodes: await stillRedeemable(db, record.unredeemedCodes) };
  }
  const iqCredentials = DEMO_IQS.map((iq) => ({ ...iq, secret: randomBytes(32).toString('base64url') }));
  await writeFile(
    opts.iqCredentialsFile,
    JSON.stringify(
      iqCredentials.map(({ serial, secret, model, firmware }) => ({ serial, secret, model, firmware })),
      null,
      2,
    ),
    { mode: 0o600 },
  );
  const passwordHash = await hashPassword(DEMO_PASSWORD);
  const ids: Record<string, string> = {};
  for (const account of DEMO_ACCOUNTS) {
    const profile =
      (await insertProfile(db, {
        email: account.email,
        name: account.name,
        passwordHash,
        emailConfirmedAt: new Date(),
      })) ?? (await findProfileByEmail(db, account.email));
    if (!profile) throw new Error(`could not create ${account.email}`);
    if (account.platformRole) await updateProfile(db, profile.id, { platformRole: account.platformRole });
    ids[account.email] = profile.id;
  }
  const ownerId = ids['owner@example.com']!;
  const adminId = ids['admin@example.com']!;

  const siteId = await db.transaction(async (tx) => {
    const [site] = await tx
      .insert(sites)
      .values({ name: 'Demo office', timezone: 'Europe/Oslo', releasedAt: new Date() })
      .returning({ id: sites.id });
    if (!site) throw new Error('site insert returned nothing');
    await tx.insert(memberships).values([
      { siteId: site.id, profileId: ownerId, role: 'owner', masterKey: true },
      { siteId: site.id, profileId: adminId, role: 'admin' },
    ]);
    const devices = await tx
      .insert(iqs)
      .values(
        iqCredentials.map(({ secret, ...iq }) => ({
          ...iq,
          siteId: site.id,
          secretHash: hashDeviceSecret(secret),
        })),
      )
      .returning({ id: iqs.id });
    await tx.insert(locks).values([
      { siteId: site.id, iqId: devices[0]!.id, name: 'Front door' },
      { siteId: site.id, iqId: devices[0]!.id, name: 'Garage' },
      { siteId: site.id, iqId: devices[1]!.id, name: 'Server room' },
    ]);
    await tx.insert(accessMethods).values([
      { siteId: site.id, profileId: ownerId, kind: 'remote' },
      { siteId: site.id, profileId: adminId, kind: 'mobile_key' },
    ]);
    return site.id;
  });

  const [redeemed, ...unredeemed] = await issueVouchers(
    db,
    { usersLimit: 10, iqsLimit: 2, durationDays: 365 },
    4,
  );
  const result = await redeemVoucher(opts.temporal, opts.taskQueue, siteId, {
    codeHash: hashVoucherCode(normalizeVoucherCode(redeemed!.code)!),
    requestId: randomUUID(),
    actorProfileId: ownerId,
  });
  if (!result.ok) throw new Error(`demo redemption failed: ${result.code}`);

  const record: DemoRecord = { siteId, unredeemedCodes: unredeemed.map((v) => v.code) };
  await writeFile(opts.recordFile, JSON.stringify(record, null, 2), { mode: 0o600 });
  return record;
}
