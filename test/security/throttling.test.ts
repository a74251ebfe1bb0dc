import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateVoucherCode } from '../../domain/voucher-codes';
import { addMember, createSite, voucher } from '../support/fixtures';
import { activeSite } from '../support/people';
import { type AccountsSecurity, type Answer, startAccountsSecurity, tally } from './accounts-harness';

/**
 * A6, V12: bursts sent at once get no more tries than the limit (check-and-count is atomic), per
 * account, per client address and per site; a refusal is 429 too_many_attempts with Retry-After and
 * a detail that says when to retry. The app listens on real TCP; 127.0.0.1 is its trusted proxy.
 */
let s: AccountsSecurity;
/** Set, the API's clock stands still there (a test whose attempts must not outlast a limit's step). */
let stopped: Date | undefined;
beforeAll(async () => {
  s = await startAccountsSecurity({ now: () => stopped ?? new Date() });
});
afterAll(async () => {
  await s?.close();
});

const burst = (n: number, send: (i: number) => Promise<Answer>) =>
  Promise.all(Array.from({ length: n }, (_, i) => send(i)));
let net = 0;
/** A client address of its own for each test (TEST-NET-3). */
const address = () => `203.0.113.${++net}`;

function expectThrottled(a: Answer) {
  expect(a.status).toBe(429);
  expect(a.body.code).toBe('too_many_attempts');
  const retry = Number(a.headers.get('retry-after'));
  expect(Number.isInteger(retry) && retry > 0).toBe(true);
  expect(a.body.detail).toMatch(/try again in \d+ (second|minute|hour)/);
}

describe('login', () => {
  it('30 wrong passwords for one account at once from one address: 10 checked, 20 refused; the owner elsewhere is not locked out', async () => {
    const person = await s.sys.signIn();
    const from = address();
    const answers = await burst(30, () =>
      s.http('POST', '/auth/login', { body: { email: person.email, password: 'wrong guess' }, from }),
    );
    expect(tally(answers)).toEqual({ 401: 10, 429: 20 });
    for (const a of answers.filter((x) => x.status === 429)) {
      expectThrottled(a);
      expect(a.body.detail).toMatch(/this account from your network address/);
    }
    // Even the right password waits at the guesser's address.
    expectThrottled(
      await s.http('POST', '/auth/login', {
        body: { email: person.email, password: 'correct horse battery' },
        from,
      }),
    );
    // The owner, at another address, signs in.
    const right = await s.http('POST', '/auth/login', {
      body: { email: person.email, password: 'correct horse battery' },
      from: address(),
    });
    expect(right.status).toBe(200);
  });

  it('guesses spread over many addresses: 100 an hour checked at one account, then even the right one waits', async () => {
    const person = await s.sys.signIn();
    // A hundred password checks may take longer than the account's step (36 s) gives one back.
    stopped = new Date();
    try {
      const wrong = (from: string) =>
        s.http('POST', '/auth/login', { body: { email: person.email, password: 'wrong guess' }, from });
      const answers: Answer[] = [];
      // Eleven addresses, each with more than its own 10: the account's 100 are what stops them.
      for (let i = 0; i < 11; i++) {
        const from = address();
        answers.push(...(await burst(12, () => wrong(from))));
      }
      expect(tally(answers)).toEqual({ 401: 100, 429: 32 });
      const right = await s.http('POST', '/auth/login', {
        body: { email: person.email, password: 'correct horse battery' },
        from: address(),
      });
      expectThrottled(right);
      expect(right.body.detail).toMatch(/this account;/);
    } finally {
      stopped = undefined;
    }
  }, 120_000);

  it('one address trying many accounts at once: 50 checked; another address is not held up', async () => {
    const from = address();
    const answers = await burst(60, () =>
      s.http('POST', '/auth/login', { body: { email: `${randomUUID()}@nobody.test`, password: 'x' }, from }),
    );
    expect(tally(answers)).toEqual({ 401: 50, 429: 10 });
    for (const a of answers.filter((x) => x.status === 429)) expect(a.body.detail).toMatch(/network address/);
    const elsewhere = await s.http('POST', '/auth/login', {
      body: { email: `${randomUUID()}@nobody.test`, password: 'x' },
      from: address(),
    });
    expect(elsewhere.status).toBe(401);
  });

  it('a successful login forgets the account’s failures', async () => {
    const person = await s.sys.signIn();
    const from = address();
    for (let i = 0; i < 9; i++) {
      expect(
        (await s.http('POST', '/auth/login', { body: { email: person.email, password: 'nope' }, from }))
          .status,
      ).toBe(401);
    }
    const ok = await s.http('POST', '/auth/login', {
      body: { email: person.email, password: 'correct horse battery' },
      from,
    });
    expect(ok.status).toBe(200);
    const again = await burst(10, () =>
      s.http('POST', '/auth/login', { body: { email: person.email, password: 'nope' }, from }),
    );
    expect(tally(again)).toEqual({ 401: 10 });
  });
});

