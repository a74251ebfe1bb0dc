import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Answer,
  expectAnswer,
  newEmail,
  ownedActiveSite,
  type PeopleSecurity,
  type Person,
  startPeopleSecurity,
} from './people-harness';

/**
 * Class "enumeration through people endpoints" (A4, S7): whether an email has a profile shows in no
 * answer of the people endpoints a manager (or an installer) can call: not the status, the body,
 * the headers, the email sent, nor the work done. Driven over real HTTP. Timing is printed as
 * figures (medians of interleaved requests), never asserted; the work is asserted instead: the same
 * rows written and the same email for either kind of address.
 */

let t: PeopleSecurity;
let owner: Person;
let siteId: string;

beforeAll(async () => {
  t = await startPeopleSecurity();
  owner = await t.sys.signIn();
  siteId = await ownedActiveSite(t, owner, { usersLimit: 500, iqsLimit: 1 });
});
afterAll(async () => {
  await t?.close();
});

/** An answer with what differs per request by nature (ids, the email, times) masked. */
function shape(answer: Answer, email: string) {
  const masked = answer.text
    .replaceAll(email, '<email>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>');
  const headers = [...answer.headers.entries()]
    .filter(([name]) => !['date', 'content-length', 'x-request-id', 'keep-alive'].includes(name))
    .sort();
  return { status: answer.status, headers, body: masked };
}

const add = (email: string, role = 'user', token = owner.token, site = siteId) =>
  t.http('POST', `/sites/${site}/people`, { token, body: { email, role } });

/** The email the invitation sent, with the address and the link's token masked. */
async function mailShape(email: string) {
  const mails = (await t.sys.mailbox()).filter((m) => m.to === email.toLowerCase());
  expect(mails).toHaveLength(1);
  const mask = (s: string) =>
    s
      .replaceAll(email, '<email>')
      .replace(/\/invitations\/[A-Za-z0-9_-]+/g, '/invitations/<token>')
      // The deadline is 14 days from each request: two requests may straddle a minute.
      .replace(/\d\d:\d\d/g, '<hh:mm>');
  const [mail] = mails;
  return {
    template: mail!.template,
    subject: mask(mail!.subject),
    text: mask(mail!.text),
    html: mask(mail!.html),
  };
}

