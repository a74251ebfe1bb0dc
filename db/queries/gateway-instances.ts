import { eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { gatewayInstances } from '../schema';

/** A gateway instance's command endpoint, written at its start (a restart under the same id replaces it). */
export async function registerGatewayInstance(db: DbOrTx, id: string, commandUrl: string) {
  await db
    .insert(gatewayInstances)
    .values({ id, commandUrl })
    .onConflictDoUpdate({ target: gatewayInstances.id, set: { commandUrl, heartbeatAt: sql`now()` } });
}

/**
 * The instance is alive: its heartbeat moves on, and instances silent for `silentSeconds` are gone
 * (crashed without deleting their row): their rows go, as their IQs' rows go offline (sweepStaleIqs).
 */
export async function touchGatewayInstance(db: DbOrTx, id: string, silentSeconds: number) {
  await db.execute(sql`
    with touched as (update gateway_instances set heartbeat_at = now() where id = ${id})
    delete from gateway_instances
    where id <> ${id} and heartbeat_at < now() - make_interval(secs => ${silentSeconds})`);
}

export async function removeGatewayInstance(db: DbOrTx, id: string) {
  await db.delete(gatewayInstances).where(eq(gatewayInstances.id, id));
}
