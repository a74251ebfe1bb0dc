import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { Mutex } from 'async-mutex';
import type { SubscriptionActivities } from '../../activities/subscription';
import { nextStep, type SiteSubscription, type SubscriptionStep } from '../../domain/subscription';
import { ACTIVITY_OPTIONS, LOCAL_ACTIVITY_OPTIONS } from '../activity-options';
import { shouldContinueAsNew } from '../continue-as-new';
import { SiteId, SubscriptionEndsAt, SubscriptionStatus } from '../search-attributes';
import { waitUntil } from '../wait';
import { legacySubscriptionRun } from './legacy';
import {
  advanceClockUpdate,
  redeemVoucherUpdate,
  type SubscriptionState,
  type SubscriptionWorkflowInput,
  subscriptionChangedSignal,
  subscriptionStateQuery,
} from './messages';
import { describeState, stepSummary, timerSummary, waitSummary } from './state-view';

export type { SubscriptionWorkflowInput } from './messages';

/** The serialized, step-driven workflow; runs recorded before it replay on `legacySubscriptionRun`. */
const SERIALIZED_STEPS = 'subscription-steps';
/**
 * A run's first redemption loads the site with its claim (one call before the answer, not two);
 * runs recorded before it load first, then claim.
 */
const CLAIM_LOADS = 'redemption-claim-loads';
/**
 * A redemption's receipt and IQ push are queued in its claim's transaction and sent by the worker's
 * relay: nothing follows the answer on Temporal. Runs recorded before it announce with an activity.
 */
const RECEIPTS_QUEUED = 'redemption-receipts-queued';
/**
 * A run that has all three patches above from its start records this one marker instead (issue 15:
 * each marker comes with an upsert of TemporalChangeVersion, a history event and a visibility write
 * per new site); runs recorded before it find their own markers as they were. A run started with
 * `input.current` records none: its start says the same.
 */
const SINCE_RECEIPTS_QUEUED = 'subscription-since-receipts-queued';
/**
 * An update's claim runs as an activity, not a local one. Under a burst of updates SDK core 1.24 can
 * take a newly polled workflow task for a run while it still completes the previous one, and lose
 * that task: a local activity's result then shapes commands that the history cannot replay (the run
 * stays stuck on a nondeterminism error), whereas an activity's result reaches the workflow only
 * through its history. Runs recorded before it claim by a local activity.
 */
const CLAIM_BY_ACTIVITY = 'redemption-claim-by-activity';
/**
 * A telling overtaken by a newer one (a relay tells side by side) changes no state, but the term its
 * claim expired still has its expired email due: that ends a wait, as any change does. Runs recorded
 * before it waited on until the next change or timer (weeks, at a new term's first reminder). Asked
 * only when it decides something, so a run records its marker only then.
 */
const OVERTAKEN_EXPIRY_WAKES = 'overtaken-expiry-wakes';

/** Activities with a summary for the timeline (Temporal user metadata); ids and numbers only. */
const activity = (summary: string) =>
  proxyActivities<SubscriptionActivities>({ ...ACTIVITY_OPTIONS, summary });
/** Local activities run inside the workflow task: a run's first load needs no round trip of its own. */
const local = (summary: string) =>
  proxyLocalActivities<SubscriptionActivities>({ ...LOCAL_ACTIVITY_OPTIONS, summary });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `subscription-<siteId>`: owns a site's terms over time (V3–V6, O2).
 *
 * The database orders changes: every redemption and expiry takes the site's row lock and bumps
 * sites.subscription_version, and the workflow adopts what was committed (status, current term) only
 * when its version is newer than what it holds, so its term is the database's whatever order it
 * hears in (N7). The HTTP API claims redemptions itself; the claim's transaction queues the telling
 * (signal `subscriptionChanged`) with the receipt and IQ push, and a relay sends them
 * (outbox/redemption-relay.ts): one workflow task per redemption, none waited for by the answer.
 * The update `redeemVoucher` (API.md; the demo seed, outside tools) claims by an activity and is
 * answered when it returns. Within the workflow, update redemptions, clock moves and its own expiry
 * hold `serial`.
 * The loop only carries out `nextStep`: receipts (of runs recorded before that), expired
 * email, expiry, reminders, a fresh history, or a wait that any change cuts short.
 */
