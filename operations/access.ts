import { randomUUID } from 'node:crypto';
import type { Db, DbOrTx } from '../db/client';
import { syncAccessLists } from '../db/queries/access-lists';
import { recordEvent } from '../db/queries/events';
import {
  autoSubscribe,
  findAccessMethod,
  hasValidAccess,
  livePinsOnIq,
  liveTagAt,
  pinsOnIq,
  revokeAccess,
} from '../db/queries/people';
import { findProfileById } from '../db/queries/profiles';
import type { Site } from '../db/queries/sites';
import { accessMethods } from '../db/schema';
import { devicePinHash, devicePinMatches } from '../domain/device-pin';
import { Refusal } from '../domain/reasons';
import type { SiteActor } from '../domain/site-roles';
import type { Mailer } from '../emails/mailer';
import { subscribedIqOf } from './iqs';
import { sendOrRefuse } from './mail';
import { memberOf } from './members';
import { lockSiteAs } from './site-lock';

export type AccessKind = 'tag' | 'mobile_key' | 'pin' | 'remote';

/** What its IQ verifies a new PIN with (domain/device-pin.ts); the cloud keeps its scrypt hash besides. */
const devicePinHashOn = (iq: { secretHash: string }, accessId: string, pin: string) =>
  devicePinHash(Buffer.from(iq.secretHash, 'hex'), accessId, pin);

/** A PIN drawn for a member (shown once, never stored) and its scrypt hash. */
export interface DrawnPin {
  pin: string;
  hash: string;
}

/** The PIN the caller drew, and how to draw another when that one is taken on the IQ. */
export interface PinSource {
  drawn: DrawnPin;
  draw(): Promise<DrawnPin>;
}

/** Far beyond what chance needs: ten draws all taken means nearly every PIN of the IQ is. */
const MAX_PIN_DRAWS = 10;

/**
 * K2, K8: the IQ tells PINs apart by their value alone, so a PIN equal to another live one on the IQ
 * would open as that member and be recorded as them. Drawn again until it differs; six random digits
 * collide by chance once a few hundred PINs share an IQ. The caller holds the site lock.
 */
async function pinFreeOn(
  tx: DbOrTx,
  iq: { id: string; siteId: string; secretHash: string },
  source: PinSource,
): Promise<DrawnPin> {
  const key = Buffer.from(iq.secretHash, 'hex');
  const live = await livePinsOnIq(tx, iq.siteId, iq.id);
  const taken = (pin: string) =>
    live.some((m) => m.devicePinHash !== null && devicePinMatches(key, m.id, pin, m.devicePinHash));
  let drawn = source.drawn;
  for (let draws = 1; taken(drawn.pin); draws++) {
    if (draws >= MAX_PIN_DRAWS) throw new Refusal('pin_exists', 'No free PIN was found on this IQ.');
    drawn = await source.draw();
  }
  return drawn;
}

/**
 * Inserts an access method and applies V9 in the caller's transaction (which holds the site lock);
 * records the events. The caller brings the IQs' lists up to date (syncAccessLists) afterwards.
 * Returns the answer's `subscribed`.
 */
async function grant(
  tx: DbOrTx,
  site: Site,
  member: { profileId: string; subscribed: boolean },
  values: {
    id: string;
    kind: AccessKind;
    iqId?: string | undefined;
    tagUid?: string | undefined;
    pinHash?: string | undefined;
    devicePinHash?: string | undefined;
  },
  ctx: { actorId: string; now: Date; type: 'access.granted' | 'access.pin_reset' },
) {
  const hadAccess = await hasValidAccess(tx, site.id, member.profileId);
  const [row] = await tx
    .insert(accessMethods)
    .values({ siteId: site.id, profileId: member.profileId, ...values, createdAt: ctx.now })
    .returning({ id: accessMethods.id, kind: accessMethods.kind });
  const base = {
    siteId: site.id,
    at: ctx.now,
    actorProfileId: ctx.actorId,
    subjectProfileId: member.profileId,
  };
  await recordEvent(tx, {
    ...base,
    type: ctx.type,
    iqId: values.iqId ?? null,
    data: { accessId: row!.id, kind: values.kind },
  });
  const autoSubscribed = !hadAccess && (await autoSubscribe(tx, site, member, ctx.now));
  if (autoSubscribed)
    await recordEvent(tx, { ...base, type: 'member.subscribed', data: { automatic: true } });
  return { id: row!.id, kind: row!.kind, subscribed: member.subscribed || autoSubscribed };
}

/**
 * Gives a member an access method (K1); a PIN goes to one subscribed IQ of the site (K5), one PIN
 * per IQ. A member's first valid method takes a free slot (V9).
 */
