import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { z } from 'zod';
import { errorField, logger } from '../observability/logger';
import type { OpenOutcome } from './command-bus';

/**
 * The gateway instance's internal command endpoint (issue 15): request/reply commands (a remote
 * opening) come here directly over HTTP with keep-alive, one round trip, instead of a NOTIFY each way
 * through PostgreSQL. Fire-and-forget commands (access sync, subscription flags, updates) stay on the
 * bus. Every request carries the shared secret (GATEWAY_COMMAND_SECRET) as a bearer token; the
 * endpoint binds loopback unless configured otherwise.
 */

export const OPEN_PATH = '/open';
export const OpenRequestSchema = z.object({ iqId: z.uuid(), lockId: z.uuid() });
export const OpenReplySchema = z.discriminatedUnion('outcome', [
  z.object({ outcome: z.literal('opened') }),
  z.object({ outcome: z.literal('refused'), reason: z.string().max(200) }),
  z.object({ outcome: z.literal('offline') }),
  z.object({ outcome: z.literal('timeout') }),
]);

/** The shared secret must be this long (like TOKEN_SECRET). */
export const MIN_COMMAND_SECRET_LENGTH = 32;
const MAX_BODY_BYTES = 1024;
/** Longer than any client keeps an idle connection (gateway/command-http.ts), so the client closes first. */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

const digest = (s: string) => createHash('sha256').update(s).digest();

export interface CommandEndpoint {
  /** Where callers reach it: http://host:port. */
  url: string;
  close(): Promise<void>;
}

export async function serveCommands(opts: {
  host: string;
  port: number;
  /** The host name callers use; by default the bound address, or this machine's name when bound to all. */
  advertisedHost?: string | undefined;
  secret: string;
  open(target: z.infer<typeof OpenRequestSchema>): Promise<OpenOutcome>;
}): Promise<CommandEndpoint> {
  if (opts.secret.length < MIN_COMMAND_SECRET_LENGTH) {
    throw new Error(`the command secret must be at least ${MIN_COMMAND_SECRET_LENGTH} characters`);
  }
  const expected = digest(`Bearer ${opts.secret}`);
  const authorized = (req: IncomingMessage) =>
    timingSafeEqual(digest(req.headers.authorization ?? ''), expected);

  const answer = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== OPEN_PATH) return answer(res, 404, { error: 'not_found' });
    if (!authorized(req)) return answer(res, 401, { error: 'unauthorized' });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      else if (!res.headersSent) {
        // The rest is read and dropped; the connection closes after the answer.
        res.setHeader('connection', 'close');
        answer(res, 413, { error: 'too_large' });
      }
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return;
      let target: z.infer<typeof OpenRequestSchema> | undefined;
      try {
        target = OpenRequestSchema.safeParse(JSON.parse(Buffer.concat(chunks).toString('utf8'))).data;
      } catch {}
      if (!target) return answer(res, 400, { error: 'bad_request' });
      opts.open(target).then(
        (outcome) => answer(res, 200, outcome),
        (error: unknown) => {
          logger.error({ err: errorField(error) }, 'open command failed');
          answer(res, 200, { outcome: 'timeout' });
        },
      );
    });
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      server.on('error', (error) => logger.error({ err: errorField(error) }, 'command endpoint error'));
      resolve();
    });
  });
  const { port } = server.address() as { port: number };
  const wildcard = opts.host === '0.0.0.0' || opts.host === '::';
  const host = opts.advertisedHost ?? (wildcard ? hostname() : opts.host);
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}
