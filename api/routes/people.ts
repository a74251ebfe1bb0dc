import { randomInt, randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { and, eq } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client';
import { syncAccessLists } from '../../db/queries/access-lists';
import { recordEvent } from '../../db/queries/events';
import { findMembership } from '../../db/queries/memberships';
import {
  autoSubscribe,
  findAccessMethod,
  findIqOfSite,
  hasValidAccess,
  listPeople,
  pinsOnIq,
  revokeAccess,
  revokeMemberAccess,
  setSubscribed,
} from '../../db/queries/people';
import { findProfileByEmail, findProfileById } from '../../db/queries/profiles';
import type { Site } from '../../db/queries/sites';
import { findCurrentTerm, lockSite, slotUsage } from '../../db/queries/subscriptions';
import { accessMethods, memberships } from '../../db/schema';
import { devicePinHash } from '../../domain/device-pin';
import { subscribeRefusal } from '../../domain/subscription';
import { hashPassword } from '../auth/passwords';
import type { AppDeps } from '../deps';
import { sendOrUnavailable } from '../mail';
import { forbidden, notFound, problem } from '../problem';
import { createRouter } from '../router';
import { EmailField, jsonBody, problemResponses, SITE_PROBLEMS, SiteIdParam } from '../schemas';
import { type SiteAccessRole, siteAccess } from '../site-access';
import { inviteToSite } from './invitations';

/** S6: owners and admins manage people; so does the installer until release, who sets the site up (S1). */
const MANAGERS: SiteAccessRole[] = ['owner', 'admin', 'installer'];

const AccessSchema = z
  .object({
    id: z.uuid(),
    kind: z.enum(['tag', 'mobile_key', 'pin', 'remote']),
    iqId: z.uuid().nullable(),
    tagUid: z.string().nullable(),
    status: z.enum(['active', 'needs_activation', 'revoked']),
  })
  .openapi('AccessMethod');

const PersonSchema = z
  .object({
    profileId: z.uuid(),
    name: z.string(),
    email: z.string(),
    role: z.enum(['owner', 'admin', 'user']),
    subscribed: z.boolean(),
    masterKey: z.boolean(),
    access: z.array(AccessSchema),
  })
  .openapi('Person');

const InvitedSchema = z
  .object({ email: z.string(), role: z.enum(['admin', 'user']), invited: z.literal(true) })
  .openapi('Invited');

const PersonParams = SiteIdParam.extend({ profileId: z.uuid() });
const AccessParams = PersonParams.extend({ accessId: z.uuid() });
const personContent = { 'application/json': { schema: PersonSchema } };

const listRoute = createRoute({
  method: 'get',
  path: '/{siteId}/people',
  tags: ['People'],
  summary: 'Members of the site with their live access methods',
  security: [{ bearer: [] }],
  request: { params: SiteIdParam },
  responses: {
    200: { description: 'People', content: { 'application/json': { schema: z.array(PersonSchema) } } },
    ...problemResponses(...SITE_PROBLEMS, 'no_valid_subscription'),
  },
});

const addRoute = createRoute({
  method: 'post',
  path: '/{siteId}/people',
  tags: ['People'],
  summary:
    'Add a member by email. A profile with that email joins now (201 the member); an unknown email ' +
    'is invited (201 {email, role, invited: true}). 409 already_member, 409 already_invited.',
  security: [{ bearer: [] }],
  request: {
    params: SiteIdParam,
    ...jsonBody(z.object({ email: EmailField, role: z.enum(['admin', 'user']) })),
  },
  responses: {
    201: {
      description: 'Member added, or invitation sent',
      content: { 'application/json': { schema: z.union([PersonSchema, InvitedSchema]) } },
    },
    ...problemResponses(
      ...SITE_PROBLEMS,
      'no_valid_subscription',
      'malformed_json',
      'already_member',
      'already_invited',
      'email_unavailable',
    ),
  },
});

const PatchPerson = z
  .object({
    subscribed: z.boolean().optional(),
    role: z.enum(['admin', 'user']).optional(),
    masterKey: z.boolean().optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, { message: 'name at least one of subscribed, role, masterKey' });

const patchRoute = createRoute({
  method: 'patch',
  path: '/{siteId}/people/{profileId}',
  tags: ['People'],
  summary:
    'Change a member: subscribed (V8 refusals: 403 forbidden, 403 no_valid_subscription, 422 ' +
    'no_valid_access, 409 no_free_slot), role (never the owner’s: 422 owner_role_fixed; use the ' +
    'ownership transfer), masterKey (owner only; the owner always keeps theirs: 422 owner_holds_master_key)',
  security: [{ bearer: [] }],
  request: { params: PersonParams, ...jsonBody(PatchPerson) },
  responses: {
    200: { description: 'Member', content: personContent },
    ...problemResponses(
      ...SITE_PROBLEMS,
      'no_valid_subscription',
      'malformed_json',
      'no_valid_access',
      'owner_role_fixed',
      'owner_holds_master_key',
      'no_free_slot',
    ),
  },
});

const removeRoute = createRoute({
  method: 'delete',
  path: '/{siteId}/people/{profileId}',
  tags: ['People'],
  summary: 'Remove a member; their access methods at the site are revoked (S6). 409 owner_cannot_leave.',
  security: [{ bearer: [] }],
  request: { params: PersonParams },
  responses: {
    204: { description: 'Removed' },
    ...problemResponses(...SITE_PROBLEMS, 'no_valid_subscription', 'owner_cannot_leave'),
  },
});

const AddAccess = z
  .object({
    kind: z.enum(['tag', 'mobile_key', 'pin', 'remote']),
    iqId: z.uuid().optional(),
    tagUid: z.string().trim().min(1).max(100).optional(),
  })
  .superRefine((b, ctx) => {
    if (b.kind === 'tag' && !b.tagUid)
      ctx.addIssue({ code: 'custom', path: ['tagUid'], message: 'is required for a tag' });
    if (b.kind !== 'tag' && b.tagUid)
      ctx.addIssue({ code: 'custom', path: ['tagUid'], message: 'is only for a tag' });
    if (b.kind === 'pin' && !b.iqId)
      ctx.addIssue({ code: 'custom', path: ['iqId'], message: 'is required for a PIN' });
    if (b.kind !== 'pin' && b.iqId)
      ctx.addIssue({ code: 'custom', path: ['iqId'], message: 'is only for a PIN' });
  });

const GrantSchema = z.object({
  id: z.uuid(),
  kind: z.enum(['tag', 'mobile_key', 'pin', 'remote']),
  pin: z.string().optional().openapi({ description: 'Shown once; only a hash is kept' }),
  subscribed: z.boolean().openapi({ description: 'Whether the member is subscribed now (V9)' }),
});

const addAccessRoute = createRoute({
  method: 'post',
  path: '/{siteId}/people/{profileId}/access',
  tags: ['People'],
  summary:
    'Give a member an access method. A PIN (6 digits, for one IQ of this site) is shown once. A ' +
    'member’s first valid method takes a free slot (V9). 409 iq_unsubscribed (K5), 409 pin_exists ' +
    '(use pin-reset).',
  security: [{ bearer: [] }],
  request: { params: PersonParams, ...jsonBody(AddAccess) },
  responses: {
    201: { description: 'Granted', content: { 'application/json': { schema: GrantSchema } } },
    ...problemResponses(
      ...SITE_PROBLEMS,
      'no_valid_subscription',
      'malformed_json',
      'iq_unsubscribed',
      'pin_exists',
    ),
  },
});

const revokeRoute = createRoute({
  method: 'delete',
  path: '/{siteId}/people/{profileId}/access/{accessId}',
  tags: ['People'],
  summary: 'Revoke one access method',
  security: [{ bearer: [] }],
  request: { params: AccessParams },
  responses: {
    204: { description: 'Revoked' },
    ...problemResponses(...SITE_PROBLEMS, 'no_valid_subscription'),
  },
});

const pinResetRoute = createRoute({
  method: 'post',
  path: '/{siteId}/people/{profileId}/pin-reset',
  tags: ['People'],
  summary:
    'Replace the member’s PIN on one IQ (K2; also re-activates it after an IQ reset, K3). The new PIN ' +
    'is answered once and emailed to the member. 404 pin_not_found when they hold none there.',
  security: [{ bearer: [] }],
  request: { params: PersonParams, ...jsonBody(z.object({ iqId: z.uuid() })) },
  responses: {
    200: { description: 'New PIN', content: { 'application/json': { schema: GrantSchema } } },
    ...problemResponses(
      ...SITE_PROBLEMS,
      'no_valid_subscription',
      'malformed_json',
      'pin_not_found',
      'iq_unsubscribed',
      'email_unavailable',
    ),
  },
});

const newPin = () => randomInt(0, 1_000_000).toString().padStart(6, '0');

async function memberOf(tx: DbOrTx, siteId: string, profileId: string) {
  const member = await findMembership(tx, siteId, profileId);
  if (!member) throw notFound('member');
  return member;
}

/** K5: an IQ of this site that takes access changes. */
async function subscribedIq(tx: DbOrTx, siteId: string, iqId: string) {
  const iq = await findIqOfSite(tx, siteId, iqId);
  if (!iq) throw notFound('IQ');
  if (!iq.subscribed) throw problem('iq_unsubscribed');
  return iq;
}

/** What its IQ verifies a new PIN with (domain/device-pin.ts); the cloud keeps its scrypt hash besides. */
const devicePinHashOn = (iq: { secretHash: string }, accessId: string, pin: string) =>
  devicePinHash(Buffer.from(iq.secretHash, 'hex'), accessId, pin);

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
    id?: string;
    kind: 'tag' | 'mobile_key' | 'pin' | 'remote';
    iqId?: string;
    tagUid?: string;
    pinHash?: string;
    devicePinHash?: string;
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

export function peopleRoutes(deps: AppDeps) {
  const { db } = deps;
  const router = createRouter();

  const person = async (siteId: string, profileId: string) => {
    const [row] = await listPeople(db, siteId, profileId);
    if (!row) throw notFound('member');
    return row;
  };

  return router
    .openapi(listRoute, async (c) => {
      const { siteId } = c.req.valid('param');
      await siteAccess(deps, c, siteId, { roles: MANAGERS });
      return c.json(await listPeople(db, siteId), 200);
    })
    .openapi(addRoute, async (c) => {
      const { siteId } = c.req.valid('param');
      const { email, role } = c.req.valid('json');
      const actorId = c.get('profile').id;
      const { site } = await siteAccess(deps, c, siteId, { roles: MANAGERS });
      const now = deps.now();
      const added = await db.transaction(async (tx) => {
        const profile = await findProfileByEmail(tx, email);
        if (!profile) {
          const invitation = await inviteToSite(deps, tx, { site, email, role, inviterId: actorId });
          return { kind: 'invited' as const, email: invitation.email };
        }
        const [row] = await tx
          .insert(memberships)
          .values({ siteId, profileId: profile.id, role, joinedAt: now })
          .onConflictDoNothing()
          .returning();
        if (!row) throw problem('already_member');
        await recordEvent(tx, {
          siteId,
          at: now,
          type: 'member.added',
          actorProfileId: actorId,
          subjectProfileId: profile.id,
          data: { role },
        });
        return { kind: 'member' as const, profileId: profile.id };
      });
      if (added.kind === 'invited') return c.json({ email: added.email, role, invited: true as const }, 201);
      return c.json(await person(siteId, added.profileId), 201);
    })
    .openapi(patchRoute, async (c) => {
      const { siteId, profileId } = c.req.valid('param');
      const body = c.req.valid('json');
      const actorId = c.get('profile').id;
      // The subscription is checked below, in V8's order, under the site lock.
      const { role: actorRole } = await siteAccess(deps, c, siteId, {
        roles: MANAGERS,
        allowWithoutSubscription: true,
      });
      const now = deps.now();
      await db.transaction(async (tx) => {
        const site = (await lockSite(tx, siteId))!;
        const target = await memberOf(tx, siteId, profileId);
        if (body.subscribed === true) {
          const term = await findCurrentTerm(tx, siteId);
          const refusal = subscribeRefusal({
            actorRole,
            siteStatus: site.subscriptionStatus,
            usedUserSlots: (await slotUsage(tx, siteId)).users,
            usersLimit: term?.usersLimit ?? 0,
            targetAlreadySubscribed: target.subscribed,
            targetHasValidAccess: await hasValidAccess(tx, siteId, profileId),
          });
          if (refusal) throw problem(refusal.code, refusal.message);
        } else if (site.subscriptionStatus !== 'active') {
          throw problem('no_valid_subscription');
        }
        if (body.subscribed === false && actorRole === 'installer') {
          throw forbidden('Only the site owner or an admin can choose which members are subscribed.');
        }
        if (body.masterKey !== undefined && actorRole !== 'owner') {
          throw forbidden('Only the site owner grants or takes the master key.');
        }
        if (target.role === 'owner' && body.role !== undefined) {
          throw problem('owner_role_fixed', undefined, {
            errors: [{ path: 'body.role', message: 'cannot change the owner’s role' }],
          });
        }
        if (target.role === 'owner' && body.masterKey === false) {
          throw problem('owner_holds_master_key', undefined, {
            errors: [{ path: 'body.masterKey', message: 'cannot be taken from the owner' }],
          });
        }
        if (body.subscribed !== undefined && body.subscribed !== target.subscribed) {
          await setSubscribed(tx, siteId, profileId, body.subscribed, now);
          // K7: an unsubscribed member's credentials leave the IQs; subscribed again, they return.
          await syncAccessLists(tx, { siteId, profileId });
        }
        if (body.role !== undefined || body.masterKey !== undefined) {
          await tx
            .update(memberships)
            .set({
              ...(body.role ? { role: body.role } : {}),
              ...(body.masterKey !== undefined ? { masterKey: body.masterKey } : {}),
            })
            .where(and(eq(memberships.siteId, siteId), eq(memberships.profileId, profileId)));
        }
        await recordEvent(tx, {
          siteId,
          at: now,
          type: 'member.updated',
          actorProfileId: actorId,
          subjectProfileId: profileId,
          data: body,
        });
      });
      return c.json(await person(siteId, profileId), 200);
    })
    .openapi(removeRoute, async (c) => {
      const { siteId, profileId } = c.req.valid('param');
      const actorId = c.get('profile').id;
      await siteAccess(deps, c, siteId, { roles: MANAGERS });
      const now = deps.now();
      await db.transaction(async (tx) => {
        await lockSite(tx, siteId);
        const target = await memberOf(tx, siteId, profileId);
        if (target.role === 'owner') {
          throw problem('owner_cannot_leave');
        }
        const revoked = await revokeMemberAccess(tx, siteId, profileId, now);
        await tx
          .delete(memberships)
          .where(and(eq(memberships.siteId, siteId), eq(memberships.profileId, profileId)));
        await syncAccessLists(tx, { siteId, profileId });
        await recordEvent(tx, {
          siteId,
          at: now,
          type: 'member.removed',
          actorProfileId: actorId,
          subjectProfileId: profileId,
          data: { revokedAccessIds: revoked },
        });
      });
      return c.body(null, 204);
    })
    .openapi(addAccessRoute, async (c) => {
      const { siteId, profileId } = c.req.valid('param');
      const body = c.req.valid('json');
      const actorId = c.get('profile').id;
      await siteAccess(deps, c, siteId, { roles: MANAGERS });
      const pin = body.kind === 'pin' ? newPin() : undefined;
      const pinHash = pin ? await hashPassword(pin) : undefined;
      const id = randomUUID();
      const now = deps.now();
      const granted = await db.transaction(async (tx) => {
        const site = (await lockSite(tx, siteId))!;
        const member = await memberOf(tx, siteId, profileId);
        let devicePin: string | undefined;
        if (body.iqId) {
          const iq = await subscribedIq(tx, siteId, body.iqId);
          if ((await pinsOnIq(tx, siteId, profileId, body.iqId)).length > 0) {
            throw problem('pin_exists');
          }
          if (pin) devicePin = devicePinHashOn(iq, id, pin);
        }
        const result = await grant(
          tx,
          site,
          member,
          { id, ...body, pinHash, devicePinHash: devicePin },
          { actorId, now, type: 'access.granted' },
        );
        await syncAccessLists(tx, { siteId, profileId });
        return result;
      });
      return c.json({ ...granted, ...(pin ? { pin } : {}) }, 201);
    })
    .openapi(revokeRoute, async (c) => {
      const { siteId, profileId, accessId } = c.req.valid('param');
      const actorId = c.get('profile').id;
      await siteAccess(deps, c, siteId, { roles: MANAGERS });
      const now = deps.now();
      await db.transaction(async (tx) => {
        const method = await findAccessMethod(tx, siteId, profileId, accessId);
        if (!method) throw notFound('access method');
        await revokeAccess(tx, [method.id], now);
        await syncAccessLists(tx, { siteId, profileId });
        await recordEvent(tx, {
          siteId,
          at: now,
          type: 'access.revoked',
          actorProfileId: actorId,
          subjectProfileId: profileId,
          iqId: method.iqId,
          data: { accessId: method.id, kind: method.kind },
        });
      });
      return c.body(null, 204);
    })
    .openapi(pinResetRoute, async (c) => {
      const { siteId, profileId } = c.req.valid('param');
      const { iqId } = c.req.valid('json');
      const actorId = c.get('profile').id;
      await siteAccess(deps, c, siteId, { roles: MANAGERS });
      const pin = newPin();
      const pinHash = await hashPassword(pin);
      const id = randomUUID();
      const now = deps.now();
      const granted = await db.transaction(async (tx) => {
        const site = (await lockSite(tx, siteId))!;
        const member = await memberOf(tx, siteId, profileId);
        const iq = await subscribedIq(tx, siteId, iqId);
        const old = await pinsOnIq(tx, siteId, profileId, iqId);
        if (old.length === 0) throw problem('pin_not_found');
        await revokeAccess(
          tx,
          old.map((m) => m.id),
          now,
        );
        const result = await grant(
          tx,
          site,
          member,
          { id, kind: 'pin', iqId, pinHash, devicePinHash: devicePinHashOn(iq, id, pin) },
          { actorId, now, type: 'access.pin_reset' },
        );
        await syncAccessLists(tx, { siteId, profileId });
        const profile = await findProfileById(tx, profileId);
        await sendOrUnavailable(deps.mailer, {
          to: profile!.email,
          template: 'pin-reset',
          props: { name: profile!.name, siteName: site.name, iqName: iq.name ?? iq.serial, pin },
          idempotencyKey: `pin-reset:${result.id}`,
        });
        return result;
      });
      return c.json({ ...granted, pin }, 200);
    });
}
