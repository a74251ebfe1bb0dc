/**
 * Answers PostgreSQL writes as JSON text (issue 15) are what the API wrote from the rows before:
 * every field, times as Date#toISOString writes them (UTC, milliseconds, microseconds dropped), null
 * fields as null, `data` as stored (nested, non-ASCII, quotes and escapes included). Each read a
 * route declares with the sign-in statement (api/auth/reads-with-session.ts) reads there what the
 * route's own statement reads alone.
 */
import { and, asc, desc, eq, gt, isNull, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInReadOf } from '../../api/auth/read-of-request';
import { type ReadName, readOf } from '../../api/auth/reads-with-session';
import { resolveBearerToken } from '../../api/auth/tokens';
import type { Database, DbOrTx } from '../../db/client';
import { eventsPageJson } from '../../db/queries/events';
import { findOpenTarget } from '../../db/queries/locks';
import { listMembershipsOfProfile, membershipsOfProfileJson } from '../../db/queries/memberships';
import { listPeople, listPeopleJson, peopleJsonText } from '../../db/queries/people';
import { insertSession } from '../../db/queries/sessions';
import { findCurrentTerm, slotUsage, termJsonAndSeats } from '../../db/queries/subscriptions';
import {
  accessMethods,
  events,
  gatewayInstances,
  iqs,
  locks,
  memberships,
  profiles,
  siteInvitations,
  sites,
  subscriptionTerms,
  vouchers,
} from '../../db/schema';
import { hashToken } from '../../domain/secrets';
import { createTestDatabase } from '../support/database';

let database: Database;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

/** A confirmed profile with a session (of `token`, 60 s from `now`) and its id. */
async function signedInProfile(db: DbOrTx, email: string, token: string, now: Date) {
  const [profile] = await db
    .insert(profiles)
    .values({ email, name: 'Signed in', passwordHash: 'x', emailConfirmedAt: new Date() })
    .returning({ id: profiles.id });
  await insertSession(db, {
    tokenHash: hashToken(token),
    profileId: profile!.id,
    expiresAt: new Date(now.getTime() + 60_000),
  });
  return profile!.id;
}

/**
 * What the sign-in statement of `method path` reads with `token`'s session: the caller, and the
 * declaration `name`'s columns (undefined when it read another's or none).
 */
async function readWithSession<N extends ReadName>(
  db: DbOrTx,
  token: string,
  now: Date,
  request: { method: string; path: string; query?: Record<string, string> },
  name: N,
) {
  const plan = signInReadOf(request.method, request.path, () => request.query ?? {});
  const signedIn = await resolveBearerToken(db, token, now, plan);
  if (!signedIn) return undefined;
  return {
    caller: signedIn.caller,
    siteOfPath: signedIn.siteOfPath,
    row: readOf(signedIn.read ?? signedIn.siteOfPath?.read, name),
  };
}

