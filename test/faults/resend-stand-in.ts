import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What the stand-in does with one request of a key (attempt counts from 1 per key):
 * - `deliver`: deliver and answer 200 (Resend's normal answer)
 * - `refuse500` / `refuse429`: answer with that error, deliver nothing
 * - `deliverThenLose`: deliver, but the client gets a 500 (the answer was lost on the way back)
 */
export type Behaviour = 'deliver' | 'refuse500' | 'refuse429' | 'deliverThenLose';

export interface Delivery {
  key: string;
  to: string;
  subject: string;
  text: string;
}

/**
 * A local stand-in for api.resend.com that the real Resend SDK talks to (RESEND_BASE_URL). Like
 * Resend, a request repeating an Idempotency-Key that already succeeded gets the original answer
 * and delivers nothing; the same key with a different body is refused (422
 * invalid_idempotent_request); the same key while its first request is in flight gets 409
 * concurrent_idempotent_requests.
 */
export async function startResendStandIn(
  opts: { behaviour?: (key: string, attempt: number, keyIndex: number) => Behaviour } = {},
) {
  const behaviour = opts.behaviour ?? (() => 'deliver');
  const deliveries: Delivery[] = [];
  const answered = new Map<string, { bodyHash: string; id: string }>();
  const inFlight = new Set<string>();
  const attempts = new Map<string, number>();
  const keyOrder = new Map<string, number>();
  const statuses: Record<string, number> = {};
  let replays = 0;
  let nextId = 0;

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const answer = (status: number, body: unknown) => {
      statuses[status] = (statuses[status] ?? 0) + 1;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const error = (status: number, name: string, message: string) =>
      answer(status, { statusCode: status, name, message });
    if (req.method !== 'POST' || req.url !== '/emails') return error(404, 'not_found', 'Route not found');
    if (req.headers.authorization !== 'Bearer re_fault_test') return error(401, 'missing_api_key', 'bad key');
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || !key) return error(422, 'validation_error', 'every test email has a key');
    const bodyHash = createHash('sha256').update(raw).digest('hex');
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    if (!keyOrder.has(key)) keyOrder.set(key, keyOrder.size);

    const done = answered.get(key);
    if (done) {
      if (done.bodyHash !== bodyHash) {
        return error(
          422,
          'invalid_idempotent_request',
          'Same idempotency key used with a different payload.',
        );
      }
      replays++;
      return answer(200, { id: done.id });
    }
    if (inFlight.has(key)) {
      return error(409, 'concurrent_idempotent_requests', 'Same idempotency key used while in progress.');
    }
    const what = behaviour(key, attempt, keyOrder.get(key) ?? 0);
    if (what === 'refuse500') return error(500, 'application_error', 'An unexpected error occurred.');
    if (what === 'refuse429') return error(429, 'rate_limit_exceeded', 'Too many requests.');
    inFlight.add(key);
    try {
      const body = JSON.parse(raw) as { to: string | string[]; subject: string; text: string };
      const id = `msg_${++nextId}`;
      deliveries.push({ key, to: [body.to].flat().join(','), subject: body.subject, text: body.text });
      answered.set(key, { bodyHash, id });
      if (what === 'deliverThenLose') return error(500, 'application_error', 'The answer was lost.');
      return answer(200, { id });
    } finally {
      inFlight.delete(key);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      res.writeHead(599);
      res.end(String(e));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    apiKey: 're_fault_test',
    deliveries,
    /** Deliveries per key: every value must be 1. */
    deliveredCount(keys?: (key: string) => boolean): Map<string, number> {
      const counts = new Map<string, number>();
      for (const d of deliveries) {
        if (!keys || keys(d.key)) counts.set(d.key, (counts.get(d.key) ?? 0) + 1);
      }
      return counts;
    },
    /** Requests per key (attempts, including refused and replayed ones). */
    attempts,
    statuses,
    get replays() {
      return replays;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export type ResendStandIn = Awaited<ReturnType<typeof startResendStandIn>>;
