import { errorField, logger } from '../observability/logger';
import { ensureSubscriptionWorkflow } from '../workflows/client/subscription';
import type { AppDeps } from './deps';

/**
 * A new site's workflow, started as the site is created (API.md: by site creation or the first
 * redemption). The site is committed by then, so a Temporal away or silent does not fail its creation
 * (a client retrying a 503 would create a second site): its first redemption's telling starts it
 * (subscriptionTeller's signalWithStart), as a sandbox's clock does (advanceSandboxClock).
 */
export async function startNewSiteWorkflow(deps: AppDeps, siteId: string): Promise<void> {
  try {
    await ensureSubscriptionWorkflow(deps.temporal, deps.env.TEMPORAL_TASK_QUEUE, siteId);
  } catch (error) {
    logger.warn(
      { siteId, err: errorField(error) },
      'site created; its subscription workflow starts with its first redemption',
    );
  }
}
