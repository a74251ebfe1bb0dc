import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sites, subscriptionTerms } from '../../db/schema';
import { generateVoucherCode } from '../../domain/voucher-codes';
import { subscriptionWorkflowId } from '../../workflows/ids';
import { addIq, addMember, createSite, DAY, giveAccess, voucher } from '../support/fixtures';
import { startTestSystem, type TestSystem } from '../support/system';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({});
});
afterAll(async () => {
  await sys?.close();
});

const redeem = (token: string, siteId: string, code: string, headers?: Record<string, string>) =>
  sys.request('POST', `/sites/${siteId}/subscription/redemptions`, {
    token,
    body: { code },
    ...(headers ? { headers } : {}),
  });
const getSubscription = (token: string, siteId: string) =>
  sys.request('GET', `/sites/${siteId}/subscription`, { token });

/** Each test gets its own owner and site: failed redemptions count per profile and per site. */
async function ownedSite() {
  const owner = await sys.signIn();
  const site = await createSite(sys, owner.id);
  return { owner, site };
}

const termsOfVoucher = async (voucherId: string) =>
  sys.db.select().from(subscriptionTerms).where(eq(subscriptionTerms.voucherId, voucherId));

describe('subscription API', () => {
  it('redeems a voucher typed loosely and shows the term and the slots in use', async () => {
    const { owner, site } = await ownedSite();
    await giveAccess(sys, site.id, owner.id);
    const member = await sys.signIn();
    await addMember(sys, site.id, member.id);
    await addMember(sys, site.id, (await sys.signIn()).id, { access: false });
    await addIq(sys, site.id);
    const v = await voucher(sys, { usersLimit: 10, iqsLimit: 2, durationDays: 30 });

    const before = Date.now();
    const res = await redeem(owner.token, site.id, ` ${v.code.toLowerCase().replaceAll('-', ' ')} `);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      term: { startsAt: string; endsAt: string; usersLimit: number; iqsLimit: number };
      carriedOverSeconds: number;
    };
    expect(Object.keys(body).sort()).toEqual(['carriedOverSeconds', 'term']);
    expect(body.carriedOverSeconds).toBe(0);
    expect(body.term.usersLimit).toBe(10);
    expect(body.term.iqsLimit).toBe(2);
    const startsAt = Date.parse(body.term.startsAt);
    expect(startsAt).toBeGreaterThanOrEqual(before - 1000);
    expect(startsAt).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(body.term.endsAt) - startsAt).toBe(30 * DAY);

    const got = await getSubscription(owner.token, site.id);
    expect(got.status).toBe(200);
    // The owner and the member with access fill user slots; the one without access does not (V10).
    expect(await got.json()).toEqual({ status: 'active', term: body.term, usage: { users: 2, iqs: 1 } });
  });

  it('a site without a subscription answers status none and no term', async () => {
    const { owner, site } = await ownedSite();
    const res = await getSubscription(owner.token, site.id);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'none', usage: { users: 0, iqs: 0 } });
  });

  it('refuses unknown, malformed and used codes with their codes', async () => {
    const { owner, site } = await ownedSite();
    const unknown = await redeem(owner.token, site.id, generateVoucherCode());
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toBe('application/problem+json');
    expect(((await unknown.json()) as { code: string }).code).toBe('voucher_not_found');

    const malformed = await redeem(owner.token, site.id, 'ABCD-EFGH');
    expect(malformed.status).toBe(400);
    const problem = (await malformed.json()) as { code: string; errors: Array<{ path: string }> };
    expect(problem.code).toBe('validation_failed');
    expect(problem.errors.map((e) => e.path)).toEqual(['body.code']);

    const tooLong = await redeem(owner.token, site.id, 'A'.repeat(65));
    expect(tooLong.status).toBe(400);
    expect(((await tooLong.json()) as { errors: Array<{ path: string }> }).errors[0]?.path).toBe('body.code');

    const v = await voucher(sys);
    expect((await redeem(owner.token, site.id, v.code)).status).toBe(200);
    const again = await redeem(owner.token, site.id, v.code);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { code: string }).code).toBe('voucher_already_redeemed');
    expect(await termsOfVoucher(v.id)).toHaveLength(1);
  });

  it('Unicode dashes and spaces in a typed code are ignored like ASCII ones (V12)', async () => {
    const typings = [
      (code: string) => code.replaceAll('-', '\u2013'), // en dashes, as word processors make them
      (code: string) => code.replaceAll('-', '\u00A0\u2014\u00A0'), // em dashes between no-break spaces
      (code: string) => `\u200B${code.replaceAll('-', '\u2212').toLowerCase()}\u202F`, // minus signs, lower case
    ];
    for (const type of typings) {
      const { owner, site } = await ownedSite();
      const v = await voucher(sys);
      const res = await redeem(owner.token, site.id, type(v.code));
      expect(res.status, JSON.stringify(await res.clone().json())).toBe(200);
      expect(await termsOfVoucher(v.id)).toHaveLength(1);
    }
  });

  it('an empty code gets one message saying so; a wrong one one message saying that', async () => {
    const { owner, site } = await ownedSite();
    for (const [typed, message] of [
      ['', /^is empty/],
      [' \u2013 \u00A0', /^is empty/],
      ['ABCD-EFGH', /^is not a voucher code/],
      ['A'.repeat(65), /64/],
    ] as const) {
      const res = await redeem(owner.token, site.id, typed);
      expect(res.status).toBe(400);
      const problem = (await res.json()) as {
        code: string;
        errors: Array<{ path: string; message: string }>;
      };
      expect(problem.code).toBe('validation_failed');
      expect(problem.errors).toHaveLength(1);
      expect(problem.errors[0]!.path).toBe('body.code');
      expect(problem.errors[0]!.message).toMatch(message);
    }
  });

  it('a voucher past its redeem-by date answers 410 voucher_expired and stays unused', async () => {
    const { owner, site } = await ownedSite();
    const v = await voucher(sys, { redeemBy: new Date(Date.now() - 60_000) });
    const res = await redeem(owner.token, site.id, v.code);
    expect(res.status).toBe(410);
    expect(((await res.json()) as { code: string }).code).toBe('voucher_expired');
    expect(await termsOfVoucher(v.id)).toHaveLength(0);
  });

  it('answers 404 for other sites, unknown sites and non-members; 403 for a user member', async () => {
    const { owner, site } = await ownedSite();
    const other = await ownedSite();
    const v = await voucher(sys);
    for (const res of [
      await redeem(owner.token, other.site.id, v.code),
      await getSubscription(owner.token, other.site.id),
      await redeem(owner.token, randomUUID(), v.code),
      await getSubscription(owner.token, randomUUID()),
    ]) {
      expect(res.status).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe('not_found');
    }
    const user = await sys.signIn();
    await addMember(sys, site.id, user.id, { role: 'user' });
    for (const res of [
      await redeem(user.token, site.id, v.code),
      await getSubscription(user.token, site.id),
    ]) {
      expect(res.status).toBe(403);
      expect(((await res.json()) as { code: string }).code).toBe('forbidden');
    }
    // Platform support has no site access through the site's own endpoints.
    const support = await sys.signIn({ platformRole: 'support' });
    expect((await getSubscription(support.token, site.id)).status).toBe(404);
    expect(await termsOfVoucher(v.id)).toHaveLength(0);
    expect((await sys.request('GET', `/sites/${site.id}/subscription`)).status).toBe(401);
  });

  it('an admin and the installer before release may redeem; the installer after release may not', async () => {
    const { site } = await ownedSite();
    const admin = await sys.signIn();
    await addMember(sys, site.id, admin.id, { role: 'admin' });
    expect((await redeem(admin.token, site.id, (await voucher(sys)).code)).status).toBe(200);

    const installer = await sys.signIn({ platformRole: 'installer' });
    await sys.db.update(sites).set({ installerProfileId: installer.id }).where(eq(sites.id, site.id));
    expect((await redeem(installer.token, site.id, (await voucher(sys)).code)).status).toBe(200);
    await sys.db.update(sites).set({ releasedAt: new Date() }).where(eq(sites.id, site.id));
    expect((await redeem(installer.token, site.id, (await voucher(sys)).code)).status).toBe(404);
  });

  it('replays the first answer for the same Idempotency-Key and consumes one voucher only', async () => {
    const { owner, site } = await ownedSite();
    const v = await voucher(sys);
    const headers = { 'idempotency-key': `key-${randomUUID()}` };
    const first = await redeem(owner.token, site.id, v.code, headers);
    expect(first.status).toBe(200);
    const firstBody = await first.text();
    const second = await redeem(owner.token, site.id, v.code, headers);
    expect(second.status).toBe(200);
    expect(await second.text()).toBe(firstBody);
    // The site's id in capitals is the same site, and the same key's scope.
    const shouted = await redeem(owner.token, site.id.toUpperCase(), v.code, headers);
    expect(shouted.status).toBe(200);
    expect(await shouted.text()).toBe(firstBody);
    expect(await termsOfVoucher(v.id)).toHaveLength(1);
    const siteTerms = await sys.db
      .select()
      .from(subscriptionTerms)
      .where(eq(subscriptionTerms.siteId, site.id));
    expect(siteTerms).toHaveLength(1);

    const reused = await redeem(owner.token, site.id, (await voucher(sys)).code, headers);
    expect(reused.status).toBe(422);
    expect(((await reused.json()) as { code: string }).code).toBe('idempotency_key_reused');

    // The key is the caller's: another admin with the same key makes a request of their own.
    const admin = await sys.signIn();
    await addMember(sys, site.id, admin.id, { role: 'admin' });
    const theirs = await redeem(admin.token, site.id, v.code, headers);
    expect(theirs.status).toBe(409);
  });

  it('one Idempotency-Key sent at once with two codes: one redeems, the other is idempotency_key_reused', async () => {
    for (let round = 0; round < 5; round++) {
      const { owner, site } = await ownedSite();
      const codes = [await voucher(sys), await voucher(sys)];
      const headers = { 'idempotency-key': `key-${randomUUID()}` };
      const answers = await Promise.all(codes.map((v) => redeem(owner.token, site.id, v.code, headers)));
      expect(answers.map((r) => r.status).sort()).toEqual([200, 422]);
      const won = answers.findIndex((r) => r.status === 200);
      const lost = 1 - won;
      expect(((await answers[lost]!.json()) as { code: string }).code).toBe('idempotency_key_reused');
      // The losing code is still unused; the key keeps the winner's answer.
      expect(await termsOfVoucher(codes[won]!.id)).toHaveLength(1);
      expect(await termsOfVoucher(codes[lost]!.id)).toHaveLength(0);
      const body = await answers[won]!.text();
      const again = await redeem(owner.token, site.id, codes[won]!.code, headers);
      expect(again.status).toBe(200);
      expect(await again.text()).toBe(body);
      expect((await redeem(owner.token, site.id, codes[lost]!.code, headers)).status).toBe(422);
    }
  });

  it('one Idempotency-Key sent at once with a good and a bad code: a key that made a term answers it on retry', async () => {
    // Generated interleavings (seeded, so a failure replays): which of the pair leaves first and how
    // long the other waits, several pairs at once, each pair on a site of its own.
    let seed = 20_261_207;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const delays = [0, 0, 1, 3, 8, 15];
    const pair = async () => {
      const { owner, site } = await ownedSite();
      const good = await voucher(sys);
      const bad = generateVoucherCode();
      const headers = { 'idempotency-key': `key-${randomUUID()}` };
      const [goodWait, badWait] = [0, 0].map(() => delays[Math.floor(random() * delays.length)]!);
      const send = async (code: string, waitMs: number) => {
        await new Promise((resolve) => setTimeout(resolve, waitMs));
        return redeem(owner.token, site.id, code, headers);
      };
      const [first, second] = await Promise.all([send(good.code, goodWait!), send(bad, badWait!)]);
      const terms = await termsOfVoucher(good.id);
      const siteTerms = await sys.db
        .select()
        .from(subscriptionTerms)
        .where(eq(subscriptionTerms.siteId, site.id));
      const retry = await redeem(owner.token, site.id, good.code, headers);
      const what = `good ${first.status} after ${goodWait} ms, bad ${second.status} after ${badWait} ms`;
      expect(siteTerms.length, what).toBeLessThanOrEqual(1);
      if (terms.length === 1) {
        expect(retry.status, what).toBe(200);
        const answered = (await retry.json()) as { term: { startsAt: string; endsAt: string } };
        expect(answered.term, what).toMatchObject({
          startsAt: terms[0]!.startsAt.toISOString(),
          endsAt: terms[0]!.endsAt.toISOString(),
        });
      } else {
        // The bad code took the key first: the good one is refused as a reuse of it, and made nothing.
        expect([first.status, retry.status], what).toEqual([422, 422]);
        expect(await termsOfVoucher(good.id), what).toHaveLength(0);
      }
      return terms.length;
    };
    const made: number[] = [];
    for (let round = 0; round < 4; round++) made.push(...(await Promise.all([pair(), pair(), pair()])));
    expect(made.every((n) => n <= 1)).toBe(true);
  });

  it('two sites redeeming one code at once: exactly one 200 and one 409, one term', async () => {
    const a = await ownedSite();
    const b = await ownedSite();
    const v = await voucher(sys);
    const answers = await Promise.all([
      redeem(a.owner.token, a.site.id, v.code),
      redeem(b.owner.token, b.site.id, v.code),
    ]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409]);
    const terms = await termsOfVoucher(v.id);
    expect(terms).toHaveLength(1);
    const winner = answers[0]?.status === 200 ? a.site.id : b.site.id;
    expect(terms[0]?.siteId).toBe(winner);
  });
});

