import { toPlainText } from '@react-email/render';
import { Resend } from 'resend';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { connectDatabase } from '../../db/client';
import { createMailer, EmailDeliveryError, type Mailer } from '../../emails/mailer';
import { renderEmail } from '../../emails/render';
import { type TemplateName, templates } from '../../emails/templates';
import { createTestDatabase } from '../support/database';
import { startResendEndpoint } from '../support/resend-endpoint';

/** The stand-in for api.resend.com the real SDK talks to. */
let endpoint: Awaited<ReturnType<typeof startResendEndpoint>>;
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let mailer: Mailer;
const FROM = 'KS Cloud <no-reply@ks.test>';

beforeAll(async () => {
  endpoint = await startResendEndpoint();
  const resend = new Resend('re_test_key');
  database = await createTestDatabase();
  mailer = createMailer({ db: database.db, from: FROM, resend });
});

afterAll(async () => {
  await endpoint?.close();
  await database?.close();
});

beforeEach(() => endpoint.reset());

const confirm = (key: string, to = 'Ann@Example.test') =>
  ({
    to,
    template: 'confirm-email',
    props: { name: 'Ann', confirmUrl: 'https://ks.example/auth/confirm/abc' },
    idempotencyKey: key,
  }) as const;

async function rowsFor(key: string) {
  return database.sql`select status, attempts, provider_message_id, to_address, sent_at
    from sent_emails where idempotency_key = ${key}`;
}

describe('the Resend mailer against a local endpoint', () => {
  it('sends one request with the rendered email and the idempotency key', async () => {
    const result = await mailer.send(confirm('confirm-email:one'));
    expect(result.duplicate).toBe(false);

    expect(endpoint.seen).toHaveLength(1);
    const [request] = endpoint.seen;
    expect(request).toMatchObject({
      method: 'POST',
      url: '/emails',
      idempotencyKey: 'confirm-email:one',
      authorization: 'Bearer re_test_key',
    });
    const expected = await renderEmail('confirm-email', confirm('x').props);
    expect(request!.body.from).toBe(FROM);
    expect([request!.body.to].flat()).toEqual(['ann@example.test']);
    expect(request!.body.subject).toBe('Confirm your KS Cloud account');
    expect(request!.body.html).toBe(expected.html);
    expect(request!.body.text).toBe(expected.text);
    expect(request!.body.html).toContain('https://ks.example/auth/confirm/abc');

    const [row] = await rowsFor('confirm-email:one');
    expect(row).toMatchObject({ status: 'sent', attempts: 1, to_address: 'ann@example.test' });
    expect(row!.provider_message_id).toMatch(/^msg_/);
    expect(row!.sent_at).not.toBeNull();
  });

  it('sends a repeated key only once', async () => {
    const first = await mailer.send(confirm('confirm-email:twice'));
    const second = await mailer.send(confirm('confirm-email:twice'));
    expect(first.duplicate).toBe(false);
    expect(second).toEqual({ id: first.id, duplicate: true });
    expect(endpoint.seen).toHaveLength(1);
    expect(await rowsFor('confirm-email:twice')).toHaveLength(1);
  });

  it('after 500 and 429 the third attempt goes out once, always under the same key', async () => {
    endpoint.answers = [
      {
        status: 500,
        body: { statusCode: 500, name: 'application_error', message: 'An unexpected error occurred.' },
      },
      {
        status: 429,
        body: {
          statusCode: 429,
          name: 'rate_limit_exceeded',
          message: 'Too many requests. You can only make 2 requests per second.',
        },
      },
    ];
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const key = 'confirm-email:flaky';
      const first = await mailer.send(confirm(key)).catch((e: unknown) => e);
      expect(first).toBeInstanceOf(EmailDeliveryError);
      expect(first).toMatchObject({ statusCode: 500, retryable: true });
      expect(await rowsFor(key)).toMatchObject([{ status: 'pending', attempts: 1 }]);

      const second = await mailer.send(confirm(key)).catch((e: unknown) => e);
      expect(second).toBeInstanceOf(EmailDeliveryError);
      expect(second).toMatchObject({ statusCode: 429, retryable: true });

      const third = await mailer.send(confirm(key));
      expect(third.duplicate).toBe(false);
      const fourth = await mailer.send(confirm(key));
      expect(fourth.duplicate).toBe(true);

      expect(endpoint.seen).toHaveLength(3);
      expect(endpoint.seen.map((s) => s.idempotencyKey)).toEqual([key, key, key]);
      // Every attempt carried the same email.
      expect(new Set(endpoint.seen.map((s) => JSON.stringify(s.body))).size).toBe(1);
      const rows = await rowsFor(key);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ status: 'sent', attempts: 3 });
      const [{ count }] = (await database.sql`select count(*)::int as count from sent_emails
        where status = 'sent' and idempotency_key = ${key}`) as unknown as [{ count: number }];
      expect(count).toBe(1);
    } finally {
      quiet.mockRestore();
    }
  });

  it('a provider that holds the request unanswered: the send ends at its timeout as retryable, and the retry goes out once', async () => {
    const impatient = createMailer({
      db: database.db,
      from: FROM,
      resend: new Resend('re_test_key'),
      sendTimeoutMs: 300,
    });
    endpoint.answers = [{ status: 200, body: { id: 'msg_late' }, afterMs: 5_000 }];
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const key = 'confirm-email:unanswered';
      const first = await impatient.send(confirm(key)).catch((e: unknown) => e);
      // Given up while the provider still held the request.
      expect(endpoint.heldAnswered).toBe(0);
      expect(first).toBeInstanceOf(EmailDeliveryError);
      expect(first).toMatchObject({ statusCode: null, retryable: true });
      expect((first as Error).message).toContain('no answer within 300 ms');
      expect(await rowsFor(key)).toMatchObject([{ status: 'pending', attempts: 1 }]);

      const second = await impatient.send(confirm(key));
      expect(second.duplicate).toBe(false);
      expect(endpoint.seen.map((s) => s.idempotencyKey)).toEqual([key, key]);
      expect(await rowsFor(key)).toMatchObject([{ status: 'sent', attempts: 2 }]);
    } finally {
      quiet.mockRestore();
    }
  });

  it('a refusal of the content is not retryable', async () => {
    endpoint.answers = [
      {
        status: 422,
        body: { statusCode: 422, name: 'validation_error', message: 'Invalid `to` field.' },
      },
    ];
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const error = await mailer.send(confirm('confirm-email:refused')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EmailDeliveryError);
      expect(error).toMatchObject({ statusCode: 422, retryable: false });
      expect((error as Error).message).toContain('validation_error');
    } finally {
      quiet.mockRestore();
    }
  });
});

