import { and, eq, isNotNull, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { preparedPer } from '../prepared';
import { gatewayInstances, iqs } from '../schema';
import { uuidArray } from './sql-arrays';

export type Iq = typeof iqs.$inferSelect;
export type NewIq = typeof iqs.$inferInsert;

export async function insertIq(db: DbOrTx, iq: NewIq): Promise<Iq> {
  const [row] = await db.insert(iqs).values(iq).returning();
  return row!;
}

export async function listIqs(db: DbOrTx, siteId: string): Promise<Iq[]> {
  return db.select().from(iqs).where(eq(iqs.siteId, siteId)).orderBy(iqs.registeredAt, iqs.id);
}

/** An IQ of this site; another site's IQ is undefined, like a missing one (N4). */
export async function findSiteIq(db: DbOrTx, siteId: string, iqId: string): Promise<Iq | undefined> {
  const [row] = await db
    .select()
    .from(iqs)
    .where(and(eq(iqs.siteId, siteId), eq(iqs.id, iqId)));
  return row;
}

/** Read at every hello (the gateway): built once. */
const iqBySerial = preparedPer((db) =>
  db
    .select()
    .from(iqs)
    .where(eq(iqs.serial, sql.placeholder('serial')))
    .prepare('iq_by_serial'),
);

export async function findIqBySerial(db: DbOrTx, serial: string): Promise<Iq | undefined> {
  const [row] = await iqBySerial(db).execute({ serial });
  return row;
}

export async function updateIq(
  db: DbOrTx,
  iqId: string,
  changes: Partial<Pick<Iq, 'name' | 'subscribed' | 'subscribedAt'>>,
) {
  const [row] = await db.update(iqs).set(changes).where(eq(iqs.id, iqId)).returning();
  return row!;
}

/**
 * After hello: this instance holds the connection, so commands for the IQ come here. The IQ's word on
 * the access version it holds becomes its acknowledged one (ackedAfterHello). One statement under the
 * row's lock: a concurrent access change (which bumps the version under the same lock) either
 * committed before, and its version is returned, or reads this instance as the IQ's and tells it.
 */
export async function markIqOnline(
  db: DbOrTx,
  iqId: string,
  instance: string,
  firmware: string,
  reportedAccessVersion: number | undefined,
): Promise<{ subscribed: boolean; accessVersion: number; accessAcked: number }> {
  const reported = reportedAccessVersion ?? -1;
  const [row] = await iqOnline(db).execute({ iqId, instance, firmware, reported });
  return row ?? { subscribed: false, accessVersion: 0, accessAcked: 0 };
}

const iqOnline = preparedPer((db) =>
  db
    .update(iqs)
    .set({
      online: true,
      firmware: sql`${sql.placeholder('firmware')}`,
      lastSeenAt: sql`now()`,
      gatewayInstance: sql`${sql.placeholder('instance')}`,
      accessAcked: sql`case when ${sql.placeholder('reported')}::int between 0 and ${iqs.accessVersion} then ${sql.placeholder('reported')}::int else 0 end`,
    })
    .where(eq(iqs.id, sql.placeholder('iqId')))
    .returning({
      subscribed: iqs.subscribed,
      accessVersion: iqs.accessVersion,
      accessAcked: iqs.accessAcked,
    })
    .prepare('iq_online'),
);

/**
 * The connection ended. Guarded by the instance: when the IQ already reconnected to another instance,
 * that instance owns the row and a late close here must not mark it offline.
 */
export async function markIqOffline(db: DbOrTx, iqId: string, instance: string) {
  await iqOffline(db).execute({ iqId, instance });
}

const iqOffline = preparedPer((db) =>
  db
    .update(iqs)
    .set({ online: false, gatewayInstance: null })
    .where(and(eq(iqs.id, sql.placeholder('iqId')), eq(iqs.gatewayInstance, sql.placeholder('instance'))))
    .prepare('iq_offline'),
);

/**
 * One statement for every IQ an instance heard from since the last flush. It also takes back rows a
 * sweep cleared while this instance could not reach the database, but never one another instance holds.
 */
export async function touchIqs(db: DbOrTx, iqIds: string[], instance: string) {
  if (iqIds.length === 0) return;
  await db
    .update(iqs)
    .set({ lastSeenAt: sql`now()`, online: true, gatewayInstance: instance })
    .where(
      unlockedRows(
        sql`id = any(${uuidArray(iqIds)}) and (gateway_instance = ${instance} or gateway_instance is null)`,
      ),
    );
}

/**
 * IQs whose instance stopped touching them (it crashed or lost the database) are offline: any live
 * instance sweeps them, so a dead instance's IQs do not stay "online" forever.
 */
export async function sweepStaleIqs(db: DbOrTx, silentSeconds: number) {
  await db
    .update(iqs)
    .set({ online: false, gatewayInstance: null })
    .where(unlockedRows(sql`online and last_seen_at < now() - make_interval(secs => ${silentSeconds})`));
}

/**
 * The gateway's many-row writes skip rows an access change holds (it bumps versions of a site's IQs
 * under their row locks): a liveness write can wait for the next round, and two many-row updates
 * locking rows in different orders could otherwise deadlock.
 */
const unlockedRows = (where: ReturnType<typeof sql>) =>
  sql<boolean>`${iqs.id} in (select id from iqs where ${where} for update skip locked)`;

/** Where the connected IQs of a site are: instance → IQ ids. */
export async function connectedIqsOfSite(db: DbOrTx, siteId: string): Promise<Map<string, string[]>> {
  const rows = await db
    .select({ id: iqs.id, instance: iqs.gatewayInstance })
    .from(iqs)
    .where(and(eq(iqs.siteId, siteId), eq(iqs.online, true), isNotNull(iqs.gatewayInstance)));
  const byInstance = new Map<string, string[]>();
  for (const row of rows) byInstance.set(row.instance!, [...(byInstance.get(row.instance!) ?? []), row.id]);
  return byInstance;
}

/** The command endpoint of the gateway instance holding the IQ's connection; undefined when none does. */
export async function findIqCommandUrl(db: DbOrTx, iqId: string): Promise<string | undefined> {
  const [row] = await db
    .select({ online: iqs.online, commandUrl: gatewayInstances.commandUrl })
    .from(iqs)
    .innerJoin(gatewayInstances, eq(gatewayInstances.id, iqs.gatewayInstance))
    .where(eq(iqs.id, iqId));
  return row?.online ? row.commandUrl : undefined;
}

export interface SubscribedFlag {
  subscribed: boolean;
  /** The IQ's stored access version: one subscribed again catches up to it (K7). */
  accessVersion: number;
}

export async function subscribedFlags(db: DbOrTx, iqIds: string[]): Promise<Map<string, SubscribedFlag>> {
  if (iqIds.length === 0) return new Map();
  const rows = await db
    .select({ id: iqs.id, subscribed: iqs.subscribed, accessVersion: iqs.accessVersion })
    .from(iqs)
    .where(anyId(iqIds));
  return new Map(rows.map(({ id, ...flag }) => [id, flag]));
}

/** Postgres' unique violation on the serial: the caller answers 409 serial_taken. */
export function isSerialTaken(error: unknown): boolean {
  const e = error as { code?: string; constraint_name?: string; cause?: unknown } | null;
  if (e?.code === '23505' && e.constraint_name === 'iqs_serial_key') return true;
  return e?.cause !== undefined && isSerialTaken(e.cause);
}

// `= any($1::uuid[])`: one parameter however many IQs an instance holds (an IN list has a parameter limit).
const anyId = (ids: string[]) => sql<boolean>`${iqs.id} = any(${uuidArray(ids)})`;

/** An instance stopping (or starting again under the same id) lets go of every IQ it held. */
export async function markInstanceOffline(db: DbOrTx, instance: string) {
  await db
    .update(iqs)
    .set({ online: false, gatewayInstance: null })
    .where(unlockedRows(sql`gateway_instance = ${instance}`));
}

/** K7: the subscribed IQs this instance holds whose acknowledged access version is behind, and that version. */
export async function iqsBehindOnAccess(
  db: DbOrTx,
  instance: string,
): Promise<Array<{ id: string; version: number }>> {
  return db
    .select({ id: iqs.id, version: iqs.accessVersion })
    .from(iqs)
    .where(
      and(
        eq(iqs.gatewayInstance, instance),
        eq(iqs.subscribed, true),
        sql`${iqs.accessAcked} < ${iqs.accessVersion}`,
      ),
    );
}
