import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { events, idempotencyRecords, memberships, siteInvitations } from '../../db/schema';
import { escapeHtml } from '../../domain/html';
import { createMailer, type Mailer } from '../../emails/mailer';
import { createTimeSkippingEnv } from '../../infra/temporal-servers';
import { inviteToSite, newInvitationLink } from '../../operations/invitations';
import { queryProfileDeletion } from '../../workflows/client/profile-deletion';
import { profileDeletionWorkflowId } from '../../workflows/ids';
import { consentSignal } from '../../workflows/profile-deletion/messages';
import { answer, consentToken, deletionStatus, fileDeletion, personInSites } from '../support/deletion';
import { addMember, createSite, DAY } from '../support/fixtures';
import { linkIn } from '../support/people';
import { startTestSystem, TEST_BASE_URL, TEST_SUPPORT_EMAIL, type TestSystem } from '../support/system';

let env: TestWorkflowEnvironment;
let sys: TestSystem;
let support: { token: string };
/** Every goodbye email that actually went out (not a duplicate of an earlier send). */
const goodbyes: string[] = [];

beforeAll(async () => {
  env = await createTimeSkippingEnv();
  sys = await startTestSystem({
    env,
    mailer: (db) => {
      const inner = createMailer({ db, from: 'KS Cloud <test@ks.test>' });
      // The goodbye is queued in the deletion's transaction: without a provider, that row is its delivery.
      const counting: Mailer = {
        ...inner,
        async queue(email, within) {
          const result = await inner.queue(email, within);
          if (email.template === 'profile-deleted' && result) goodbyes.push(email.to);
          return result;
        },
      };
      return counting;
    },
  });
  support = await sys.signIn({ platformRole: 'support' });
});
afterAll(async () => {
  await sys?.close();
  await env?.teardown();
});

const handle = (requestId: string) => sys.temporal.workflow.getHandle(profileDeletionWorkflowId(requestId));

/** Every row of every table whose text, uuid or json columns contain one of the needles. */
async function traces(needles: string[]): Promise<string[]> {
  const columns = await sys.sql<{ table_name: string; column_name: string }[]>`
    select c.table_name, c.column_name from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
    where c.table_schema = 'public' and t.table_type = 'BASE TABLE'
      and c.data_type in ('text', 'character varying', 'uuid', 'jsonb', 'json', 'ARRAY')`;
  expect(columns.length).toBeGreaterThan(20);
  const found: string[] = [];
  for (const { table_name, column_name } of columns) {
    for (const needle of needles) {
      const [row] = await sys.sql.unsafe(
        `select count(*)::int as n from "${table_name}" where strpos(lower("${column_name}"::text), lower($1)) > 0`,
        [needle],
      );
      if (row?.n) found.push(`${table_name}.${column_name} holds ${needle}`);
    }
  }
  return found;
}

async function supportMail(requestId: string) {
  return (await sys.mailbox()).filter((m) => m.to === TEST_SUPPORT_EMAIL && m.subject.includes(requestId));
}

async function profileExists(id: string) {
  const [row] = await sys.sql`select count(*)::int as n from profiles where id = ${id}`;
  return row?.n === 1;
}

