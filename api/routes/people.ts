import { randomInt } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { listPeople, listPeopleJson, peopleJsonText } from '../../db/queries/people';
import { normalizeEmail } from '../../db/queries/profiles';
import type { SiteRole } from '../../db/schema/sites';
import {
  type DrawnPin,
  grantAccess,
  type PinSource,
  resetPin,
  revokeAccessMethod,
} from '../../operations/access';
import { withdrawInvitation } from '../../operations/invitations';
import { changeMember, invitePerson, leaveSite, removeMember } from '../../operations/members';
import { hashPassword } from '../auth/passwords';
import { readOf } from '../auth/reads-with-session';
import { wakeDeletionsOfSiteLeft } from '../deletion-wake';
import type { AppDeps } from '../deps';
import { jsonText } from '../json-text';
import { notFound, problem } from '../problem';
import { createRouter } from '../router';
import {
  EmailField,
  IdField,
  jsonBody,
  problemResponses,
  SITE_PROBLEMS,
  SiteIdParam,
  TagUidField,
} from '../schemas';
import { type SiteAccessRole, siteAccess } from '../site-access';
import { refusedAttemptAs429, throttleKey } from '../throttle';

/** S6, S7: owners and admins manage people; so does the installer until release, who sets the site up (S1). */
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
    status: z.literal('member'),
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
  .object({
    status: z.literal('invited'),
    invitationId: z.uuid(),
    email: z.string(),
    role: z.enum(['owner', 'admin', 'user']),
    expiresAt: z.iso.datetime(),
  })
  .openapi('Invited', {
    description:
      'A pending invitation (S7): no membership, slot or access method until the person accepts; ' +
      'it expires after 14 days',
  });

const invitedJson = (i: { invitationId: string; email: string; role: SiteRole; expiresAt: Date }) => ({
  status: 'invited' as const,
  invitationId: i.invitationId,
  email: i.email,
  role: i.role,
  expiresAt: i.expiresAt.toISOString(),
});

const PeopleList = z.array(z.union([PersonSchema, InvitedSchema]));

const PersonParams = SiteIdParam.extend({ profileId: IdField });
const InvitationParams = SiteIdParam.extend({ invitationId: IdField });
const AccessParams = PersonParams.extend({ accessId: IdField });
const personContent = { 'application/json': { schema: PersonSchema } };

const listRoute = createRoute({
  method: 'get',
  path: '/{siteId}/people',
  operationId: 'listPeople',
  tags: ['People'],
  summary:
    'Members of the site with their live access methods, then its pending invitations. The installer ' +
    'reads it without a term on a site that never had one, to find the owner’s invitation (V7).',
  security: [{ bearer: [] }],
  request: { params: SiteIdParam },
  responses: {
    200: {
      description: 'Members (status member) and pending invitations (status invited)',
      content: { 'application/json': { schema: PeopleList } },
    },
    ...problemResponses(...SITE_PROBLEMS, 'no_valid_subscription'),
  },
});

const addRoute = createRoute({
  method: 'post',
  path: '/{siteId}/people',
  operationId: 'addPerson',
  tags: ['People'],
  summary:
    'Invite a person by email (S7): the same answer whether or not the email has a profile; they ' +
    'become a member only by accepting the emailed link, within 14 days. 409 already_member, 409 ' +
    'already_invited; 429 too_many_attempts past 5 invitations from the site to one email in a day. ' +
    'Role owner: the installer only, before release, for a site without an owner (A2; 409 ' +
    'site_has_owner); as installation work it needs no term on a site that never had one (V7).',
  security: [{ bearer: [] }],
  request: {
    params: SiteIdParam,
    ...jsonBody(z.object({ email: EmailField, role: z.enum(['owner', 'admin', 'user']) })),
  },
  responses: {
    201: { description: 'Invitation sent', content: { 'application/json': { schema: InvitedSchema } } },
    ...problemResponses(
      ...SITE_PROBLEMS,
      'no_valid_subscription',
      'malformed_json',
      'already_member',
      'already_invited',
      'site_has_owner',
      'email_unavailable',
      'too_many_attempts',
    ),
  },
});

