/**
 * D10 and the logging rule, when the email provider refuses: its words may quote an address (Resend's
 * 403 in test mode: "You can only send testing emails to your own email address (…)"). The refusal
 * becomes an error that an activity throws (its message goes into the workflow's pending activity
 * and history) and that the API logs. The stand-in for Resend quotes the recipient's address.
 */
import { randomUUID } from 'node:crypto';
import { Resend } from 'resend';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createMailer } from '../../emails/mailer';
import { logger } from '../../observability/logger';
import { fileDeletion } from '../support/deletion';
import { addMember, createSite } from '../support/fixtures';
import { startResendEndpoint } from '../support/resend-endpoint';
import { startTestSystem, type TestSystem } from '../support/system';

let endpoint: Awaited<ReturnType<typeof startResendEndpoint>>;
let sys: TestSystem;
const tag = randomUUID().slice(0, 8);
const address = (role: string) => `refused-${role}-${tag}@provider-refusal.test`;

beforeAll(async () => {
  endpoint = await startResendEndpoint();
  // Consent emails and invitations are refused, quoting their recipient; anything else goes out.
  endpoint.onRequest = () => {
    const request = endpoint.seen.at(-1)!;
    const key = request.idempotencyKey ?? '';
    if (!key.startsWith('deletion-consent-') && !key.startsWith('invitation:')) return;
    const to = [request.body.to].flat().join(', ');
    endpoint.answers.unshift({
      status: 403,
      body: {
        statusCode: 403,
        name: 'validation_error',
        message: `You can only send testing emails to your own email address (${to}). To send emails to other recipients, please verify a domain at resend.com/domains.`,
      },
    });
  };
  sys = await startTestSystem({
    mailer: (db) => createMailer({ db, from: 'KS Cloud <test@ks.test>', resend: new Resend('re_test_key') }),
  });
});
afterAll(async () => {
  await sys?.close();
  await endpoint?.close();
});

describe('an email provider refusal that quotes the address', () => {
  it('leaves it out of the workflow that sent the email (its pending activity and history)', async () => {
    const support = await sys.signIn({ email: address('support'), platformRole: 'support' });
    const owner = await sys.signIn({ email: address('owner') });
    const member = await sys.signIn({ email: address('member') });
    const site = await createSite(sys, owner.id);
    await addMember(sys, site.id, member.id);
    const filed = await fileDeletion(sys, support.token, member.email);
    const handle = sys.temporal.workflow.getHandle(`profile-deletion-${filed.id}`);
    // The consent email to the owner was refused at least once: the activity's last failure is recorded.
    const description = await vi.waitFor(
      async () => {
        const d = await handle.describe();
        expect(d.raw.pendingActivities?.[0]?.lastFailure?.message).toMatch(/provider refused/);
        return d;
      },
      { timeout: 20_000, interval: 200 },
    );
    const failure = description.raw.pendingActivities![0]!.lastFailure!;
    expect(failure.message).toContain('validation_error');
    const recorded = JSON.stringify([description.raw, await handle.fetchHistory()]).toLowerCase();
    expect(recorded).not.toContain(address('owner'));
    await handle.terminate('test over');
  });

  it('leaves it out of the log line of a refused invitation', async () => {
    const owner = await sys.signIn({ email: address('inviter') });
    const site = await createSite(sys, owner.id, { subscriptionStatus: 'active' });
    const logged = vi.spyOn(logger, 'error');
    try {
      const res = await sys.request('POST', `/sites/${site.id}/people`, {
        token: owner.token,
        body: { email: address('invitee'), role: 'admin' },
      });
      expect(res.status).toBe(503);
      const lines = JSON.stringify(logged.mock.calls);
      expect(lines).toContain('provider refused');
      expect(lines.toLowerCase()).not.toContain(address('invitee'));
    } finally {
      logged.mockRestore();
    }
  });
});
