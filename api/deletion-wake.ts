import type { Client } from '@temporalio/client';
import { errorField, logger } from '../observability/logger';
import { signalSitesChanged } from '../workflows/client/profile-deletion';

/**
 * D2, once a membership's end has committed: the person's open deletion requests that site had a say
 * in reload their answers, so the approvals of the sites still asked let the deletion go on. The
 * membership's end stands whatever Temporal answers: a workflow not told reads the request at its
 * deadline at the latest.
 */
export async function wakeDeletionsOfSiteLeft(
  temporal: Client,
  requestIds: readonly string[],
): Promise<void> {
  if (requestIds.length === 0) return;
  try {
    await signalSitesChanged(temporal, requestIds);
  } catch (error) {
    logger.error({ requestIds, err: errorField(error) }, 'site left; its deletion requests not told');
  }
}
