/**
 * Pure decisions of a profile-deletion request (SPEC 3.5). Workflow code imports this module, so it
 * stays deterministic: no imports, no clock, no I/O. Moments are epoch milliseconds passed in by the
 * caller (in the workflow, the workflow clock).
 */

import { escapeHtml } from './html';

export type DeletionStatus =
  | 'awaiting_consent'
  | 'blocked_owner'
  | 'denied'
  | 'timed_out'
  | 'canceled'
  | 'completed';
export type ConsentDecision = 'pending' | 'approved' | 'denied';
/** What an owner sends: a recorded decision, never `pending`. */
export type OwnerDecision = Exclude<ConsentDecision, 'pending'>;

export interface SiteConsent {
  siteId: string;
  decision: ConsentDecision;
}

/** A request as the workflow sees it: ids and decisions only (D10). */
export interface RequestView {
  status: DeletionStatus;
  consents: SiteConsent[];
}

export const DAY_MS = 86_400_000;
/** D4: owners who have not answered get one reminder this long after the request was filed. */
export const REMINDER_AFTER_MS = 7 * DAY_MS;
/** D4: without every answer by then the request ends as `timed_out`. */
export const DEADLINE_AFTER_MS = 30 * DAY_MS;
/**
 * D3: a link expires this long before the deadline, so no answer can arrive while the request is
 * being closed for lack of answers.
 */
export const TOKEN_MARGIN_MS = 3_600_000;

export interface DeletionPlan {
  remindAtMs: number;
  deadlineAtMs: number;
  tokenExpiresAtMs: number;
}

export function deletionPlan(filedAtMs: number): DeletionPlan {
  if (!Number.isSafeInteger(filedAtMs))
    throw new RangeError(`filedAtMs must be an integer, got ${filedAtMs}`);
  const deadlineAtMs = filedAtMs + DEADLINE_AFTER_MS;
  return {
    remindAtMs: filedAtMs + REMINDER_AFTER_MS,
    deadlineAtMs,
    tokenExpiresAtMs: consentDeadlineMs(deadlineAtMs),
  };
}

/**
 * The request's consent deadline: the last moment an owner's answer is taken, when every link
 * expires. The request closes for lack of answers `TOKEN_MARGIN_MS` later (D3). The one "answer by"
 * time people see: the consent email, its reminder, the consent page and the `state` query show it.
 */
export const consentDeadlineMs = (deadlineAtMs: number) => deadlineAtMs - TOKEN_MARGIN_MS;

/**
 * An email as a page may show it to someone who knows the person: the first character of the local
 * part and the whole domain (`j•••@example.com`), enough to tell two people of one name apart.
 */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at <= 0) return '•••';
  const first = String.fromCodePoint(email.codePointAt(0) as number);
  return `${first}•••${email.slice(at)}`;
}

/** Who filed a request: only support files one (D1); the person asks support first. */
export interface FiledBy {
  role: 'support';
  /** The support profile that filed it; absent for requests filed before this was recorded. */
  profileId?: string;
}

/** The sites a blocked deletion waits on: ownership must pass to someone else first (D6). */
export const ownedSites = (memberships: readonly { siteId: string; role: string }[]) =>
  memberships.filter((m) => m.role === 'owner').map((m) => m.siteId);

/**
 * What the sites' answers decide by themselves: a denial wins over approvals; every site approved (or
 * none to ask: D2 asks every site, there is none) lets the deletion run; else they are still open.
 */
function answersVerdict(decisions: readonly ConsentDecision[]): 'denied' | 'approved' | 'open' {
  if (decisions.includes('denied')) return 'denied';
  if (decisions.every((d) => d === 'approved')) return 'approved';
  return 'open';
}

export type NextStep =
  | { kind: 'finish'; status: 'denied' | 'timed_out' | 'canceled' }
  /** Every site approved (or there is none to ask): run the deletion. */
  | { kind: 'delete' }
  | { kind: 'remind'; siteIds: string[] }
  | { kind: 'wait'; untilMs: number };

/**
 * What the request does next. Order matters: a cancel wins over everything; then what the answers
 * decide (answersVerdict), so answers that are all in win over a deadline that passed meanwhile.
 */
export function nextStep(input: {
  consents: readonly SiteConsent[];
  nowMs: number;
  plan: DeletionPlan;
  canceled: boolean;
  reminded: boolean;
}): NextStep {
  const { consents, nowMs, plan } = input;
  if (input.canceled) return { kind: 'finish', status: 'canceled' };
  const verdict = answersVerdict(consents.map((c) => c.decision));
  if (verdict === 'denied') return { kind: 'finish', status: 'denied' };
  if (verdict === 'approved') return { kind: 'delete' };
  if (nowMs >= plan.deadlineAtMs) return { kind: 'finish', status: 'timed_out' };
  if (!input.reminded && nowMs >= plan.remindAtMs) {
    return { kind: 'remind', siteIds: consents.filter((c) => c.decision === 'pending').map((c) => c.siteId) };
  }
  return { kind: 'wait', untilMs: input.reminded ? plan.deadlineAtMs : plan.remindAtMs };
}