describe('the events page as JSON (db/queries/events.ts)', () => {
  it('holds each event as the API answered it from the row', async () => {
    const { db } = database;
    const [site] = await db.insert(sites).values({ name: 'JSON site' }).returning({ id: sites.id });
    const [actor] = await db
      .insert(profiles)
      .values({ email: 'json@answers.test', name: 'J', passwordHash: 'x' })
      .returning({ id: profiles.id });
    const siteId = site!.id;
    await db.insert(events).values([
      { siteId, type: 'plain', actorProfileId: actor!.id, data: null },
      {
        siteId,
        type: 'lock.opened',
        actorKind: 'device',
        lockId: siteId,
        iqId: actor!.id,
        subjectProfileId: actor!.id,
        data: {
          text: 'Ünïcødé "quoted" \\ back\nline 😀',
          n: 1.5,
          big: 12345678901,
          list: [1, null, { a: true }],
        },
      },
    ]);
    // Microseconds that Date drops, a time before 1970's millisecond rounding edge, and a new year's UTC.
    await db.execute(sql`update events set at = '2026-12-31 23:59:59.999999+01' where type = 'plain'`);
    await db.execute(sql`update events set at = '1999-01-02 03:04:05.0006+00' where type = 'lock.opened'`);

    const rows = await db.select().from(events).where(eq(events.siteId, siteId)).orderBy(desc(events.seq));
    const expected = rows.map((e) => ({
      id: e.id,
      at: e.at.toISOString(),
      type: e.type,
      actor: { kind: e.actorKind, profileId: e.actorProfileId },
      subjectProfileId: e.subjectProfileId,
      lockId: e.lockId,
      iqId: e.iqId,
      data: e.data,
    }));
    const page = await eventsPageJson(db, siteId, { beforeSeq: null, limit: 10 });
    expect(JSON.parse(`[${page.eventsJson}]`)).toEqual(expected);
    expect(page.nextSeq).toBe(null);
    expect(expected.map((e) => e.at)).toEqual(['1999-01-02T03:04:05.000Z', '2026-12-31T22:59:59.999Z']);

    const older = await eventsPageJson(db, siteId, { beforeSeq: rows[0]!.seq, limit: 10 });
    expect(JSON.parse(`[${older.eventsJson}]`)).toEqual(expected.slice(1));
    expect(older.nextSeq).toBe(null);
    // A full page names its last event's seq when older ones follow; the last page names none.
    const newest = await eventsPageJson(db, siteId, { beforeSeq: null, limit: 1 });
    expect(JSON.parse(`[${newest.eventsJson}]`)).toEqual(expected.slice(0, 1));
    expect(newest.nextSeq).toBe(rows[0]!.seq);
    expect((await eventsPageJson(db, siteId, { beforeSeq: rows[0]!.seq, limit: 1 })).nextSeq).toBe(null);
    // The stored answer is the row's: D7's unlinking of an actor is answered as it is written.
    await db
      .update(events)
      .set({ actorProfileId: null, actorKind: 'deleted-profile' })
      .where(eq(events.type, 'plain'));
    const unlinked = await eventsPageJson(db, siteId, { beforeSeq: null, limit: 10 });
    expect(JSON.parse(`[${unlinked.eventsJson}]`)).toEqual([
      expected[0],
      { ...expected[1], actor: { kind: 'deleted-profile', profileId: null } },
    ]);
    const none = await db.insert(sites).values({ name: 'No events' }).returning({ id: sites.id });
    expect(await eventsPageJson(db, none[0]!.id, { beforeSeq: null, limit: 10 })).toEqual({
      eventsJson: '',
      nextSeq: null,
    });

    // Read with the session (an owner's GET of the path), the same page, for the same query.
    const token = 'e'.repeat(43);
    const now = new Date();
    const ownerId = await signedInProfile(db, 'events-owner@answers.test', token, now);
    await db.insert(memberships).values({ siteId, profileId: ownerId, role: 'owner' });
    const path = `/sites/${siteId}/events`;
    const cursor = Buffer.from(`seq:${rows[0]!.seq}`).toString('base64url');
    for (const [query, alone] of [
      [{}, { beforeSeq: null, limit: 50 }],
      [{ limit: '1' }, { beforeSeq: null, limit: 1 }],
      [
        { cursor, limit: '10' },
        { beforeSeq: rows[0]!.seq, limit: 10 },
      ],
    ] as const) {
      const read = await readWithSession(db, token, now, { method: 'GET', path, query }, 'events');
      expect(read?.row).toEqual(await eventsPageJson(db, siteId, alone));
    }
    // A query the route refuses reads no page (the route answers 400).
    const refused = await readWithSession(
      db,
      token,
      now,
      { method: 'GET', path, query: { limit: '0' } },
      'events',
    );
    expect(refused?.row).toBeUndefined();
    expect(refused?.siteOfPath?.membership?.role).toBe('owner');
  });
});