describe('support API', () => {
  it('refuses owners with 403 on every support endpoint', async () => {
    const { owner, site } = await ownedSite();
    const calls: Array<[string, string, unknown]> = [
      ['POST', '/support/vouchers', { usersLimit: 1, iqsLimit: 1, durationDays: 1, count: 1 }],
      ['GET', `/support/sites/${site.id}/subscription-history`, undefined],
      ['POST', '/support/sites', { name: 'x', ownerEmail: owner.email, sandbox: true }],
      ['POST', `/support/sites/${site.id}/clock`, { advanceSeconds: 60 }],
    ];
    for (const [method, path, body] of calls) {
      const res = await sys.request(method, path, { token: owner.token, body });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(((await res.json()) as { code: string }).code).toBe('forbidden');
    }
  });

  it('issues vouchers that redeem, and shows the site’s history with carry-over', async () => {
    const support = await sys.signIn({ platformRole: 'support' });
    const issued = await sys.request('POST', '/support/vouchers', {
      token: support.token,
      body: { usersLimit: 10, iqsLimit: 2, durationDays: 365, count: 2 },
    });
    expect(issued.status).toBe(201);
    const { vouchers } = (await issued.json()) as { vouchers: Array<{ id: string; code: string }> };
    expect(vouchers).toHaveLength(2);
    for (const v of vouchers) expect(v.code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$/);

    const { owner, site } = await ownedSite();
    const first = await redeem(owner.token, site.id, vouchers[0]!.code);
    expect(first.status).toBe(200);
    const second = await redeem(owner.token, site.id, vouchers[1]!.code);
    expect(second.status).toBe(200);
    const secondBody = (await second.json()) as { carriedOverSeconds: number; previousTerm: unknown };
    // Same limits: the remaining time is carried over whole (V4), less than a second may be lost.
    expect(secondBody.carriedOverSeconds).toBeGreaterThan(365 * 86_400 - 60);
    expect(secondBody.carriedOverSeconds).toBeLessThanOrEqual(365 * 86_400);
    expect(secondBody.previousTerm).toEqual(((await first.json()) as { term: unknown }).term);

    const res = await sys.request('GET', `/support/sites/${site.id}/subscription-history`, {
      token: support.token,
    });
    expect(res.status).toBe(200);
    const { terms } = (await res.json()) as {
      terms: Array<{ voucherId: string; replacedAt: string | null; carriedOverSeconds: number }>;
    };
    expect(terms.map((t) => t.voucherId)).toEqual([vouchers[0]!.id, vouchers[1]!.id]);
    expect(terms[0]?.replacedAt).not.toBeNull();
    expect(terms[1]?.replacedAt).toBeNull();
    expect(terms.map((t) => t.carriedOverSeconds)).toEqual([0, secondBody.carriedOverSeconds]);

    // V11: the owner's audit trail says a voucher was redeemed, and names the term by id only.
    const audit = await sys.request('GET', `/sites/${site.id}/events`, { token: owner.token });
    const { events } = (await audit.json()) as { events: Array<{ type: string; data: unknown }> };
    const redeemed = events.filter((e) => e.type === 'subscription.redeemed');
    expect(redeemed).toHaveLength(2);
    for (const e of redeemed) expect(Object.keys(e.data as object)).toEqual(['termId']);
    expect(JSON.stringify(events)).not.toContain(vouchers[0]!.id);

    const unknown = await sys.request('GET', `/support/sites/${randomUUID()}/subscription-history`, {
      token: support.token,
    });
    expect(unknown.status).toBe(404);
  });

  it('validates voucher batches, sandbox sites and clocks', async () => {
    const support = await sys.signIn({ platformRole: 'support' });
    const bad = await sys.request('POST', '/support/vouchers', {
      token: support.token,
      body: { usersLimit: 0, iqsLimit: 1, durationDays: 1, count: 501 },
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path)).toEqual([
      'body.usersLimit',
      'body.count',
    ]);
    // A redemption deadline in the past, or past PostgreSQL's year 9999 (a 500 before), changes nothing.
    const vouchersBefore = await sys.sql`select count(*)::int as n from vouchers`;
    for (const redeemBy of [
      new Date(Date.now() - 60_000).toISOString(),
      '9999-12-31T23:59:59-14:00',
      new Date(Date.now() + 3651 * 86_400_000).toISOString(),
    ]) {
      const late = await sys.request('POST', '/support/vouchers', {
        token: support.token,
        body: { usersLimit: 1, iqsLimit: 1, durationDays: 1, count: 1, redeemBy },
      });
      expect(late.status, redeemBy).toBe(400);
      expect(((await late.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path)).toEqual([
        'body.redeemBy',
      ]);
    }
    expect(await sys.sql`select count(*)::int as n from vouchers`).toEqual(vouchersBefore);

    const owner = await sys.signIn();
    const badZone = await sys.request('POST', '/support/sites', {
      token: support.token,
      body: { name: 'Sandbox', timezone: 'Mars/Olympus', ownerEmail: owner.email, sandbox: true },
    });
    expect(badZone.status).toBe(400);
    expect(((await badZone.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path)).toEqual(
      ['body.timezone'],
    );
    const nobody = await sys.request('POST', '/support/sites', {
      token: support.token,
      body: { name: 'Sandbox', ownerEmail: `${randomUUID()}@example.test`, sandbox: true },
    });
    // A4, S7: an email without a profile is invited like any other (test/security/membership-without-consent).
    expect(nobody.status).toBe(201);
    expect(await nobody.json()).toMatchObject({ name: 'Sandbox', status: 'active', sandbox: true });

    const created = await sys.request('POST', '/support/sites', {
      token: support.token,
      body: { name: 'Sandbox', timezone: 'Europe/Vienna', ownerEmail: owner.email, sandbox: true },
    });
    expect(created.status).toBe(201);
    const sandbox = (await created.json()) as { id: string };
    expect(sandbox).toEqual({ id: sandbox.id, name: 'Sandbox', status: 'active', sandbox: true });

    const before = Date.now();
    const moved = await sys.request('POST', `/support/sites/${sandbox.id}/clock`, {
      token: support.token,
      body: { advanceSeconds: 86_400 },
    });
    expect(moved.status).toBe(200);
    const { now } = (await moved.json()) as { now: string };
    expect(Date.parse(now) - before).toBeGreaterThanOrEqual(DAY - 1000);
    expect(Date.parse(now) - Date.now()).toBeLessThanOrEqual(DAY);
    const [row] = await sys.sql`select clock_offset_seconds from sites where id = ${sandbox.id}`;
    expect(Number(row?.clock_offset_seconds)).toBe(86_400);

    const real = await ownedSite();
    const refused = await sys.request('POST', `/support/sites/${real.site.id}/clock`, {
      token: support.token,
      body: { advanceSeconds: 60 },
    });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { code: string }).code).toBe('not_sandbox');
    const tooFar = await sys.request('POST', `/support/sites/${sandbox.id}/clock`, {
      token: support.token,
      body: { advanceSeconds: 3650 * 86_400 + 1 },
    });
    expect(tooFar.status).toBe(400);
  });

  it('moves a sandbox site’s one clock, in its one workflow, however its id is written', async () => {
    const support = await sys.signIn({ platformRole: 'support' });
    const owner = await sys.signIn();
    const created = await sys.request('POST', '/support/sites', {
      token: support.token,
      body: { name: 'Sandbox', ownerEmail: owner.email, sandbox: true },
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const advance = (siteId: string, advanceSeconds: number) =>
      sys.request('POST', `/support/sites/${siteId}/clock`, {
        token: support.token,
        body: { advanceSeconds },
      });

    expect((await advance(id.toUpperCase(), DAY / 1000)).status).toBe(200);
    const moved = await advance(id, 60);
    expect(moved.status).toBe(200);
    const { now } = (await moved.json()) as { now: string };
    expect(Date.parse(now) - Date.now()).toBeGreaterThan(DAY - 1000);
    const [row] = await sys.sql`select clock_offset_seconds from sites where id = ${id}`;
    expect(Number(row?.clock_offset_seconds)).toBe(DAY / 1000 + 60);
    // No second workflow under the id as it was typed.
    await expect(
      sys.temporal.workflow.getHandle(subscriptionWorkflowId(id.toUpperCase())).describe(),
    ).rejects.toThrow(WorkflowNotFoundError);
  });
});
