import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from '../support/system';

/**
 * What the API answers for a body of the wrong kind is in the document it serves: every operation
 * that takes a body is sent one that is not JSON, and each that takes a form a malformed multipart
 * body, and the status answered must be listed on the operation with the answer's code. The fuzz
 * harness (test/fuzz/api-fuzz.ts) checks conformance too, but sends the documented content types.
 */
interface Operation {
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { description: string }>;
}

let sys: TestSystem;
let doc: { paths: Record<string, Record<string, Operation>> };
let token: string;
beforeAll(async () => {
  sys = await startTestSystem({});
  // Support and signed in: the body is read before any route decides about the site or the role.
  token = (await sys.signIn({ platformRole: 'support' })).token;
  doc = (await (await sys.request('GET', '/openapi.json')).json()) as typeof doc;
});
afterAll(async () => {
  await sys?.close();
});

const ID = '6d2c1f1e-3b1a-4c55-8f1e-2a9b7c0d4e5f';
const withBodies = () =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([, op]) => op.requestBody)
      .map(([method, op]) => ({ method: method.toUpperCase(), path, op })),
  );

async function undocumented(sent: { contentType: string; body: string; forms?: boolean }) {
  const wrong: string[] = [];
  const statuses = new Set<number>();
  for (const { method, path, op } of withBodies()) {
    const isForm = Object.keys(op.requestBody!.content).some((t) => t.includes('form'));
    if (sent.forms && !isForm) continue;
    const url = path.replace(/\{[^}]+\}/g, ID);
    const res = await sys.request(method, url, {
      token,
      body: sent.body,
      headers: { 'content-type': sent.contentType },
    });
    statuses.add(res.status);
    const { code } = (await res.json().catch(() => ({}))) as { code?: string };
    const listed = op.responses[String(res.status)]?.description.split(/[,:]\s*/);
    if (!listed?.includes(code ?? '')) wrong.push(`${method} ${path}: ${res.status} ${code}`);
  }
  return { wrong, statuses };
}

describe('answers to a body of the wrong kind are documented', () => {
  it('a body that is not JSON: 415 unsupported_media_type, listed on every operation with a body', async () => {
    const { wrong, statuses } = await undocumented({ contentType: 'text/plain', body: 'hello' });
    expect(wrong).toEqual([]);
    expect(statuses).toContain(415);
  });

  it('a malformed multipart body to a form: 400 bad_request, listed', async () => {
    const { wrong, statuses } = await undocumented({
      contentType: 'multipart/form-data; boundary=xyz',
      body: 'not a multipart body',
      forms: true,
    });
    expect(wrong).toEqual([]);
    expect(statuses).toContain(400);
  });
});
