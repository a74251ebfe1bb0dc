import type { Client } from '@temporalio/client';
import type { RequestIdVariables } from 'hono/request-id';
import type { Env } from '../config/env';
import type { Db } from '../db/client';
import type { Mailer } from '../emails/mailer';
import type { GatewayClient } from '../gateway/client';
import type { HttpMetrics } from '../observability/http-metrics';
import type { Logger } from '../observability/logger';
import type { NotificationRelay } from '../outbox/notification-relay';

/** What the HTTP API needs from the outside world; tests pass real local instances. */
export interface AppDeps {
  db: Db;
  temporal: Client;
  mailer: Mailer;
  /** Commands for IQs (open, subscription push) through the device gateway's bus. */
  gateway: GatewayClient;
  /** Hands the owner notifications a request queued to Temporal (K6); its owner stops it. */
  notifications: NotificationRelay;
  env: Pick<Env, 'KS_MODE' | 'PUBLIC_BASE_URL' | 'TOKEN_SECRET' | 'TEMPORAL_TASK_QUEUE'>;
  /** Real time; tests may shift it. Sandbox sites add their own offset on top. */
  now: () => Date;
  /** Where request lines and errors go; the process's logger when omitted. */
  logger?: Logger;
  /** Requests by route and status for Prometheus; none recorded when omitted. */
  metrics?: HttpMetrics;
}

export interface AuthProfile {
  id: string;
  platformRole: 'installer' | 'support' | null;
}

export interface AppEnv {
  Variables: { profile: AuthProfile } & RequestIdVariables;
}
