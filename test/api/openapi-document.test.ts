import { beforeAll, describe, expect, it } from 'vitest';
import { problemBody } from '../../api/problem';
import { normalizeVoucherCode } from '../../domain/voucher-codes';
import { buildOpenApiDocument } from '../../scripts/openapi-document';

/**
 * The OpenAPI document as clients and Redocly read it (issue 16): every operation has a stable,
 * unique camelCase operationId; public operations say `security: []` and every other one needs the
 * bearer token; a server and a licence; realistic examples on the main operations; the Idempotency-Key header
 * described. `npm run lint:openapi` (CI) runs Redocly's recommended rules on the same document.
 */
interface Operation {
  operationId?: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ name: string; in: string; description?: string; example?: unknown }>;
  requestBody?: {
    content: Record<
      string,
      { schema: { example?: unknown; properties?: Record<string, { example?: unknown }> } }
    >;
  };
  responses: Record<
    string,
    {
      description: string;
      content?: Record<
        string,
        { schema?: unknown; examples?: Record<string, { value: Record<string, unknown> }> }
      >;
    }
  >;
}
type Doc = {
  info: { license?: unknown };
  servers?: Array<{ url: string }>;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { example?: Record<string, unknown> }> };
};

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
/** What needs no bearer token (API.md: the email-link pages, sign-up, login, reset, health, the dev mailbox). */
const PUBLIC = /^\/(auth\/(?!logout$)|health|invitations\/|consents\/|dev\/)/;

let doc: Doc;
let operations: Array<{ method: string; path: string; op: Operation }>;
beforeAll(async () => {
  doc = (await buildOpenApiDocument()) as unknown as Doc;
  operations = Object.entries(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((method) => ({ method, path, op: item[method]! })),
  );
});

const operation = (method: string, path: string) => {
  const op = doc.paths[path]?.[method];
  if (!op) throw new Error(`no ${method} ${path}`);
  return op;
};

describe('the OpenAPI document', () => {
  it('names every operation once, in camelCase', () => {
    expect(operations.length).toBeGreaterThan(50);
    const ids = operations.map((o) => o.op.operationId);
    expect(operations.filter((o) => !o.op.operationId).map((o) => `${o.method} ${o.path}`)).toEqual([]);
    expect(ids.filter((id) => !/^[a-z][a-zA-Z0-9]*$/.test(id ?? ''))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    // Stable names clients generate code from.
    expect(operation('post', '/sites/{siteId}/subscription/redemptions').operationId).toBe('redeemVoucher');
    expect(operation('post', '/auth/login').operationId).toBe('logIn');
  });

  it('public operations need nothing; every other needs the bearer token', () => {
    const wrong = operations
      .filter(({ path, op }) =>
        PUBLIC.test(path)
          ? JSON.stringify(op.security) !== '[]'
          : JSON.stringify(op.security) !== JSON.stringify([{ bearer: [] }]),
      )
      .map(({ method, path, op }) => `${method} ${path}: ${JSON.stringify(op.security)}`);
    expect(wrong).toEqual([]);
    expect(operations.filter(({ path }) => PUBLIC.test(path)).length).toBeGreaterThan(10);
  });

  it('names its server relative to where it is served, and says under what licence', () => {
    expect(doc.servers).toEqual([{ url: '/', description: 'The host serving this document' }]);
    expect(doc.info.license).toEqual({ name: 'Proprietary', identifier: 'LicenseRef-Proprietary' });
  });

  it('redemption: a voucher code as printed, the Idempotency-Key described, voucher_not_found as answered', () => {
    const redeem = operation('post', '/sites/{siteId}/subscription/redemptions');
    const code = redeem.requestBody?.content['application/json']?.schema.properties?.code?.example;
    expect(typeof code).toBe('string');
    expect(normalizeVoucherCode(code as string)).toBeDefined();
    const key = redeem.parameters?.find((p) => p.in === 'header' && p.name === 'idempotency-key');
    expect(key?.description).toMatch(/replays the first answer/);
    const notFound =
      redeem.responses['404']?.content?.['application/problem+json']?.examples?.voucher_not_found;
    expect(notFound?.value).toEqual(problemBody(404, 'voucher_not_found', 'No voucher has this code.'));
  });

  it('every problem example is the body the API answers for a code its response lists', () => {
    const wrong: string[] = [];
    for (const { method, path, op } of operations) {
      for (const [status, response] of Object.entries(op.responses)) {
        const examples = response.content?.['application/problem+json']?.examples;
        if (!examples) continue;
        for (const [code, { value }] of Object.entries(examples)) {
          const listed = response.description.split(/[,:]\s*/).includes(code);
          if (!listed || value.status !== Number(status) || value.code !== code)
            wrong.push(`${method} ${path} ${status} ${code}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('login and a site have realistic examples', () => {
    const login = operation('post', '/auth/login');
    expect(login.requestBody?.content['application/json']?.schema.example).toMatchObject({
      email: expect.stringContaining('@'),
    });
    const site = doc.components.schemas.Site?.example;
    expect(site).toMatchObject({ name: expect.any(String), role: 'owner', status: 'active' });
  });
});
