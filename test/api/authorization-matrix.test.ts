import { randomUUID } from 'node:crypto';
import { and, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueBearerToken } from '../../api/auth/tokens';
import { insertProfile } from '../../db/queries/profiles';
import {
  accessMethods,
  iqs,
  locks,
  memberships,
  siteInvitations,
  sites,
  subscriptionTerms,
  vouchers,
} from '../../db/schema';
import { voucher } from '../support/fixtures';
import { startTestSystem, type TestSystem } from '../support/system';

/**
 * N4 as a table: every endpoint, called by every role on its own site and on a site where it has
 * no role, answers the status in the table. Inputs are valid, so a 2xx means "allowed" and
 * 401/403/404 mean refused by authentication, role or site membership.
 */

const ROLES = [
  'owner',
  'admin',
  'user',
  'installerBefore',
  'installerAfter',
  'installerReleased',
  'support',
  'outsider',
  'anonymous',
] as const;
type Role = (typeof ROLES)[number];
type Statuses = Record<Role, number>;

/** Expected statuses in the order of ROLES. */
const by = (...s: number[]): Statuses => Object.fromEntries(ROLES.map((r, i) => [r, s[i]])) as Statuses;
/** A site where the caller has no role: 404 for everyone signed in (N4), 401 without a token. */
const NOT_THEIRS = by(404, 404, 404, 404, 404, 404, 404, 404, 401);

/** One site with every role set up, an IQ, and a target member holding a remote key and a PIN. */
interface World {
  siteId: string;
  lockId: string;
  targetEmail: string;
  adminId: string;
  targetId: string;
  targetRemoteId: string;
  iqId: string;
}

interface Endpoint {
  name: string;
  /** OpenAPI path, to check the table covers the whole app. */
  path: string;
  method: string;
  request: (
    w: World,
    caller: Caller,
  ) => Promise<{ path: string; body?: unknown }> | { path: string; body?: unknown };
  own: Statuses;
  /** On a site the caller has no role in; absent for endpoints that name no site. */
  other?: Statuses;
  /** The call ends sessions: it gets a session of its own, and the table's token is renewed after it. */
  freshToken?: boolean;
}

interface Caller {
  id: string;
  email: string;
  token?: string;
}

const ALL_OK = (s: number) => by(s, s, s, s, s, s, s, s, 401);
const SUPPORT_ONLY = (s: number) => by(403, 403, 403, 403, 403, 403, s, 403, 401);

