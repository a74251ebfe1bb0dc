import { describe, expect, it } from 'vitest';
import {
  consentDeadlineMs,
  DAY_MS,
  deadlineOutcome,
  deletionPlan,
  maskEmail,
  nextStep,
  ownedSites,
  personPatterns,
  type SiteConsent,
  type StoredAs,
} from '../../domain/profile-deletion';
import { describeDeletion, waitTimerSummary } from '../../workflows/profile-deletion/state-view';

const T0 = Date.UTC(2030, 0, 1);
const plan = deletionPlan(T0);
const sites = (...decisions: SiteConsent['decision'][]): SiteConsent[] =>
  decisions.map((decision, i) => ({ siteId: `site-${i}`, decision }));
const step = (
  consents: SiteConsent[],
  nowMs: number,
  opts: { canceled?: boolean; reminded?: boolean } = {},
) => nextStep({ consents, nowMs, plan, canceled: opts.canceled ?? false, reminded: opts.reminded ?? false });

describe('profile deletion plan', () => {
  it('reminds at day 7, ends at day 30, and links expire before the deadline', () => {
    expect(plan.remindAtMs - T0).toBe(7 * DAY_MS);
    expect(plan.deadlineAtMs - T0).toBe(30 * DAY_MS);
    expect(plan.tokenExpiresAtMs).toBeLessThan(plan.deadlineAtMs);
    expect(plan.tokenExpiresAtMs).toBeGreaterThan(plan.remindAtMs);
  });
  it('refuses a moment that is not an integer', () => {
    expect(() => deletionPlan(1.5)).toThrow(RangeError);
  });
});

describe('profile deletion next step', () => {
  it('any denial ends as denied, even with approvals and after the deadline', () => {
    expect(step(sites('approved', 'denied', 'pending'), T0)).toEqual({ kind: 'finish', status: 'denied' });
    expect(step(sites('denied'), plan.deadlineAtMs + 1)).toEqual({ kind: 'finish', status: 'denied' });
  });
  it('all approved deletes, also when the deadline passed meanwhile', () => {
    expect(step(sites('approved', 'approved', 'approved'), T0)).toEqual({ kind: 'delete' });
    expect(step(sites('approved'), plan.deadlineAtMs)).toEqual({ kind: 'delete' });
  });
  it('no sites to ask deletes at once', () => {
    expect(step([], T0)).toEqual({ kind: 'delete' });
  });
  it('a cancel wins over everything', () => {
    expect(step(sites('approved'), T0, { canceled: true })).toEqual({ kind: 'finish', status: 'canceled' });
    expect(step(sites('denied'), T0, { canceled: true })).toEqual({ kind: 'finish', status: 'canceled' });
  });
  it('waits for the reminder, reminds the silent sites once, then waits for the deadline', () => {
    const consents = sites('approved', 'pending', 'pending');
    expect(step(consents, T0)).toEqual({ kind: 'wait', untilMs: plan.remindAtMs });
    expect(step(consents, plan.remindAtMs - 1)).toEqual({ kind: 'wait', untilMs: plan.remindAtMs });
    expect(step(consents, plan.remindAtMs)).toEqual({ kind: 'remind', siteIds: ['site-1', 'site-2'] });
    expect(step(consents, plan.remindAtMs, { reminded: true })).toEqual({
      kind: 'wait',
      untilMs: plan.deadlineAtMs,
    });
  });
  it('times out at the deadline without every answer', () => {
    expect(step(sites('approved', 'pending'), plan.deadlineAtMs, { reminded: true })).toEqual({
      kind: 'finish',
      status: 'timed_out',
    });
    // A reminder never sent (worker down for weeks) is not sent after the deadline.
    expect(step(sites('pending'), plan.deadlineAtMs)).toEqual({ kind: 'finish', status: 'timed_out' });
  });
});