describe('password change (POST /me/password)', () => {
  const change = (token: string, currentPassword: string, from: string) =>
    s.http('POST', '/me/password', {
      token,
      body: { currentPassword, newPassword: 'a brand new password' },
      from,
    });

  it('failed logins at the account do not hold its signed-in owner up', async () => {
    const person = await s.sys.signIn();
    const from = address();
    const guesses = await burst(12, () =>
      s.http('POST', '/auth/login', { body: { email: person.email, password: 'wrong guess' }, from }),
    );
    expect(tally(guesses)).toEqual({ 401: 10, 429: 2 });
    expect((await change(person.token, 'correct horse battery', address())).status).toBe(200);
  });

  it('a session guessing its current password: 10 tries, then even the right one waits', async () => {
    const person = await s.sys.signIn();
    const answers = await burst(12, () => change(person.token, 'wrong guess', address()));
    expect(tally(answers)).toEqual({ 401: 10, 429: 2 });
    const right = await change(person.token, 'correct horse battery', address());
    expectThrottled(right);
    expect(right.body.detail).toMatch(/wrong current passwords/);
  });
});

describe('password reset', () => {
  it('a burst for one email: 5 accepted, the rest 429; at most 3 emails reach the address in an hour', async () => {
    const person = await s.sys.signIn();
    const answers = await burst(12, () =>
      s.http('POST', '/auth/password-reset', {
        body: { email: person.email },
        from: address(),
      }),
    );
    expect(tally(answers)).toEqual({ 202: 5, 429: 7 });
    for (const a of answers.filter((x) => x.status === 429)) expectThrottled(a);
    const mail = (await s.sys.mailbox()).filter(
      (m) => m.to === person.email && m.template === 'password-reset',
    );
    expect(mail).toHaveLength(3);
  });

  it('someone else’s requests for the email do not hold up the owner’s link', async () => {
    const person = await s.sys.signIn();
    expect(
      (await s.http('POST', '/auth/password-reset', { body: { email: person.email }, from: address() }))
        .status,
    ).toBe(202);
    const mail = (await s.sys.mailbox()).find(
      (m) => m.to === person.email && m.template === 'password-reset',
    );
    const link = /\/auth\/password-reset\/[A-Za-z0-9_-]+/.exec(mail?.text ?? '')![0];
    const others = await burst(8, () =>
      s.http('POST', '/auth/password-reset', { body: { email: person.email }, from: address() }),
    );
    expect(tally(others)).toEqual({ 202: 4, 429: 4 });
    const reset = await s.http('POST', link, { body: { password: 'the owner’s new one' }, from: address() });
    expect(reset.status).toBe(204);
  });

  it('one address asking for many emails: 20 accepted', async () => {
    const from = address();
    const answers = await burst(25, () =>
      s.http('POST', '/auth/password-reset', { body: { email: `${randomUUID()}@nobody.test` }, from }),
    );
    expect(tally(answers)).toEqual({ 202: 20, 429: 5 });
  });

  it('X-Forwarded-For is ignored unless the socket is a trusted proxy', async () => {
    const untrusting = await startAccountsSecurity({ trustedProxies: [] });
    try {
      // Each request claims another address; the socket (127.0.0.1) is what is counted.
      const answers = await burst(25, () =>
        untrusting.http('POST', '/auth/password-reset', {
          body: { email: `${randomUUID()}@nobody.test` },
          from: address(),
        }),
      );
      expect(tally(answers)).toEqual({ 202: 20, 429: 5 });
    } finally {
      await untrusting.close();
    }
  });
});

