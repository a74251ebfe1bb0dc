import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from './deps';
import { PROBLEMS } from './problem-codes';

const info = {
  title: 'KS Cloud API',
  version: '0.1.0',
  description:
    'Cloud access control: sites, IQs and locks, prepaid subscriptions, profile deletion, firmware rollout.',
  // No licence has been granted for the API or its code (the repository carries none).
  license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' },
};

const methods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

/**
 * The OpenAPI 3.1 document of the routes' own schemas, plus the answers that app-wide middleware
 * gives on any route with a body (413 past the size limit), so clients and fuzzers see them documented.
 */
export function openApiDocument(app: OpenAPIHono<AppEnv>) {
  const doc = app.getOpenAPI31Document({
    openapi: '3.1.0',
    info,
    // Relative: the host that serves the document, whichever deployment, port or proxy that is.
    servers: [{ url: '/', description: 'The host serving this document' }],
  });
  for (const item of Object.values(doc.paths ?? {})) {
    for (const method of methods) {
      const operation = item[method];
      if (!operation?.requestBody) continue;
      operation.responses ??= {};
      operation.responses['413'] ??= {
        description: `payload_too_large: ${PROBLEMS.payload_too_large.detail}`,
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      };
    }
  }
  return doc;
}