describe('the end a deadline gives, decided again when the request is closed', () => {
  it('an answer stored after the last read counts: a denial denies, every approval keeps it open', () => {
    expect(deadlineOutcome(['approved', 'pending'])).toBe('timed_out');
    expect(deadlineOutcome(['pending', 'denied'])).toBe('denied');
    expect(deadlineOutcome(['approved', 'denied'])).toBe('denied');
    expect(deadlineOutcome(['approved', 'approved'])).toBe('awaiting_consent');
  });
  it('agrees with the next step at the deadline for every set of up to three answers', () => {
    const decisions = ['pending', 'approved', 'denied'] as const;
    const all = (n: number): SiteConsent['decision'][][] =>
      n === 0 ? [[]] : all(n - 1).flatMap((rest) => decisions.map((d) => [d, ...rest]));
    const seen = new Set<string>();
    for (let n = 0; n <= 3; n++) {
      for (const combo of all(n)) {
        const next = step(sites(...combo), plan.deadlineAtMs, { reminded: true });
        const end = deadlineOutcome(combo);
        seen.add(end);
        if (next.kind === 'delete') expect(end).toBe('awaiting_consent');
        else expect(next).toEqual({ kind: 'finish', status: end });
      }
    }
    expect([...seen].sort()).toEqual(['awaiting_consent', 'denied', 'timed_out']);
  });
});

describe('one deadline, masked emails, owners', () => {
  it('the consent deadline is when the links expire, an hour before the request times out', () => {
    expect(consentDeadlineMs(plan.deadlineAtMs)).toBe(plan.tokenExpiresAtMs);
    expect(plan.deadlineAtMs - plan.tokenExpiresAtMs).toBe(3_600_000);
  });
  it('masks an email to its first character and its domain', () => {
    expect(maskEmail('jane.doe@example.com')).toBe('j•••@example.com');
    expect(maskEmail('j@example.com')).toBe('j•••@example.com');
    // The last @ separates the domain (a quoted local part may hold one).
    expect(maskEmail('"a@b"@example.com')).toBe('"•••@example.com');
    expect(maskEmail('😀smile@example.com')).toBe('😀•••@example.com');
    expect(maskEmail('no-at-sign')).toBe('•••');
  });
  it('only an owner membership blocks (D6)', () => {
    expect(
      ownedSites([
        { siteId: 'a', role: 'admin' },
        { siteId: 'b', role: 'owner' },
        { siteId: 'c', role: 'user' },
      ]),
    ).toEqual(['b']);
  });
});

describe('the state query', () => {
  const state = (over: Partial<Parameters<typeof describeDeletion>[0]> = {}) => ({
    requestId: 'r-1',
    status: 'awaiting_consent' as const,
    sites: sites('approved', 'pending'),
    blockingSiteIds: [],
    plan,
    reminded: false,
    ...over,
  });
  const at = (nowMs: number, doing?: string) => ({
    nowMs,
    filedAtMs: T0,
    filedBy: { role: 'support' as const, profileId: 'p-support' },
    doing,
  });
  const iso = (ms: number) => new Date(ms).toISOString();

  it('answers ISO times, who filed, each site with its answer-by, and waits for the reminder', () => {
    expect(describeDeletion(state(), at(T0 + 1000))).toEqual({
      requestId: 'r-1',
      status: 'awaiting_consent',
      now: iso(T0 + 1000),
      request: { filedAt: iso(T0), filedBy: { role: 'support', profileId: 'p-support' } },
      sites: [
        { siteId: 'site-0', decision: 'approved', answerBy: iso(plan.tokenExpiresAtMs) },
        { siteId: 'site-1', decision: 'pending', answerBy: iso(plan.tokenExpiresAtMs) },
      ],
      blockingSiteIds: [],
      plan: {
        reminderAt: iso(T0 + 7 * DAY_MS),
        consentDeadline: iso(T0 + 30 * DAY_MS - 3_600_000),
        timesOutAt: iso(T0 + 30 * DAY_MS),
      },
      reminded: false,
      activity: 'Waiting for answers or the reminder',
      waitingFor: { what: 'answers or the reminder', until: iso(plan.remindAtMs) },
    });
  });
  it('after the reminder it waits for the deadline', () => {
    const view = describeDeletion(state({ reminded: true }), at(plan.remindAtMs + 1));
    expect(view.waitingFor).toEqual({ what: 'answers or the deadline', until: iso(plan.deadlineAtMs) });
  });
  it('a step in progress is said as such, with no wait', () => {
    const view = describeDeletion(state(), at(T0, 'Consent email to the owner of site site-1'));
    expect(view.activity).toBe('Consent email to the owner of site site-1');
    expect(view.waitingFor).toBeUndefined();
  });
  it('an ended request waits for nothing', () => {
    const view = describeDeletion(
      state({ status: 'blocked_owner', sites: [], blockingSiteIds: ['s'] }),
      at(T0),
    );
    expect(view.activity).toBe('Ended: blocked_owner');
    expect(view.waitingFor).toBeUndefined();
    expect(view.blockingSiteIds).toEqual(['s']);
  });
  it('timer summaries name the sites by id', () => {
    expect(waitTimerSummary(false, ['a', 'b'])).toBe('7-day consent reminder for sites a, b');
    expect(waitTimerSummary(true, ['a'])).toBe('Consent deadline for site a');
  });
});

