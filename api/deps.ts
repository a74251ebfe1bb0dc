import type { Client } from '@temporalio/client';
import type { RequestIdVariables } from 'hono/request-id';
import type { Env } from '../config/env';
import type { Db } from '../db/client';
import type { MembershipFacts } from '../db/queries/memberships';
import type { SiteFacts } from '../db/queries/sites';
import type { Mailer } from '../emails/mailer';
import type { GatewayClient } from '../gateway/client';
import type { HttpMetrics } from '../observability/http-metrics';
import type { Logger } from '../observability/logger';
import type { NotificationRelay } from '../outbox/notification-relay';
import type { RelayLoop } from '../outbox/relay-loop';
import type { ReadWithSession } from './auth/reads-with-session';

/** What the HTTP API needs from the outside world; tests pass real local instances. */
export interface AppDeps {
  db: Db;
  /**
   * One connection of its own for the sign-in statements of bounded reads (isBoundedRead: every
   * authenticated request's first statement but those reading what grows with the data). The
   * statements sent in one turn of the event loop go in one write, and its backend runs them back to
   * back instead of each waking one of the pool's (issue 15; the README has the figures). Only reads
   * without locking clauses go there: they wait on no row lock, so a transaction holding rows holds
   * up no one behind them (test/api/sign-in-connection.test.ts). db when omitted.
   */
  signInDb?: Db;
  temporal: Client;
  mailer: Mailer;
  /** Commands for IQs: opens to the command endpoint of the gateway instance holding the IQ, pushes over the bus. */
  gateway: GatewayClient;
  /** Hands the owner notifications a request queued to Temporal (K6); its owner stops it. */
  notifications: NotificationRelay;
  /** Sends queued sign-up and reset emails (A4): kicked after such a request; the worker sweeps too. */
  accountMail?: RelayLoop;
  /**
   * Announces claimed redemptions (outbox/redemption-relay.ts): kicked after each; the worker sweeps
   * too. One without a sweep is made from these deps when omitted.
   */
  redemptions?: RelayLoop;
  env: Pick<Env, 'KS_MODE' | 'PUBLIC_BASE_URL' | 'TOKEN_SECRET' | 'TEMPORAL_TASK_QUEUE'>;
  /** Real time; tests may shift it. Sandbox sites add their own offset on top. */
  now: () => Date;
  /** Where request lines and errors go; the process's logger when omitted. */
  logger?: Logger;
  /** Requests by route and status for Prometheus; none recorded when omitted. */
  metrics?: HttpMetrics;
  /** TRUSTED_PROXIES: proxies whose X-Forwarded-For names the client (A6); none when omitted. */
  trustedProxies?: readonly string[];
  /** API_MAX_REQUESTS_IN_FLIGHT_PER_ADDRESS: one client's requests answered at once; no cap when omitted. */
  maxRequestsInFlightPerAddress?: number;
}

/** The signed-in caller, read with its session (one query). */
export interface AuthProfile {
  id: string;
  email: string;
  name: string;
  platformRole: 'installer' | 'support' | null;
}

export interface AppEnv {
  Variables: {
    profile: AuthProfile;
    /** The session the bearer token names (logout ends it). */
    sessionId: string;
    /** The client's address (socket, or a trusted proxy's word); undefined for in-process calls. */
    clientAddress: string | undefined;
    /**
     * The site a `/sites/:siteId` request names and the caller's membership there, read with the
     * session (require-auth.ts); siteAccess decides on them, and hands out `read` (what the route
     * declared in reads-with-session.ts) only once the caller's access is decided. Unset on other paths.
     */
    siteOfPath?: {
      siteId: string;
      site: SiteFacts | undefined;
      membership: MembershipFacts | undefined;
      read?: ReadWithSession;
    };
    /** Outside `/sites/:siteId`: what the route declared in reads-with-session.ts, read with the session. */
    readWithSession?: ReadWithSession;
  } & RequestIdVariables;
}