export function grantAccess(
  db: Db,
  input: {
    siteId: string;
    profileId: string;
    kind: AccessKind;
    iqId?: string | undefined;
    tagUid?: string | undefined;
    /** For a PIN: where its PIN comes from. */
    pin?: PinSource | undefined;
    actor: SiteActor;
    now: Date;
  },
) {
  const { siteId, profileId, now, pin } = input;
  const actorId = input.actor.id;
  const id = randomUUID();
  return db.transaction(async (tx) => {
    const { site } = await lockSiteAs(tx, siteId, input.actor);
    const member = await memberOf(tx, siteId, profileId);
    // One physical tag opens for one person: a UID already live at the site is refused.
    if (input.kind === 'tag' && input.tagUid && (await liveTagAt(tx, siteId, input.tagUid))) {
      throw new Refusal('tag_taken', undefined, [
        { path: 'body.tagUid', message: 'is already held at this site' },
      ]);
    }
    let chosen: DrawnPin | undefined;
    let devicePin: string | undefined;
    if (input.iqId) {
      const iq = await subscribedIqOf(tx, siteId, input.iqId);
      if ((await pinsOnIq(tx, siteId, profileId, input.iqId)).length > 0) throw new Refusal('pin_exists');
      if (pin) {
        chosen = await pinFreeOn(tx, iq, pin);
        devicePin = devicePinHashOn(iq, id, chosen.pin);
      }
    }
    const values = {
      id,
      kind: input.kind,
      iqId: input.iqId,
      tagUid: input.tagUid,
      pinHash: chosen?.hash,
      devicePinHash: devicePin,
    };
    const result = await grant(tx, site, member, values, { actorId, now, type: 'access.granted' });
    await syncAccessLists(tx, { siteId, profileId });
    return { ...result, ...(chosen ? { pin: chosen.pin } : {}) };
  });
}

/** Revokes one live access method of the member. */
export function revokeAccessMethod(
  db: Db,
  input: { siteId: string; profileId: string; accessId: string; actor: SiteActor; now: Date },
): Promise<void> {
  const { siteId, profileId, now } = input;
  return db.transaction(async (tx) => {
    // The site before the method's row, in the order every other change of the site takes them.
    const { site } = await lockSiteAs(tx, siteId, input.actor);
    const method = await findAccessMethod(tx, siteId, profileId, input.accessId);
    if (!method) throw new Refusal('not_found', 'No such access method.');
    await revokeAccess(tx, [method.id], now);
    await syncAccessLists(tx, { siteId, profileId }, site);
    await recordEvent(tx, {
      siteId,
      at: now,
      type: 'access.revoked',
      actorProfileId: input.actor.id,
      subjectProfileId: profileId,
      iqId: method.iqId,
      data: { accessId: method.id, kind: method.kind },
    });
  });
}

/**
 * K2: replaces the member's PIN on one IQ (also re-activating it after an IQ reset, K3) and emails
 * the new PIN to the member; without the email nothing changes.
 */
export function resetPin(
  db: Db,
  mailer: Mailer,
  input: {
    siteId: string;
    profileId: string;
    iqId: string;
    pin: PinSource;
    actor: SiteActor;
    now: Date;
  },
) {
  const { siteId, profileId, iqId, now } = input;
  const id = randomUUID();
  return db.transaction(async (tx) => {
    const { site } = await lockSiteAs(tx, siteId, input.actor);
    const member = await memberOf(tx, siteId, profileId);
    const iq = await subscribedIqOf(tx, siteId, iqId);
    const old = await pinsOnIq(tx, siteId, profileId, iqId);
    if (old.length === 0) throw new Refusal('pin_not_found');
    await revokeAccess(
      tx,
      old.map((m) => m.id),
      now,
    );
    const chosen = await pinFreeOn(tx, iq, input.pin);
    const result = await grant(
      tx,
      site,
      member,
      { id, kind: 'pin', iqId, pinHash: chosen.hash, devicePinHash: devicePinHashOn(iq, id, chosen.pin) },
      { actorId: input.actor.id, now, type: 'access.pin_reset' },
    );
    await syncAccessLists(tx, { siteId, profileId });
    const profile = await findProfileById(tx, profileId);
    await sendOrRefuse(
      mailer,
      {
        to: profile!.email,
        template: 'pin-reset',
        props: { name: profile!.name, siteName: site.name, iqName: iq.name ?? iq.serial, pin: chosen.pin },
        idempotencyKey: `pin-reset:${result.id}`,
      },
      tx,
    );
    return { ...result, pin: chosen.pin };
  });
}
