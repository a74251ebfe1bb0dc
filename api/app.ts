import { swaggerUI } from '@hono/swagger-ui';
import { bodyLimit } from 'hono/body-limit';
import { withoutQueryParams } from '../db/errors';
import type { AppDeps } from './deps';
import { rejectNulCharacters } from './middleware/reject-nul';
import { openApiDocument } from './openapi';
import { ApiProblem, problemResponse, toProblem } from './problem';
import { createRouter } from './router';
import { authRoutes } from './routes/auth';
import { consentRoutes } from './routes/consents';
import { devMailboxRoutes } from './routes/dev-mailbox';
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

/** The whole HTTP API. Each resource lives in its own router under routes/. */
export function createApp(deps: AppDeps) {
  const app = createRouter();
  app.use(
    bodyLimit({
      maxSize: 256 * 1024,
      onError: () => {
        throw new ApiProblem(413, 'payload_too_large', 'The request body is larger than 256 KiB.');
      },
    }),
  );
  app.use(rejectNulCharacters);

  app.route('/', healthRoutes(deps));
  app.route('/', authRoutes(deps));
  app.route('/', meRoutes(deps));
  app.route('/', invitationRoutes(deps));
  app.route('/', sitesRoutes(deps));
  app.route('/', peopleRoutes(deps));
  app.route('/', iqRoutes(deps));
  app.route('/', iqResetRoutes(deps));
  app.route('/', lockRoutes(deps));
  app.route('/', eventRoutes(deps));
  app.route('/', subscriptionRoutes(deps));
  app.route('/', supportRoutes(deps));
  app.route('/', supportDeletionRoutes(deps));
  app.route('/', rolloutRoutes(deps));
  app.route('/', consentRoutes(deps));
  if (deps.env.KS_MODE === 'development') app.route('/', devMailboxRoutes(deps));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  // Built on first request, once every route is registered.
  let document: ReturnType<typeof openApiDocument> | undefined;
  app.get('/openapi.json', (c) => {
    document ??= openApiDocument(app);
    return c.json(document);
  });
  app.get('/docs', swaggerUI({ url: '/openapi.json' }));

  app.notFound((c) => problemResponse(c, new ApiProblem(404, 'not_found', 'No such resource.')));
  app.onError((error, c) => {
    const problem = toProblem(error);
    if (problem.status >= 500)
      console.error(`[api] ${c.req.method} ${c.req.routePath}:`, withoutQueryParams(error));
    return problemResponse(c, problem);
  });
  return app;
}

export type App = ReturnType<typeof createApp>;
