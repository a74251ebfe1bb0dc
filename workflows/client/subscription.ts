import { type Client, WithStartWorkflowOperation } from '@temporalio/client';
import type { RedeemResult } from '../../domain/subscription';
import { subscriptionWorkflowId } from '../ids';
import type { RedeemVoucherInput, SubscriptionState, subscriptionWorkflow } from '../subscription/workflow';

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
  const startWorkflowOperation = new WithStartWorkflowOperation<typeof subscriptionWorkflow>(
    'subscriptionWorkflow',
    {
      workflowId: subscriptionWorkflowId(siteId),
      taskQueue,
      args: [{ siteId }],
      workflowIdConflictPolicy: 'USE_EXISTING',
    },
  );
  return temporal.workflow.executeUpdateWithStart<
    typeof subscriptionWorkflow,
    RedeemResult,
    [RedeemVoucherInput]
  >('redeemVoucher', { args: [input], startWorkflowOperation });
}

/** Starts the site's workflow if it is not running (site creation); a running one is left alone. */
export async function ensureSubscriptionWorkflow(
  temporal: Client,
  taskQueue: string,
  siteId: string,
): Promise<void> {
  await temporal.workflow.start<typeof subscriptionWorkflow>('subscriptionWorkflow', {
    workflowId: subscriptionWorkflowId(siteId),
    taskQueue,
    args: [{ siteId }],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
}

export function querySubscriptionState(temporal: Client, siteId: string) {
  return temporal.workflow
    .getHandle(subscriptionWorkflowId(siteId))
    .query<SubscriptionState & { nowMs: number }>('state');
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
    .getHandle<typeof subscriptionWorkflow>(subscriptionWorkflowId(siteId))
    .executeUpdate<{ nowMs: number }, [{ seconds: number }]>('advanceClock', { args: [{ seconds }] });
}
