import type { Db, DbOrTx } from '../db/client';
import { syncAccessLists } from '../db/queries/access-lists';
import { recordEvent } from '../db/queries/events';
import { findSiteIq, insertIq, isSerialTaken, updateIq } from '../db/queries/iqs';
import { invalidatePinsOnIq } from '../db/queries/people';
import { findCurrentTerm, lockSite, slotUsage } from '../db/queries/subscriptions';
import { Refusal } from '../domain/reasons';
import type { SiteActor } from '../domain/site-roles';
import { lockSiteAs } from './site-lock';

/** K5: an IQ of this site that takes access changes; an unknown IQ or another site's is not found. */
export async function subscribedIqOf(tx: DbOrTx, siteId: string, iqId: string) {
  const iq = await findSiteIq(tx, siteId, iqId);
  if (!iq) throw new Refusal('not_found', 'No such IQ.');
  if (!iq.subscribed) throw new Refusal('iq_unsubscribed');
  return iq;
}

/** V9: a slot is free when the site's term is active and fewer IQs than its limit hold one. */
async function freeIqSlot(tx: DbOrTx, siteId: string): Promise<'free' | 'no_subscription' | 'full'> {
  const site = await lockSite(tx, siteId);
  const term = await findCurrentTerm(tx, siteId);
  if (site?.subscriptionStatus !== 'active' || !term) return 'no_subscription';
  const usage = await slotUsage(tx, siteId);
  return usage.iqs < term.iqsLimit ? 'free' : 'full';
}

/**
 * V7: installation work (registering IQs and locks) needs no subscription only on a site that never
 * had a term; an expired site is refused like any other action. The caller holds the site lock.
 */
export function assertInstallationAllowed(site: { subscriptionStatus: string } | undefined) {
  if (site?.subscriptionStatus === 'expired') throw new Refusal('no_valid_subscription');
}

/** Registers an IQ (installation work, V7); it takes a free IQ slot if there is one (V9). */
export async function registerIq(
  db: Db,
  input: {
    siteId: string;
    serial: string;
    model: string;
    name: string | null;
    secretHash: string;
    actor: SiteActor;
    now: Date;
  },
) {
  const { siteId } = input;
  try {
    return await db.transaction(async (tx) => {
      assertInstallationAllowed((await lockSiteAs(tx, siteId, input.actor)).site);
      const subscribed = (await freeIqSlot(tx, siteId)) === 'free';
      const row = await insertIq(tx, {
        siteId,
        serial: input.serial,
        model: input.model,
        name: input.name,
        secretHash: input.secretHash,
        subscribed,
        subscribedAt: subscribed ? input.now : null,
      });
      await recordEvent(tx, {
        siteId,
        type: 'iq.registered',
        actorProfileId: input.actor.id,
        iqId: row.id,
        data: { subscribed },
      });
      return row;
    });
  } catch (error) {
    if (isSerialTaken(error)) {
      throw new Refusal('serial_taken', undefined, [
        { path: 'body.serial', message: 'is already registered' },
      ]);
    }
    throw error;
  }
}

/** Renames an IQ or gives it / takes its slot (V9). `changed`: its subscribed flag changed. */
export function changeIq(
  db: Db,
  input: {
    siteId: string;
    iqId: string;
    subscribed?: boolean | undefined;
    name?: string | undefined;
    actor: SiteActor;
    now: Date;
  },
) {
  const { siteId, iqId } = input;
  return db.transaction(async (tx) => {
    // The site first, as every change of a site's rows takes it: the free slot is counted under it
    // (two IQs subscribed at once cannot share the last one), and the IQ's row is taken after it, in
    // the order syncAccessLists takes them (the other order deadlocked with a member's slot toggle).
    await lockSiteAs(tx, siteId, input.actor);
    const current = await findSiteIq(tx, siteId, iqId);
    if (!current) throw new Refusal('not_found', 'No such IQ.');
    const subscribed = input.subscribed;
    const changed = subscribed !== undefined && subscribed !== current.subscribed;
    if (changed && subscribed) {
      const slot = await freeIqSlot(tx, siteId);
      if (slot === 'no_subscription') {
        throw new Refusal(
          'no_valid_subscription',
          'This site has no valid subscription. Redeem a voucher before subscribing IQs.',
        );
      }
      if (slot === 'full') throw new Refusal('no_free_slot', 'Every IQ slot of the subscription is taken.');
    }
    if (!changed && input.name === undefined) return { iq: current, changed };
    const iq = await updateIq(tx, iqId, {
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(changed ? { subscribed, subscribedAt: subscribed ? input.now : null } : {}),
    });
    if (changed) {
      await recordEvent(tx, {
        siteId,
        type: subscribed ? 'iq.subscribed' : 'iq.unsubscribed',
        actorProfileId: input.actor.id,
        iqId,
      });
    }
    return { iq, changed };
  });
}

/** K3: every active PIN on the IQ needs activation again. Returns how many were invalidated. */
export function resetIq(db: Db, input: { siteId: string; iqId: string; actor: SiteActor; now: Date }) {
  return db.transaction(async (tx) => {
    await lockSiteAs(tx, input.siteId, input.actor);
    await subscribedIqOf(tx, input.siteId, input.iqId);
    const n = await invalidatePinsOnIq(tx, input.iqId);
    // K3, K7: the invalidated PINs leave the IQ's list.
    await syncAccessLists(tx, { siteId: input.siteId, iqIds: [input.iqId] });
    await recordEvent(tx, {
      siteId: input.siteId,
      at: input.now,
      type: 'iq.reset',
      actorProfileId: input.actor.id,
      iqId: input.iqId,
      data: { pinsInvalidated: n },
    });
    return n;
  });
}
