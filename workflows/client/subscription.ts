import { type Client, WithStartWorkflowOperation, WorkflowUpdateFailedError } from '@temporalio/client';
import { withTemporalDeadline } from '../../config/temporal-call-context';
import type { RedeemResult, SiteSubscription, SubscriptionChanged } from '../../domain/subscription';
import { subscriptionWorkflowId } from '../ids';
import { SiteId, SubscriptionEndsAt, SubscriptionStatus } from '../search-attributes';
import {
  advanceClockUpdate,
  type RedeemVoucherInput,
  redeemVoucherUpdate,
  type SubscriptionStateView,
  type SubscriptionWorkflowInput,
  subscriptionChangedSignal,
  subscriptionStateQuery,
} from '../subscription/messages';
import { subscriptionWorkflow } from '../subscription/workflow';

/**
 * How a site's workflow is started when none runs. `site`, the state a telling brings: the run starts
 * with the search attributes it will publish once it adopts it, so it needs no upsert of its own (issue
 * 15: an upsert is a history event and a visibility write per new site). A running workflow ignores them.
 */
const startOptions = (taskQueue: string, siteId: string, site: SiteSubscription = { status: 'none' }) => ({
  workflowId: subscriptionWorkflowId(siteId),
  taskQueue,
  // `current`: the run needs no marker for the changes up to subscription-since-receipts-queued
  // (each marker costs a history event and a visibility write); `leanWaits`: how it waits.
  args: [{ siteId, current: true, leanWaits: true }] as [SubscriptionWorkflowInput],
  workflowIdConflictPolicy: 'USE_EXISTING' as const,
  // The workflow updates them only when they change from these.
  typedSearchAttributes: [
    { key: SiteId, value: siteId },
    { key: SubscriptionStatus, value: site.status },
    ...(site.term ? [{ key: SubscriptionEndsAt, value: new Date(site.term.endsAtMs) }] : []),
  ],
  // Temporal user metadata (O1): what support reads in the Web UI's list and its User Metadata tab.
  staticSummary: `Subscription of site ${siteId}`,
  staticDetails: [
    `Owns the subscription terms of site \`${siteId}\` over time (SPEC V3–V6):`,
    '- update `redeemVoucher`: claims a voucher and starts a term; answered before its receipt;',
    '- sends the receipt, the 28-, 7- and 1-day reminders and the expired email, and expires the term at its end;',
    '- update `advanceClock` moves a sandbox site’s clock (O2);',
    '- query `state`: the term, the next reminder and what the workflow waits for (ISO times, site time).',
  ].join('\n'),
});

/** How long telling a workflow waits for Temporal. */
const TELL_DEADLINE_MS = 5_000;

/** Sends of one redemption when the update fails without the workflow's answer (see below). */
const REDEEM_ATTEMPTS = 4;

/**
 * A redemption through the site's workflow with update-with-start (API.md's update `redeemVoucher`,
 * used by the demo seed and outside tools; the HTTP API claims itself and tells the workflow): the
 * first voucher of a site starts `subscription-<siteId>`, later ones reach the running one.
 *
 * Sent again when the update fails: the handler answers every refusal as a result, so a failed update
 * is the SDK's, not the workflow's. Under a burst of updates SDK core 1.24 (the newest) can admit a
 * polled workflow task while the previous one is still being completed ("Trying to send a new WFT for
 * a run which already has one!") and drop the updates it carried; the server then rejects them
 * ("wasn't processed by worker"). Sending again is safe: the claim finds the term its `requestId`
 * already wrote.
 */
export async function redeemVoucher(
  temporal: Client,
  taskQueue: string,
  siteId: string,
  input: RedeemVoucherInput,
): Promise<RedeemResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await temporal.workflow.executeUpdateWithStart(redeemVoucherUpdate, {
        args: [input],
        startWorkflowOperation: new WithStartWorkflowOperation(
          subscriptionWorkflow,
          startOptions(taskQueue, siteId),
        ),
      });
    } catch (error) {
      if (!(error instanceof WorkflowUpdateFailedError) || attempt >= REDEEM_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25 * attempt));
    }
  }
}

/**
 * Tells a site's workflow of a redemption the API claimed (started first if it is not running), for
 * the redemption relay: a signal is durable once this returns, and the workflow adopts it only if it
 * is newer than what it holds, so telling again or out of order is harmless.
 */
export function subscriptionTeller(temporal: Client, taskQueue: string) {
  return async (siteId: string, changed: SubscriptionChanged): Promise<void> => {
    // The relay holds its rows' locks meanwhile: an outage holds them no longer than this.
    await withTemporalDeadline(temporal, TELL_DEADLINE_MS, () =>
      temporal.workflow.signalWithStart(subscriptionWorkflow, {
        ...startOptions(taskQueue, siteId, changed.site),
        signal: subscriptionChangedSignal,
        signalArgs: [changed],
      }),
    );
  };
}

/** Starts the site's workflow if it is not running; a running one is left alone. */
export async function ensureSubscriptionWorkflow(
  temporal: Client,
  taskQueue: string,
  siteId: string,
): Promise<void> {
  await temporal.workflow.start(subscriptionWorkflow, startOptions(taskQueue, siteId));
}

export function querySubscriptionState(temporal: Client, siteId: string): Promise<SubscriptionStateView> {
  return temporal.workflow.getHandle(subscriptionWorkflowId(siteId)).query(subscriptionStateQuery);
}

/**
 * O2: moves a sandbox site's clock through its workflow, started first if it is not running (a
 * sandbox whose start failed at creation still gets a clock). Callers check `sites.sandbox` first.
 */
export async function advanceSandboxClock(
  temporal: Client,
  taskQueue: string,
  siteId: string,
  seconds: number,
): Promise<{ nowMs: number }> {
  await ensureSubscriptionWorkflow(temporal, taskQueue, siteId);
  return temporal.workflow
    .getHandle(subscriptionWorkflowId(siteId))
    .executeUpdate(advanceClockUpdate, { args: [{ seconds }] });
}