describe('without a provider (development)', () => {
  it('the recorded row is the delivery: written as sent in one statement, a repeat sends nothing', async () => {
    const statements: string[] = [];
    const counted = connectDatabase(database.url, {
      max: 1,
      onQuery: (q) => q.includes('sent_emails') && statements.push(q),
    });
    const local = createMailer({ db: counted.db, from: FROM });
    const first = await local.send(confirm('confirm-email:local'));
    expect(statements, statements.join('\n')).toHaveLength(1);
    const second = await local.send(confirm('confirm-email:local'));
    await counted.close();
    expect(first.duplicate).toBe(false);
    expect(second).toEqual({ id: first.id, duplicate: true });
    const rows = await rowsFor('confirm-email:local');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'sent', attempts: 1, provider_message_id: null });
    expect(rows[0]!.sent_at).not.toBeNull();
    expect(endpoint.seen).toEqual([]);
  });

  it('the same key sent from many callers at once: one email, one row, the rest duplicates', async () => {
    const local = createMailer({ db: database.db, from: FROM });
    const key = 'confirm-email:at-once';
    const sends = await Promise.all(Array.from({ length: 8 }, () => local.send(confirm(key))));
    expect(sends.filter((s) => !s.duplicate)).toHaveLength(1);
    expect(new Set(sends.map((s) => s.id)).size).toBe(1);
    expect(await rowsFor(key)).toMatchObject([{ status: 'sent', attempts: 1 }]);
  });

  it('a row a provider left pending (deployed without one since) is delivered by the next send', async () => {
    const key = 'confirm-email:left-pending';
    endpoint.answers = [
      { status: 500, body: { statusCode: 500, name: 'application_error', message: 'down' } },
    ];
    await expect(mailer.send(confirm(key))).rejects.toBeInstanceOf(EmailDeliveryError);
    expect(await rowsFor(key)).toMatchObject([{ status: 'pending', attempts: 1 }]);
    const local = createMailer({ db: database.db, from: FROM });
    expect((await local.send(confirm(key))).duplicate).toBe(false);
    expect(await rowsFor(key)).toMatchObject([{ status: 'sent', attempts: 2 }]);
  });
});

describe('templates', () => {
  const names = Object.keys(templates) as TemplateName[];

  it.each(names)('%s renders to HTML and plain text from its PreviewProps', async (name) => {
    const props = (templates[name].component as unknown as { PreviewProps?: unknown }).PreviewProps;
    expect(props, `${name} has PreviewProps`).toBeDefined();
    const { subject, html, text } = await renderEmail(name, props as never);

    expect(subject.trim().length).toBeGreaterThan(0);
    expect(subject).not.toMatch(/[\r\n]/);

    expect(html).toMatch(/^<!DOCTYPE html/i);
    // Nothing loads from elsewhere: no remote images, stylesheets, fonts or scripts; links are fine.
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/\bsrc\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/url\(\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/@import/i);
    for (const [, url] of html.matchAll(/\bhref="([^"]*)"/gi)) {
      expect(url).toMatch(/^(https?:|mailto:)/);
    }

    expect(text.trim().length).toBeGreaterThan(0);
    // The converter compiled once converts as React Email's own toPlainText does.
    expect(text).toBe(toPlainText(html));
    expect(text).not.toMatch(/<\/?[a-z][^>]*>/i);
    expect(text).not.toMatch(/&(lt|gt|amp|quot|#\d+);/);
    for (const [, url] of html.matchAll(/<a\b[^>]*\bhref="(https?:[^"]*)"/gi)) {
      expect(text, `the text part carries the link ${url}`).toContain(url);
    }
  });
});
