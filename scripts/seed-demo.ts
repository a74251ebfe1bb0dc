import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import type { Client } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { hashPassword } from '../api/auth/passwords';
import type { Db, Tx } from '../db/client';
import { findIqBySerial } from '../db/queries/iqs';
import { findProfileByEmail, insertProfile, updateProfile } from '../db/queries/profiles';
import { insertVouchersOnce, stillRedeemable } from '../db/queries/vouchers';
import { accessMethods, iqs, locks, memberships, sites } from '../db/schema';
import { hashDeviceSecret } from '../domain/secrets';
import { generateVoucherCode, hashVoucherCode, normalizeVoucherCode } from '../domain/voucher-codes';
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

/**
 * What a seed writes, decided before it writes anything and kept until it is done: a run that stopped
 * midway (Temporal away, Ctrl-C) is finished by the next one with the same secrets, codes and
 * redemption request, so what the files hold is what the database holds.
 */
interface DemoPlan {
  iqs: Array<(typeof DEMO_IQS)[number] & { secret: string }>;
  /** The first is redeemed; the rest are printed. */
  codes: string[];
  requestId: string;
}

const DEMO_IQS = [
  { serial: 'IQ-DEMO-0001', model: 'IQ2', name: 'Main entrance', firmware: '2.0.0' },
  { serial: 'IQ-DEMO-0002', model: 'IQ2', name: 'Back office', firmware: '2.0.0' },
] as const;
const VOUCHER_SPEC = { usersLimit: 10, iqsLimit: 2, durationDays: 365 };

/**
 * Development demo data, created once: accounts, a site owned by owner@example.com with IQs and
 * locks, one voucher redeemed through the real workflow, and unredeemed vouchers. Codes and device
 * secrets are kept only as hashes in the database, so the usable ones live in the local data
 * directory: the codes in the record file, the IQs' credentials in a file `npm run iq-sim` reads.
 * Each step can run again (planFile holds what an unfinished run decided); the record file, written
 * last, says it is done.
 */
export async function seedDemo(opts: {
  db: Db;
  temporal: Client;
  taskQueue: string;
  recordFile: string;
  planFile: string;
  iqCredentialsFile: string;
}) {
  const { db } = opts;
  if (existsSync(opts.recordFile)) {
    // A later start: the codes printed are only those nobody has redeemed since.
    const record = JSON.parse(await readFile(opts.recordFile, 'utf8')) as DemoRecord;
    return { ...record, unredeemedCodes: await stillRedeemable(db, record.unredeemedCodes) };
  }
  const plan = await planOf(opts.planFile);
  const ids = await demoAccounts(db);
  const siteId = await db.transaction((tx) => demoSite(tx, plan, ids));
  // Only now: the secrets in the file are those the committed IQs hold.
  await writePrivate(
    opts.iqCredentialsFile,
    plan.iqs.map(({ serial, secret, model, firmware }) => ({ serial, secret, model, firmware })),
  );
  const result = await redeemVoucher(opts.temporal, opts.taskQueue, siteId, {
    codeHash: hashVoucherCode(normalizeVoucherCode(plan.codes[0]!)!),
    requestId: plan.requestId,
    actorProfileId: ids.owner,
  });
  if (!result.ok) throw new Error(`demo redemption failed: ${result.code}`);

  const record: DemoRecord = { siteId, unredeemedCodes: plan.codes.slice(1) };
  await writePrivate(opts.recordFile, record);
  await rm(opts.planFile, { force: true });
  return record;
}

/** The unfinished run's plan, or a new one written before anything else is. */
async function planOf(planFile: string): Promise<DemoPlan> {
  if (existsSync(planFile)) return JSON.parse(await readFile(planFile, 'utf8')) as DemoPlan;
  const plan: DemoPlan = {
    iqs: DEMO_IQS.map((iq) => ({ ...iq, secret: randomBytes(32).toString('base64url') })),
    codes: Array.from({ length: 4 }, generateVoucherCode),
    requestId: randomUUID(),
  };
  await writePrivate(planFile, plan);
  return plan;
}

/** The demo accounts, each created unless it exists. */
async function demoAccounts(db: Db): Promise<{ owner: string; admin: string }> {
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
    if (!profile) throw new Error('could not create a demo account');
    if (account.platformRole) await updateProfile(db, profile.id, { platformRole: account.platformRole });
    ids[account.email] = profile.id;
  }
  return { owner: ids['owner@example.com']!, admin: ids['admin@example.com']! };
}

/**
 * The demo site and the plan's vouchers, in one transaction. A site an earlier run committed (found by
 * its IQ's serial, unique) is kept, its IQs given the plan's secrets: that run's may never have reached
 * a file that survived.
 */
async function demoSite(tx: Tx, plan: DemoPlan, ids: { owner: string; admin: string }): Promise<string> {
  const existing = await findIqBySerial(tx, DEMO_IQS[0].serial);
  if (existing) {
    for (const { serial, secret } of plan.iqs)
      await tx
        .update(iqs)
        .set({ secretHash: hashDeviceSecret(secret) })
        .where(eq(iqs.serial, serial));
  }
  const siteId = existing?.siteId ?? (await insertDemoSite(tx, plan, ids));
  await insertVouchersOnce(tx, VOUCHER_SPEC, plan.codes);
  return siteId;
}

async function insertDemoSite(tx: Tx, plan: DemoPlan, ids: { owner: string; admin: string }) {
  const [site] = await tx
    .insert(sites)
    .values({ name: 'Demo office', timezone: 'Europe/Oslo', releasedAt: new Date() })
    .returning({ id: sites.id });
  if (!site) throw new Error('site insert returned nothing');
  await tx.insert(memberships).values([
    { siteId: site.id, profileId: ids.owner, role: 'owner', masterKey: true },
    { siteId: site.id, profileId: ids.admin, role: 'admin' },
  ]);
  const devices = await tx
    .insert(iqs)
    .values(
      plan.iqs.map(({ secret, ...iq }) => ({ ...iq, siteId: site.id, secretHash: hashDeviceSecret(secret) })),
    )
    .returning({ id: iqs.id });
  await tx.insert(locks).values([
    { siteId: site.id, iqId: devices[0]!.id, name: 'Front door' },
    { siteId: site.id, iqId: devices[0]!.id, name: 'Garage' },
    { siteId: site.id, iqId: devices[1]!.id, name: 'Server room' },
  ]);
  await tx.insert(accessMethods).values([
    { siteId: site.id, profileId: ids.owner, kind: 'remote' },
    { siteId: site.id, profileId: ids.admin, kind: 'mobile_key' },
  ]);
  return site.id;
}

/** JSON only this user may read: it holds device secrets and voucher codes. */
const writePrivate = (file: string, value: unknown) =>
  writeFile(file, JSON.stringify(value, null, 2), { mode: 0o600 });
