import { beforeAll, describe, expect, it } from 'vitest';
import type { ZodType } from 'zod';
import { withRoutesOnlyApp } from '../../scripts/openapi-document';

/**
 * Every id the API takes (a path's, a query's or a body's UUID) is read in lower case whatever case it
 * was sent in: one site is then one string wherever the code keys by string (its workflow's id, a
 * throttle key, an idempotency scope). What that guards against, shown on the running system:
 * test/api/subscription-api.test.ts (the sandbox clock, an Idempotency-Key's replay) and
 * test/security/throttling.test.ts (the per-site count).
 */
type Def = { type: string; format?: string } & Record<string, unknown>;
const defOf = (schema: unknown) => (schema as { _zod: { def: Def } })._zod.def;

/** The UUID fields of a request's schema, each with where it sits (`params.siteId`, `body.iqIds[]`). */
function uuidFields(schema: unknown, at: string, found: Array<{ at: string; field: ZodType }>): void {
  const def = defOf(schema);
  switch (def.type) {
    case 'string':
      if (def.format === 'uuid') found.push({ at, field: schema as ZodType });
      return;
    case 'object':
      for (const [key, value] of Object.entries(def.shape as Record<string, unknown>))
        uuidFields(value, `${at}.${key}`, found);
      return;
    case 'array':
      uuidFields(def.element, `${at}[]`, found);
      return;
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'nonoptional':
    case 'catch':
      uuidFields(def.innerType, at, found);
      return;
    case 'pipe':
      uuidFields(def.in, at, found);
      return;
    case 'union':
      for (const option of def.options as unknown[]) uuidFields(option, at, found);
      return;
    default:
      return;
  }
}

interface RouteDefinition {
  type: string;
  route?: {
    method: string;
    path: string;
    request?: {
      params?: unknown;
      query?: unknown;
      body?: { content: Record<string, { schema: unknown }> };
    };
  };
}

let fields: Array<{ at: string; field: ZodType }>;
beforeAll(async () => {
  fields = await withRoutesOnlyApp(async (app) => {
    const found: Array<{ at: string; field: ZodType }> = [];
    for (const definition of app.openAPIRegistry.definitions as RouteDefinition[]) {
      if (definition.type !== 'route' || !definition.route) continue;
      const { method, path, request } = definition.route;
      const name = `${method.toUpperCase()} ${path}`;
      if (request?.params) uuidFields(request.params, `${name} params`, found);
      if (request?.query) uuidFields(request.query, `${name} query`, found);
      for (const [type, { schema }] of Object.entries(request?.body?.content ?? {}))
        uuidFields(schema, `${name} body(${type})`, found);
    }
    return found;
  });
});

describe('ids the API takes', () => {
  it('are found in paths and bodies (the walk sees them)', () => {
    const places = fields.map((f) => f.at);
    expect(places).toContain('POST /support/sites/{siteId}/clock params.siteId');
    expect(places).toContain('POST /sites/{siteId}/subscription/redemptions params.siteId');
    expect(places).toContain('POST /sites/{siteId}/locks/{lockId}/open params.lockId');
    expect(places).toContain('POST /sites/{siteId}/locks body(application/json).iqId');
    expect(places).toContain('POST /support/rollouts body(application/json).target.siteIds[]');
    expect(fields.length).toBeGreaterThan(40);
  });

  it('are each read in lower case, whatever case they came in', () => {
    const id = '1D690EF2-069A-4E3A-8389-89FAC9409A90';
    const asTyped = fields.filter(({ field }) => field.parse(id) !== id.toLowerCase()).map((f) => f.at);
    expect(asTyped).toEqual([]);
  });
});
