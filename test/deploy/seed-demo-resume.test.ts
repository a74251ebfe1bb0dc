import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { findIqBySerial } from '../../db/queries/iqs';
import { stillRedeemable } from '../../db/queries/vouchers';
import { sites, vouchers } from '../../db/schema';
import { deviceSecretMatches } from '../../domain/secrets';
import { seedDemo } from '../../scripts/seed-demo';
import { startTestSystem, type TestSystem } from '../support/system';

/**
 * A first `npm start` interrupted after the demo site was written (here: Temporal away at the
 * redemption) is finished by the next start: the IQs' credentials file opens the IQs the database
 * holds, and nothing is written twice.
 */
let sys: TestSystem;
let dataDir: string;
beforeAll(async () => {
  sys = await startTestSystem({});
  dataDir = await mkdtemp(join(tmpdir(), 'ks-seed-'));
});
afterAll(async () => {
  await sys?.close();
  await rm(dataDir, { recursive: true, force: true });
});

const temporalAway = {
  workflow: {
    executeUpdateWithStart: () => Promise.reject(new Error('Temporal is away')),
  },
} as unknown as Client;

const seed = (temporal: Client, dir = dataDir) =>
  seedDemo({
    db: sys.db,
    temporal,
    taskQueue: sys.taskQueue,
    recordFile: join(dir, 'demo.json'),
    planFile: join(dir, 'demo-plan.json'),
    iqCredentialsFile: join(dir, 'demo-iqs.json'),
  });

/** The credentials file's secrets match the IQs' hashes, as the gateway checks a hello. */
async function expectCredentialsOpen(dir: string, siteId: string) {
  const credentials = JSON.parse(await readFile(join(dir, 'demo-iqs.json'), 'utf8')) as Array<{
    serial: string;
    secret: string;
  }>;
  expect(credentials).toHaveLength(2);
  for (const { serial, secret } of credentials) {
    const iq = await findIqBySerial(sys.db, serial);
    expect(iq?.siteId).toBe(siteId);
    expect(deviceSecretMatches(secret, iq!.secretHash)).toBe(true);
  }
}

it('finishes on the next start what a start interrupted at the redemption left', async () => {
  await expect(seed(temporalAway)).rejects.toThrow('Temporal is away');
  const demo = await seed(sys.temporal);

  await expectCredentialsOpen(dataDir, demo.siteId);
  expect(await sys.db.select({ id: sites.id }).from(sites)).toEqual([{ id: demo.siteId }]);
  const issued = await sys.db.select().from(vouchers);
  expect(issued).toHaveLength(4);
  expect(issued.filter((v) => v.redeemedSiteId === demo.siteId)).toHaveLength(1);
  expect(await stillRedeemable(sys.db, demo.unredeemedCodes)).toEqual(demo.unredeemedCodes);
  expect(demo.unredeemedCodes).toHaveLength(3);
  const [site] = await sys.db.select().from(sites).where(eq(sites.id, demo.siteId));
  expect(site?.subscriptionStatus).toBe('active');
  expect(existsSync(join(dataDir, 'demo-plan.json'))).toBe(false);

  // A later start reads the record and writes nothing.
  expect(await seed(temporalAway)).toEqual(demo);
});

it('adopts a demo site an earlier seed left without a plan, its IQs given the new credentials', async () => {
  const [site] = await sys.db.select({ id: sites.id }).from(sites);
  const freshDir = await mkdtemp(join(tmpdir(), 'ks-seed-'));
  try {
    expect((await seed(sys.temporal, freshDir)).siteId).toBe(site!.id);
    await expectCredentialsOpen(freshDir, site!.id);
    expect(await sys.db.select({ id: sites.id }).from(sites)).toHaveLength(1);
  } finally {
    await rm(freshDir, { recursive: true, force: true });
  }
});
