/**
 * Throttling (A6, V12) as a generic cell rate algorithm (GCRA): a key allows `limit` attempts at
 * once, then one more every `windowMs / limit`. Each key keeps one instant, its theoretical arrival
 * time (tat): an attempt at `now` moves it to `max(tat, now) + windowMs / limit` and is allowed while
 * that stays within `now + windowMs`. A burst therefore gets exactly `limit` attempts, and someone
 * who stops trying gets them back gradually, not after a fixed lock-out.
 */
export interface ThrottlePolicy {
  limit: number;
  windowMs: number;
}

const MINUTE = 60_000;

/** The limits of the product, per what is counted (decision: OWASP authentication guidance). */
export const THROTTLES = {
  /**
   * Login attempts at one account (the typed email, known or not) from one client address: one
   * client's guesses are held up after a few, and only that client is.
   */
  loginAccountAddress: { limit: 10, windowMs: 15 * MINUTE },
  /**
   * Login attempts at one account from anywhere: what a guesser spread over many addresses gets. As
   * loose as OWASP ASVS 2.2.1 allows (no more than 100 failed attempts an hour on an account), so that
   * locking the owner out takes at least ten addresses at once and three kept busy (each gives 10 at
   * once, then one every 90 s), where one address did it before.
   */
  loginAccount: { limit: 100, windowMs: 60 * MINUTE },
  /** Login attempts per client address: many accounts tried from one place. */
  loginAddress: { limit: 50, windowMs: 15 * MINUTE },
  /**
   * A signed-in profile's tries of its current password (POST /me/password): a stolen token guesses no
   * faster than a login from one address, and no one else's attempts hold the owner up.
   */
  passwordChange: { limit: 10, windowMs: 15 * MINUTE },
  /** Reset requests per typed email, and per client address. */
  resetAccount: { limit: 5, windowMs: 60 * MINUTE },
  resetAddress: { limit: 20, windowMs: 60 * MINUTE },
  /** Sign-ups per client address (each one emails someone). */
  signupAddress: { limit: 20, windowMs: 60 * MINUTE },
  /**
   * Failed voucher redemptions per actor, per client address and per site (V12). A redemption is
   * counted while it runs (so a burst cannot outrun the count) and given back when it succeeds: the
   * actor's limit leaves room for the bursts of valid codes a script may send at once, and one
   * actor's failures use up only a third of the site's.
   */
  redeemActor: { limit: 10, windowMs: 15 * MINUTE },
  redeemAddress: { limit: 30, windowMs: 15 * MINUTE },
  redeemSite: { limit: 30, windowMs: 15 * MINUTE },
  /**
   * Invitations from one site to one email, each of which emails that address (S7): room to correct
   * a role or resend a lost one, but a loop of inviting and withdrawing cannot flood a mailbox.
   */
  inviteAddress: { limit: 5, windowMs: 24 * 60 * MINUTE },
} as const satisfies Record<string, ThrottlePolicy>;

export type ThrottleName = keyof typeof THROTTLES;

/** Unsolicited account emails (reset links, "you already have an account") to one address in an hour. */
export const ACCOUNT_EMAILS_PER_HOUR = 3;

export const emissionMs = (p: ThrottlePolicy) => p.windowMs / p.limit;

export interface ThrottleCell {
  key: string;
  policy: ThrottlePolicy;
  /** The key's stored instant, or undefined when it has none (nothing counted). */
  tatMs: number | undefined;
}

export type ThrottleDecision =
  | { allowed: true; tats: Array<{ key: string; tatMs: number }> }
  | { allowed: false; key: string; retryAfterMs: number };

/**
 * One attempt against every cell at once: allowed only if every key allows it, and then counted on
 * all of them; refused without counting anything, naming the key that waits longest.
 */
export function decideAttempt(cells: readonly ThrottleCell[], nowMs: number): ThrottleDecision {
  let refused: { key: string; retryAfterMs: number } | undefined;
  const tats: Array<{ key: string; tatMs: number }> = [];
  for (const cell of cells) {
    const next = Math.max(cell.tatMs ?? nowMs, nowMs) + emissionMs(cell.policy);
    const over = next - (nowMs + cell.policy.windowMs);
    if (over > 0) {
      if (!refused || over > refused.retryAfterMs) refused = { key: cell.key, retryAfterMs: over };
    } else {
      tats.push({ key: cell.key, tatMs: next });
    }
  }
  return refused ? { allowed: false, ...refused } : { allowed: true, tats };
}

/**
 * What an attempt leaves counted once its outcome is known, exactly as if it had been counted
 * (`taken`, an allowed decision's instants) and then settled: a failure keeps every new instant; a
 * success forgets the `clear` keys and gives the attempt back on the `refund` keys. Lets a caller
 * count, act and settle in one transaction and one write.
 */
export function settleAttempt(
  taken: ReadonlyArray<{ key: string; tatMs: number }>,
  succeeded: boolean,
  keys: { clear: readonly string[]; refund: ReadonlyArray<{ key: string; policy: ThrottlePolicy }> },
): { tats: Array<{ key: string; tatMs: number }>; cleared: string[] } {
  if (!succeeded) return { tats: [...taken], cleared: [] };
  const back = new Map(keys.refund.map((k) => [k.key, emissionMs(k.policy)]));
  const cleared = new Set(keys.clear);
  return {
    tats: taken
      .filter((t) => !cleared.has(t.key))
      .map((t) => ({ key: t.key, tatMs: t.tatMs - (back.get(t.key) ?? 0) })),
    cleared: [...cleared],
  };
}

/** A wait in words, for the detail of a 429: "45 seconds", "3 minutes", "1 hour". */
export function waitInWords(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 90) return `${minutes} minutes`;
  const hours = Math.ceil(minutes / 60);
  return `${hours} hour${hours === 1 ? '' : 's'}`;
}
