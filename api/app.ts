import { createMiddleware } from 'hono/factory';
import { errorField, logger as processLogger } from '../observability/logger';
import { requireAuth } from './auth/require-auth';
import { clientGone } from './client-gone';
import type { AppDeps, AppEnv } from './deps';
import { limitBody } from './middleware/body-limit';
import { inputChecks } from './middleware/input-checks';
import { requestAndAnswerHeaders } from './middleware/request-and-answer-headers';
import { requestTelemetry } from './middleware/request-telemetry';
import { requestsInFlight } from './middleware/requests-in-flight';
import { openApiDocument } from './openapi';
import { notFound, problem, problemResponse, toProblem } from './problem';
import { createRouter } from './router';
import { authRoutes } from './routes/auth';
import { consentRoutes } from './routes/consents';
import { devMailboxRoutes } from './routes/dev-mailbox';
import { docsRoutes } from './routes/docs';
import { eventRoutes } from './routes/events';
import { healthRoutes } from './routes/health';
import { invitationRoutes } from './routes/invitations';
import { iqResetRoutes } from './routes/iq-reset';
import { iqRoutes } from './routes/iqs';
import { lockRoutes } from './routes/locks';
import { meRoutes } from './routes/me';
import { peopleRoutes } from './routes/people';
import { rolloutRoutes } from './routes/rollouts';
import { sitesRoutes } from './routes/sites';
import { subscriptionRoutes } from './routes/subscription';
import { supportRoutes } from './routes/support';
import { supportDeletionRoutes } from './routes/support-deletions';
import { requirePlatformRole } from './site-access';

/** The whole HTTP API. Each resource lives in its own router under routes/, mounted at its prefix. */
export function createApp(deps: AppDeps) {
  const app = createRouter();
  const logger = deps.logger ?? processLogger;
  app.use(
    requestAndAnswerHeaders({
      production: deps.env.KS_MODE === 'production',
      trustedProxies: deps.trustedProxies ?? [],
    }),
  );
  app.use(requestTelemetry({ logger, metrics: deps.metrics }));
  if (deps.maxRequestsInFlightPerAddress !== undefined) {
    app.use(requestsInFlight(deps.maxRequestsInFlightPerAddress));
  }
  app.use(limitBody);
  app.use(inputChecks);

  // A5: everything but the public prefixes needs a bearer token; support's routes need the role too.
  // (`/prefix/*` covers the prefix itself.)
  const signedIn = requireAuth(deps);
  const supportOnly = createMiddleware<AppEnv>(async (c, next) => {
    requirePlatformRole(c, 'support');
    await next();
  });
  app.use('/auth/logout', signedIn);
  app.use('/me/*', signedIn);
  app.use('/sites/*', signedIn);
  app.use('/support/*', signedIn, supportOnly);

  app.route('/', healthRoutes(deps));
  app.route('/auth', authRoutes(deps));
  app.route('/invitations', invitationRoutes(deps));
  app.route('/consents', consentRoutes(deps));
  app.route('/me', meRoutes(deps));
  for (const routes of [
    sitesRoutes,
    peopleRoutes,
    iqRoutes,
    iqResetRoutes,
    lockRoutes,
    eventRoutes,
    subscriptionRoutes,
  ]) {
    app.route('/sites', routes(deps));
  }
  for (const routes of [supportRoutes, supportDeletionRoutes, rolloutRoutes])
    app.route('/support', routes(deps));
  if (deps.env.KS_MODE === 'development') app.route('/dev/mailbox', devMailboxRoutes(deps));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  // Built on first request, once every route is registered.
  let document: ReturnType<typeof openApiDocument> | undefined;
  app.get('/openapi.json', (c) => {
    document ??= openApiDocument(app);
    return c.json(document);
  });
  app.route('/docs', docsRoutes());

  app.notFound((c) => problemResponse(c, notFound()));
  app.onError((error, c) => {
    const answer = clientGone(c)
      ? problem('bad_request', 'The request ended before its body arrived.')
      : toProblem(error);
    if (answer.status >= 500) {
      // 503: a backing service is away (the client is told to retry); anything else is a bug.
      logger[answer.status === 503 ? 'warn' : 'error'](
        {
          reqId: c.get('requestId'),
          method: c.req.method,
          route: c.req.routePath,
          err: errorField(error),
        },
        'request failed',
      );
    }
    return problemResponse(c, answer);
  });
  return app;
}

export type App = ReturnType<typeof createApp>;
