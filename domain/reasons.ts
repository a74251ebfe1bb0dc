/**
 * Why the product refuses something: stable snake_case codes (API.md names them as the `code` of a
 * problem answer). Rules and operations name the reason; how it is answered over HTTP (status,
 * title, default wording) is the API's business (api/problems.ts). No imports: workflow code may use
 * these codes too.
 */
export const REASON_CODES = [
  // Who may do what (V7, S1, N4)
  'not_found',
  'forbidden',
  'no_valid_subscription',
  // Members, invitations and slots (S3, S6–S8, V8, V9)
  'already_member',
  'already_invited',
  'owner_cannot_leave',
  'owner_role_fixed',
  'owner_holds_master_key',
  'not_an_admin',
  'no_free_slot',
  'no_valid_access',
  // Access methods, IQs and locks (K2–K5)
  'iq_unsubscribed',
  'pin_exists',
  'tag_taken',
  'pin_not_found',
  'serial_taken',
  'user_unsubscribed',
  'no_access',
  'iq_offline',
  'iq_timeout',
  'open_refused',
  // Sites (S1)
  'owner_not_joined',
  'site_has_owner',
  'owner_email_not_allowed',
  // Vouchers (V1, V12)
  'voucher_not_found',
  'voucher_already_redeemed',
  'voucher_expired',
  'too_many_attempts',
  'idempotency_key_reused',
  // Accounts (A1–A5)
  'email_taken',
  'invalid_credentials',
  'email_not_confirmed',
  'email_immutable',
  'token_invalid',
  'profile_not_found',
  // Support: sandbox clocks, deletions, firmware
  'not_sandbox',
  'deletion_finished',
  'release_exists',
  'release_not_found',
  'rollout_finished',
  // A change that depends on an email is not made while the email cannot be sent.
  'email_unavailable',
] as const;

export type ReasonCode = (typeof REASON_CODES)[number];

/** The field a refusal is about, named as a client sees it (`body.role`, `header.idempotency-key`). */
export interface RefusedField {
  path: string;
  message: string;
}

/**
 * A rule or an operation refused: nothing was changed (thrown inside a transaction, it rolls the
 * transaction back). `detail` is the sentence a person reads; without it the API's default for the
 * code is used.
 */
export class Refusal extends Error {
  constructor(
    readonly reason: ReasonCode,
    readonly detail?: string,
    readonly fields?: readonly RefusedField[],
  ) {
    super(detail ?? reason);
    this.name = 'Refusal';
  }
}