describe('voucher redemptions (V12)', () => {
  const redeem = (token: string, siteId: string, code: string, from: string) =>
    s.http('POST', `/sites/${siteId}/subscription/redemptions`, { token, body: { code }, from });

  async function ownedSite() {
    const owner = await s.sys.signIn();
    const site = await createSite(s.sys, owner.id);
    return { owner, site };
  }

  it('30 wrong codes at once by one actor: 10 looked up (404), 20 refused with the wait in words', async () => {
    const { owner, site } = await ownedSite();
    const from = address();
    const answers = await burst(30, () => redeem(owner.token, site.id, generateVoucherCode(), from));
    expect(tally(answers)).toEqual({ 404: 10, 429: 20 });
    for (const a of answers.filter((x) => x.status === 429)) {
      expectThrottled(a);
      expect(a.body.detail).toMatch(/by you/);
    }
  });

  it('one admin’s typos do not lock the owner out; a success clears the actor’s count', async () => {
    const { owner, site } = await ownedSite();
    const admin = await s.sys.signIn();
    await addMember(s.sys, site.id, admin.id, { role: 'admin' });
    const typos = await burst(12, () => redeem(admin.token, site.id, generateVoucherCode(), address()));
    expect(tally(typos)).toEqual({ 404: 10, 429: 2 });
    const v = await voucher(s.sys);
    expect((await redeem(owner.token, site.id, v.code, address())).status).toBe(200);

    // The owner's own near-limit typos are forgotten by their success.
    for (let i = 0; i < 9; i++)
      expect((await redeem(owner.token, site.id, generateVoucherCode(), address())).status).toBe(404);
    const w = await voucher(s.sys);
    expect((await redeem(owner.token, site.id, w.code, address())).status).toBe(200);
    const after = await burst(5, () => redeem(owner.token, site.id, generateVoucherCode(), address()));
    expect(tally(after)).toEqual({ 404: 5 });
  });

  it('per site: four actors at once get no more than the site’s 30 lookups', async () => {
    const { owner, site } = await ownedSite();
    const admins = await Promise.all([0, 1, 2].map(() => s.sys.signIn()));
    for (const a of admins) await addMember(s.sys, site.id, a.id, { role: 'admin' });
    const actors = [owner, ...admins];
    const answers = await burst(48, (i) =>
      redeem(actors[i % 4]!.token, site.id, generateVoucherCode(), address()),
    );
    const t = tally(answers);
    expect(t[404]).toBeLessThanOrEqual(30);
    // Up to 30 updates at once on one new workflow: each gets the workflow's answer (the client sends
    // again what SDK core dropped: test/workflows/subscription-update-burst.test.ts), none a 5xx.
    expect((t[404] ?? 0) + (t[429] ?? 0), JSON.stringify(t)).toBe(48);
    expect(t[429]).toBeGreaterThanOrEqual(18);
  });

  it('per site however its id is written: four actors, each request with its own letter case, get 30 lookups', async () => {
    const { owner, site } = await ownedSite();
    const admins = await Promise.all([0, 1, 2].map(() => s.sys.signIn()));
    for (const a of admins) await addMember(s.sys, site.id, a.id, { role: 'admin' });
    const actors = [owner, ...admins];
    // The i-th request capitalizes the id's letters that the bits of i pick.
    const spelled = (i: number) => {
      let letter = 0;
      return site.id.replace(/[a-f]/g, (ch) => ((i >> (letter++ % 6)) & 1 ? ch.toUpperCase() : ch));
    };
    expect(new Set(Array.from({ length: 48 }, (_, i) => spelled(i))).size).toBeGreaterThan(1);
    const answers = await burst(48, (i) =>
      redeem(actors[i % 4]!.token, spelled(i), generateVoucherCode(), address()),
    );
    // Each actor may try 10 (40 in all): the site's 30 is what stops them.
    expect(tally(answers)).toEqual({ 404: 30, 429: 18 });
  });

  it('per address: one client across many sites and accounts gets 30 lookups', async () => {
    const from = address();
    const owners = await Promise.all(Array.from({ length: 5 }, () => ownedSite()));
    const answers = await burst(40, (i) =>
      redeem(owners[i % 5]!.owner.token, owners[i % 5]!.site.id, generateVoucherCode(), from),
    );
    expect(tally(answers)).toEqual({ 404: 30, 429: 10 });
    for (const a of answers.filter((x) => x.status === 429)) expect(a.body.detail).toMatch(/network address/);
  });
});

