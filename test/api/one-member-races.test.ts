import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember } from '../support/fixtures';
import { activeSite } from '../support/people';
import { startTestSystem, type TestSystem } from '../support/system';

/**
 * N7, S3, S4, S6, S8 on one or two members at once: an owner and two admins send, all at once in
 * generated orders, transfers of ownership (to either admin, or back), changes of a member's role or
 * master key, removals and leavings. Every answer is a 4xx or a success, never a 5xx, and each
 * success is one the final state keeps: one owner, holding the master key, reached by exactly the
 * transfers that answered 200 (in the order the site recorded them); no one who left or was removed
 * with a 204 is a member; the owner never left nor was removed.
 */
let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({});
});
afterAll(async () => {
  await sys?.close();
});

/** Who sends (0 the first owner, 1 and 2 admins) and to whom it is done. */
type Op =
  | { kind: 'transfer' | 'remove' | 'demote' | 'promote' | 'masterKey'; by: number; to: number }
  | { kind: 'leave'; by: number };

const person = fc.integer({ min: 0, max: 2 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('transfer', 'remove', 'demote', 'promote', 'masterKey' as const),
    by: person,
    to: person,
  }),
  fc.record({ kind: fc.constant('leave' as const), by: person }),
);

describe('one member’s changes at once', () => {
  it('answer a 4xx or a success the final state keeps, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 2, maxLength: 10 }), async (ops) => {
        const { owner, site } = await activeSite(sys);
        const admins = [await sys.signIn(), await sys.signIn()];
        for (const a of admins) await addMember(sys, site.id, a.id, { role: 'admin' });
        const people = [owner, ...admins];
        const base = `/sites/${site.id}`;
        const send = (o: Op) => {
          const by = people[o.by]!;
          if (o.kind === 'leave')
            return sys.request('DELETE', `${base}/people/${by.id}`, { token: by.token });
          const to = people[o.to]!.id;
          const req = (method: string, path: string, body?: unknown) =>
            sys.request(method, `${base}${path}`, {
              token: by.token,
              ...(body === undefined ? {} : { body }),
            });
          switch (o.kind) {
            case 'transfer':
              return req('POST', '/ownership', { profileId: to });
            case 'remove':
              return req('DELETE', `/people/${to}`);
            case 'demote':
              return req('PATCH', `/people/${to}`, { role: 'user' });
            case 'promote':
              return req('PATCH', `/people/${to}`, { role: 'admin' });
            case 'masterKey':
              return req('PATCH', `/people/${to}`, { masterKey: true });
          }
        };
        const answers = await Promise.all(
          ops.map(async (o) => {
            const res = await send(o);
            return { o, status: res.status, body: await res.text() };
          }),
        );
        const failed = answers.filter((a) => a.status >= 500 || a.status < 200);
        expect(failed, JSON.stringify(failed)).toEqual([]);

        const members = await sys.sql<Array<{ profile_id: string; role: string; master_key: boolean }>>`
          select profile_id, role, master_key from memberships where site_id = ${site.id}`;
        const owners = members.filter((m) => m.role === 'owner');
        expect(owners).toHaveLength(1);
        expect(owners[0]!.master_key).toBe(true);

        // The transfers that answered 200 are exactly those recorded, and the last one names the owner.
        const transfers = await sys.sql<Array<{ actor: string; subject: string }>>`
          select actor_profile_id as actor, subject_profile_id as subject from events
          where site_id = ${site.id} and type = 'site.ownership_transferred' order by seq`;
        const answered = answers
          .filter((a) => a.o.kind === 'transfer' && a.status === 200)
          .map((a) => ({ actor: people[a.o.by]!.id, subject: people[(a.o as { to: number }).to]!.id }));
        expect(new Set(transfers.map((t) => `${t.actor}>${t.subject}`))).toEqual(
          new Set(answered.map((t) => `${t.actor}>${t.subject}`)),
        );
        expect(transfers).toHaveLength(answered.length);
        expect(owners[0]!.profile_id).toBe(transfers.at(-1)?.subject ?? owner.id);

        // No one who was answered 204 for leaving or being removed is still a member (no one rejoins here).
        const gone = answers
          .filter((a) => (a.o.kind === 'leave' || a.o.kind === 'remove') && a.status === 204)
          .map((a) => people[a.o.kind === 'leave' ? a.o.by : a.o.to]!.id);
        for (const id of gone) expect(members.map((m) => m.profile_id)).not.toContain(id);
        // Each leaving or removal recorded is one answered 204.
        const left = await sys.sql<Array<{ subject: string }>>`
          select subject_profile_id as subject from events
          where site_id = ${site.id} and type in ('member.left', 'member.removed')`;
        expect(left.map((l) => l.subject).sort()).toEqual([...gone].sort());
      }),
      // Each run is a site and up to 10 requests at once.
      { numRuns: 40, endOnFailure: true },
    );
  });
});