describe("/me's memberships as JSON (db/queries/memberships.ts, sessions.ts)", () => {
  it('are the memberships the route listed, with the session or alone; none is []', async () => {
    const { db } = database;
    const [caller, loner] = await db
      .insert(profiles)
      .values([
        { email: 'me@answers.test', name: 'Me', passwordHash: 'x', emailConfirmedAt: new Date() },
        { email: 'loner@answers.test', name: 'Lone', passwordHash: 'x', emailConfirmedAt: new Date() },
      ])
      .returning({ id: profiles.id });
    const siteRows = await db
      .insert(sites)
      .values([{ name: 'Zeta "Z" Ärea' }, { name: 'alpha' }, { name: 'Mid' }])
      .returning({ id: sites.id });
    await db.insert(memberships).values([
      { siteId: siteRows[0]!.id, profileId: caller!.id, role: 'owner', masterKey: true },
      { siteId: siteRows[1]!.id, profileId: caller!.id, role: 'user', subscribed: true },
      { siteId: siteRows[2]!.id, profileId: caller!.id, role: 'admin' },
      { siteId: siteRows[2]!.id, profileId: loner!.id, role: 'user' },
    ]);
    const listed = await listMembershipsOfProfile(db, caller!.id);
    expect(listed).toHaveLength(3);
    expect(JSON.parse(await membershipsOfProfileJson(db, caller!.id))).toEqual(listed);

    const token = 'a'.repeat(43);
    const now = new Date();
    await insertSession(db, {
      tokenHash: hashToken(token),
      profileId: caller!.id,
      expiresAt: new Date(now.getTime() + 60_000),
    });
    const me = { method: 'GET', path: '/me' };
    const read = (await readWithSession(db, token, now, me, 'me'))!;
    expect(read.caller).toEqual({
      sessionId: expect.any(String),
      id: caller!.id,
      email: 'me@answers.test',
      name: 'Me',
      platformRole: null,
    });
    expect(JSON.parse(read.row!.membershipsJson)).toEqual(listed);
    // Another path reads the caller alone; an expired session names nobody, memberships or not.
    expect(await readWithSession(db, token, now, { method: 'PATCH', path: '/me' }, 'me')).toEqual({
      caller: read.caller,
      siteOfPath: undefined,
      row: undefined,
    });
    expect(await readWithSession(db, token, new Date(now.getTime() + 61_000), me, 'me')).toBe(undefined);

    const [nobody] = await db
      .insert(profiles)
      .values({ email: 'none@answers.test', name: 'N', passwordHash: 'x' })
      .returning({ id: profiles.id });
    expect(await membershipsOfProfileJson(db, nobody!.id)).toBe('[]');
  });
});

describe('GET people as JSON (db/queries/people.ts)', () => {
  it('is the members with their live access, then the pending invitations, as the route listed them', async () => {
    const { db } = database;
    const [site] = await db.insert(sites).values({ name: 'People JSON' }).returning({ id: sites.id });
    const siteId = site!.id;
    const now = new Date('2026-06-01T12:00:00.000Z');
    const token = 'p'.repeat(43);
    await signedInProfile(db, 'people-reader@answers.test', token, now);
    const expectFor = async () => {
      const members = (await listPeople(db, siteId)).map((m) => ({ status: 'member', ...m }));
      const invited = (
        await db
          .select()
          .from(siteInvitations)
          .where(
            and(
              eq(siteInvitations.siteId, siteId),
              isNull(siteInvitations.acceptedAt),
              gt(siteInvitations.expiresAt, now),
            ),
          )
          .orderBy(asc(siteInvitations.createdAt), asc(siteInvitations.id))
      ).map((i) => ({
        status: 'invited',
        invitationId: i.id,
        email: i.email,
        role: i.role,
        expiresAt: i.expiresAt.toISOString(),
      }));
      const text = await listPeopleJson(db, siteId, now);
      expect(JSON.parse(text)).toEqual([...members, ...invited]);
      // Read with an owner's session, the same text.
      const read = await readWithSession(
        db,
        token,
        now,
        { method: 'GET', path: `/sites/${siteId}/people` },
        'people',
      );
      expect(peopleJsonText(read!.row!)).toBe(text);
      return { members, invited };
    };
    // Nobody yet: an empty array.
    expect(await listPeopleJson(db, siteId, now)).toBe('[]');

    // Invitations only: pending ones, not the expired or accepted one.
    await db.insert(siteInvitations).values([
      {
        siteId,
        email: 'pending1@answers.test',
        role: 'user',
        expiresAt: new Date('2026-06-10T00:00:00.123456Z'),
      },
      { siteId, email: 'expired@answers.test', role: 'user', expiresAt: new Date('2026-05-01T00:00:00Z') },
      {
        siteId,
        email: 'accepted@answers.test',
        role: 'admin',
        expiresAt: new Date('2026-06-10T00:00:00Z'),
        acceptedAt: new Date('2026-05-20T00:00:00Z'),
      },
    ]);
    expect((await expectFor()).invited.map((i) => i.email)).toEqual(['pending1@answers.test']);

    // Members with access methods (a revoked one left out), and invitations after them.
    const people = await db
      .insert(profiles)
      .values(
        ['Owner', 'Ädmin "A"', 'User'].map((name, i) => ({
          email: `p${i}@answers.test`,
          name,
          passwordHash: 'x',
        })),
      )
      .returning({ id: profiles.id });
    await db.insert(memberships).values([
      { siteId, profileId: people[0]!.id, role: 'owner', masterKey: true, subscribed: true },
      { siteId, profileId: people[1]!.id, role: 'admin' },
      { siteId, profileId: people[2]!.id, role: 'user', subscribed: true },
    ]);
    await db.insert(accessMethods).values([
      { siteId, profileId: people[0]!.id, kind: 'tag', tagUid: '04:A1' },
      { siteId, profileId: people[0]!.id, kind: 'mobile_key', status: 'needs_activation' },
      { siteId, profileId: people[2]!.id, kind: 'remote' },
      { siteId, profileId: people[2]!.id, kind: 'tag', tagUid: 'gone', status: 'revoked' },
    ]);
    await db.insert(siteInvitations).values({ siteId, email: 'pending2@answers.test', role: 'admin' });
    const { members, invited } = await expectFor();
    expect(Object.fromEntries(members.map((m) => [m.name, m.access.length]))).toEqual({
      Owner: 2,
      'Ädmin "A"': 0,
      User: 1,
    });
    expect(invited).toHaveLength(2);

    // Members only.
    await db.delete(siteInvitations).where(eq(siteInvitations.siteId, siteId));
    expect((await expectFor()).invited).toEqual([]);
  });
});

