/**
 * Every route of the API fits Hono's RegExpRouter, the fast one its SmartRouter picks only when all
 * routes do (issue 15: one `/docs` parameter beside static siblings left every request matched by the
 * TrieRouter, 2 % of the API's CPU per remote opening). The files under /docs answer as before.
 */
import { describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { refusingMailer } from '../../emails/mailer';
import { noopGatewayClient } from '../../gateway/client';
import { TEST_BASE_URL, TEST_TOKEN_SECRET } from '../support/system';

// Nothing under /docs reads the database or Temporal.
const app = createApp({
  db: {} as never,
  temporal: {} as never,
  mailer: refusingMailer('no email here'),
  gateway: noopGatewayClient,
  notifications: {} as never,
  env: {
    KS_MODE: 'production',
    PUBLIC_BASE_URL: TEST_BASE_URL,
    TOKEN_SECRET: TEST_TOKEN_SECRET,
    TEMPORAL_TASK_QUEUE: 'routing',
  },
  now: () => new Date(),
});

describe('routing', () => {
  it('the API is matched by RegExpRouter', async () => {
    expect((await app.request('/docs')).status).toBe(200);
    const router = app.router as unknown as { activeRouter: { name: string } };
    expect(router.activeRouter.name).toBe('RegExpRouter');
  });

  it.each([
    ['/docs/init.js', 200, 'text/javascript; charset=utf-8'],
    ['/docs/swagger-ui.css', 200, 'text/css; charset=utf-8'],
    ['/docs/favicon-32x32.png', 200, 'image/png'],
    ['/docs/swagger-ui-bundle.js', 200, 'text/javascript; charset=utf-8'],
    ['/docs/package.json', 404, undefined],
    ['/docs/INIT.JS', 404, undefined],
  ])('%s answers %i', async (path, status, type) => {
    const res = await app.request(path);
    expect(res.status).toBe(status);
    if (type) expect(res.headers.get('content-type')).toBe(type);
  });
});
