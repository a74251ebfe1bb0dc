import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the endpoint saw of one request. */
export interface SeenRequest {
  method: string;
  url: string;
  idempotencyKey: string | undefined;
  authorization: string | undefined;
  body: { from: string; to: string | string[]; subject: string; html: string; text: string };
}

/**
 * One answer: its status and body, written once `held` has settled and `afterMs` has passed (a
 * provider that holds the request).
 */
export interface Answer {
  status: number;
  body: unknown;
  held?: Promise<void>;
  afterMs?: number;
}

/**
 * A local stand-in for api.resend.com that the real Resend SDK talks to: it records each request and
 * answers `POST /emails` from a queue (by default 200 with a new message id), anything else 404. It
 * sets RESEND_BASE_URL, which the SDK reads when a client is constructed, until `close`.
 */
export async function startResendEndpoint() {
  const previousBaseUrl = process.env.RESEND_BASE_URL;
  const endpoint = {
    seen: [] as SeenRequest[],
    /** The answers still to give, in order. */
    answers: [] as Answer[],
    /** Held answers written so far. */
    heldAnswered: 0,
    /** Called as each request arrives, before it is answered. */
    onRequest: () => {},
    reset() {
      endpoint.seen = [];
      endpoint.answers = [];
    },
    close: () => {
      if (previousBaseUrl === undefined) delete process.env.RESEND_BASE_URL;
      else process.env.RESEND_BASE_URL = previousBaseUrl;
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  let nextId = 0;

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    endpoint.seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      idempotencyKey: req.headers['idempotency-key'] as string | undefined,
      authorization: req.headers.authorization,
      body: raw ? JSON.parse(raw) : undefined,
    });
    endpoint.onRequest();
    const answer: Answer =
      req.method === 'POST' && req.url === '/emails'
        ? (endpoint.answers.shift() ?? { status: 200, body: { id: `msg_${++nextId}` } })
        : { status: 404, body: { statusCode: 404, name: 'not_found', message: 'Route not found' } };
    if (answer.held || answer.afterMs) {
      await answer.held;
      await new Promise((resolve) => setTimeout(resolve, answer.afterMs ?? 0));
      endpoint.heldAnswered++;
    }
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer.body));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      res.writeHead(599);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.env.RESEND_BASE_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return endpoint;
}
