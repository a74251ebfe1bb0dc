import { randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../db/client';
import { iqs, locks } from '../db/schema';
import { hashDeviceSecret } from '../domain/secrets';
import type { IqCredentials } from '../iq-sim/iq';

/**
 * `count` subscribed IQ2s at a site, one door lock each, for a bench's simulated fleet: the
 * credentials the simulator signs in with, and each lock with its IQ.
 */
export async function seedIqsWithLocks(db: Db, siteId: string, count: number, serialPrefix: string) {
  const batch = Array.from({ length: count }, () => ({
    serial: `${serialPrefix}-${randomUUID()}`,
    secret: randomBytes(24).toString('base64url'),
  }));
  const rows = await db
    .insert(iqs)
    .values(
      batch.map((b) => ({
        siteId,
        serial: b.serial,
        model: 'IQ2',
        secretHash: hashDeviceSecret(b.secret),
        subscribed: true,
      })),
    )
    .returning({ id: iqs.id });
  const lockRows = await db
    .insert(locks)
    .values(rows.map((r) => ({ siteId, iqId: r.id, name: 'Door' })))
    .returning({ id: locks.id, iqId: locks.iqId });
  const credentials: IqCredentials[] = batch.map((b) => ({ ...b, model: 'IQ2', firmware: '1.0.0' }));
  return { credentials, locks: lockRows.map((l) => ({ lockId: l.id, iqId: l.iqId })) };
}
