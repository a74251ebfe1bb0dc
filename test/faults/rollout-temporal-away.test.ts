/**
 * A rollout created while Temporal cannot start its workflow (N3): the API answers 503 and keeps no
 * rollout, so nothing shows `running` that never runs and the client's retry makes the one rollout.
 * Before, the row was committed ahead of the start: it stayed `running` for good, its pause and abort
 * answered 409 `rollout_finished`, and the retry made a second. A start that reached Temporal though
 * its answer was lost is taken back too, and its workflow ends without touching an IQ.
 */
import { createHash, randomUUID } from 'node:crypto';
import { type Client, WorkflowFailedError } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../api/app';
import { apiTemporalClient, temporalTarget } from '../../config/temporal';
import {
  insertRelease,
  insertRollout,
  resolveTargets,
  withdrawUnstartedRollout,
} from '../../db/queries/rollouts';
import { rollouts, rolloutTargets } from '../../db/schema';
import { DEFAULT_POLICY } from '../../domain/rollout';
import { rolloutWorkflowId } from '../../workflows/ids';
import { seedSiteWithIqs } from '../gateway/helpers';
import { productionApp } from '../support/production-app';
import { startTestSystem, type TestSystem } from '../support/system';

let sys: TestSystem;
let down: Client;
let support: { token: string };

beforeAll(async () => {
  sys = await startTestSystem({});
  // Nothing listens on port 1: every call is refused at once.
  down = apiTemporalClient(temporalTarget({ TEMPORAL_ADDRESS: '127.0.0.1:1' }), { deadlineMs: 500 });
  support = await sys.signIn({ platformRole: 'support' });
});
afterAll(async () => {
  await down?.connection.close();
  await sys?.close();
});

async function newRelease() {
  const version = `8.${randomUUID().slice(0, 8)}`;
  const release = await insertRelease(sys.db, {
    model: 'IQ2',
    version,
    url: `ftps://files.ks.test/iq2-${version}.bin`,
    sha256: createHash('sha256').update(version).digest('hex'),
    sizeBytes: 1024,
  });
  return release!;
}

const create = (app: App | undefined, body: unknown) => {
  const init = {
    method: 'POST',
    headers: { authorization: `Bearer ${support.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  };
  return app
    ? app.request('/support/rollouts', init)
    : sys.request('POST', '/support/rollouts', { token: support.token, body });
};
const rolloutsOf = (releaseId: string) =>
  sys.db.select().from(rollouts).where(eq(rollouts.releaseId, releaseId));

describe('creating a rollout while Temporal cannot start its workflow', () => {
  it('answers 503 and keeps no rollout; the retry, once Temporal is back, makes one that runs and obeys', async () => {
    const site = await seedSiteWithIqs(sys.db, 1, { name: 'Temporal away' });
    const release = await newRelease();
    const body = {
      releaseId: release.id,
      target: { siteIds: [site.siteId] },
      // The IQ is offline: the rollout runs until it is aborted.
      policy: { offlineDeadlineSeconds: 3600 },
    };

    const refused = await create(productionApp(sys, { temporal: down }), body);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ code: 'temporarily_unavailable' });
    expect(await rolloutsOf(release.id)).toEqual([]);

    // The client's retry, Temporal reachable again.
    const created = await create(undefined, body);
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect((await rolloutsOf(release.id)).map((r) => r.id)).toEqual([id]);
    const aborted = await sys.request('POST', `/support/rollouts/${id}/abort`, { token: support.token });
    expect(aborted.status).toBe(200);
    expect(await aborted.json()).toEqual({ id, status: 'aborted' });
    await expect(sys.temporal.workflow.getHandle(rolloutWorkflowId(id)).result()).resolves.toMatchObject({
      status: 'aborted',
    });
  });

  it('takes back a start whose answer was lost: its workflow ends without resolving a target', async () => {
    const site = await seedSiteWithIqs(sys.db, 1, { name: 'Answer lost' });
    const release = await newRelease();
    // The start reaches Temporal, then the call fails as a deadline passed would.
    let workflowId: string | undefined;
    const lost = new Proxy(sys.temporal.workflow, {
      get(target, key, receiver) {
        if (key !== 'start') return Reflect.get(target, key, receiver);
        return async (...args: Parameters<Client['workflow']['start']>) => {
          workflowId = args[1].workflowId;
          await target.start(...args);
          throw Object.assign(new Error('deadline exceeded'), { name: 'ServiceError' });
        };
      },
    });
    const temporal = new Proxy(sys.temporal, {
      get: (target, key, receiver) => (key === 'workflow' ? lost : Reflect.get(target, key, receiver)),
    });
    const res = await create(productionApp(sys, { temporal }), {
      releaseId: release.id,
      target: { siteIds: [site.siteId] },
    });
    expect(res.status).toBe(503);
    expect(await rolloutsOf(release.id)).toEqual([]);
    const ended = sys.temporal.workflow.getHandle(workflowId!).result();
    await expect(ended).rejects.toBeInstanceOf(WorkflowFailedError);
    await expect(ended).rejects.toMatchObject({ cause: { cause: { type: 'RolloutNotFound' } } });
    const id = workflowId!.replace(/^rollout-/, '');
    expect(await sys.db.select().from(rolloutTargets).where(eq(rolloutTargets.rolloutId, id))).toEqual([]);
  });

  it('keeps a rollout whose workflow already resolved its targets', async () => {
    const site = await seedSiteWithIqs(sys.db, 2, { name: 'Taken up' });
    const release = await newRelease();
    const input = { releaseId: release.id, target: { siteIds: [site.siteId] }, policy: DEFAULT_POLICY };
    const taken = await insertRollout(sys.db, input);
    await resolveTargets(sys.db, taken.id);
    expect(await withdrawUnstartedRollout(sys.db, taken.id)).toBe(false);
    const unstarted = await insertRollout(sys.db, input);
    expect(await withdrawUnstartedRollout(sys.db, unstarted.id)).toBe(true);
    expect((await rolloutsOf(release.id)).map((r) => r.id)).toEqual([taken.id]);
    expect(
      await sys.db.select().from(rolloutTargets).where(eq(rolloutTargets.rolloutId, taken.id)),
    ).toHaveLength(2);
  });
});
