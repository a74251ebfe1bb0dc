/**
 * K4, K8: an IQ that opens the door after the gateway gave up waiting (the API answered 409
 * iq_timeout, "the door may not have opened") and then says ok: the opening happened, and the site's
 * audit trail must show it, not only the timeout. A lying IQ's answers to requests that never timed
 * out on its connection record nothing.
 */
import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events } from '../../db/schema';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { createSite, giveAccess, voucher } from '../support/fixtures';
import { startTestSystem, type TestSystem } from '../support/system';
import { eventually, rawClient } from './helpers';

let sys: TestSystem;
let gateway: RunningGateway;

beforeAll(async () => {
  sys = await startTestSystem({});
  gateway = await startGateway({
    db: sys.db,
    sql: sys.sql,
    ports: [0],
    instanceId: 'gw-late-open',
    heartbeatSeconds: 30,
    host: '127.0.0.1',
    // The IQ's answers below come only after this: every open here times out first.
    openTimeoutMs: 300,
  });
});
afterAll(async () => {
  await gateway?.stop();
  await sys?.close();
});

type Body = Record<string, unknown>;
const call = async (method: string, path: string, token: string, body?: unknown) => {
  const res = await sys.request(method, path, { token, ...(body !== undefined ? { body } : {}) });
  return { status: res.status, body: (await res.json()) as Body };
};

async function siteWithConnectedIq() {
  const owner = await sys.signIn();
  const siteId = (await createSite(sys, owner.id)).id;
  await giveAccess(sys, siteId, owner.id);
  const v = await voucher(sys, { usersLimit: 10, iqsLimit: 3 });
  expect(
    (await call('POST', `/sites/${siteId}/subscription/redemptions`, owner.token, { code: v.code })).status,
  ).toBe(200);
  const serial = `IQ-LATE-${randomUUID().slice(0, 8)}`;
  const iq = await call('POST', `/sites/${siteId}/iqs`, owner.token, { serial, model: 'IQ2', name: 'Hall' });
  const lock = await call('POST', `/sites/${siteId}/locks`, owner.token, { iqId: iq.body.id, name: 'Door' });
  const raw = await rawClient(gateway.ports[0]!);
  raw.write(
    `${JSON.stringify({ type: 'hello', serial, secret: iq.body.deviceSecret, model: 'IQ2', firmware: '1', accessVersion: 0 })}\n`,
  );
  expect(await raw.next()).toMatchObject({ type: 'welcome', subscribed: true });
  return { owner, siteId, lockId: lock.body.id as string, raw };
}

const openAttempts = (siteId: string, lockId: string) =>
  sys.db
    .select()
    .from(events)
    .where(and(eq(events.siteId, siteId), eq(events.lockId, lockId)))
    .orderBy(events.seq);

describe('an open-result after the timeout', () => {
  it('records the opening it reports, naming the member and the request the timeout named', async () => {
    const { owner, siteId, lockId, raw } = await siteWithConnectedIq();
    const answers = Array.from({ length: 3 }, () =>
      call('POST', `/sites/${siteId}/locks/${lockId}/open`, owner.token),
    );
    const commands = (await Promise.all(answers.map(() => raw.next()))) as Array<{ requestId: string }>;
    for (const res of await Promise.all(answers)) {
      expect(res).toMatchObject({ status: 409, body: { code: 'iq_timeout' } });
    }
    // The IQ answers late, out of order: two opened the door, one did not; a repeat and a stranger's id.
    const [a, b, c] = commands.map((command) => command.requestId) as [string, string, string];
    const result = (requestId: string, ok: boolean) =>
      `${JSON.stringify({ type: 'open-result', requestId, ok, ...(ok ? {} : { reason: 'jammed' }) })}\n`;
    raw.write(
      result(c, true) + result(a, false) + result(b, true) + result(c, true) + result(randomUUID(), true),
    );
    raw.write('{"type":"heartbeat"}\n');

    await eventually(async () => {
      const opened = (await openAttempts(siteId, lockId)).filter((e) => e.type === 'lock.opened');
      expect(opened.map((e) => (e.data as { requestId?: string }).requestId).sort()).toEqual([b, c].sort());
    });
    // Settled: nothing more arrives for the repeat or the unknown id.
    await new Promise((r) => setTimeout(r, 300));
    const trail = await openAttempts(siteId, lockId);
    const refusals = trail.filter((e) => e.type === 'lock.open_refused');
    expect(refusals.map((e) => e.data)).toEqual(
      expect.arrayContaining([a, b, c].map((requestId) => ({ reason: 'iq_timeout', requestId }))),
    );
    const opened = trail.filter((e) => e.type === 'lock.opened');
    expect(opened).toHaveLength(2);
    for (const e of opened) {
      expect(e.actorProfileId).toBe(owner.id);
      expect(e.data).toMatchObject({ late: true });
      // After the timeout it follows in the trail.
      const timeout = refusals.find(
        (r) => (r.data as { requestId: string }).requestId === (e.data as { requestId: string }).requestId,
      );
      expect(Number(e.seq)).toBeGreaterThan(Number(timeout!.seq));
    }
    raw.socket.destroy();
  });

  it('from another IQ, for a request it was never sent, records nothing', async () => {
    const victim = await siteWithConnectedIq();
    const liar = await siteWithConnectedIq();
    const answer = call('POST', `/sites/${victim.siteId}/locks/${victim.lockId}/open`, victim.owner.token);
    const command = (await victim.raw.next()) as { requestId: string };
    expect((await answer).body.code).toBe('iq_timeout');
    liar.raw.write(`${JSON.stringify({ type: 'open-result', requestId: command.requestId, ok: true })}\n`);
    await new Promise((r) => setTimeout(r, 500));
    for (const site of [victim, liar]) {
      expect((await openAttempts(site.siteId, site.lockId)).filter((e) => e.type === 'lock.opened')).toEqual(
        [],
      );
    }
    victim.raw.socket.destroy();
    liar.raw.socket.destroy();
  });
});
