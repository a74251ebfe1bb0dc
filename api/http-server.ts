import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { serve } from '@hono/node-server';
import { CappedCounts } from '../domain/capped-counts';
import { addressBucket, trustedAddress, unmapped } from './client-address';
import { problemBody } from './problem';

/** What a slow or greedy client may hold of the API's sockets. */
export interface HttpLimits {
  /** Open connections one client address (an IPv6 /64) may hold; a trusted proxy's are not counted. */
  maxConnectionsPerAddress: number;
  /** A request's headers must have arrived by then (Node answers 408 and closes). */
  headersTimeoutMs: number;
  /** A request, its body included, must have arrived by then (Node answers 408 and closes). */
  requestTimeoutMs: number;
}

/**
 * No real client takes seconds to send its headers, nor half a minute for a body of at most 256 KiB
 * (api/middleware/body-limit.ts); Node's defaults (60 s and 5 min, checked every 30 s) let a client
 * dripping a byte every few seconds hold a socket for minutes.
 */
export const HTTP_TIMEOUTS = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 } as const;
/** How often Node looks for requests past their timeouts. */
const TIMEOUT_CHECK_MS = 1_000;
/** How long a refused connection has to take its answer before it is cut. */
const CLOSE_GRACE_MS = 1_000;

/**
 * The answer of a connection past its address's cap, written before anything of it is read: a client
 * (a browser behind a shared address) learns to retry instead of seeing its connection reset.
 */
const TOO_MANY_CONNECTIONS = (() => {
  const body = JSON.stringify(
    problemBody(
      429,
      'too_many_attempts',
      'Too many open connections from your network address; try again in 1 second.',
    ),
  );
  return [
    'HTTP/1.1 429 Too Many Requests',
    'Content-Type: application/problem+json',
    'Retry-After: 1',
    'Cache-Control: no-store',
    'X-Content-Type-Options: nosniff',
    'Connection: close',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
})();

/**
 * The API's HTTP server. Node caps neither the connections of one address nor, with its defaults,
 * how long a slow one is kept: one client holding thousands of half-sent requests used up the
 * process's file descriptors and no one else was answered. A connection past its address's cap is
 * answered 429 and closed at once, before anything of it is read.
 */
export function serveApi(opts: {
  fetch: Parameters<typeof serve>[0]['fetch'];
  port: number;
  hostname: string;
  trustedProxies: readonly string[];
  limits: HttpLimits;
  onListening?: (info: AddressInfo) => void;
}): Server {
  const { limits } = opts;
  const server = serve(
    {
      fetch: opts.fetch,
      port: opts.port,
      hostname: opts.hostname,
      serverOptions: {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, limits.headersTimeoutMs),
      },
    },
    opts.onListening,
  ) as Server;
  const isTrusted = trustedAddress(opts.trustedProxies);
  const open = new CappedCounts(limits.maxConnectionsPerAddress);
  server.on('connection', (socket: Socket) => {
    if (socket.remoteAddress === undefined || isTrusted(socket.remoteAddress)) return;
    // An IPv6 subscriber holds a whole /64, as for the throttles (A6).
    const address = addressBucket(unmapped(socket.remoteAddress));
    if (!open.take(address)) {
      // Unread (paused: no request of it reaches the app), told why, and closed.
      socket.pause();
      socket.end(TOO_MANY_CONNECTIONS);
      setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
      return;
    }
    socket.once('close', () => open.release(address));
  });
  return server;
}
