import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockSite } from '../../db/queries/subscriptions';
import { accessMethods } from '../../db/schema';
import { untilAnsweredOrWaiting } from '../support/lock-waits';
import { activeSite, json, subscribedIq } from '../support/people';
import { startTestSystem, type TestSystem } from '../support/system';

/**
 * N7: every change of a site's rows takes the site's lock (lockSite) before any other row of the
 * site, so two changes wait for each other in turn and never crosswise (40P01 was a 500). Each test
 * holds the site's lock in a transaction of its own, as a member's slot toggle or an IQ reset holds
 * it, lets a request start, and then takes the row that request would have taken first.
 */
let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({});
});
afterAll(async () => {
  await sys?.close();
});

/**
 * Holds the site's lock while `request` starts, then runs `then` (a statement on a row of the site)
 * in the same transaction and commits: resolves with the request's answer, whether the holder
 * committed (a deadlock aborts one of the two) and whether the answer came while the lock was held.
 */
async function holdingTheSite(siteId: string, request: () => Promise<Response>, then: string) {
  let answer: Promise<Response> | undefined;
  let answeredAt = Number.POSITIVE_INFINITY;
  let committedAt = Number.POSITIVE_INFINITY;
  const committed = await sys.db
    .transaction(async (tx) => {
      await lockSite(tx, siteId);
      answer = request().then((res) => {
        answeredAt = performance.now();
        return res;
      });
      await untilAnsweredOrWaiting(sys.sql, answer);
      await tx.execute(sql.raw(then));
    })
    .then(
      () => {
        committedAt = performance.now();
        return true;
      },
      () => false,
    );
  const res = await answer!;
  return { committed, answer: res, answeredWhileHeld: answeredAt < committedAt };
}

describe('the site first, then its rows', () => {
  it('an IQ’s slot toggle and a holder of the site that then takes the IQ’s row: both go through', async () => {
    const { owner, site } = await activeSite(sys);
    const iq = await subscribedIq(sys, site.id);
    const { committed, answer } = await holdingTheSite(
      site.id,
      () =>
        sys.request('PATCH', `/sites/${site.id}/iqs/${iq.id}`, {
          token: owner.token,
          body: { subscribed: false },
        }),
      `update iqs set access_version = access_version where id = '${iq.id}'`,
    );
    expect(committed).toBe(true);
    expect(answer.status).toBe(200);
    expect((await json<{ subscribed: boolean }>(answer)).subscribed).toBe(false);
  });

  it('an access method revoked while a holder of the site takes the method’s row: both go through', async () => {
    const { owner, site } = await activeSite(sys);
    const [method] = await sys.db
      .insert(accessMethods)
      .values({ siteId: site.id, profileId: owner.id, kind: 'mobile_key' })
      .returning();
    const { committed, answer } = await holdingTheSite(
      site.id,
      () =>
        sys.request('DELETE', `/sites/${site.id}/people/${owner.id}/access/${method!.id}`, {
          token: owner.token,
        }),
      `select 1 from access_methods where id = '${method!.id}' for update`,
    );
    expect(committed).toBe(true);
    expect(answer.status).toBe(204);
  });

  it('an event written for the site while its lock is held does not wait for it', async () => {
    const { owner, site } = await activeSite(sys);
    const iq = await subscribedIq(sys, site.id);
    const [lock] = await sys.sql`select id from locks where iq_id = ${iq.id}`;
    const { committed, answer, answeredWhileHeld } = await holdingTheSite(
      site.id,
      // Refused (the owner holds no access method), with its event written at once.
      () => sys.request('POST', `/sites/${site.id}/locks/${lock!.id}/open`, { token: owner.token }),
      'select 1',
    );
    expect(committed).toBe(true);
    expect(answer.status).toBe(403);
    expect(answeredWhileHeld).toBe(true);
    const events =
      await sys.sql`select type from events where site_id = ${site.id} and lock_id = ${lock!.id}`;
    expect(events.map((e) => e.type)).toEqual(['lock.open_refused']);
  });

  it('IQs subscribed at once for the last free slot: one takes it, the rest 409 (generated orders)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 4 }),
        fc.array(fc.integer({ min: 0, max: 10 }), { minLength: 4, maxLength: 4 }),
        async (count, delays) => {
          const { owner, site } = await activeSite(sys);
          // activate's term has 5 IQ slots: 4 taken, 1 free.
          for (let i = 0; i < 4; i++) await subscribedIq(sys, site.id);
          const racing = await Promise.all(
            Array.from({ length: count }, () => subscribedIq(sys, site.id, false)),
          );
          const answers = await Promise.all(
            racing.map(async (iq, i) => {
              await new Promise((r) => setTimeout(r, delays[i] ?? 0));
              const res = await sys.request('PATCH', `/sites/${site.id}/iqs/${iq.id}`, {
                token: owner.token,
                body: { subscribed: true },
              });
              return res.ok ? 'subscribed' : (await json<{ code: string }>(res)).code;
            }),
          );
          expect(answers.sort()).toEqual(['subscribed', ...Array(count - 1).fill('no_free_slot')].sort());
          const [row] =
            await sys.sql`select count(*)::int as n from iqs where site_id = ${site.id} and subscribed`;
          expect(row?.n).toBe(5);
        },
      ),
      { numRuns: 6 },
    );
  });
});
