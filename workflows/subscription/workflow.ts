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
import { legacySubscriptionRun } from './legacy';
import {
  advanceClockUpdate,
  redeemVoucherUpdate,
  type SubscriptionState,
  type SubscriptionWorkflowInput,
  subscriptionStateQuery,
} from './messages';
import { describeState, stepSummary, timerSummary, waitSummary } from './state-view';

export type { SubscriptionWorkflowInput } from './messages';

/** The serialized, step-driven workflow; runs recorded before it replay on `legacySubscriptionRun`. */
const SERIALIZED_STEPS = 'subscription-steps';
/**
 * A run's first redemption loads the site with its claim (one local activity before the answer, not
 * two); runs recorded before it load first, then claim.
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

/** Activities with a summary for the timeline (Temporal user metadata); ids and numbers only. */
const activity = (summary: string) =>
  proxyActivities<SubscriptionActivities>({ ...ACTIVITY_OPTIONS, summary });
/** Local activities run inside the workflow task: a redemption is answered in the task that received it. */
const local = (summary: string) =>
  proxyLocalActivities<SubscriptionActivities>({ ...LOCAL_ACTIVITY_OPTIONS, summary });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `subscription-<siteId>`: owns a site's terms over time (V3–V6, O2).
 *
 * One writer at a time: redemptions, clock moves and the expiry each hold `serial` while they change
 * the database, and the workflow then adopts what the database committed (status and current term),
 * so its term is the database's in commit order (N7). A redemption is claimed by a local activity, so
 * an update-with-start is answered in the workflow's first task (a run's first claim also loads the
 * site: one local activity before the answer); its receipt and IQ push are queued in the claim's
 * transaction and sent by the worker's relay (outbox/redemption-relay.ts), so no task follows the
 * answer. The loop only carries out `nextStep`: receipts (of runs recorded before that), expired
 * email, expiry, reminders, a fresh history, or a wait that any change cuts short.
 */
export async function subscriptionWorkflow(input: SubscriptionWorkflowInput): Promise<void> {
  const current = input.current === true || patched(SINCE_RECEIPTS_QUEUED);
  if (!current && !patched(SERIALIZED_STEPS)) return legacySubscriptionRun(input);
  // Decided once, at the run's start: a run recorded before the patch keeps its order throughout.
  const claimLoads = current || patched(CLAIM_LOADS);
  const receiptsQueued = current || patched(RECEIPTS_QUEUED);

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

  /** The database's word after a change: its status and current term (V5: a new term, new reminders). */
  const adopt = (stored: SiteSubscription) => {
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

  setHandler(subscriptionStateQuery, () => describeState(state, siteNow(), step));

  setHandler(
    redeemVoucherUpdate,
    (req) =>
      serial.runExclusive(async () => {
        if (!claimLoads) await ensureLoaded();
        // Not loaded yet: the claim reads the site's clock under its lock and reports it with the rest.
        const { site, expiredTermId, clock, ...result } = await local(
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
  if (claimLoads) await condition(() => true);
  await serial.runExclusive(ensureLoaded);
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
        return continueAsNew<typeof subscriptionWorkflow>({ ...input, carried: state });
      case 'wait': {
        const wait = step.for;
        const seen = version;
        const woken = () => version !== seen || shouldContinueAsNew(input.maxHistoryEvents);
        setCurrentDetails(waitSummary(wait));
        if (wait.kind === 'redemption') await condition(woken);
        else await condition(woken, Math.max(1, wait.atMs - siteNow()), { summary: timerSummary(wait) });
        break;
      }
    }
    if (step.kind !== 'wait') log.debug('step done', { siteId, step: summary });
  }
}
