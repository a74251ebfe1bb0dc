import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from './deps';
import { problemBody } from './problem';
import { PROBLEMS, type ProblemCode } from './problem-codes';

const info = {
  title: 'KS Cloud API',
  version: '0.1.0',
  description:
    'Cloud access control: sites, IQs and locks, prepaid subscriptions, profile deletion, firmware rollout.',
  // No licence has been granted for the API or its code (the repository carries none).
  license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' },
};

const methods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

const problemContent = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };

interface ProblemResponse {
  description: string;
  content?: Record<string, { schema?: unknown; examples?: Record<string, unknown> }>;
}

/** Lists `code` on the operation's answer of its status, beside the codes the route lists there. */
function addProblem(responses: Record<string, ProblemResponse>, code: ProblemCode) {
  const { status, detail } = PROBLEMS[code];
  const response = responses[status];
  if (!response) {
    responses[status] = { description: `${code}: ${detail}`, content: problemContent };
    return;
  }
  if (response.description.split(/[,:]\s*/).includes(code)) return;
  response.description = `${response.description}, ${code}`;
  const examples = response.content?.['application/problem+json']?.examples;
  if (examples) examples[code] = { summary: code, value: problemBody(status, code, detail) };
}

/**
 * The OpenAPI 3.1 document of the routes' own schemas, plus the answers that the framework and
 * app-wide middleware give, so clients and fuzzers see them documented: on any route 429 for a
 * client with too many requests at once (api/middleware/requests-in-flight.ts); on any route with a
 * body 413 past the size limit, 415 for a content type the route does not take, and 400 bad_request for
 * a multipart body that does not parse where a form is taken (the handlers take multipart too).
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
      if (!operation) continue;
      operation.responses ??= {};
      const responses = operation.responses as Record<string, ProblemResponse>;
      addProblem(responses, 'too_many_attempts');
      if (!operation.requestBody) continue;
      addProblem(responses, 'payload_too_large');
      addProblem(responses, 'unsupported_media_type');
      const types = 'content' in operation.requestBody ? Object.keys(operation.requestBody.content) : [];
      if (types.some((type) => type.includes('form'))) addProblem(responses, 'bad_request');
    }
  }
  return doc;
}