const withdrawRoute = createRoute({
  method: 'delete',
  path: '/{siteId}/invitations/{invitationId}',
  operationId: 'withdrawInvitation',
  tags: ['People'],
  summary:
    'Withdraw a pending or expired invitation; its link answers 410 from now on. The owner’s ' +
    'invitation is the installer’s to withdraw (installation work: no term needed on a site that never had one).',
  security: [{ bearer: [] }],
  request: { params: InvitationParams },
  responses: {
    204: { description: 'Withdrawn' },
    ...problemResponses(...SITE_PROBLEMS, 'no_valid_subscription'),
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
  operationId: 'updatePerson',
  tags: ['People'],
  summary:
    'Change a member: subscribed (V8 refusals: 403 forbidden, 403 no_valid_subscription, 422 ' +
    'no_valid_access, 409 no_free_slot), role (never the owner’s: 422 owner_role_fixed; use the ' +
    'ownership transfer; an admin made user has the invitations they sent withdrawn, S7), masterKey ' +
    '(owner only; the owner always keeps theirs: 422 owner_holds_master_key)',
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
  operationId: 'removePerson',
  tags: ['People'],
  summary:
    'Remove a member (owner, admin), or leave the site (the member themself, S8); either way their ' +
    'access methods at the site are revoked (S6) and the invitations they sent there are withdrawn ' +
    '(S7). 409 owner_cannot_leave. Leaving needs no valid subscription.',
  security: [{ bearer: [] }],
  request: { params: PersonParams },
  responses: {
    204: { description: 'Removed, or left' },
    ...problemResponses(...SITE_PROBLEMS, 'no_valid_subscription', 'owner_cannot_leave'),
  },
});

const AddAccess = z
  .object({
    kind: z.enum(['tag', 'mobile_key', 'pin', 'remote']),
    iqId: IdField.optional(),
    tagUid: TagUidField.optional(),
  })
  .superRefine((b, ctx) => {
    // An empty UID (nothing visible) was refused by its own field already.
    if (b.kind === 'tag' && b.tagUid === undefined)
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
  operationId: 'grantAccess',
  tags: ['People'],
  summary:
    'Give a member an access method. A PIN (6 digits, for one IQ of this site, unlike any other live ' +
    'PIN there) is shown once. A ' +
    'member’s first valid method takes a free slot (V9). 409 iq_unsubscribed (K5), 409 pin_exists ' +
    '(use pin-reset), 409 tag_taken (a tag live at the site, whoever holds it).',
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
      'tag_taken',
    ),
  },
});

const revokeRoute = createRoute({
  method: 'delete',
  path: '/{siteId}/people/{profileId}/access/{accessId}',
  operationId: 'revokeAccess',
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
  operationId: 'resetPin',
  tags: ['People'],
  summary:
    'Replace the member’s PIN on one IQ (K2; also re-activates it after an IQ reset, K3). The new PIN ' +
    'is answered once and emailed to the member. 404 pin_not_found when they hold none there.',
  security: [{ bearer: [] }],
  request: { params: PersonParams, ...jsonBody(z.object({ iqId: IdField })) },
  responses: {
    200: { description: 'New PIN', content: { 'application/json': { schema: GrantSchema } } },
    ...problemResponses(
      ...SITE_PROBLEMS,
      'no_valid_subscription',
      'malformed_json',
      'pin_not_found',
      'pin_exists',
      'iq_unsubscribed',
      'email_unavailable',
    ),
  },
});

const drawPin = async (): Promise<DrawnPin> => {
  const pin = randomInt(0, 1_000_000).toString().padStart(6, '0');
  return { pin, hash: await hashPassword(pin) };
};
/** Drawn and hashed before the site is locked; drawn again under it only when taken on the IQ. */
const pinSource = async (): Promise<PinSource> => ({ drawn: await drawPin(), draw: drawPin });

