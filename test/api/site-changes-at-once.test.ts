import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, voucher } from '../support/fixtures';
import { activeSite, subscribedIq } from '../support/people';
import { startTestSystem, type TestSystem } from '../support/system';

/**
 * N7 over HTTP: the changes an owner and its admins make to one site (slots, roles, master keys,
 * access methods, PIN and IQ resets, IQ slots, removals, ownership, redemptions of smaller or larger
 * vouchers) and its members' leaving, sent at once in generated mixes and orders, answer no 5xx (a
 * deadlock between two of them was a 500) and leave the site in a state a serial order could give:
 * one owner holding the master key, no more subscribed members or IQs than the current term has
 * slots, no live access method of someone who is not a member.
 */
let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({});
});
afterAll(async () => {
  await sys?.close();
});

const USERS_LIMIT = 3;

type Op =
  | { kind: 'subscribe' | 'role' | 'masterKey' | 'remove' | 'transfer'; member: number; flag: boolean }
  | { kind: 'grant' | 'pinReset'; member: number; iq: number; flag: boolean }
  | { kind: 'revoke'; member: number }
  | { kind: 'iqReset' | 'iqSlot' | 'open'; iq: number; flag: boolean }
  | { kind: 'leave'; member: number }
  | { kind: 'redeem'; usersLimit: number; iqsLimit: number };

const member = fc.integer({ min: 0, max: 4 });
const iq = fc.integer({ min: 0, max: 2 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('subscribe', 'role', 'masterKey', 'remove', 'transfer' as const),
    member,
    flag: fc.boolean(),
  }),
  fc.record({ kind: fc.constantFrom('grant', 'pinReset' as const), member, iq, flag: fc.boolean() }),
  fc.record({ kind: fc.constant('revoke' as const), member }),
  fc.record({ kind: fc.constantFrom('iqReset', 'iqSlot', 'open' as const), iq, flag: fc.boolean() }),
  fc.record({ kind: fc.constant('leave' as const), member }),
  fc.record({
    kind: fc.constant('redeem' as const),
    usersLimit: fc.integer({ min: 1, max: 4 }),
    iqsLimit: fc.integer({ min: 1, max: 3 }),
  }),
);

describe('one site’s changes at once (generated mixes and orders)', () => {
  it('answer no 5xx and leave a state some serial order gives', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ op, delay: fc.integer({ min: 0, max: 8 }), byOwner: fc.boolean() }), {
          minLength: 8,
          maxLength: 32,
        }),
        async (steps) => {
          const { owner, site } = await activeSite(sys, USERS_LIMIT);
          const others = await Promise.all([0, 1, 2, 3].map(() => sys.signIn()));
          for (const [i, p] of others.entries())
            await addMember(sys, site.id, p.id, { role: i < 2 ? 'admin' : 'user' });
          const people = [owner, ...others];
          const iqIds = [
            (await subscribedIq(sys, site.id)).id,
            (await subscribedIq(sys, site.id)).id,
            (await subscribedIq(sys, site.id, false)).id,
          ];
          const [lockRow] = await sys.sql`select id from locks where iq_id = ${iqIds[0]!}`;
          const base = `/sites/${site.id}`;
          const send = (step: (typeof steps)[number]) => {
            const token = step.byOwner ? owner.token : others[0]!.token;
            const o = step.op;
            const req = (method: string, path: string, body?: unknown) =>
              sys.request(method, `${base}${path}`, { token, ...(body === undefined ? {} : { body }) });
            switch (o.kind) {
              case 'subscribe':
                return req('PATCH', `/people/${people[o.member]!.id}`, { subscribed: o.flag });
              case 'role':
                return req('PATCH', `/people/${people[o.member]!.id}`, { role: o.flag ? 'admin' : 'user' });
              case 'masterKey':
                return req('PATCH', `/people/${people[o.member]!.id}`, { masterKey: o.flag });
              case 'remove':
                return req('DELETE', `/people/${people[o.member]!.id}`);
              case 'transfer':
                return req('POST', '/ownership', { profileId: people[o.member]!.id });
              case 'grant':
                return req(
                  'POST',
                  `/people/${people[o.member]!.id}/access`,
                  o.flag ? { kind: 'pin', iqId: iqIds[o.iq] } : { kind: 'mobile_key' },
                );
              case 'pinReset':
                return req('POST', `/people/${people[o.member]!.id}/pin-reset`, { iqId: iqIds[o.iq] });
              case 'revoke':
                return (async () => {
                  const [m] = await sys.sql`select id from access_methods
                    where site_id = ${site.id} and profile_id = ${people[o.member]!.id} and status <> 'revoked'
                    limit 1`;
                  return m ? req('DELETE', `/people/${people[o.member]!.id}/access/${m.id}`) : undefined;
                })();
              case 'iqReset':
                return req('POST', `/iqs/${iqIds[o.iq]}/reset`);
              case 'iqSlot':
                return req('PATCH', `/iqs/${iqIds[o.iq]}`, { subscribed: o.flag });
              case 'open':
                return req('POST', `/locks/${lockRow!.id}/open`);
              case 'leave':
                // By the member themselves (the owner is refused: S8).
                return sys.request('DELETE', `${base}/people/${people[o.member]!.id}`, {
                  token: people[o.member]!.token,
                });
              case 'redeem':
                return (async () => {
                  const { code } = await voucher(sys, { usersLimit: o.usersLimit, iqsLimit: o.iqsLimit });
                  return req('POST', '/subscription/redemptions', { code });
                })();
            }
          };
          const answers = await Promise.all(
            steps.map(async (step) => {
              await new Promise((r) => setTimeout(r, step.delay));
              const res = await send(step);
              return { kind: step.op.kind, status: res?.status ?? 0, body: res ? await res.text() : '' };
            }),
          );
          const failed = answers.filter((a) => a.status >= 500);
          expect(failed, JSON.stringify(failed)).toEqual([]);

          const owners = await sys.sql`select profile_id, master_key from memberships
            where site_id = ${site.id} and role = 'owner'`;
          expect(owners).toHaveLength(1);
          expect(owners[0]?.master_key).toBe(true);
          const [slots] = await sys.sql`select
              (select count(*)::int from memberships where site_id = ${site.id} and subscribed) as users,
              (select count(*)::int from iqs where site_id = ${site.id} and subscribed) as iqs,
              t.users_limit, t.iqs_limit
            from subscription_terms t where t.site_id = ${site.id} and t.replaced_at is null
            order by t.starts_at desc limit 1`;
          expect(slots?.users).toBeLessThanOrEqual(slots?.users_limit);
          expect(slots?.iqs).toBeLessThanOrEqual(slots?.iqs_limit);
          const strays = await sys.sql`select a.id from access_methods a
            where a.site_id = ${site.id} and a.status <> 'revoked'
              and not exists (select 1 from memberships m where m.site_id = a.site_id and m.profile_id = a.profile_id)`;
          expect(strays).toEqual([]);
        },
      ),
      // Each run is a site and up to 32 real requests: the first failure is reported as it is.
      { numRuns: 16, endOnFailure: true },
    );
  });
});