/**
 * The end a deadline gives, decided again from the answers stored when the request is closed (N7): an
 * answer can be recorded after the workflow last read them (a consent page in flight at the deadline).
 * A denial ends it `denied`; every site approved keeps it open (`awaiting_consent`) for the deletion;
 * otherwise it timed out: the answers decide as they do in `nextStep` (answersVerdict).
 */
export function deadlineOutcome(
  decisions: readonly ConsentDecision[],
): 'denied' | 'awaiting_consent' | 'timed_out' {
  const verdict = answersVerdict(decisions);
  return verdict === 'denied' ? 'denied' : verdict === 'approved' ? 'awaiting_consent' : 'timed_out';
}

/** Email idempotency keys carry ids of the request and the site only (D10). */
export const consentEmailKey = (kind: 'request' | 'reminder', requestId: string, siteId: string) =>
  `deletion-consent-${kind}:${requestId}:${siteId}`;
export const outcomeEmailKey = (requestId: string) => `deletion-outcome:${requestId}`;
export const goodbyeEmailKey = (requestId: string) => `profile-deleted:${requestId}`;

/**
 * Where the deletion finds the person in text it keeps (D7): as written (an email's subject and plain
 * text, an idempotency key), in an email's HTML (escaped as React escapes text), or in events' data
 * read as JSON text (escaped as a JSON string).
 */
export type StoredAs = 'text' | 'html' | 'json';

const storedAs: Readonly<Record<StoredAs, (s: string) => string>> = {
  text: (s) => s,
  html: escapeHtml,
  json: (s) => JSON.stringify(s).slice(1, -1),
};

/** A PostgreSQL regular expression that matches `s` literally. */
const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A character that continues a word: a name ending in one must not be found inside a longer word. */
const WORD_CHARACTER = /^[\p{L}\p{M}\p{N}_]$/u;
/** PostgreSQL's word characters, the neighbours that would make such a match part of a longer word. */
const NOT_AFTER_WORD = '(?<![[:alnum:]_])';
const NOT_BEFORE_WORD = '(?![[:alnum:]_])';

/**
 * What the plain text of an email reads as a space between words, each run written as one space
 * (html-to-text: JavaScript's `\s` and U+200B), listed one by one: a range in a PostgreSQL bracket
 * expression depends on the collation.
 */
const SPACES =
  '\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b\u2028\u2029\u202f\u205f\u3000\ufeff';
/** One or more of them: a PostgreSQL and a JavaScript (flag `u`) regular expression alike. */
const SPACE_RUN = `[${SPACES}]+`;

/** The name's words as stored `as`, with any run of spaces between them. */
const spacedName = (words: readonly string[], form: (s: string) => string) =>
  words.map((word) => literal(form(word))).join(SPACE_RUN);

/**
 * D7: PostgreSQL regular expressions (flags `gi`) that find the person in text stored `as`: `link`
 * their id or email, `any` those or their name. The name is not unique, so only whole: not inside a
 * longer word, which is checked only at an end where the name has a word character (`\m…\M` never
 * found a name that ends in `.` or starts with `'`). Each is looked for as that text stores it
 * (`O'Brien` is `O&#x27;Brien` in HTML): the raw form in JSON text could match across its quotes, and
 * a placeholder put there would not be JSON any more. Where the name has spaces any run of spaces
 * matches: the plain text writes "Adam  Doublespace" as "Adam Doublespace".
 */
export function personPatterns(
  person: { id: string; email: string; name: string },
  as: StoredAs,
): { link: string; any: string } {
  const form = storedAs[as];
  const link = `${literal(form(person.id))}|${literal(form(person.email))}`;
  const words = person.name.split(new RegExp(SPACE_RUN, 'u'));
  // An empty name would match between every two characters and put the placeholder everywhere, one
  // of spaces only at every space.
  if (words.every((word) => word === '')) return { link, any: link };
  const chars = [...person.name];
  const name =
    (WORD_CHARACTER.test(chars[0]!) ? NOT_AFTER_WORD : '') +
    spacedName(words, form) +
    (WORD_CHARACTER.test(chars.at(-1)!) ? NOT_BEFORE_WORD : '');
  return { link, any: `${link}|${name}` };
}
