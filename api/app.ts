import { swaggerUI } from '@hono/swagger-ui';
import { bodyLimit } from 'hono/body-limit';
import type { AppDeps } from './deps';
import { ApiProblem, problemResponse, toProblem } from './problem';
import { createRouter } from './router';
import { authRoutes } from './routes/auth';
import { devMailboxRoutes } from './routes/dev-mailbox';
import { healthRoutes } from './routes/health';
import { meRoutes } from './routes/me';
import { subscriptionRoutes } from './routes/subscription';
import { supportRoutes } from './routes/support';

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

  app.route('/', healthRoutes(deps));
  app.route('/', authRoutes(deps));
  app.route('/', meRoutes(deps));
  app.route('/', subscriptionRoutes(deps));
  app.route('/', supportRoutes(deps));
  if (deps.env.KS_MODE === 'development') app.route('/', devMailboxRoutes(deps));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'KS Cloud API',
      version: '0.1.0',
      description:
        'Cloud access control: sites, IQs and locks, prepaid subscriptions, profile deletion, firmware rollout.',
    },
  });
  app.get('/docs', swaggerUI({ url: '/openapi.json' }));

  app.notFound((c) => problemResponse(c, new ApiProblem(404, 'not_found', 'No such resource.')));
  app.onError((error, c) => {
    const problem = toProblem(error);
    if (problem.status >= 500) console.error(`[api] ${c.req.method} ${c.req.routePath}:`, error);
    return problemResponse(c, problem);
  });
  return app;
}

export type App = ReturnType<typeof createApp>;