describe('GET subscription as JSON (db/queries/subscriptions.ts)', () => {
  it('is the current term as the route wrote it (or none) and the seats in use', async () => {
    const { db } = database;
    const [site] = await db.insert(sites).values({ name: 'Term JSON' }).returning({ id: sites.id });
    const siteId = site!.id;
    const expected = async () => {
      const term = await findCurrentTerm(db, siteId);
      return {
        term: term
          ? {
              startsAt: term.startsAt.toISOString(),
              endsAt: term.endsAt.toISOString(),
              usersLimit: term.usersLimit,
              iqsLimit: term.iqsLimit,
            }
          : null,
        usage: await slotUsage(db, siteId),
      };
    };
    const token = 's'.repeat(43);
    const now = new Date();
    await signedInProfile(db, 'term-reader@answers.test', token, now);
    const actual = async () => {
      const alone = await termJsonAndSeats(db, siteId);
      const path = `/sites/${siteId}/subscription`;
      // Read with a session, the same values.
      expect((await readWithSession(db, token, now, { method: 'GET', path }, 'subscription'))?.row).toEqual(
        alone,
      );
      const { term, users, iqs } = alone;
      return { term: term === null ? null : JSON.parse(term), usage: { users, iqs } };
    };
    expect(await actual()).toEqual({ term: null, usage: { users: 0, iqs: 0 } });

    const voucherRows = await db
      .insert(vouchers)
      .values(
        [1, 2, 3].map((i) => ({
          codeHash: `term-json-${i}`,
          durationDays: 30,
          usersLimit: 5 * i,
          iqsLimit: i,
        })),
      )
      .returning({ id: vouchers.id });
    await db.insert(subscriptionTerms).values([
      {
        siteId,
        voucherId: voucherRows[0]!.id,
        requestId: 'term-json-request-0',
        startsAt: new Date('2026-01-01T00:00:00Z'),
        endsAt: new Date('2026-02-01T00:00:00Z'),
        usersLimit: 5,
        iqsLimit: 1,
      },
      {
        siteId,
        voucherId: voucherRows[1]!.id,
        requestId: 'term-json-request-1',
        startsAt: new Date('2026-03-01T10:11:12.345Z'),
        endsAt: new Date('2027-03-01T10:11:12.345Z'),
        usersLimit: 10,
        iqsLimit: 2,
      },
      {
        siteId,
        voucherId: voucherRows[2]!.id,
        requestId: 'term-json-request-2',
        startsAt: new Date('2026-04-01T00:00:00Z'),
        endsAt: new Date('2026-05-01T00:00:00Z'),
        usersLimit: 15,
        iqsLimit: 3,
        replacedAt: new Date('2026-03-15T00:00:00Z'),
      },
    ]);
    const [a, b] = await db
      .insert(profiles)
      .values([1, 2].map((i) => ({ email: `seat${i}@answers.test`, name: 'S', passwordHash: 'x' })))
      .returning({ id: profiles.id });
    await db.insert(memberships).values([
      { siteId, profileId: a!.id, role: 'owner', subscribed: true },
      { siteId, profileId: b!.id, role: 'user', subscribed: false },
    ]);
    await db
      .insert(iqs)
      .values({ siteId, serial: 'TERM-JSON-1', name: 'IQ', model: 'IQ2', secretHash: 'x', subscribed: true });
    const found = await actual();
    expect(found).toEqual(await expected());
    expect(found).toEqual({
      term: {
        startsAt: '2026-03-01T10:11:12.345Z',
        endsAt: '2027-03-01T10:11:12.345Z',
        usersLimit: 10,
        iqsLimit: 2,
      },
      usage: { users: 1, iqs: 1 },
    });
  });
});

