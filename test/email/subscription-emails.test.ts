/**
 * The subscription's emails as an owner reads them (issue 16): the receipt explains the carry-over
 * in words (V4), the three reminders differ in what they say and how urgently (V5, V6), and a
 * sandbox site's emails say so with the sandbox's time (O2). Rendered to HTML and text as sent.
 */
import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../emails/format';
import { renderEmail } from '../../emails/render';

const DAY = 86_400;
const base = {
  siteName: 'Head office',
  endsOn: '14 January 2028 at 10:00 (UTC)',
  usersLimit: 20,
  iqsLimit: 2,
};
/** Text as a reader sees it: one space between words, whatever the renderer's line breaks. */
const words = (text: string) => text.replace(/\s+/g, ' ');
/** The HTML's visible text: React's text-node comments and the tags taken out. */
const visible = (html: string) => words(html.replace(/<!--.*?-->/g, '').replace(/<[^>]+>/g, ' '));

describe('redemption receipt', () => {
  it('explains a pro-rata carry-over: what was left, the factor and why, the sum', async () => {
    const mail = await renderEmail('redemption-receipt', {
      ...base,
      voucherSeconds: 365 * DAY,
      carriedSeconds: 50 * DAY,
      previous: {
        remainingSeconds: 100 * DAY,
        usersLimit: 10,
        iqsLimit: 2,
        scaledBy: { limit: 'users', from: 10, to: 20 },
      },
    });
    const text = words(mail.text);
    expect(mail.subject).toBe('Voucher redeemed for Head office');
    expect(text).toContain('100 days were left of the previous term (10 users, 2 IQs)');
    expect(text).toContain('raises the user limit from 10 to 20');
    expect(text).toContain('scaled pro rata by 10/20');
    expect(text).toContain('100 days × 10/20 = 50 days carried over');
    expect(text).toContain(
      'New term: 365 days from the voucher + 50 days carried over, ending on 14 January 2028',
    );
    expect(visible(mail.html)).toContain('raises the user limit from 10 to 20');
    expect(text).toContain('The time left was paid for 10 users');
  });

  it('names the IQ limit when its rise decided the factor, in days and hours', async () => {
    const text = words(
      (
        await renderEmail('redemption-receipt', {
          ...base,
          iqsLimit: 8,
          voucherSeconds: 30 * DAY,
          carriedSeconds: 2 * DAY + 6 * 3600,
          previous: {
            remainingSeconds: 9 * DAY,
            usersLimit: 10,
            iqsLimit: 2,
            scaledBy: { limit: 'iqs', from: 2, to: 8 },
          },
        })
      ).text,
    );
    expect(text).toContain('raises the IQ limit from 2 to 8');
    expect(text).toContain('9 days × 2/8 = 2 days 6 hours carried over');
  });

  it('says all the time left carries over when no limit rises', async () => {
    const text = words(
      (
        await renderEmail('redemption-receipt', {
          ...base,
          voucherSeconds: 365 * DAY,
          carriedSeconds: 100 * DAY,
          previous: { remainingSeconds: 100 * DAY, usersLimit: 20, iqsLimit: 2 },
        })
      ).text,
    );
    expect(text).toContain(
      'raises neither the user nor the IQ limit, so all of it is carried over: 100 days',
    );
    expect(text).not.toContain('pro rata');
  });

  it('a first term says it is the voucher’s time from now, and nothing about carrying', async () => {
    const text = words(
      (await renderEmail('redemption-receipt', { ...base, voucherSeconds: 365 * DAY, carriedSeconds: 0 }))
        .text,
    );
    expect(text).toContain("The term is the voucher's 365 days, counted from the moment of redemption");
    expect(text).not.toMatch(/carried/);
  });
});

