import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createMailer, type Mailer } from '../../emails/mailer';
import { queryProfileDeletion } from '../../workflows/client/profile-deletion';
import { profileDeletionWorkflowId } from '../../workflows/ids';
import { answer, consentToken, deletionStatus, fileDeletion, personInSites } from '../support/deletion';
import { startTestSystem, type TestSystem } from '../support/system';

// On the dev server (real time): the time-skipping server freezes its clock while a stopped
// worker's sticky task is outstanding, so a restart there never gets the task back.
let sys: TestSystem;
/** Every goodbye email that actually went out (not a duplicate of an earlier send). */
const goodbyes: string[] = [];

beforeAll(async () => {
  sys = await startTestSystem({
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
});
afterAll(async () => {
  await sys?.close();
});

it('a worker down between the approvals and the deletion deletes once and says goodbye once', async () => {
  const support = await sys.signIn({ platformRole: 'support' });
  const { person, sites } = await personInSites(sys, 2);
  const request = await fileDeletion(sys, support.token, person.email);
  const tokens = await Promise.all(sites.map((s) => consentToken(sys, request.id, s.id)));
  expect((await answer(sys, tokens[0]!, 'approve')).status).toBe(200);
  await vi.waitFor(
    async () =>
      expect((await queryProfileDeletion(sys.temporal, request.id)).sites).toContainEqual(
        expect.objectContaining({ siteId: sites[0]!.id, decision: 'approved' }),
      ),
    { timeout: 15_000 },
  );

  await sys.stopWorker();
  expect((await answer(sys, tokens[1]!, 'approve')).status).toBe(200);
  const [still] = await sys.sql`select count(*)::int as n from profiles where id = ${person.id}`;
  expect(still?.n).toBe(1);
  await sys.startWorker();

  const handle = sys.temporal.workflow.getHandle(profileDeletionWorkflowId(request.id));
  expect(await handle.result()).toEqual({ status: 'completed' });
  const [gone] = await sys.sql`select count(*)::int as n from profiles where id = ${person.id}`;
  expect(gone?.n).toBe(0);
  expect(goodbyes).toEqual([person.email]);
  expect((await deletionStatus(sys, support.token, request.id)).status).toBe('completed');
});