export async function subscriptionWorkflow(input: SubscriptionWorkflowInput): Promise<void> {
  const current = input.current === true || patched(SINCE_RECEIPTS_QUEUED);
  if (!current && !patched(SERIALIZED_STEPS)) return legacySubscriptionRun(input);
  // Decided once, at the run's start: a run recorded before the patch keeps its order throughout.
  const claimLoads = current || patched(CLAIM_LOADS);
  const receiptsQueued = current || patched(RECEIPTS_QUEUED);
  const lean = input.leanWaits === true;

  // Handlers are registered before the first await: an update-with-start arrives in the first activation.
  const state: SubscriptionState = {
    siteId: input.siteId,
    status: 'none',
    sandbox: false,
    clockOffsetMs: 0,
    remindersSent: [],
    ...input.carried,
    receiptsDue: [...(input.carried?.receiptsDue ?? [])],
    expiredEmailsDue: [...(input.carried?.expiredEmailsDue ?? [])],
  };
  const receiptsDue = state.receiptsDue!;
  const expiredEmailsDue = state.expiredEmailsDue!;
  const { siteId } = state;
  const serial = new Mutex();
  let loaded = false;
  let expiredInThisRun = false;
  /** Bumped by every change that may change the next step: a wait ends early on it. */
  let version = 0;
  let step: SubscriptionStep | undefined;
  const siteNow = () => Date.now() + state.clockOffsetMs;

  // Search attributes change only when the status or the end does: each upsert is a visibility write.
  const searchKey = (status?: string, endsAtMs?: number) => `${status}:${endsAtMs}`;
  const given = workflowInfo().typedSearchAttributes;
  let published = given.get(SiteId)
    ? searchKey(given.get(SubscriptionStatus), given.get(SubscriptionEndsAt)?.getTime())
    : '';
  const publish = () => {
    const key = searchKey(state.status, state.term?.endsAtMs);
    if (key === published) return;
    published = key;
    upsertSearchAttributes([
      { key: SiteId, value: siteId },
      { key: SubscriptionStatus, value: state.status },
      { key: SubscriptionEndsAt, value: state.term ? new Date(state.term.endsAtMs) : null },
    ]);
  };

  /** The highest sites.subscription_version adopted in this run. */
  let adoptedVersion = -1;
  /**
   * The database's word after a change: its status and current term (V5: a new term, new reminders).
   * A state no newer than one already adopted (told again, or overtaken) changes nothing.
   */
  const adopt = (stored: SiteSubscription) => {
    if (stored.version !== undefined) {
      if (stored.version <= adoptedVersion) return;
      adoptedVersion = stored.version;
    }
    if (stored.term?.id !== state.term?.id) state.remindersSent = [];
    state.status = stored.status;
    if (stored.term) state.term = stored.term;
    else delete state.term;
    version++;
    publish();
  };

  const expired = (termId: string) => {
    expiredEmailsDue.push(termId);
    expiredInThisRun = true;
    log.info('term expired', { siteId, termId });
  };

  /** Every run starts from the database: a carried term may be stale (a run of the legacy code). */
  const ensureLoaded = async () => {
    if (loaded) return;
    const stored = await local('Load the site’s subscription').loadSubscription({ siteId });
    state.sandbox = stored.sandbox;
    state.clockOffsetMs = stored.clockOffsetMs;
    adopt(stored);
    loaded = true;
  };

  // A redemption the API claimed, told by the relay. A first run (nothing carried) takes the site's
  // clock from it: every change before that run was a claim, whose telling arrives here too, so the
  // newest telling is the database's state. A continued run still loads (an expiry it made itself
  // may be newer than a telling that arrives late).
  setHandler(subscriptionChangedSignal, ({ site, clock, expiredTermId }) => {
    if (!loaded && !input.carried) {
      state.sandbox = clock.sandbox;
      state.clockOffsetMs = clock.clockOffsetMs;
      loaded = true;
    }
    const seen = version;
    adopt(site);
    // Even when a newer state came first (another telling, the workflow's own reading): the email's
    // idempotency key makes a second telling of it send nothing more.
    if (expiredTermId && !expiredEmailsDue.includes(expiredTermId)) {
      expired(expiredTermId);
      if (version === seen && step?.kind === 'wait' && patched(OVERTAKEN_EXPIRY_WAKES)) version++;
    }
  });

  setHandler(subscriptionStateQuery, () => describeState(state, siteNow(), step));

  setHandler(
    redeemVoucherUpdate,
    (req) =>
      serial.runExclusive(async () => {
        if (!claimLoads) await ensureLoaded();
        // Not loaded yet: the claim reads the site's clock under its lock and reports it with the rest.
        const claim = patched(CLAIM_BY_ACTIVITY) ? activity : local;
        const { site, expiredTermId, clock, ...result } = await claim(
          'Claim the voucher and start the term',
        ).redeemVoucher({
          siteId,
          ...req,
          ...(loaded ? { nowMs: siteNow() } : { realNowMs: Date.now() }),
          ...(receiptsQueued ? { announce: true } : {}),
        });
        if (clock && !loaded) {
          state.sandbox = clock.sandbox;
          state.clockOffsetMs = clock.clockOffsetMs;
          loaded = true;
        }
        if (site) adopt(site);
        if (expiredTermId) expired(expiredTermId);
        if (result.ok) {
          // A retried request answers with the term it made then; its receipt goes out once (mailer key).
          // Queued receipts were queued with the term, once, and go out through the relay.
          if (!receiptsQueued && !receiptsDue.includes(result.term.id)) receiptsDue.push(result.term.id);
          version++;
          log.info('redemption answered', {
            siteId,
            termId: result.term.id,
            endsAt: new Date(result.term.endsAtMs).toISOString(),
            carriedOverSeconds: result.carriedOverSeconds,
          });
        } else {
          log.info('redemption refused', { siteId, code: result.code });
        }
        return result;
      }),
    {
      validator: (req) => {
        if (!/^[0-9a-f]{64}$/.test(req.codeHash)) throw new Error('codeHash must be 64 hex characters');
        if (!req.requestId || req.requestId.length > 200) throw new Error('requestId is required');
        if (!UUID.test(req.actorProfileId)) throw new Error('actorProfileId must be a UUID');
      },
    },
  );

  setHandler(
    advanceClockUpdate,
    ({ seconds }) =>
      serial.runExclusive(async () => {
        await ensureLoaded();
        if (!state.sandbox) throw ApplicationFailure.nonRetryable('not a sandbox site', 'NotSandbox');
        const offsetMs = state.clockOffsetMs + seconds * 1000;
        await activity(`Sandbox clock +${seconds} s`).setSiteClockOffset({
          siteId,
          offsetSeconds: Math.floor(offsetMs / 1000),
        });
        state.clockOffsetMs = offsetMs;
        version++;
        return { nowMs: siteNow() };
      }),
    {
      validator: ({ seconds }) => {
        if (!Number.isInteger(seconds) || seconds < 1) throw new Error('seconds must be a positive integer');
      },
    },
  );

  // An update-with-start's redemption goes first and loads with its claim: its handler takes `serial`
  // in this activation, and a condition resumes only once the activation's jobs are all applied.
  // A telling that started a lean run has brought its state by now (a signal that arrives with the
  // start reaches its handler when the handler is set): an update beside it holds `serial` or
  // adopts after the first step began, which its change wakes.
  if (claimLoads && !(lean && loaded)) await condition(() => true);
  // A telling that started the run brought its state: with no update holding `serial`, nothing can
  // run between here and the first step, so taking the lock would emit the same commands, only with
  // six more promises (issue 15: each costs the SDK a captured stack) in every new site's first task.
  if (!loaded || serial.isLocked()) await serial.runExclusive(ensureLoaded);
  publish();

  for (;;) {
    step = nextStep({
      nowMs: siteNow(),
      status: state.status,
      ...(state.term ? { term: state.term } : {}),
      remindersSent: state.remindersSent,
      receiptsDue,
      expiredEmailsDue,
      expiredInThisRun,
      historyLong: shouldContinueAsNew(input.maxHistoryEvents),
    });
    const summary = stepSummary(step);
    setCurrentDetails(summary);
    switch (step.kind) {
      case 'sendReceipt': {
        const { termId } = step;
        await activity('Receipt email and IQ push').announceRedemption({ siteId, termId, nowMs: siteNow() });
        receiptsDue.splice(receiptsDue.indexOf(termId), 1);
        break;
      }
      case 'sendReminder': {
        const { termId, offsetDays } = step;
        await activity(`${offsetDays}-day reminder email`).sendReminder({
          siteId,
          termId,
          offsetDays,
          nowMs: siteNow(),
        });
        // A redemption during the send started a term with reminders of its own (V5).
        if (state.term?.id === termId) state.remindersSent.push(offsetDays);
        log.info('reminder sent', { siteId, termId, offsetDays });
        break;
      }
      case 'expire': {
        const { termId } = step;
        await serial.runExclusive(async () => {
          // A redemption that held the lock first may have replaced the term: then nothing ends now.
          if (state.term?.id !== termId || state.status !== 'active') return;
          const { site, ...result } = await activity('Expire the term (V6)').expireSubscription({
            siteId,
            termId,
            nowMs: siteNow(),
          });
          adopt(site);
          if (result.expired) expired(termId);
        });
        break;
      }
      case 'sendExpiredEmail': {
        const { termId } = step;
        await activity('Expired email').sendExpiredEmail({ siteId, termId, nowMs: siteNow() });
        expiredEmailsDue.splice(expiredEmailsDue.indexOf(termId), 1);
        break;
      }
      case 'continueAsNew':
        await condition(allHandlersFinished);
        // The next run starts afresh: it waits the lean way whichever way this one did.
        return continueAsNew<typeof subscriptionWorkflow>({ ...input, carried: state, leanWaits: true });
      case 'wait': {
        const wait = step.for;
        const seen = version;
        const woken = () => version !== seen || shouldContinueAsNew(input.maxHistoryEvents);
        setCurrentDetails(waitSummary(wait));
        if (wait.kind === 'redemption') await condition(woken);
        else {
          const ms = Math.max(1, wait.atMs - siteNow());
          const options = { summary: timerSummary(wait) };
          await (lean ? waitUntil(woken, ms, options) : condition(woken, ms, options));
        }
        break;
      }
    }
    if (step.kind !== 'wait') log.debug('step done', { siteId, step: summary });
  }
}
