/**
 * N7 for the throttles (db/queries/throttles.ts) on real PostgreSQL: takes, settles (a success
 * clearing the actor's key and refunding the shared ones), redemptions' counts and settles in one
 * transaction (decideInTransaction, writeThrottles) and the sweep, sent at once on overlapping
 * keys as a burst of redemptions of one code sends them, never fail. Before the settle locked its rows
 * in the takes' order, such a burst answered 500 (40P01 deadlock detected) to some of its requests,
 * the successful redemption's among them.
 *
 * And a redemption's count and settle in its claim's transaction (decideInTransaction, then one
 * writeThrottles of settleAttempt's result) leaves every key where a take and a settle of their own
 * leave it, over generated sequences of attempts, successes, failures and pauses.
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import {
  decideInTransaction,
  pruneThrottles,
  settleThrottles,
  type ThrottleKey,
  takeThrottle,
  writeThrottles,
} from '../../db/queries/throttles';
import { throttles } from '../../db/schema';
import { emissionMs, settleAttempt, THROTTLES, type ThrottlePolicy } from '../../domain/throttling';
import { createMailer } from '../../emails/mailer';
import { INVITATION_TTL_MS } from '../../operations/invitations';
import { invitePerson } from '../../operations/members';
import { redeemVoucher } from '../../operations/subscription';
import { createTestDatabase } from '../support/database';
import { siteWithOwner } from '../support/fixtures';
import { heldTransaction, untilAnsweredOrWaiting } from '../support/lock-waits';

let database: Database & { url: string };
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

const policy: ThrottlePolicy = { limit: 5, windowMs: 60_000 };

type Op =
  | { kind: 'take'; keys: number[]; delayMs: number }
  | { kind: 'claim'; succeeded: boolean; delayMs: number }
  | { kind: 'settle'; clear: number; delayMs: number }
  | { kind: 'prune'; delayMs: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('take' as const),
      keys: fc.shuffledSubarray([0, 1, 2], { minLength: 1 }),
      delayMs: fc.nat(3),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('claim' as const),
      succeeded: fc.boolean(),
      delayMs: fc.nat(3),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('settle' as const), clear: fc.nat(2), delayMs: fc.nat(3) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('prune' as const), delayMs: fc.nat(3) }) },
);

describe('throttles under concurrent takes, settles and sweeps', () => {
  it('generated bursts on overlapping keys, redemptions counted in their claims too: every call completes', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 4, maxLength: 16 }), async (ops) => {
        runs++;
        // Names like the real ones: the name, then a digest whose case and punctuation vary.
        const keys: ThrottleKey[] = ['redeemActor', 'redeemAddress', 'redeemSite'].map((name) => ({
          key: `${name}:${randomUUID().replaceAll('-', runs % 2 ? '_' : 'Z')}`,
          policy,
        }));
        const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
        const now = new Date();
        const outcomes = await Promise.allSettled(
          ops.map(async (o) => {
            await pause(o.delayMs);
            if (o.kind === 'take')
              return takeThrottle(
                database.db,
                o.keys.map((i) => keys[i]!),
                now,
              );
            if (o.kind === 'claim') {
              // A redemption's count and settle inside its claim's transaction (operations/subscription.ts).
              return database.db.transaction(async (tx) => {
                const attempt = await decideInTransaction(tx, keys, now);
                if (!attempt.allowed) return;
                const [actor, ...shared] = keys;
                await writeThrottles(
                  tx,
                  settleAttempt(attempt.tats, o.succeeded, { clear: [actor!.key], refund: shared }),
                );
              });
            }
            if (o.kind === 'settle') {
              return settleThrottles(database.db, {
                clear: [keys[o.clear]!],
                refund: keys.filter((_, i) => i !== o.clear),
              });
            }
            return pruneThrottles(database.db, now);
          }),
        );
        const failed = outcomes.filter((x) => x.status === 'rejected');
        expect(
          failed.map((x) => {
            const reason = (x as PromiseRejectedResult).reason as Error & { cause?: Error };
            return `${reason.message.split('\n')[0]} ${reason.cause?.message ?? ''} ${JSON.stringify(reason.cause)} ${reason.stack}`;
          }),
        ).toEqual([]);
      }),
      { numRuns: 150 },
    );
    expect(runs).toBe(150);
  });
});

const keysOf = (prefix: string) => {
  const [actor, ...shared] = (['redeemActor', 'redeemSite', 'redeemAddress'] as const).map(
    (name): ThrottleKey => ({ key: `${name}:${prefix}`, policy: THROTTLES[name] }),
  );
  return { actor: actor!, shared };
};

const tatOf = async (key: string) => {
  const [row] = await database.db.select().from(throttles).where(eq(throttles.key, key));
  return row?.tat.getTime();
};

describe('a redemption settled in its claim leaves what a take and a settle leave', () => {
  it('generated attempts, outcomes and pauses', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ succeeded: fc.boolean(), afterMs: fc.nat(120_000) }), {
          minLength: 1,
          maxLength: 40,
        }),
        async (attempts) => {
          runs++;
          const apart = keysOf(`apart-${randomUUID()}`);
          const inClaim = keysOf(`claim-${randomUUID()}`);
          let nowMs = Date.parse('2026-12-04T12:00:00Z');
          for (const a of attempts) {
            nowMs += a.afterMs;
            const now = new Date(nowMs);
            const taken = await takeThrottle(database.db, [apart.actor, ...apart.shared], now);
            if (taken.allowed && a.succeeded) {
              await settleThrottles(database.db, { clear: [apart.actor], refund: apart.shared });
            }
            const decided = await database.db.transaction(async (tx) => {
              const attempt = await decideInTransaction(tx, [inClaim.actor, ...inClaim.shared], now);
              if (attempt.allowed) {
                await writeThrottles(
                  tx,
                  settleAttempt(attempt.tats, a.succeeded, {
                    clear: [inClaim.actor.key],
                    refund: inClaim.shared,
                  }),
                );
              }
              return attempt;
            });
            expect(decided.allowed).toBe(taken.allowed);
            for (const [i, k] of [apart.actor, ...apart.shared].entries()) {
              const other = [inClaim.actor, ...inClaim.shared][i]!;
              expect(await tatOf(other.key)).toBe(await tatOf(k.key));
            }
          }
        },
      ),
      { numRuns: 30 },
    );
    expect(runs).toBe(30);
  });
});

describe('the instant an attempt is decided at', () => {
  it('a clock is read only once the keys are locked, so a burst is decided in the order it holds the lock', async () => {
    const key: ThrottleKey = { key: `loginAccount:${randomUUID()}`, policy };
    await takeThrottle(database.db, [key], new Date());
    let reads = 0;
    const clock = () => {
      reads++;
      return new Date();
    };
    let waiting: Promise<unknown> | undefined;
    // Another transaction holds the key's row: the take waits for it, and must not have read the clock.
    await database.db.transaction(async (tx) => {
      await tx.select().from(throttles).where(eq(throttles.key, key.key)).for('update');
      waiting = takeThrottle(database.db, [key], clock);
      await new Promise((r) => setTimeout(r, 200));
      expect(reads).toBe(0);
    });
    expect(await waiting).toMatchObject({ allowed: true });
    expect(reads).toBe(1);
  });
});

describe('a redemption and an invitation are decided once their site is theirs', () => {
  /** A site with an active subscription (invitations need one) and its owner, as a manager acting on it. */
  async function activeSite() {
    const { site, ownerId } = await siteWithOwner(database, { subscriptionStatus: 'active' });
    return {
      site,
      actor: {
        id: ownerId,
        holdsInstallerRole: false,
        roles: ['owner', 'admin'] as const,
        needsSubscription: false,
      },
    };
  }

  const WAITED = Date.parse('2026-12-07T12:00:00Z');
  /** When the site's lock is granted: a minute after the request came, while another change held it. */
  const GRANTED = WAITED + 60_000;

  /**
   * Runs `change` while another transaction holds the site's lock, with a clock that reads WAITED
   * until that transaction commits and GRANTED after; its outcome and the reads made while it waited.
   */
  async function behindTheSiteLock<T>(siteId: string, change: (clock: () => number) => Promise<T>) {
    let granted = false;
    let readsWhileWaiting = 0;
    const clock = () => {
      if (!granted) readsWhileWaiting++;
      return granted ? GRANTED : WAITED;
    };
    const held = await heldTransaction(
      database.sql,
      (tx) => tx`select 1 from sites where id = ${siteId} for no key update`,
    );
    const outcome = change(clock);
    outcome.catch(() => {});
    await untilAnsweredOrWaiting(database.sql, outcome);
    granted = true;
    await held.commit();
    return { outcome, readsWhileWaiting };
  }

  const redemptionKeys = () => ({
    actor: { key: `redeemActor:${randomUUID()}`, policy: THROTTLES.redeemActor },
    shared: [{ key: `redeemSite:${randomUUID()}`, policy: THROTTLES.redeemSite }],
  });

  it('a failed redemption counts from the instant it held the site', async () => {
    const { site, actor } = await activeSite();
    const throttle = redemptionKeys();
    const { outcome, readsWhileWaiting } = await behindTheSiteLock(site.id, (clock) =>
      redeemVoucher(
        database.db,
        { siteId: site.id, codeHash: 'no such code', requestId: randomUUID(), actorProfileId: actor.id },
        clock,
        { actor, throttle },
      ),
    );
    expect(await outcome).toMatchObject({ ok: false, code: 'voucher_not_found' });
    expect(readsWhileWaiting).toBe(0);
    expect(await tatOf(throttle.shared[0]!.key)).toBe(GRANTED + emissionMs(THROTTLES.redeemSite));
    expect(await tatOf(throttle.actor.key)).toBe(GRANTED + emissionMs(THROTTLES.redeemActor));
  });

  it('a refused redemption says when to try again from the instant it was decided at', async () => {
    const { site, actor } = await activeSite();
    const throttle = redemptionKeys();
    // The actor's key full at GRANTED: one more is refused, and may come one emission later.
    await database.db
      .insert(throttles)
      .values({ key: throttle.actor.key, tat: new Date(GRANTED + THROTTLES.redeemActor.windowMs) });
    const { outcome } = await behindTheSiteLock(site.id, (clock) =>
      redeemVoucher(
        database.db,
        { siteId: site.id, codeHash: 'no such code', requestId: randomUUID(), actorProfileId: actor.id },
        clock,
        { actor, throttle },
      ),
    );
    await expect(outcome).rejects.toMatchObject({
      key: throttle.actor.key,
      at: new Date(GRANTED),
      retryAfterMs: emissionMs(THROTTLES.redeemActor),
    });
  });

  it('an invitation is made and counted at the instant it held the site', async () => {
    const { site, actor } = await activeSite();
    const throttle = { key: `inviteAddress:${randomUUID()}`, policy: THROTTLES.inviteAddress };
    const mailing = {
      mailer: createMailer({ db: database.db, from: 'KS Cloud <test@ks.test>' }),
      publicBaseUrl: 'http://ks.test',
    };
    const { outcome, readsWhileWaiting } = await behindTheSiteLock(site.id, (clock) =>
      invitePerson(database.db, mailing, {
        site,
        email: `${randomUUID()}@example.test`,
        role: 'user',
        actor,
        throttle,
        clock: () => new Date(clock()),
      }),
    );
    expect((await outcome).expiresAt).toEqual(new Date(GRANTED + INVITATION_TTL_MS));
    expect(readsWhileWaiting).toBe(0);
    expect(await tatOf(throttle.key)).toBe(GRANTED + emissionMs(THROTTLES.inviteAddress));
  });
});