describe('the deleted person in text the deletion keeps (D7)', () => {
  const person = (name: string) => ({
    id: '0b0e2a58-3c4e-4d8e-9f00-6a1d2c3b4e5f',
    email: 'p@example.test',
    name,
  });
  /** What PostgreSQL replaces (flags `gi`), run as a JavaScript expression: its one POSIX class spelled out. */
  const redacted = (name: string, as: StoredAs, text: string) =>
    text.replace(
      new RegExp(personPatterns(person(name), as).any.replaceAll('[[:alnum:]_]', '[\\p{L}\\p{N}_]'), 'giu'),
      '·',
    );

  it('finds the name as each column stores it: raw in text, escaped in HTML and in JSON', () => {
    const name = `Seán O'Brien & "Co" <x>`;
    expect(redacted(name, 'text', `From ${name}.`)).toBe('From ·.');
    expect(redacted(name, 'html', '<p>From Seán O&#x27;Brien &amp; &quot;Co&quot; &lt;x&gt;.</p>')).toBe(
      '<p>From ·.</p>',
    );
    expect(redacted(name, 'json', JSON.stringify({ by: name }))).toBe('{"by":"·"}');
    // Raw in JSON it would match across a string's quotes.
    expect(personPatterns(person('a", "b'), 'json').any).not.toContain('a", "b');
  });

  it('finds a name that starts or ends with a character that is no letter, as a whole', () => {
    expect(redacted('Ada Lovelace Jr.', 'text', 'Ada Lovelace Jr. and Ada Lovelace Jr.,')).toBe('· and ·,');
    expect(redacted("'Ada'", 'text', "by 'Ada' and x'Ada'")).toBe('by · and x·');
  });

  it('leaves a name inside a longer word, and other text, alone', () => {
    expect(redacted('Ann', 'text', 'Ann, Annabel, Joann and ann')).toBe('·, Annabel, Joann and ·');
    expect(redacted('Élodie', 'text', 'Élodie, Élodies')).toBe('·, Élodies');
  });

  it('takes the name’s characters literally', () => {
    expect(redacted('A.B (x)+', 'text', 'AxB (x)+, A.B (x)+, A.B xx')).toBe('AxB (x)+, ·, A.B xx');
    expect(redacted('C:\\d[0]', 'json', JSON.stringify({ n: 'C:\\d[0]', m: 'C:d0' }))).toBe(
      '{"n":"·","m":"C:d0"}',
    );
  });

  it('finds a name whose spaces the text wrote otherwise: any run of spaces where the name has one', () => {
    const name = 'Adam  Doublespace\u00a0Jr';
    // The plain text of an email writes each run of spaces as one space.
    expect(redacted(name, 'text', 'From Adam Doublespace Jr.')).toBe('From ·.');
    expect(redacted(name, 'html', '<p>From Adam  Doublespace\u00a0Jr.</p>')).toBe('<p>From ·.</p>');
    expect(redacted(name, 'json', JSON.stringify({ by: 'Adam \u2003Doublespace Jr' }))).toBe('{"by":"·"}');
    // Only where the name has a space.
    expect(redacted(name, 'text', 'AdamDoublespace Jr, Adam Double space Jr')).toBe(
      'AdamDoublespace Jr, Adam Double space Jr',
    );
  });

  it('finds the id and the email, and with an empty name or one of spaces nothing more', () => {
    expect(personPatterns(person(' \u00a0 '), 'text').any).toBe(personPatterns(person(''), 'text').link);
    const { link, any } = personPatterns(person(''), 'text');
    expect(any).toBe(link);
    expect(
      redacted('', 'text', 'key:0B0E2A58-3C4E-4D8E-9F00-6A1D2C3B4E5F to P@example.test, pXexample'),
    ).toBe('key:· to ·, pXexample');
  });
});