describe('subscription reminders', () => {
  const render = (offsetDays: 28 | 7 | 1, daysLeft: number = offsetDays) =>
    renderEmail('subscription-reminder', { ...base, usersLimit: 10, offsetDays, daysLeft });

  it('each says how long is left, what happens at the end (V6) and what to do', async () => {
    for (const days of [28, 7, 1] as const) {
      const text = words((await render(days)).text);
      expect(text).toContain(`ends in ${days} day`);
      expect(text).toContain('14 January 2028 at 10:00 (UTC)');
      expect(text).toContain('stop answering lock requests');
      expect(text).toContain('keep opening doors offline');
      expect(text).toMatch(/[Rr]edeem/);
    }
  });

  it('the three differ, and the one-day one is urgent', async () => {
    const [r28, r7, r1] = await Promise.all([render(28), render(7), render(1)]);
    const bodies = [r28, r7, r1].map((r) => words(r.text).replace(/ends in \d+ days?/g, ''));
    expect(new Set(bodies).size).toBe(3);
    expect(new Set([r28, r7, r1].map((r) => r.subject)).size).toBe(3);
    expect(r28.subject).toBe('Head office: subscription ends in 28 days');
    expect(words(r28.text)).toContain('no need to wait for the last day');
    expect(words(r7.text)).toContain('One week left');
    expect(words(r7.text)).toContain('installer or reseller');
    expect(words(r7.text)).toContain('at least 10 users and 2 IQs');
    expect(r1.subject).toBe('Action needed: the subscription of Head office ends in 1 day');
    expect(words(r1.text)).toContain('Last day');
    expect(words(r1.text)).toContain('Redeem a voucher today');
    expect(r1.html).toContain('color:#b42318');
    expect(r28.html).not.toContain('color:#b42318');
  });

  it('a late one says the days truly left', async () => {
    const late = await render(7, 2);
    expect(late.subject).toBe('Head office: subscription ends in 2 days');
    expect(words(late.text)).toContain('2 days left: the subscription of Head office ends in 2 days');
    expect(words(late.text)).not.toContain('7 days');
    expect(words(late.text)).not.toContain('One week');
  });
});

describe('sandbox sites', () => {
  const sandbox = { siteTime: '3 March 2029 at 09:15 (UTC)' };

  it('every subscription email says it is from a sandbox and shows the sandbox time', async () => {
    const mails = await Promise.all([
      renderEmail('redemption-receipt', { ...base, sandbox, voucherSeconds: DAY, carriedSeconds: 0 }),
      renderEmail('subscription-reminder', { ...base, sandbox, offsetDays: 7, daysLeft: 7 }),
      renderEmail('subscription-expired', { siteName: 'Head office', endedOn: base.endsOn, sandbox }),
    ]);
    for (const mail of mails) {
      expect(mail.subject).toMatch(/^\[Sandbox\] /);
      expect(words(mail.text)).toContain('Sandbox site: this email comes from a test site');
      expect(words(mail.text)).toContain('Site time when it was sent: 3 March 2029 at 09:15 (UTC)');
      expect(visible(mail.html)).toContain('Site time when it was sent: 3 March 2029 at 09:15 (UTC)');
    }
  });

  it('a real site’s emails say nothing of a sandbox', async () => {
    const mail = await renderEmail('subscription-expired', { siteName: 'Head office', endedOn: base.endsOn });
    expect(mail.subject).toBe('Head office: subscription expired');
    expect(mail.text + mail.html).not.toMatch(/sandbox/i);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0 seconds'],
    [1, '1 second'],
    [59, '59 seconds'],
    [60, '1 minute'],
    [3600, '1 hour'],
    [3660, '1 hour 1 minute'],
    [2 * 3600 + 5 * 60 + 7, '2 hours 5 minutes'],
    [DAY, '1 day'],
    [DAY + 3600, '1 day 1 hour'],
    [50 * DAY, '50 days'],
    [3 * DAY + 4 * 3600 + 59, '3 days 4 hours'],
  ])('%i s → %s', (seconds, want) => {
    expect(formatDuration(seconds)).toBe(want);
  });
});