describe("a remote opening's facts (db/queries/locks.ts, sessions.ts)", () => {
  it('are read alone or with the session alike; another site has no such lock', async () => {
    const { db } = database;
    const [caller] = await db
      .insert(profiles)
      .values({ email: 'opener@answers.test', name: 'O', passwordHash: 'x', emailConfirmedAt: new Date() })
      .returning({ id: profiles.id });
    const callerId = caller!.id;
    const [site, other] = await db
      .insert(sites)
      .values([{ name: 'Open site', subscriptionStatus: 'active' }, { name: 'Other site' }])
      .returning({ id: sites.id });
    const siteId = site!.id;
    await db.insert(memberships).values({ siteId, profileId: callerId, role: 'user', subscribed: true });
    await db.insert(gatewayInstances).values({ id: 'gw-answers', commandUrl: 'tcp://127.0.0.1:1' });
    const [held, offline] = await db
      .insert(iqs)
      .values([
        {
          siteId,
          serial: 'OPEN-1',
          model: 'IQ2',
          secretHash: 'x',
          subscribed: true,
          online: true,
          gatewayInstance: 'gw-answers',
        },
        { siteId, serial: 'OPEN-2', model: 'IQ2', secretHash: 'x' },
      ])
      .returning({ id: iqs.id });
    const [front, back] = await db
      .insert(locks)
      .values([
        { siteId, iqId: held!.id, name: 'Front "door"' },
        { siteId, iqId: offline!.id, name: 'Back' },
      ])
      .returning();
    // A remote method bound to the first IQ: it opens that IQ's locks only.
    await db.insert(accessMethods).values({ siteId, profileId: callerId, kind: 'remote', iqId: held!.id });

    const token = 'o'.repeat(43);
    const now = new Date();
    await insertSession(db, {
      tokenHash: hashToken(token),
      profileId: callerId,
      expiresAt: new Date(now.getTime() + 60_000),
    });
    const both = async (at: { siteId: string; lockId: string }) => {
      const alone = await findOpenTarget(db, { ...at, callerId });
      const opening = { method: 'POST', path: `/sites/${at.siteId}/locks/${at.lockId.toUpperCase()}/open` };
      const read = (await readWithSession(db, token, now, opening, 'lockOpen'))!;
      const { caller: signedIn, siteOfPath } = read;
      expect(signedIn.id).toBe(callerId);
      expect(siteOfPath?.siteId).toBe(at.siteId);
      const openTarget = read.row!.openTarget ?? undefined;
      expect(openTarget).toEqual(alone);
      return alone;
    };
    expect(await both({ siteId, lockId: front!.id })).toEqual({
      lock: { id: front!.id, siteId, iqId: held!.id, name: 'Front "door"' },
      iqSubscribed: true,
      iqOnline: true,
      commandUrl: 'tcp://127.0.0.1:1',
      remoteAccess: true,
    });
    expect(await both({ siteId, lockId: back!.id })).toEqual({
      lock: { id: back!.id, siteId, iqId: offline!.id, name: 'Back' },
      iqSubscribed: false,
      iqOnline: false,
      commandUrl: null,
      remoteAccess: false,
    });
    expect(await both({ siteId: other!.id, lockId: front!.id })).toBeUndefined();
    // An expired session names nobody, whatever the lock.
    const path = `/sites/${siteId}/locks/${front!.id}/open`;
    expect(
      await readWithSession(
        db,
        token,
        new Date(now.getTime() + 120_000),
        { method: 'POST', path },
        'lockOpen',
      ),
    ).toBeUndefined();
  });
});
