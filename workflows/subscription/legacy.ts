import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { SubscriptionActivities } from '../../activities/subscription';
import { pendingReminders, reminderPlan } from '../../domain/subscription';
import { ACTIVITY_OPTIONS } from '../activity-options';
import { shouldContinueAsNew } from '../continue-as-new';
import { SiteId, SubscriptionEndsAt, SubscriptionStatus } from '../search-attributes';
import {
  advanceClockUpdate,
  redeemVoucherUpdate,
  type SubscriptionState,
  type SubscriptionWorkflowInput,
  subscriptionStateQuery,
} from './messages';
import { describeState } from './state-view';

/** Patch of the legacy run: at its next turn of the loop after replay, it hands over (see below). */
export const LEGACY_HANDS_OVER = 'subscription-legacy-hands-over';

const acts = proxyActivities<SubscriptionActivities>(ACTIVITY_OPTIONS);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The subscription workflow as it was before redemptions were serialized (issue 11, finding 2) and
 * its loop became `nextStep` (issue 12), kept unchanged so that the runs it started replay their
 * histories. Only two things differ, neither of which issues a command during replay: the `state`
 * query answers the current shape (queries are not recorded), and at the top of the loop, once
 * there is no more history to replay, the run continues as new: the next run is the current code,
 * which reloads the term from the database. Delete this file once no run started before the patch
 * `subscription-steps` is open (`WorkflowType = 'subscriptionWorkflow'` runs older than its deploy).
 */
export async function legacySubscriptionRun(input: SubscriptionWorkflowInput): Promise<void> {
  // Handlers are registered before the first await: an update-with-start arrives in the first activation.
  const state: SubscriptionState = input.carried ?? {
    siteId: input.siteId,
    status: 'none',
    sandbox: false,
    clockOffsetMs: 0,
    remindersSent: [],
  };
  let loaded = input.carried !== undefined;
  let version = 0;
  const siteNow = () => Date.now() + state.clockOffsetMs;

  const publish = () =>
    upsertSearchAttributes([
      { key: SiteId, value: state.siteId },
      { key: SubscriptionStatus, value: state.status },
      { key: SubscriptionEndsAt, value: state.term ? new Date(state.term.endsAtMs) : null },
    ]);
  setHandler(subscriptionStateQuery, () => describeState(state, siteNow()));

  setHandler(
    redeemVoucherUpdate,
    async (req) => {
      await condition(() => loaded);
      const result = await acts.redeemVoucher({ siteId: state.siteId, ...req, nowMs: siteNow() });
      // A retried request (same requestId) answers with the term it made then, which may be the
      // current term or one replaced since: only a term newer than the current one is adopted.
      if (
        result.ok &&
        result.term.startsAtMs >= (state.term?.startsAtMs ?? 0) &&
        result.term.id !== state.term?.id
      ) {
        state.term = result.term;
        state.status = 'active';
        // A new term plans its own reminders; the old term's pending ones are dropped (V5).
        state.remindersSent = [];
        version++;
        publish();
        log.info('redemption started a new term', {
          siteId: state.siteId,
          termId: result.term.id,
          endsAt: new Date(result.term.endsAtMs).toISOString(),
          carriedOverSeconds: result.carriedOverSeconds,
        });
        // The answer does not wait for the receipt and the IQs' push: the main loop does both. The
        // patch keeps histories recorded by the earlier code (both inside the update) replaying.
        if (patched('redemption-answered-before-receipt')) {
          state.receiptsDue = [...(state.receiptsDue ?? []), result.term.id];
        } else {
          await acts.sendRedemptionReceipt({ siteId: state.siteId, termId: result.term.id });
          await acts.notifySubscriptionChanged({ siteId: state.siteId });
        }
      } else if (!result.ok) {
        log.info('redemption refused', { siteId: state.siteId, code: result.code });
      }
      return result;
    },
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
    async ({ seconds }) => {
      await condition(() => loaded);
      if (!state.sandbox) throw ApplicationFailure.nonRetryable('not a sandbox site', 'NotSandbox');
      const offsetMs = state.clockOffsetMs + seconds * 1000;
      await acts.setSiteClockOffset({ siteId: state.siteId, offsetSeconds: Math.floor(offsetMs / 1000) });
      state.clockOffsetMs = offsetMs;
      version++;
      return { nowMs: siteNow() };
    },
    {
      validator: ({ seconds }) => {
        if (!Number.isInteger(seconds) || seconds < 1) throw new Error('seconds must be a positive integer');
      },
    },
  );

  if (!loaded) {
    Object.assign(state, await acts.loadSubscription({ siteId: input.siteId }));
    loaded = true;
  }
  publish();

  for (;;) {
    if (patched(LEGACY_HANDS_OVER)) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof legacySubscriptionRun>({ ...input, carried: state });
    }
    for (let termId = state.receiptsDue?.[0]; termId; termId = state.receiptsDue?.[0]) {
      await acts.sendRedemptionReceipt({ siteId: state.siteId, termId });
      await acts.notifySubscriptionChanged({ siteId: state.siteId });
      state.receiptsDue = state.receiptsDue!.slice(1);
    }
    const seen = version;
    const term = state.status === 'active' ? state.term : undefined;
    if (!term) {
      await condition(() => version !== seen || shouldContinueAsNew(input.maxHistoryEvents));
    } else {
      const [reminder] = pendingReminders(reminderPlan(term), {
        nowMs: siteNow(),
        sent: state.remindersSent,
      });
      const nextAt = Math.min(reminder?.atMs ?? Number.POSITIVE_INFINITY, term.endsAtMs);
      const waitMs = nextAt - siteNow();
      const woken = waitMs > 0 ? await condition(() => version !== seen, waitMs) : false;
      if (!woken && version === seen) {
        if (reminder && reminder.atMs <= siteNow() && reminder.atMs < term.endsAtMs) {
          await acts.sendReminder({ siteId: state.siteId, termId: term.id, offsetDays: reminder.offsetDays });
          // A redemption during the send started a term with reminders of its own (V5).
          if (state.term?.id === term.id) state.remindersSent.push(reminder.offsetDays);
          log.info('reminder sent', {
            siteId: state.siteId,
            termId: term.id,
            offsetDays: reminder.offsetDays,
          });
        } else if (term.endsAtMs <= siteNow()) {
          const { expired } = await acts.expireSubscription({
            siteId: state.siteId,
            termId: term.id,
            nowMs: siteNow(),
          });
          if (expired) {
            log.info('term expired', { siteId: state.siteId, termId: term.id });
            // A redemption racing the expiry may already have put a new term in force.
            if (state.term?.id === term.id) {
              state.status = 'expired';
              publish();
            }
            await acts.sendExpiredEmail({ siteId: state.siteId, termId: term.id });
          }
          // A term's end is a natural point to start a fresh history.
          await condition(allHandlersFinished);
          return continueAsNew<typeof legacySubscriptionRun>({ ...input, carried: state });
        }
      }
    }
    if (shouldContinueAsNew(input.maxHistoryEvents)) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof legacySubscriptionRun>({ ...input, carried: state });
    }
  }
}
