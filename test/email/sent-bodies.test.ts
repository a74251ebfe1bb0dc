import { MockActivityEnvironment } from '@temporalio/testing';
import { Resend } from 'resend';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createProfileDeletionActivities } from '../../activities/profile-deletion';
import { consentEmailKey } from '../../domain/profile-deletion';
import { newToken } from '../../domain/secrets';
import { BODY_NOT_KEPT, createMailer, EmailDeliveryError, type Mailer } from '../../emails/mailer';
import { createTestDatabase } from '../support/database';
import { pendingRequest } from '../support/deletion-rows';
import { startResendEndpoint } from '../support/resend-endpoint';

/**
 * With a provider, the body of an email (its one-time links and PINs) stays in sent_emails only until
 * the provider has accepted it: a pending row still holds what a retry sends.
 */

let endpoint: Awaited<ReturnType<typeof startResendEndpoint>>;
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let mailer: Mailer;

beforeAll(async () => {
  endpoint = await startResendEndpoint();
  database = await createTestDatabase();
  mailer = createMailer({ db: database.db, from: 'KS Cloud <test@ks.test>', resend: new Resend('re_test') });
});
afterAll(async () => {
  await endpoint?.close();
  await database?.close();
});
beforeEach(() => endpoint.reset());

async function rowOf(key: string) {
  const [row] = await database.sql`select status, html, text from sent_emails where idempotency_key = ${key}`;
  return row as { status: string; html: string; text: string };
}

const reset = (key: string, token: string) =>
  ({
    to: 'ann@example.test',
    template: 'password-reset',
    props: { name: 'Ann', resetUrl: `https://ks.example/auth/password-reset/${token}` },
    idempotencyKey: key,
  }) as const;

const invitation = (key: string, token: string) =>
  ({
    to: 'bo@example.test',
    template: 'invitation',
    props: {
      siteName: 'Head office',
      role: 'user',
      inviterName: 'Ann',
      acceptUrl: `https://ks.example/invitations/${token}`,
      expiresAt: '2030-01-01T00:00:00.000Z',
    },
    idempotencyKey: key,
  }) as const;

describe('a sent email’s row keeps no token', () => {
  it.each([
    ['password-reset', reset],
    ['invitation', invitation],
  ] as const)('%s: the provider got the link, the row keeps neither HTML nor text', async (name, email) => {
    const { token } = newToken();
    await mailer.send(email(`${name}:bodies`, token));
    expect(endpoint.seen[0]!.body.text).toContain(token);
    expect(await rowOf(`${name}:bodies`)).toEqual({
      status: 'sent',
      html: BODY_NOT_KEPT,
      text: BODY_NOT_KEPT,
    });
  });

  it('a consent request: the link went to the owner, its token is nowhere in the row', async () => {
    const { requestId, siteIds } = await pendingRequest(database.db, 1);
    const activities = createProfileDeletionActivities({
      db: database.db,
      mailer,
      publicBaseUrl: 'https://ks.example',
      supportEmail: 'support@ks.test',
    });
    await new MockActivityEnvironment().run(activities.sendConsentLink, {
      requestId,
      siteId: siteIds[0]!,
      kind: 'request' as const,
      tokenExpiresAtMs: Date.now() + 3_600_000,
    });
    const token = /\/consents\/([A-Za-z0-9_-]{43})/.exec(endpoint.seen[0]!.body.text)?.[1];
    expect(token).toBeDefined();
    const row = await rowOf(consentEmailKey('request', requestId, siteIds[0]!));
    expect(row.status).toBe('sent');
    expect(JSON.stringify(row)).not.toContain(token);
  });

  it('a queued row the provider refused keeps its body, and the retry sends that body', async () => {
    const { token } = newToken();
    const key = 'password-reset:queued';
    await mailer.queue(reset(key, token), database.db);
    endpoint.answers = [
      { status: 500, body: { statusCode: 500, name: 'application_error', message: 'down' } },
    ];
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      await expect(mailer.sendQueued(key)).rejects.toBeInstanceOf(EmailDeliveryError);
    } finally {
      quiet.mockRestore();
    }
    expect((await rowOf(key)).text).toContain(token);

    await mailer.sendQueued(key);
    expect(endpoint.seen).toHaveLength(2);
    expect(endpoint.seen[1]!.body).toEqual(endpoint.seen[0]!.body);
    expect(endpoint.seen[1]!.body.text).toContain(token);
    expect(await rowOf(key)).toEqual({ status: 'sent', html: BODY_NOT_KEPT, text: BODY_NOT_KEPT });
  });
});
