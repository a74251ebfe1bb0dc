import type { Db } from '../db/client';
import type { Mailer } from '../emails/mailer';
import type { GatewayClient } from '../gateway/client';
import { createNotificationActivities } from './notifications';
import { createProfileDeletionActivities } from './profile-deletion';
import { createRolloutActivities } from './rollout';
import { createSubscriptionActivities } from './subscription';

export interface ActivityDeps {
  db: Db;
  mailer: Mailer;
  gateway: GatewayClient;
  /** PUBLIC_BASE_URL: links in emails sent by activities. */
  publicBaseUrl: string;
  /** SUPPORT_EMAIL: outcomes that need support. */
  supportEmail: string;
  /** The worker's redemption relay, kicked after a claim queued its announcement. */
  redemptions?: { handOver(): Promise<unknown> };
}

/** Every activity the worker registers, built from its dependencies (tests pass local ones). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createSubscriptionActivities(deps),
    ...createProfileDeletionActivities(deps),
    ...createRolloutActivities(deps),
    ...createNotificationActivities(deps),
  };
}
