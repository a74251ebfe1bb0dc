import { createApp } from '../../api/app';
import type { AppDeps } from '../../api/deps';
import { refusingMailer } from '../../emails/mailer';
import { noopGatewayClient } from '../../gateway/client';
import { TEST_BASE_URL, TEST_TOKEN_SECRET, type TestSystem } from './system';

/**
 * The test system's product as `KS_MODE=production` wires it: no `/dev/mailbox`, HSTS, and no relay
 * kicked by requests (sign-up and reset emails stay queued until a relay runs). Its mailer refuses
 * every email unless one is given; `overrides` replace any other dependency (a Temporal client that
 * is down, a logger, metrics).
 */
export function productionApp(
  sys: TestSystem,
  overrides: Partial<Omit<AppDeps, 'env'>> = {},
): ReturnType<typeof createApp> {
  return createApp({
    db: sys.db,
    temporal: sys.temporal,
    mailer: refusingMailer('no email from this app'),
    gateway: noopGatewayClient,
    notifications: sys.notifications,
    env: {
      KS_MODE: 'production',
      PUBLIC_BASE_URL: TEST_BASE_URL,
      TOKEN_SECRET: TEST_TOKEN_SECRET,
      TEMPORAL_TASK_QUEUE: sys.taskQueue,
    },
    now: () => new Date(),
    ...overrides,
  });
}