const TABLE: Endpoint[] = [
  { name: 'GET /me', method: 'GET', path: '/me', request: () => ({ path: '/me' }), own: ALL_OK(200) },
  {
    name: 'PATCH /me',
    method: 'PATCH',
    path: '/me',
    request: () => ({ path: '/me', body: { name: 'Renamed' } }),
    own: ALL_OK(200),
  },
  {
    // A5: each caller ends a session of its own (a fresh token per call), not the table's.
    name: 'POST /auth/logout',
    method: 'POST',
    path: '/auth/logout',
    request: () => ({ path: '/auth/logout' }),
    own: ALL_OK(204),
    freshToken: true,
  },
  {
    name: 'POST /me/password',
    method: 'POST',
    path: '/me/password',
    // The same password again: the change happens (every other session ends) and the table goes on.
    request: () => ({
      path: '/me/password',
      body: { currentPassword: 'correct horse battery', newPassword: 'correct horse battery' },
    }),
    own: ALL_OK(200),
    freshToken: true,
  },
  {
    name: 'POST /sites',
    method: 'POST',
    path: '/sites',
    // An installer must name the owner (never themself); anyone else creates their own site.
    request: (_w, caller) => ({
      path: '/sites',
      body: {
        name: 'New site',
        ownerEmail: caller.id === profiles.installer.id ? `owner-${randomUUID()}@example.test` : caller.email,
      },
    }),
    own: ALL_OK(201),
  },
  {
    name: 'GET /sites',
    method: 'GET',
    path: '/sites',
    request: () => ({ path: '/sites' }),
    own: ALL_OK(200),
  },
  {
    name: 'GET site',
    method: 'GET',
    path: '/sites/{siteId}',
    request: (w) => ({ path: `/sites/${w.siteId}` }),
    own: by(200, 200, 200, 200, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'release',
    method: 'POST',
    path: '/sites/{siteId}/release',
    request: (w) => ({ path: `/sites/${w.siteId}/release` }),
    // S1: after release the site is not found for its installer, a second release included.
    own: by(403, 403, 403, 200, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'ownership',
    method: 'POST',
    path: '/sites/{siteId}/ownership',
    request: (w) => ({ path: `/sites/${w.siteId}/ownership`, body: { profileId: w.adminId } }),
    own: by(200, 403, 403, 403, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'GET people',
    method: 'GET',
    path: '/sites/{siteId}/people',
    request: (w) => ({ path: `/sites/${w.siteId}/people` }),
    own: by(200, 200, 403, 200, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'POST people',
    method: 'POST',
    path: '/sites/{siteId}/people',
    request: (w) => ({
      path: `/sites/${w.siteId}/people`,
      body: { email: `new-${randomUUID()}@example.test`, role: 'user' },
    }),
    own: by(201, 201, 403, 201, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'PATCH person',
    method: 'PATCH',
    path: '/sites/{siteId}/people/{profileId}',
    request: (w) => ({ path: `/sites/${w.siteId}/people/${w.targetId}`, body: { role: 'admin' } }),
    own: by(200, 200, 403, 200, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'DELETE person',
    method: 'DELETE',
    path: '/sites/{siteId}/people/{profileId}',
    request: (w) => ({ path: `/sites/${w.siteId}/people/${w.targetId}` }),
    own: by(204, 204, 403, 204, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'leave',
    method: 'DELETE',
    path: '/sites/{siteId}/people/{profileId}',
    request: (w, caller) => ({ path: `/sites/${w.siteId}/people/${caller.id}` }),
    // S8: any member but the owner leaves; the installer is no member (before release) or has none.
    own: by(409, 204, 204, 403, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'withdraw invitation',
    method: 'DELETE',
    path: '/sites/{siteId}/invitations/{invitationId}',
    request: async (w) => ({ path: `/sites/${w.siteId}/invitations/${await invitationOf(w)}` }),
    own: by(204, 204, 403, 204, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'POST access',
    method: 'POST',
    path: '/sites/{siteId}/people/{profileId}/access',
    request: (w) => ({
      path: `/sites/${w.siteId}/people/${w.targetId}/access`,
      body: { kind: 'mobile_key' },
    }),
    own: by(201, 201, 403, 201, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'DELETE access',
    method: 'DELETE',
    path: '/sites/{siteId}/people/{profileId}/access/{accessId}',
    request: (w) => ({ path: `/sites/${w.siteId}/people/${w.targetId}/access/${w.targetRemoteId}` }),
    own: by(204, 204, 403, 204, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'pin-reset',
    method: 'POST',
    path: '/sites/{siteId}/people/{profileId}/pin-reset',
    request: (w) => ({ path: `/sites/${w.siteId}/people/${w.targetId}/pin-reset`, body: { iqId: w.iqId } }),
    own: by(200, 200, 403, 200, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'IQ reset',
    method: 'POST',
    path: '/sites/{siteId}/iqs/{iqId}/reset',
    request: (w) => ({ path: `/sites/${w.siteId}/iqs/${w.iqId}/reset` }),
    own: by(200, 403, 403, 403, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'GET events',
    method: 'GET',
    path: '/sites/{siteId}/events',
    request: (w) => ({ path: `/sites/${w.siteId}/events` }),
    own: by(200, 200, 403, 403, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'PUT notifications',
    method: 'PUT',
    path: '/sites/{siteId}/notifications',
    request: (w) => ({ path: `/sites/${w.siteId}/notifications`, body: { eventTypes: ['tamper'] } }),
    own: by(200, 403, 403, 403, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'GET subscription',
    method: 'GET',
    path: '/sites/{siteId}/subscription',
    request: (w) => ({ path: `/sites/${w.siteId}/subscription` }),
    own: by(200, 200, 403, 403, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'redemption',
    method: 'POST',
    path: '/sites/{siteId}/subscription/redemptions',
    request: async (w) => ({
      path: `/sites/${w.siteId}/subscription/redemptions`,
      body: { code: (await voucher(sys)).code },
    }),
    own: by(200, 200, 403, 200, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'POST iqs',
    method: 'POST',
    path: '/sites/{siteId}/iqs',
    request: (w) => ({
      path: `/sites/${w.siteId}/iqs`,
      body: { serial: `SN-${randomUUID()}`, model: 'IQ2' },
    }),
    own: by(201, 201, 403, 201, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'GET iqs',
    method: 'GET',
    path: '/sites/{siteId}/iqs',
    request: (w) => ({ path: `/sites/${w.siteId}/iqs` }),
    own: by(200, 200, 403, 403, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'PATCH iq',
    method: 'PATCH',
    path: '/sites/{siteId}/iqs/{iqId}',
    request: (w) => ({ path: `/sites/${w.siteId}/iqs/${w.iqId}`, body: { name: 'Hall' } }),
    own: by(200, 200, 403, 403, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'POST locks',
    method: 'POST',
    path: '/sites/{siteId}/locks',
    request: (w) => ({ path: `/sites/${w.siteId}/locks`, body: { iqId: w.iqId, name: 'Back door' } }),
    own: by(201, 201, 403, 201, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'GET locks',
    method: 'GET',
    path: '/sites/{siteId}/locks',
    request: (w) => ({ path: `/sites/${w.siteId}/locks` }),
    own: by(200, 200, 200, 200, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'open lock',
    method: 'POST',
    path: '/sites/{siteId}/locks/{lockId}/open',
    request: (w) => ({ path: `/sites/${w.siteId}/locks/${w.lockId}/open` }),
    // Members pass every check but the IQ's: the test gateway has no IQ online (409 iq_offline).
    own: by(409, 409, 409, 403, 404, 404, 404, 404, 401),
    other: NOT_THEIRS,
  },
  {
    name: 'support vouchers',
    method: 'POST',
    path: '/support/vouchers',
    request: () => ({
      path: '/support/vouchers',
      body: { usersLimit: 5, iqsLimit: 1, durationDays: 30, count: 1 },
    }),
    own: SUPPORT_ONLY(201),
  },
  {
    name: 'support firmware release',
    method: 'POST',
    path: '/support/firmware-releases',
    request: () => ({
      path: '/support/firmware-releases',
      body: {
        model: 'IQ2',
        version: `9.${randomUUID()}`.slice(0, 40),
        url: 'ftps://fw.test/iq2.bin',
        sha256: '0'.repeat(64),
        sizeBytes: 1,
      },
    }),
    own: SUPPORT_ONLY(201),
  },
  {
    name: 'support list firmware releases',
    method: 'GET',
    path: '/support/firmware-releases',
    request: () => ({ path: '/support/firmware-releases' }),
    own: SUPPORT_ONLY(200),
  },
  {
    name: 'support list rollouts',
    method: 'GET',
    path: '/support/rollouts',
    request: () => ({ path: '/support/rollouts?status=paused&limit=5' }),
    own: SUPPORT_ONLY(200),
  },
  // Unknown ids: support passes the role check and meets the 404 of a missing rollout or release.
  {
    name: 'support start rollout',
    method: 'POST',
    path: '/support/rollouts',
    request: () => ({
      path: '/support/rollouts',
      body: { releaseId: randomUUID(), target: { model: 'IQ2' } },
    }),
    own: SUPPORT_ONLY(404),
  },
  {
    name: 'support read rollout',
    method: 'GET',
    path: '/support/rollouts/{id}',
    request: () => ({ path: `/support/rollouts/${randomUUID()}` }),
    own: SUPPORT_ONLY(404),
  },
  ...(['pause', 'resume', 'abort'] as const).map(
    (action): Endpoint => ({
      name: `support ${action} rollout`,
      method: 'POST',
      path: `/support/rollouts/{id}/${action}`,
      request: () => ({ path: `/support/rollouts/${randomUUID()}/${action}` }),
      own: SUPPORT_ONLY(404),
    }),
  ),
  {
    name: 'support history',
    method: 'GET',
    path: '/support/sites/{siteId}/subscription-history',
    request: (w) => ({ path: `/support/sites/${w.siteId}/subscription-history` }),
    own: SUPPORT_ONLY(200),
    other: SUPPORT_ONLY(200),
  },
  {
    name: 'support sandbox site',
    method: 'POST',
    path: '/support/sites',
    request: () => ({
      path: '/support/sites',
      body: { name: 'Sandbox', ownerEmail: profiles.owner.email, sandbox: true },
    }),
    own: SUPPORT_ONLY(201),
  },
  {
    name: 'support clock',
    method: 'POST',
    path: '/support/sites/{siteId}/clock',
    request: (w) => ({ path: `/support/sites/${w.siteId}/clock`, body: { advanceSeconds: 60 } }),
    // The world is a real site: support passes authorization and is told it has no test clock.
    own: SUPPORT_ONLY(409),
    other: SUPPORT_ONLY(409),
  },
  {
    name: 'file deletion',
    method: 'POST',
    path: '/support/profile-deletions',
    request: (w) => ({ path: '/support/profile-deletions', body: { email: w.targetEmail } }),
    own: SUPPORT_ONLY(202),
  },
  {
    name: 'read deletion',
    method: 'GET',
    path: '/support/profile-deletions/{id}',
    request: async (w) => ({ path: `/support/profile-deletions/${await deletionOf(w)}` }),
    own: SUPPORT_ONLY(200),
  },
  {
    name: 'cancel deletion',
    method: 'POST',
    path: '/support/profile-deletions/{id}/cancel',
    request: async (w) => ({ path: `/support/profile-deletions/${await deletionOf(w)}/cancel` }),
    own: SUPPORT_ONLY(200),
  },
];

/** A deletion request for the world's target member, filed by support, to read or cancel. */
async function deletionOf(w: World): Promise<string> {
  const res = await sys.request('POST', '/support/profile-deletions', {
    token: profiles.support.token,
    body: { email: w.targetEmail },
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

/** A pending invitation of the world's site, to withdraw. */
async function invitationOf(w: World): Promise<string> {
  const [row] = await sys.db
    .insert(siteInvitations)
    .values({
      siteId: w.siteId,
      email: `invitee-${randomUUID()}@example.test`,
      role: 'user',
      invitedBy: w.adminId,
      tokenHash: randomUUID(),
      expiresAt: new Date(Date.now() + 86_400_000),
    })
    .returning();
  return row!.id;
}

/** Paths that need no bearer token (API.md conventions) and so have no row in the table. */
const PUBLIC = /^\/(auth|health|openapi\.json|docs|invitations|consents|dev)(\/|$)/;

let sys: TestSystem;
let profiles: Record<
  Exclude<Role, 'anonymous' | 'installerBefore' | 'installerAfter' | 'installerReleased'> | 'installer',
  Caller
>;
let foreign: World;

beforeAll(async () => {
  sys = await startTestSystem({});
  const [owner, admin, user, installer, support, outsider] = await Promise.all([
    sys.signIn(),
    sys.signIn(),
    sys.signIn(),
    sys.signIn({ platformRole: 'installer' }),
    sys.signIn({ platformRole: 'support' }),
    sys.signIn(),
  ]);
  profiles = {
    owner: owner!,
    admin: admin!,
    user: user!,
    installer: installer!,
    support: support!,
    outsider: outsider!,
  };
  // The outsider is a member, of a site of their own.
  await world({ ownerId: outsider!.id, released: true, withRoles: false });
  const stranger = await sys.signIn({ platformRole: 'installer' });
  foreign = await world({
    ownerId: (await sys.signIn()).id,
    installerId: stranger.id,
    released: false,
    withRoles: false,
  });
});
afterAll(async () => {
  await sys?.close();
});

/** Built in the database directly (an active term included) so each cell gets a fresh site quickly. */
async function world(opts: { ownerId: string; installerId?: string; released: boolean; withRoles: boolean }) {
  const now = new Date();
  const [site] = await sys.db
    .insert(sites)
    .values({
      name: `World ${randomUUID().slice(0, 8)}`,
      status: opts.released ? 'active' : 'installing',
      installerProfileId: opts.installerId ?? profiles.installer.id,
      releasedAt: opts.released ? now : null,
      subscriptionStatus: 'active',
    })
    .returning();
  const siteId = site!.id;
  const target = await insertProfile(sys.db, {
    email: `target-${randomUUID()}@example.test`,
    name: 'Target',
    passwordHash: 'unused',
    emailConfirmedAt: now,
  });
  await sys.db.insert(memberships).values([
    { siteId, profileId: opts.ownerId, role: 'owner', masterKey: true },
    ...(opts.withRoles
      ? [
          { siteId, profileId: profiles.admin.id, role: 'admin' as const },
          { siteId, profileId: profiles.user.id, role: 'user' as const },
        ]
      : []),
    { siteId, profileId: target!.id, role: 'user' },
  ]);
  const v = await voucher(sys);
  await sys.db.update(vouchers).set({ redeemedAt: now, redeemedSiteId: siteId });
  await sys.db.insert(subscriptionTerms).values({
    siteId,
    voucherId: v.id,
    requestId: randomUUID(),
    startsAt: new Date(now.getTime() - 86_400_000),
    endsAt: new Date(now.getTime() + 365 * 86_400_000),
    usersLimit: 10,
    iqsLimit: 5,
  });
  const [iq] = await sys.db
    .insert(iqs)
    .values({ siteId, serial: `IQ-${randomUUID()}`, model: 'IQ2', secretHash: 'unused', subscribed: true })
    .returning();
  const [remote] = await sys.db
    .insert(accessMethods)
    .values([
      { siteId, profileId: target!.id, kind: 'remote' as const },
      { siteId, profileId: target!.id, kind: 'pin' as const, iqId: iq!.id, pinHash: 'unused' },
    ])
    .returning();
  // Members who may open a lock hold a subscribed slot and a key, so only the (offline) IQ refuses.
  if (opts.withRoles) {
    const openers = [opts.ownerId, profiles.admin.id, profiles.user.id];
    await sys.db
      .insert(accessMethods)
      .values(openers.map((profileId) => ({ siteId, profileId, kind: 'remote' as const })));
    await sys.db
      .update(memberships)
      .set({ subscribed: true, subscribedAt: now })
      .where(and(eq(memberships.siteId, siteId), inArray(memberships.profileId, openers)));
  }
  const [lock] = await sys.db.insert(locks).values({ siteId, iqId: iq!.id, name: 'Door' }).returning();
  return {
    siteId,
    lockId: lock!.id,
    targetEmail: target!.email,
    adminId: profiles.admin.id,
    targetId: target!.id,
    targetRemoteId: remote!.id,
    iqId: iq!.id,
  };
}

/**
 * Finding 1 (S1): before release the installer made themself an admin of the site with a slot and
 * every kind of access method; then they release it through the API.
 */
async function releasedByAnInstallerWhoHeldAccess(w: World) {
  const installerId = profiles.installer.id;
  await sys.db.insert(memberships).values({
    siteId: w.siteId,
    profileId: installerId,
    role: 'admin',
    subscribed: true,
    subscribedAt: new Date(),
  });
  await sys.db.insert(accessMethods).values([
    { siteId: w.siteId, profileId: installerId, kind: 'remote' as const },
    { siteId: w.siteId, profileId: installerId, kind: 'tag' as const, tagUid: `TAG-${randomUUID()}` },
    { siteId: w.siteId, profileId: installerId, kind: 'mobile_key' as const },
    { siteId: w.siteId, profileId: installerId, kind: 'pin' as const, iqId: w.iqId, pinHash: 'unused' },
  ]);
  const res = await sys.request('POST', `/sites/${w.siteId}/release`, { token: profiles.installer.token! });
  expect(res.status).toBe(200);
}

function callerOf(role: Role): Caller | undefined {
  if (role === 'anonymous') return undefined;
  if (role === 'installerBefore' || role === 'installerAfter' || role === 'installerReleased') {
    return profiles.installer;
  }
  return profiles[role];
}

async function call(endpoint: Endpoint, role: Role, w: World): Promise<number> {
  const caller = callerOf(role);
  const { path, body } = await endpoint.request(
    w,
    caller ?? { id: randomUUID(), email: 'nobody@example.test' },
  );
  const token =
    caller?.token && endpoint.freshToken
      ? await issueBearerToken(sys.db, caller.id, new Date())
      : caller?.token;
  const res = await sys.request(endpoint.method, path, {
    ...(token ? { token } : {}),
    ...(body === undefined ? {} : { body }),
  });
  await res.body?.cancel();
  // A password change ended every other session, the table's too: the caller gets a new one.
  if (caller?.token && endpoint.freshToken)
    caller.token = await issueBearerToken(sys.db, caller.id, new Date());
  return res.status;
}

describe('authorization matrix', () => {
  it.each(TABLE.map((e) => [e.name, e] as const))('%s', async (_name, endpoint) => {
    const own: Partial<Statuses> = {};
    const other: Partial<Statuses> = {};
    for (const role of ROLES) {
      const w = await world({
        ownerId: profiles.owner.id,
        released: role !== 'installerBefore' && role !== 'installerReleased',
        withRoles: true,
      });
      if (role === 'installerReleased') await releasedByAnInstallerWhoHeldAccess(w);
      own[role] = await call(endpoint, role, w);
      if (endpoint.other) other[role] = await call(endpoint, role, foreign);
    }
    expect(own).toEqual(endpoint.own);
    if (endpoint.other) expect(other).toEqual(endpoint.other);
  });

  it('covers every endpoint of the app that needs a bearer token', async () => {
    const doc = (await (await sys.request('GET', '/openapi.json')).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const inApp = Object.entries(doc.paths)
      .filter(([path]) => !PUBLIC.test(path))
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const inTable = TABLE.map((e) => `${e.method} ${e.path}`);
    expect(inApp.filter((e) => !inTable.includes(e))).toEqual([]);
  });
});
