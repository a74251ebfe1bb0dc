import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ReasonCode } from '../domain/reasons';

/** Codes only the HTTP layer answers: malformed input and transport, not product rules. */
type HttpCode =
  | 'validation_failed'
  | 'malformed_json'
  | 'bad_request'
  | 'unauthorized'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'temporarily_unavailable'
  | 'internal_error';

export type ProblemCode = ReasonCode | HttpCode;

export interface ProblemEntry {
  status: ContentfulStatusCode;
  /** What a person reads when the refusal names nothing more specific. */
  detail: string;
  headers?: Readonly<Record<string, string>>;
}

/**
 * Every problem code the API answers (API.md), with its status and default wording. Handlers throw
 * `problem(code)`; the OpenAPI document lists, per route, the codes it can answer (`problemResponses`).
 */
export const PROBLEMS = {
  // Input and transport
  validation_failed: { status: 400, detail: 'The request is invalid.' },
  malformed_json: { status: 400, detail: 'The request body is not valid JSON.' },
  bad_request: { status: 400, detail: 'The request was refused.' },
  unauthorized: { status: 401, detail: 'A valid bearer token is required.' },
  payload_too_large: { status: 413, detail: 'The request body is larger than 256 KiB.' },
  unsupported_media_type: {
    status: 415,
    detail: 'Send application/json or application/x-www-form-urlencoded.',
  },
  temporarily_unavailable: {
    status: 503,
    detail: 'A backing service is unreachable; try again shortly.',
    headers: { 'retry-after': '5' },
  },
  internal_error: { status: 500, detail: 'The request failed unexpectedly; it has been logged.' },

  // Who may do what
  not_found: { status: 404, detail: 'No such resource.' },
  forbidden: { status: 403, detail: 'Your role does not allow this action.' },
  no_valid_subscription: {
    status: 403,
    detail: 'This site has no valid subscription. An owner or admin can redeem a voucher.',
  },

  // Members and slots
  already_member: { status: 409, detail: 'This person is already a member of this site.' },
  already_invited: { status: 409, detail: 'This email already has an open invitation to this site.' },
  owner_cannot_leave: {
    status: 409,
    detail: 'The owner cannot leave or be removed; transfer ownership to an admin first.',
  },
  owner_role_fixed: { status: 422, detail: 'The owner’s role changes only by transferring ownership.' },
  owner_holds_master_key: { status: 422, detail: 'The owner always holds the master key.' },
  not_an_admin: { status: 422, detail: 'Ownership can only go to an admin of this site.' },
  no_free_slot: { status: 409, detail: 'Every slot of the subscription is taken.' },
  no_valid_access: {
    status: 422,
    detail: 'This member has no valid access method (tag, mobile key, PIN or remote opening).',
  },

  // Access methods, IQs and locks
  iq_unsubscribed: {
    status: 409,
    detail: 'This IQ is not subscribed and takes no change of access rights.',
  },
  pin_exists: { status: 409, detail: 'This member already has a PIN on this IQ; reset it instead.' },
  tag_taken: {
    status: 409,
    detail: 'This tag is already an access method at this site; revoke that one first.',
  },
  pin_not_found: { status: 404, detail: 'This member has no PIN on this IQ.' },
  serial_taken: { status: 409, detail: 'An IQ with this serial is already registered.' },
  user_unsubscribed: {
    status: 403,
    detail: 'You are not subscribed at this site; ask an owner or admin.',
  },
  no_access: { status: 403, detail: 'You hold no remote access for this lock.' },
  iq_offline: { status: 409, detail: 'The lock’s IQ is offline.' },
  iq_timeout: {
    status: 409,
    detail: 'The lock’s IQ did not answer in time; the door may not have opened.',
  },
  open_refused: { status: 409, detail: 'The IQ refused to open the lock.' },

  // Sites
  owner_not_joined: {
    status: 409,
    detail: 'The invited owner has not accepted the invitation yet; release the site once they have.',
  },
  site_has_owner: {
    status: 409,
    detail: 'This site has an owner, or a pending invitation for one; withdraw it to invite someone else.',
  },
  owner_email_not_allowed: {
    status: 422,
    detail: 'Only an installer creates a site for someone else; leave ownerEmail out to own the site.',
  },

  // Vouchers
  voucher_not_found: { status: 404, detail: 'No voucher has this code.' },
  voucher_already_redeemed: { status: 409, detail: 'This voucher has already been redeemed.' },
  voucher_expired: { status: 410, detail: 'This voucher was not redeemed before its redeem-by date.' },
  too_many_attempts: { status: 429, detail: 'Too many failed attempts; try again later.' },
  idempotency_key_reused: {
    status: 422,
    detail: 'This Idempotency-Key was already used with a different request body.',
  },

  // Accounts
  email_taken: { status: 409, detail: 'A profile with this email already exists.' },
  invalid_credentials: { status: 401, detail: 'The email or password is wrong.' },
  email_not_confirmed: { status: 403, detail: 'Follow the link in the confirmation email first.' },
  email_immutable: {
    status: 422,
    detail: 'An email address never changes; sign up again with the new one.',
  },
  token_invalid: { status: 410, detail: 'This link was used or has expired.' },
  profile_not_found: { status: 404, detail: 'No profile has this email.' },

  // Support
  not_sandbox: { status: 409, detail: 'Only sandbox sites have a test clock.' },
  deletion_finished: { status: 409, detail: 'This deletion request has already ended.' },
  release_exists: { status: 409, detail: 'This model already has a release with this version.' },
  release_not_found: { status: 404, detail: 'No such firmware release.' },
  rollout_finished: { status: 409, detail: 'The rollout has ended.' },

  email_unavailable: {
    status: 503,
    detail: 'The email could not be sent, so nothing was changed; try again shortly.',
    headers: { 'retry-after': '30' },
  },
} as const satisfies Record<ProblemCode, ProblemEntry>;

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The problem's `title`: the reason phrase of its status. */
export const problemTitle = (status: number) => TITLES[status] ?? 'Error';
