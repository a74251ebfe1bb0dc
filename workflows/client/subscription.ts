import { type Client, WithStartWorkflowOperation } from '@temporalio/client';
import type { RedeemResult } from '../../domain/subscription';
import { subscriptionWorkflowId } from '../ids';
import {
  advanceClockUpdate,
  type RedeemVoucherInput,
  redeemVoucherUpdate,
  type SubscriptionView,
  subscriptionStateQuery,
} from '../subscription/messages';
import { subscriptionWorkflow } from '../subscription/workflow';

const startOptions = (taskQueue: string, siteId: string) => ({
  workflowId: subscriptionWorkflowId(siteId),
  taskQueue,
  args: [{ siteId }] as [{ siteId: string }],
  workflowIdConflictPolicy: 'USE_EXISTING' as const,
});

/**
 * A redemption through the site's workflow with update-with-start: the first voucher of a site
 * starts `subscription-<siteId>`, later ones reach the running one.
 */
export function redeemVoucher(
  temporal: Client,
  taskQueue: string,
  siteId: string,
  input: RedeemVoucherInput,
): Promise<RedeemResult> {
  return temporal.workflow.executeUpdateWithStart(redeemVoucherUpdate, {
    args: [input],
    startWorkflowOperation: new WithStartWorkflowOperation(
      subscriptionWorkflow,
      startOptions(taskQueue, siteId),
    ),
  });
}

/** Starts the site's workflow if it is not running (site creation); a running one is left alone. */
export async function ensureSubscriptionWorkflow(
  temporal: Client,
  taskQueue: string,
  siteId: string,
): Promise<void> {
  await temporal.workflow.start(subscriptionWorkflow, startOptions(taskQueue, siteId));
}

export function querySubscriptionState(temporal: Client, siteId: string): Promise<SubscriptionView> {
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
