import type { Db } from '../db/client';
import type { Mailer } from '../emails/mailer';
import type { GatewayClient } from './gateway-client';
import { createSubscriptionActivities } from './subscription';

export interface ActivityDeps {
  db: Db;
  mailer: Mailer;
  gateway: GatewayClient;
}

/** Every activity the worker registers, built from its dependencies (tests pass local ones). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createSubscriptionActivities(deps),
  };
}