export function peopleRoutes(deps: AppDeps) {
  const { db } = deps;
  const mailing = { mailer: deps.mailer, publicBaseUrl: deps.env.PUBLIC_BASE_URL };

  const person = async (siteId: string, profileId: string) => {
    const [row] = await listPeople(db, siteId, profileId);
    if (!row) throw notFound('member');
    return { status: 'member' as const, ...row };
  };

  return createRouter()
    .openapi(listRoute, async (c) => {
      const { siteId } = c.req.valid('param');
      const { read, role, site } = await siteAccess(deps, c, siteId, {
        roles: MANAGERS,
        allowWithoutSubscription: true,
      });
      // V7, A2: the owner's invitation is installation work, and this list is where its id is found
      // to withdraw it: the installer reads it on a site that never had a term; everyone else needs one.
      const handOver = role === 'installer' && site.subscriptionStatus === 'none';
      if (site.subscriptionStatus !== 'active' && !handOver) throw problem('no_valid_subscription');
      // Read with the session (api/auth/reads-with-session.ts), or here when it was not.
      const people = readOf(read, 'people');
      return jsonText<z.infer<typeof PeopleList>>(
        c,
        people ? peopleJsonText(people) : await listPeopleJson(db, siteId, deps.now()),
      );
    })
    .openapi(addRoute, async (c) => {
      const { siteId } = c.req.valid('param');
      const { email, role } = c.req.valid('json');
      // The subscription is checked by invitePerson: the owner's invitation is installation work (V7).
      const { site, actor } = await siteAccess(deps, c, siteId, {
        roles: MANAGERS,
        allowWithoutSubscription: true,
      });
      // Keyed by the site and the typed email alike whether or not it has a profile (S7).
      const throttle = throttleKey(
        deps.env.TOKEN_SECRET,
        'inviteAddress',
        `${siteId}\n${normalizeEmail(email)}`,
      );
      const invitation = await invitePerson(db, mailing, {
        site,
        email,
        role,
        actor,
        throttle,
        clock: () => deps.now(),
      }).catch(refusedAttemptAs429);
      return c.json(invitedJson(invitation), 201);
    })
    .openapi(withdrawRoute, async (c) => {
      const { siteId, invitationId } = c.req.valid('param');
      // The subscription is checked by withdrawInvitation, which knows whose invitation it is (V7).
      const { actor } = await siteAccess(deps, c, siteId, {
        roles: MANAGERS,
        allowWithoutSubscription: true,
      });
      await withdrawInvitation(db, { siteId, invitationId, actor, now: deps.now() });
      return c.body(null, 204);
    })
    .openapi(patchRoute, async (c) => {
      const { siteId, profileId } = c.req.valid('param');
      // The subscription is checked by the change, in V8's order, under the site lock.
      const { actor } = await siteAccess(deps, c, siteId, {
        roles: MANAGERS,
        allowWithoutSubscription: true,
      });
      await changeMember(db, { siteId, profileId, changes: c.req.valid('json'), actor, now: deps.now() });
      return c.json(await person(siteId, profileId), 200);
    })
    .openapi(removeRoute, async (c) => {
      const { siteId, profileId } = c.req.valid('param');
      const callerId = c.get('profile').id;
      if (profileId === callerId) {
        // S8: leaving is the member's own right; it needs no role beyond membership, nor a subscription.
        await siteAccess(deps, c, siteId, {
          roles: ['owner', 'admin', 'user'],
          allowWithoutSubscription: true,
        });
        await wakeDeletionsOfSiteLeft(
          deps.temporal,
          await leaveSite(db, { siteId, profileId, now: deps.now() }),
        );
      } else {
        const { actor } = await siteAccess(deps, c, siteId, { roles: MANAGERS });
        const requestIds = await removeMember(db, { siteId, profileId, actor, now: deps.now() });
        await wakeDeletionsOfSiteLeft(deps.temporal, requestIds);
      }
      return c.body(null, 204);
    })
    .openapi(addAccessRoute, async (c) => {
      const { siteId, profileId } = c.req.valid('param');
      const body = c.req.valid('json');
      const { actor } = await siteAccess(deps, c, siteId, { roles: MANAGERS });
      const granted = await grantAccess(db, {
        siteId,
        profileId,
        ...body,
        pin: body.kind === 'pin' ? await pinSource() : undefined,
        actor,
        now: deps.now(),
      });
      return c.json(granted, 201);
    })
    .openapi(revokeRoute, async (c) => {
      const { siteId, profileId, accessId } = c.req.valid('param');
      const { actor } = await siteAccess(deps, c, siteId, { roles: MANAGERS });
      await revokeAccessMethod(db, { siteId, profileId, accessId, actor, now: deps.now() });
      return c.body(null, 204);
    })
    .openapi(pinResetRoute, async (c) => {
      const { siteId, profileId } = c.req.valid('param');
      const { iqId } = c.req.valid('json');
      const { actor } = await siteAccess(deps, c, siteId, { roles: MANAGERS });
      const granted = await resetPin(db, deps.mailer, {
        siteId,
        profileId,
        iqId,
        pin: await pinSource(),
        actor,
        now: deps.now(),
      });
      return c.json(granted, 200);
    });
}