describe('adding a person answers alike for a registered and an unknown email', () => {
  it('the same status, headers and body (no name), the same email, and no name in the list', async () => {
    const registered = await t.sys.signIn({ name: 'Rita Registered' });
    const unknown = newEmail('unknown');
    const a = await add(registered.email);
    const b = await add(unknown);
    expectAnswer(a, 201);
    expect(shape(a, registered.email)).toEqual(shape(b, unknown));
    expect(Object.keys(a.body).sort()).toEqual(['email', 'expiresAt', 'invitationId', 'role', 'status']);
    expect(a.text).not.toContain('Rita');
    expect(await mailShape(registered.email)).toEqual(await mailShape(unknown));

    // Adding again: the same refusal for both.
    const again = [await add(registered.email), await add(unknown)];
    expect(shape(again[0]!, registered.email)).toEqual(shape(again[1]!, unknown));
    expectAnswer(again[0]!, 409, 'already_invited');

    // The list shows both as invited, alike, without a name.
    const list = expectAnswer(await t.http('GET', `/sites/${siteId}/people`, { token: owner.token }), 200)
      .body as unknown as Array<Record<string, unknown>>;
    const entries = list.filter((p) => p.email === registered.email || p.email === unknown);
    expect(entries.map((e) => Object.keys(e).sort())).toEqual([
      ['email', 'expiresAt', 'invitationId', 'role', 'status'],
      ['email', 'expiresAt', 'invitationId', 'role', 'status'],
    ]);
    expect(JSON.stringify(list)).not.toContain('Rita');

    // Withdrawing answers alike too.
    const withdrawals = await Promise.all(
      entries.map((e) =>
        t.http('DELETE', `/sites/${siteId}/invitations/${e.invitationId}`, { token: owner.token }),
      ),
    );
    expect(withdrawals.map((w) => w.status)).toEqual([204, 204]);
  });

  it('the same for every role, in any letter case, and for an admin adding', async () => {
    const admin = await t.sys.signIn();
    await t.sys
      .sql`insert into memberships (site_id, profile_id, role) values (${siteId}, ${admin.id}, 'admin')`;
    for (const role of ['user', 'admin']) {
      const registered = await t.sys.signIn();
      const unknown = newEmail('Unknown');
      const a = await add(registered.email.toUpperCase(), role, admin.token);
      const b = await add(unknown.toUpperCase(), role, admin.token);
      expect(shape(a, registered.email)).toEqual(shape(b, unknown.toLowerCase()));
      expect(a.status).toBe(201);
    }
  });

  it('an installer’s site for an owner email answers alike whether or not the email has a profile', async () => {
    const installer = await t.sys.signIn({ platformRole: 'installer' });
    const registered = await t.sys.signIn({ name: 'Olga Owner' });
    const unknown = newEmail('owner');
    const create = (ownerEmail: string) =>
      t.http('POST', '/sites', { token: installer.token, body: { name: 'Same name', ownerEmail } });
    const a = await create(registered.email);
    const b = await create(unknown);
    expectAnswer(a, 201);
    expect(shape(a, registered.email)).toEqual(shape(b, unknown));
    expect(a.text).not.toContain('Olga');
    expect(await mailShape(registered.email)).toEqual(await mailShape(unknown));
    // Release says the same for both: the owner has not accepted yet.
    const releases = [
      await t.http('POST', `/sites/${a.body.id}/release`, { token: installer.token }),
      await t.http('POST', `/sites/${b.body.id}/release`, { token: installer.token }),
    ];
    expect(shape(releases[0]!, registered.email)).toEqual(shape(releases[1]!, unknown));
    expectAnswer(releases[0]!, 409, 'owner_not_joined');
  });

  it('does the same work for both: the same rows written; timing printed as figures', async () => {
    const rows = async () => {
      const [r] = await t.sys.sql`select
        (select count(*)::int from site_invitations) as invitations,
        (select count(*)::int from memberships) as memberships,
        (select count(*)::int from profiles) as profiles,
        (select count(*)::int from sent_emails) as emails,
        (select count(*)::int from events) as events`;
      return r!;
    };
    const diff = (before: Record<string, number>, after: Record<string, number>) =>
      Object.fromEntries(Object.keys(before).map((k) => [k, after[k]! - before[k]!]));

    const rounds = 20;
    const registered: Person[] = [];
    for (let i = 0; i < rounds; i++) registered.push(await t.sys.signIn());
    const times = { registered: [] as number[], unknown: [] as number[] };
    for (let i = 0; i < rounds; i++) {
      // Interleaved, in alternating order, so drift on the machine falls on both alike.
      const order = i % 2 === 0 ? (['registered', 'unknown'] as const) : (['unknown', 'registered'] as const);
      for (const kind of order) {
        const email = kind === 'registered' ? registered[i]!.email : newEmail('timing');
        const before = await rows();
        const started = performance.now();
        const answer = await add(email);
        times[kind].push(performance.now() - started);
        expect(answer.status).toBe(201);
        expect(diff(before, await rows())).toEqual({
          invitations: 1,
          memberships: 0,
          profiles: 0,
          emails: 1,
          events: 1,
        });
      }
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const r = median(times.registered);
    const u = median(times.unknown);
    console.log(
      `people-enumeration: POST /sites/:siteId/people over HTTP, ${rounds} each interleaved: ` +
        `registered median ${r.toFixed(1)} ms, unknown median ${u.toFixed(1)} ms, ratio ${(r / u).toFixed(2)}`,
    );
  });
});