describe('invitations (S7): each emails the address, so one site may send one email only so many', () => {
  const invite = (token: string, siteId: string, email: string) =>
    s.http('POST', `/sites/${siteId}/people`, { token, body: { email, role: 'user' }, from: address() });
  const withdraw = (token: string, siteId: string, invitationId: string) =>
    s.http('DELETE', `/sites/${siteId}/invitations/${invitationId}`, { token, from: address() });
  const invitationsTo = async (email: string) =>
    (await s.sys.mailbox()).filter((m) => m.to === email && m.template === 'invitation').length;

  it('inviting and withdrawing in a loop: 5 invitations in a day, however the email is written; then 429, nothing sent', async () => {
    const { owner, site } = await activeSite(s.sys);
    const victim = `${randomUUID()}@example.test`;
    const capitalized = victim.replace(/^./, (ch) => ch.toUpperCase());
    const spellings = [victim, victim.toUpperCase(), victim, capitalized, victim];
    for (const typed of spellings) {
      const sent = await invite(owner.token, site.id, typed);
      expect(sent.status).toBe(201);
      expect((await withdraw(owner.token, site.id, sent.body.invitationId as string)).status).toBe(204);
    }
    const refused = await invite(owner.token, site.id, victim);
    expectThrottled(refused);
    expect(refused.body.detail).toMatch(/invitations to this email from this site/);
    expect(await invitationsTo(victim)).toBe(5);
    const [open] = await s.sys
      .sql`select count(*)::int as n from site_invitations where site_id = ${site.id}`;
    expect(open?.n).toBe(0);

    // Another email from this site, and this email from another site, are not held up.
    expect((await invite(owner.token, site.id, `${randomUUID()}@example.test`)).status).toBe(201);
    const other = await activeSite(s.sys);
    expect((await invite(other.owner.token, other.site.id, victim)).status).toBe(201);
  });

  it('a burst of one invitation at once: one sent, the rest already_invited, and only the one sent is counted', async () => {
    const { owner, site } = await activeSite(s.sys);
    const email = `${randomUUID()}@example.test`;
    const answers = await burst(8, () => invite(owner.token, site.id, email));
    expect(tally(answers)).toEqual({ 201: 1, 409: 7 });
    const sent = answers.find((a) => a.status === 201)!;
    expect((await withdraw(owner.token, site.id, sent.body.invitationId as string)).status).toBe(204);
    // Four more: the refusals counted nothing.
    for (let i = 0; i < 4; i++) {
      const again = await invite(owner.token, site.id, email);
      expect(again.status).toBe(201);
      expect((await withdraw(owner.token, site.id, again.body.invitationId as string)).status).toBe(204);
    }
    expectThrottled(await invite(owner.token, site.id, email));
  });
});