describe('profile deletion', () => {
  it('three sites approve: the profile and every trace of it are gone, events stay anonymized, the email signs up anew', async () => {
    const { person, sites } = await personInSites(sys, 3);
    const [first] = sites;
    await sys.db.update(memberships).set({ subscribed: true, subscribedAt: new Date() });
    await sys.db.insert(events).values([
      {
        siteId: first!.id,
        type: 'lock.opened',
        actorProfileId: person.id,
        data: { by: person.name, email: person.email, profileId: person.id, lock: 'Door' },
      },
      {
        siteId: first!.id,
        type: 'member.added',
        actorProfileId: first!.owner.id,
        subjectProfileId: person.id,
      },
    ]);
    await sys.db
      .insert(idempotencyRecords)
      .values({ scope: `${person.id}:POST /x`, key: 'k', requestHash: 'h', status: 200, body: {} });
    await sys.db
      .insert(siteInvitations)
      .values({ siteId: first!.id, email: person.email, role: 'user', acceptedAt: new Date() });
    expect(
      (await sys.request('POST', '/auth/password-reset', { body: { email: person.email } })).status,
    ).toBe(202);
    const eventsBefore = await sys.sql`select id from events where site_id = ${first!.id} order by id`;

    const request = await fileDeletion(sys, support.token, person.email);
    expect(request.status).toBe('awaiting_consent');
    // D1: a second filing answers the open request.
    expect(await fileDeletion(sys, support.token, person.email)).toEqual(request);

    for (const site of sites) {
      const token = await consentToken(sys, request.id, site.id);
      expect((await answer(sys, token, 'approve')).status).toBe(200);
    }
    expect(await handle(request.id).result()).toEqual({ status: 'completed' });
    expect((await deletionStatus(sys, support.token, request.id)).status).toBe('completed');
    expect(goodbyes.filter((to) => to === person.email)).toHaveLength(1);

    expect(await traces([person.id, person.email, person.name])).toEqual([]);
    // Issue 16: the goodbye can be seen to have gone out, as a redacted dev-mailbox entry.
    const mailbox = await sys.request('GET', '/dev/mailbox');
    const entries = (await mailbox.json()) as Array<{ to: string; template: string; subject: string }>;
    const redacted = entries.filter((e) => e.to === '[deleted profile]');
    expect(redacted.map((e) => e.template)).toContain('profile-deleted');
    for (const e of redacted) expect(e.subject).toBe('[deleted profile]');
    const [goodbye] =
      await sys.sql`select text from sent_emails where idempotency_key = ${`profile-deleted:${request.id}`}`;
    expect(goodbye?.text).toContain('profile-deleted');
    const eventsAfter = await sys.sql`select id, actor_kind, actor_profile_id, subject_profile_id, data
      from events where site_id = ${first!.id} order by id`;
    expect(eventsAfter.map((e) => e.id)).toEqual(eventsBefore.map((e) => e.id));
    const opened = eventsAfter.find((e) => e.data?.lock === 'Door');
    expect(opened).toMatchObject({ actor_kind: 'deleted-profile', actor_profile_id: null });
    expect(
      eventsAfter.find((e) => e.subject_profile_id === null && e.actor_profile_id === first!.owner.id),
    ).toBeTruthy();
    // The slot it held is free: only the owners stay subscribed.
    const subscribed =
      await sys.sql`select site_id, profile_id from memberships where subscribed and site_id in ${sys.sql(sites.map((s) => s.id))}`;
    expect(subscribed.map((m) => m.profile_id).sort()).toEqual(sites.map((s) => s.owner.id).sort());

    const login = await sys.request('POST', '/auth/login', {
      body: { email: person.email, password: 'correct horse battery' },
    });
    expect(login.status).toBe(401);
    expect((await sys.request('GET', '/me', { token: person.token })).status).toBe(401);
    const signup = await sys.request('POST', '/auth/signup', {
      body: { email: person.email, password: 'a brand new password', name: 'Ada Again' },
    });
    expect(signup.status).toBe(202);
    const [again] = await sys.sql`select id from profiles where email = ${person.email}`;
    expect(again?.id).toBeDefined();
    expect(again?.id).not.toBe(person.id);

    // D10: the history the server keeps names nobody.
    const history = JSON.stringify(await handle(request.id).fetchHistory());
    for (const needle of [person.email, person.name, person.id]) expect(history).not.toContain(needle);
  });

  it('one denial ends as denied: support is told, nothing is deleted, the remaining link answers 410', async () => {
    const { person, sites } = await personInSites(sys, 3);
    const request = await fileDeletion(sys, support.token, person.email);
    const [a, b, c] = await Promise.all(sites.map((s) => consentToken(sys, request.id, s.id)));
    expect((await answer(sys, a!, 'approve')).status).toBe(200);
    expect((await answer(sys, b!, 'deny')).status).toBe(200);
    expect(await handle(request.id).result()).toEqual({ status: 'denied' });

    expect((await answer(sys, c!, 'approve')).status).toBe(410);
    expect((await sys.request('GET', `/consents/${c}`)).status).toBe(410);
    expect(await profileExists(person.id)).toBe(true);
    const [kept] = await sys.sql`select count(*)::int as n from memberships where profile_id = ${person.id}`;
    expect(kept?.n).toBe(3);
    const status = await deletionStatus(sys, support.token, request.id);
    expect(status.status).toBe('denied');
    expect(status.sites).toEqual(
      expect.arrayContaining([
        { siteId: sites[0]!.id, decision: 'approved' },
        { siteId: sites[1]!.id, decision: 'denied' },
        { siteId: sites[2]!.id, decision: 'pending' },
      ]),
    );
    const told = await supportMail(request.id);
    expect(told.map((m) => m.template)).toEqual(['deletion-outcome-support']);
    expect(told[0]?.text).toContain(sites[1]!.id);
    expect(told[0]?.text).not.toContain(person.email);
  });

  it('owners who stay silent get exactly one reminder at day 7; at day 30 the request times out', async () => {
    const { person, sites } = await personInSites(sys, 3);
    const request = await fileDeletion(sys, support.token, person.email);
    const first = await Promise.all(sites.map((s) => consentToken(sys, request.id, s.id)));
    expect((await answer(sys, first[0]!, 'approve')).status).toBe(200);
    await vi.waitFor(
      async () =>
        expect((await queryProfileDeletion(sys.temporal, request.id)).sites).toContainEqual(
          expect.objectContaining({ siteId: sites[0]!.id, decision: 'approved' }),
        ),
      { timeout: 15_000 },
    );
    const reminders = async () =>
      (await sys.mailbox())
        .filter((m) => m.template === 'deletion-consent-reminder' && m.idempotencyKey.includes(request.id))
        .map((m) => m.idempotencyKey.split(':')[2])
        .sort();

    await env.sleep(7 * DAY - 60_000);
    expect(await reminders()).toEqual([]);
    await env.sleep(2 * 60_000);
    const silent = [sites[1]!.id, sites[2]!.id].sort();
    await vi.waitFor(async () => expect(await reminders()).toEqual(silent), { timeout: 15_000 });
    // The reminder's link replaces the first one.
    const fresh = await consentToken(sys, request.id, sites[1]!.id, 'reminder');
    expect((await sys.request('GET', `/consents/${first[1]}`)).status).toBe(410);
    expect((await sys.request('GET', `/consents/${fresh}`)).status).toBe(200);

    await env.sleep(22 * DAY);
    expect((await deletionStatus(sys, support.token, request.id)).status).toBe('awaiting_consent');
    await env.sleep(DAY + 60_000);
    expect(await handle(request.id).result()).toEqual({ status: 'timed_out' });
    expect(await reminders()).toEqual(silent);
    expect((await supportMail(request.id)).map((m) => m.template)).toEqual(['deletion-outcome-support']);
    expect((await sys.request('GET', `/consents/${fresh}`)).status).toBe(410);
    expect(await profileExists(person.id)).toBe(true);
  });

  it('the reminder goes to no site the person owns meanwhile; the owner they hand it back to answers (D6)', async () => {
    const { person, sites } = await personInSites(sys, 2);
    const [owned, other] = sites as [(typeof sites)[0], (typeof sites)[0]];
    await sys.sql`update memberships set role = 'admin' where site_id = ${owned.id} and profile_id = ${person.id}`;
    const request = await fileDeletion(sys, support.token, person.email);
    await Promise.all(sites.map((s) => consentToken(sys, request.id, s.id)));
    const transfer = async (from: { token: string }, to: { id: string }) =>
      expect(
        (
          await sys.request('POST', `/sites/${owned.id}/ownership`, {
            token: from.token,
            body: { profileId: to.id },
          })
        ).status,
      ).toBe(200);
    await transfer(owned.owner, person);

    await env.sleep(7 * DAY + 60_000);
    const otherReminder = await consentToken(sys, request.id, other.id, 'reminder');
    const toPerson = (await sys.mailbox()).filter(
      (m) => m.to === person.email && m.template.startsWith('deletion-consent'),
    );
    expect(toPerson).toEqual([]);
    expect((await sys.mailbox()).map((m) => m.idempotencyKey)).not.toContain(
      `deletion-consent-reminder:${request.id}:${owned.id}`,
    );

    await transfer(person, owned.owner);
    const handedBack = (await sys.mailbox()).find(
      (m) =>
        m.to === owned.owner.email && m.idempotencyKey.startsWith(`deletion-consent-transfer:${request.id}:`),
    );
    const link = handedBack?.text.match(/\/consents\/([A-Za-z0-9_-]+)/)?.[1];
    expect(link).toBeDefined();
    expect((await answer(sys, link!, 'approve')).status).toBe(200);
    expect((await answer(sys, otherReminder, 'approve')).status).toBe(200);
    expect(await handle(request.id).result()).toEqual({ status: 'completed' });
  });

  it('a site the person leaves no longer has a say: its link dies, and the sites they still belong to decide (D2)', async () => {
    const { person, sites } = await personInSites(sys, 2);
    const [kept, left] = sites as [(typeof sites)[0], (typeof sites)[0]];
    const request = await fileDeletion(sys, support.token, person.email);
    const [keptLink, leftLink] = await Promise.all(sites.map((s) => consentToken(sys, request.id, s.id)));
    const leave = await sys.request('DELETE', `/sites/${left.id}/people/${person.id}`, {
      token: person.token,
    });
    expect(leave.status).toBe(204);
    expect((await sys.request('GET', `/consents/${leftLink}`)).status).toBe(410);
    expect((await answer(sys, leftLink!, 'deny')).status).toBe(410);
    expect((await answer(sys, keptLink!, 'approve')).status).toBe(200);
    expect(await handle(request.id).result()).toEqual({ status: 'completed' });
    expect((await deletionStatus(sys, support.token, request.id)).sites).toEqual([
      { siteId: kept.id, decision: 'approved' },
    ]);
  });

  it('a site the person leaves after the others approved lets the deletion go on at once (D2)', async () => {
    const { person, sites } = await personInSites(sys, 2);
    const [kept, left] = sites as [(typeof sites)[0], (typeof sites)[0]];
    const request = await fileDeletion(sys, support.token, person.email);
    expect((await answer(sys, (await consentToken(sys, request.id, kept.id))!, 'approve')).status).toBe(200);
    const leave = await sys.request('DELETE', `/sites/${left.id}/people/${person.id}`, {
      token: person.token,
    });
    expect(leave.status).toBe(204);
    // Time stands still here (only waiting on the workflow's result skips it): the leave's wake-up,
    // not the deadline's reading, lets the deletion go on.
    await vi.waitFor(
      async () => expect((await deletionStatus(sys, support.token, request.id)).status).toBe('completed'),
      { timeout: 20_000, interval: 200 },
    );
  });

  /**
   * N7: the deadline's end, with an owner's answer landing after the workflow last read the answers.
   * The test holds the request's row so the end's activity waits on it past the workflow's read, and
   * the page answers meanwhile, through the reminder's link (the API's clock is behind the skipped
   * one: that link is still live).
   */
  async function answerWhileTheDeadlineCloses(
    requestId: string,
    siteId: string,
    decision: 'approve' | 'deny',
  ) {
    let status = 0;
    let sleeping: Promise<void> | undefined;
    await sys.sql.begin(async (tx) => {
      await tx`select 1 from deletion_requests where id = ${requestId} for update`;
      // Time skips to the deadline and stands still while the end's activity waits: the rest of the
      // sleep passes after the commit.
      sleeping = env.sleep(30 * DAY + 60_000);
      await vi.waitFor(
        async () => {
          const [row] = await sys.sql`
            select count(*)::int as n from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock'
              and query like '%deletion_requests%'`;
          expect(row?.n).toBe(1);
        },
        { timeout: 30_000, interval: 50 },
      );
      status = (await answer(sys, await consentToken(sys, requestId, siteId, 'reminder'), decision)).status;
    });
    await sleeping;
    return status;
  }

  it('a denial recorded while the deadline closes the request ends it denied, and support hears of the denial', async () => {
    const { person, sites } = await personInSites(sys, 2);
    const request = await fileDeletion(sys, support.token, person.email);
    const links = await Promise.all(sites.map((s) => consentToken(sys, request.id, s.id)));
    expect((await answer(sys, links[0]!, 'approve')).status).toBe(200);
    expect(await answerWhileTheDeadlineCloses(request.id, sites[1]!.id, 'deny')).toBe(200);
    expect(await handle(request.id).result()).toEqual({ status: 'denied' });
    expect((await deletionStatus(sys, support.token, request.id)).status).toBe('denied');
    const told = await supportMail(request.id);
    expect(told.map((m) => m.template)).toEqual(['deletion-outcome-support']);
    expect(told[0]?.text).toContain(sites[1]!.id);
    expect(told[0]?.text).not.toContain(sites[0]!.id);
    expect(await profileExists(person.id)).toBe(true);
  });

  it('the last approval recorded while the deadline closes the request deletes the profile', async () => {
    const { person, sites } = await personInSites(sys, 2);
    const request = await fileDeletion(sys, support.token, person.email);
    const links = await Promise.all(sites.map((s) => consentToken(sys, request.id, s.id)));
    expect((await answer(sys, links[0]!, 'approve')).status).toBe(200);
    expect(await answerWhileTheDeadlineCloses(request.id, sites[1]!.id, 'approve')).toBe(200);
    expect(await handle(request.id).result()).toEqual({ status: 'completed' });
    expect(await profileExists(person.id)).toBe(false);
    expect(await supportMail(request.id)).toEqual([]);
  });

  it('the consent page is the one writer: a bare `consent` signal records nothing, the page’s answer is adopted', async () => {
    const { person, sites } = await personInSites(sys, 2);
    const request = await fileDeletion(sys, support.token, person.email);
    const tokens = await Promise.all(sites.map((s) => consentToken(sys, request.id, s.id)));
    // What the Temporal CLI or UI could send: an answer no owner gave.
    await handle(request.id).signal(consentSignal, { siteId: sites[0]!.id, decision: 'approved' });
    await handle(request.id).signal(consentSignal, { siteId: sites[1]!.id, decision: 'denied' });
    expect((await answer(sys, tokens[1]!, 'approve')).status).toBe(200);
    await vi.waitFor(
      async () =>
        expect((await queryProfileDeletion(sys.temporal, request.id)).sites).toEqual(
          expect.arrayContaining([
            expect.objectContaining({ siteId: sites[0]!.id, decision: 'pending' }),
            expect.objectContaining({ siteId: sites[1]!.id, decision: 'approved' }),
          ]),
        ),
      { timeout: 15_000 },
    );
    const stored = await deletionStatus(sys, support.token, request.id);
    expect(stored.status).toBe('awaiting_consent');
    expect(stored.sites).toEqual(
      expect.arrayContaining([
        { siteId: sites[0]!.id, decision: 'pending' },
        { siteId: sites[1]!.id, decision: 'approved' },
      ]),
    );
    expect((await answer(sys, tokens[0]!, 'approve')).status).toBe(200);
    expect(await handle(request.id).result()).toEqual({ status: 'completed' });
  });

  it('pending invitations need no consent (S7, D2); the deletion withdraws them and erases the email they hold (D7)', async () => {
    const { person, sites } = await personInSites(sys, 1);
    const mailing = {
      mailer: createMailer({ db: sys.db, from: 'KS Cloud <test@ks.test>' }),
      publicBaseUrl: TEST_BASE_URL,
    };
    const inviting = [];
    for (let i = 0; i < 2; i++) {
      const owner = await sys.signIn();
      const site = await createSite(sys, owner.id);
      await inviteToSite(sys.db, mailing, {
        site,
        email: person.email,
        role: 'admin',
        inviterId: owner.id,
        now: new Date(),
        link: newInvitationLink(),
      });
      inviting.push({ site, owner, link: await linkIn(sys, person.email, '/invitations/') });
    }
    // An invitation the person sent stays, without them as its sender.
    await inviteToSite(sys.db, mailing, {
      site: sites[0]!,
      email: `friend-${randomUUID()}@example.test`,
      role: 'user',
      inviterId: person.id,
      now: new Date(),
      link: newInvitationLink(),
    });

    const request = await fileDeletion(sys, support.token, person.email);
    const token = await consentToken(sys, request.id, sites[0]!.id);
    expect((await queryProfileDeletion(sys.temporal, request.id)).sites).toEqual([
      expect.objectContaining({ siteId: sites[0]!.id, decision: 'pending' }),
    ]);
    const asked = (await sys.mailbox()).filter((m) => m.idempotencyKey.includes(`:${request.id}:`));
    expect(asked.map((m) => m.to)).toEqual([sites[0]!.owner.email]);

    expect((await answer(sys, token, 'approve')).status).toBe(200);
    expect(await handle(request.id).result()).toEqual({ status: 'completed' });
    const left =
      await sys.sql`select site_id from site_invitations where site_id in ${sys.sql(inviting.map((i) => i.site.id))}`;
    expect(left).toEqual([]);
    const sent = await sys.sql`select invited_by from site_invitations where site_id = ${sites[0]!.id}`;
    expect(sent).toEqual([{ invited_by: null }]);
    for (const { link } of inviting) {
      expect((await sys.request('GET', link)).status).toBe(410);
      const accept = await sys.request('POST', link, {
        body: 'name=Ada&password=a+brand+new+password',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(accept.status).toBe(410);
    }
    expect(await traces([person.id, person.email, person.name])).toEqual([]);
  });

  it('whatever the characters of the name, mail to others and events keep none of it: subject, HTML, text, JSON (D7)', async () => {
    const tag = randomUUID().slice(0, 8);
    // React escapes ' & " < > in the HTML, JSON escapes ", and the name ends in no letter.
    const name = `Éamon O'Brien-${tag} & "Co" <x> Jr.`;
    const person = await sys.signIn({ email: `obrien-${tag}@example.test`, name });
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id);
    await addMember(sys, site.id, person.id, { role: 'admin' });
    const friend = `friend-${tag}@example.test`;
    await inviteToSite(
      sys.db,
      { mailer: createMailer({ db: sys.db, from: 'KS Cloud <test@ks.test>' }), publicBaseUrl: TEST_BASE_URL },
      { site, email: friend, role: 'user', inviterId: person.id, now: new Date(), link: newInvitationLink() },
    );
    const [invitation] = await sys.sql`select html, text from sent_emails where to_address = ${friend}`;
    expect(invitation?.html).toContain(escapeHtml(name));
    expect(invitation?.text).toContain(name);
    await sys.db.insert(events).values({
      siteId: site.id,
      type: 'lock.opened',
      actorProfileId: person.id,
      data: { by: name, lock: 'Door' },
    });

    const request = await fileDeletion(sys, support.token, person.email);
    expect((await answer(sys, await consentToken(sys, request.id, site.id), 'approve')).status).toBe(200);
    expect(await handle(request.id).result()).toEqual({ status: 'completed' });
    expect(
      await traces([person.id, person.email, name, escapeHtml(name), JSON.stringify(name).slice(1, -1)]),
    ).toEqual([]);
    // The rest stays readable.
    const [kept] = await sys.sql`select text from sent_emails where to_address = ${friend}`;
    expect(kept?.text).toContain(`deleted-profile invited you to the site ${site.name}`);
    const [opened] =
      await sys.sql`select data from events where site_id = ${site.id} and type = 'lock.opened'`;
    expect(opened?.data).toEqual({ by: 'deleted-profile', lock: 'Door' });
  });

  it('mail to others keyed by the person’s id is kept under a key that leads to nobody, each still its own (D7)', async () => {
    const { person, sites } = await personInSites(sys, 1);
    const site = sites[0]!;
    await sys.sql`update memberships set role = 'admin' where site_id = ${site.id} and profile_id = ${person.id}`;
    for (const [from, to] of [
      [site.owner, person],
      [person, site.owner],
    ] as const) {
      const res = await sys.request('POST', `/sites/${site.id}/ownership`, {
        token: from.token,
        body: { profileId: to.id },
      });
      expect(res.status).toBeLessThan(300);
    }
    // The first transfer's email to the owner (then the former owner) is keyed by the person's id.
    const keyed = await sys.sql`select id from sent_emails
      where to_address = ${site.owner.email} and idempotency_key like ${`%${person.id}%`}`;
    expect(keyed).toHaveLength(1);

    const request = await fileDeletion(sys, support.token, person.email);
    expect((await answer(sys, await consentToken(sys, request.id, site.id), 'approve')).status).toBe(200);
    expect(await handle(request.id).result()).toEqual({ status: 'completed' });
    expect(await traces([person.id, person.email, person.name])).toEqual([]);
    const [kept] =
      await sys.sql`select template, idempotency_key from sent_emails where id = ${keyed[0]!.id}`;
    expect(kept).toEqual({ template: 'ownership-transferred', idempotency_key: `redacted:${keyed[0]!.id}` });
  });

  it('a person with only pending invitations is deleted at once, asking nobody', async () => {
    const { person } = await personInSites(sys, 0);
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id);
    await inviteToSite(
      sys.db,
      { mailer: createMailer({ db: sys.db, from: 'KS Cloud <test@ks.test>' }), publicBaseUrl: TEST_BASE_URL },
      {
        site,
        email: person.email,
        role: 'user',
        inviterId: owner.id,
        now: new Date(),
        link: newInvitationLink(),
      },
    );
    const request = await fileDeletion(sys, support.token, person.email);
    expect(await handle(request.id).result()).toEqual({ status: 'completed' });
    expect((await sys.mailbox()).filter((m) => m.idempotencyKey.includes(`:${request.id}:`))).toEqual([]);
    const [row] = await sys.sql`select count(*)::int as n from site_invitations where site_id = ${site.id}`;
    expect(row?.n).toBe(0);
    expect(await traces([person.id, person.email])).toEqual([]);
  });

  it('a canceled request kills its links and deletes nothing', async () => {
    const { person, sites } = await personInSites(sys, 2);
    const request = await fileDeletion(sys, support.token, person.email);
    const tokens = await Promise.all(sites.map((s) => consentToken(sys, request.id, s.id)));
    expect((await answer(sys, tokens[0]!, 'approve')).status).toBe(200);

    const cancel = await sys.request('POST', `/support/profile-deletions/${request.id}/cancel`, {
      token: support.token,
    });
    expect(cancel.status).toBe(200);
    expect(await handle(request.id).result()).toEqual({ status: 'canceled' });
    expect((await sys.request('GET', `/consents/${tokens[1]}`)).status).toBe(410);
    expect((await answer(sys, tokens[1]!, 'approve')).status).toBe(410);
    expect(await profileExists(person.id)).toBe(true);
    expect((await deletionStatus(sys, support.token, request.id)).status).toBe('canceled');
    expect(await supportMail(request.id)).toEqual([]);

    const again = await sys.request('POST', `/support/profile-deletions/${request.id}/cancel`, {
      token: support.token,
    });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { code: string }).code).toBe('deletion_finished');
    // A finished request does not block a new one.
    const next = await fileDeletion(sys, support.token, person.email);
    expect(next.id).not.toBe(request.id);
    await sys.request('POST', `/support/profile-deletions/${next.id}/cancel`, { token: support.token });
  });

  it('the owner of a site is answered blocked_owner at once, naming the site; support is told what to do', async () => {
    const { person, sites } = await personInSites(sys, 1);
    const name = `Owned ${randomUUID()}`;
    const [site] = await sys.sql`insert into sites (name) values (${name}) returning id`;
    const owned = site!.id as string;
    await sys.db.insert(memberships).values({ siteId: owned, profileId: person.id, role: 'owner' });
    const filed = await sys.request('POST', '/support/profile-deletions', {
      token: support.token,
      body: { email: person.email },
    });
    expect(filed.status).toBe(202);
    const request = (await filed.json()) as { id: string; status: string; blockingSites: unknown };
    // Decided in the filing's transaction: no `awaiting_consent` first.
    expect(request).toEqual({
      id: request.id,
      status: 'blocked_owner',
      blockingSites: [{ siteId: owned, name }],
    });
    expect(await handle(request.id).result()).toEqual({ status: 'blocked_owner' });
    expect((await queryProfileDeletion(sys.temporal, request.id)).blockingSiteIds).toEqual([owned]);
    const status = await deletionStatus(sys, support.token, request.id);
    expect(status).toMatchObject({
      status: 'blocked_owner',
      sites: [],
      blockingSiteIds: [owned],
      blockingSites: [{ siteId: owned, name }],
    });
    expect(status.finishedAt).not.toBeNull();
    const told = await supportMail(request.id);
    expect(told.map((m) => m.template)).toEqual(['deletion-outcome-support']);
    // What to do, and the request to read: ids only, the person's name and email stay out.
    expect(told[0]?.text).toContain(owned);
    expect(told[0]?.text).toContain('What to do');
    expect(told[0]?.text).toContain('POST /sites/{siteId}/ownership');
    expect(told[0]?.text).toContain('file the deletion again');
    expect(told[0]?.text).toContain(`${TEST_BASE_URL}/support/profile-deletions/${request.id}`);
    expect(told[0]?.html).toContain(`href="${TEST_BASE_URL}/support/profile-deletions/${request.id}"`);
    for (const needle of [person.email, person.name]) expect(told[0]?.text).not.toContain(needle);
    // Nobody was asked.
    const asked = (await sys.mailbox()).filter((m) => m.idempotencyKey.includes(`:${request.id}:`));
    expect(asked).toEqual([]);
    expect(sites).toHaveLength(1);
    expect(await profileExists(person.id)).toBe(true);
    // Blocked is not open (D1): a filing after the ownership passed on is a new request, asked anew.
    await sys.db.delete(memberships).where(eq(memberships.siteId, owned));
    const again = await fileDeletion(sys, support.token, person.email);
    expect(again).toMatchObject({ status: 'awaiting_consent', blockingSites: [] });
    expect(again.id).not.toBe(request.id);
    await consentToken(sys, again.id, sites[0]!.id);
    await sys.request('POST', `/support/profile-deletions/${again.id}/cancel`, { token: support.token });
  });

  it('one deadline: the consent email, its page, the support view and the query show the same instant', async () => {
    const { person, sites } = await personInSites(sys, 1);
    const request = await fileDeletion(sys, support.token, person.email);
    const token = await consentToken(sys, request.id, sites[0]!.id);
    const mail = (await sys.mailbox()).find(
      (m) => m.idempotencyKey === `deletion-consent-request:${request.id}:${sites[0]!.id}`,
    );
    const inMail = /answer by (.+?\))\./.exec(mail!.text.replace(/\s+/g, ' '))?.[1];
    expect(inMail).toMatch(/\d{4}.*\(.+\)$/);

    const page = await (await sys.request('GET', `/consents/${token}`)).text();
    const shown = /<dt>Answer by<\/dt><dd><strong><time datetime="([^"]+)">([^<]+)<\/time>/.exec(page);
    expect(shown?.[2]).toBe(inMail);
    const stored = await deletionStatus(sys, support.token, request.id);
    const state = await queryProfileDeletion(sys.temporal, request.id);
    expect(shown?.[1]).toBe(stored.consentDeadline);
    expect(state.plan.consentDeadline).toBe(stored.consentDeadline);
    expect(state.sites.map((s) => s.answerBy)).toEqual([stored.consentDeadline]);
    // The link itself expires then.
    const [link] =
      await sys.sql`select token_expires_at from deletion_consents where request_id = ${request.id}`;
    expect(new Date(link!.token_expires_at as string | Date).toISOString()).toBe(stored.consentDeadline);
    expect(Date.parse(stored.deadlineAt) - Date.parse(stored.consentDeadline)).toBe(3_600_000);
    await sys.request('POST', `/support/profile-deletions/${request.id}/cancel`, { token: support.token });
  });

  it('a profile in no site is deleted at once', async () => {
    const { person } = await personInSites(sys, 0);
    const request = await fileDeletion(sys, support.token, person.email);
    expect(await handle(request.id).result()).toEqual({ status: 'completed' });
    expect(await profileExists(person.id)).toBe(false);
  });

  it('support only; unknown email 404 profile_not_found; unknown request 404', async () => {
    const member = await sys.signIn();
    const denied = await sys.request('POST', '/support/profile-deletions', {
      token: member.token,
      body: { email: member.email },
    });
    expect(denied.status).toBe(403);
    expect(
      (await sys.request('POST', '/support/profile-deletions', { body: { email: member.email } })).status,
    ).toBe(401);
    const unknown = await sys.request('POST', '/support/profile-deletions', {
      token: support.token,
      body: { email: `nobody-${randomUUID()}@example.test` },
    });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { code: string }).code).toBe('profile_not_found');
    expect(
      (await sys.request('GET', `/support/profile-deletions/${randomUUID()}`, { token: support.token }))
        .status,
    ).toBe(404);
    expect(
      (
        await sys.request('POST', `/support/profile-deletions/${randomUUID()}/cancel`, {
          token: support.token,
        })
      ).status,
    ).toBe(404);
  });
});
