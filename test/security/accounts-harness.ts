import type { AddressInfo } from 'node:net';
import { createApp } from '../../api/app';
import { HTTP_TIMEOUTS, type HttpLimits, serveApi } from '../../api/http-server';
import { envSchema } from '../../config/env';
import { connectDatabase } from '../../db/client';
import { createMailer } from '../../emails/mailer';
import { noopGatewayClient } from '../../gateway/client';
import type { HttpMetrics } from '../../observability/http-metrics';
import { startTestSystem, TEST_BASE_URL, TEST_TOKEN_SECRET, type TestSystem } from '../support/system';

/** API_MAX_CONNECTIONS_PER_ADDRESS's default. */
const PRODUCTION_CAP = envSchema.shape.API_MAX_CONNECTIONS_PER_ADDRESS.parse(undefined);

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: Record<string, unknown> & {
    code?: string;
    detail?: string;
    errors?: Array<{ path: string }>;
  };
}

/**
 * The app served over real TCP on loopback, so the client address is a socket's. 127.0.0.1 is the
 * trusted proxy: a test names the client it stands for in X-Forwarded-For, as a proxy would.
 */
export interface AccountsSecurity {
  sys: TestSystem;
  /** The API's port on 127.0.0.1, for raw sockets. */
  port: number;
  http(
    method: string,
    path: string,
    opts?: {
      token?: string;
      body?: unknown;
      raw?: Uint8Array | string;
      type?: string;
      from?: string;
      /** Send the body chunked, of no declared length. */
      chunked?: boolean;
    },
  ): Promise<Answer>;
  close(): Promise<void>;
}

export async function startAccountsSecurity(
  opts: {
    trustedProxies?: string[];
    mode?: 'development' | 'production';
    /** Given, the API gets a pool of its own that reports each statement it sends. */
    onQuery?: (statement: string) => void;
    /** Given, the API also gets a sign-in connection (AppDeps.signInDb) that reports each statement. */
    onSignInQuery?: (statement: string) => void;
    /** The API's clock; the real one when not given. */
    now?: () => Date;
    /** The HTTP server's limits (api/http-server.ts); production's defaults when not given. */
    httpLimits?: HttpLimits;
    /** AppDeps.maxRequestsInFlightPerAddress; no cap when not given. */
    maxRequestsInFlightPerAddress?: number;
    /** Where the API counts its answers; nowhere when not given. */
    metrics?: HttpMetrics;
  } = {},
): Promise<AccountsSecurity> {
  const sys = await startTestSystem({});
  const trustedProxies = opts.trustedProxies ?? ['127.0.0.1'];
  const own = opts.onQuery ? connectDatabase(sys.databaseUrl, { onQuery: opts.onQuery }) : undefined;
  const signIn = opts.onSignInQuery
    ? connectDatabase(sys.databaseUrl, { max: 1, onQuery: opts.onSignInQuery })
    : undefined;
  const app = createApp({
    db: own?.db ?? sys.db,
    ...(signIn ? { signInDb: signIn.db } : {}),
    temporal: sys.temporal,
    mailer: createMailer({ db: sys.db, from: 'KS Cloud <test@ks.test>' }),
    gateway: noopGatewayClient,
    notifications: sys.notifications,
    accountMail: sys.accountMail,
    trustedProxies,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    ...(opts.maxRequestsInFlightPerAddress === undefined
      ? {}
      : { maxRequestsInFlightPerAddress: opts.maxRequestsInFlightPerAddress }),
    env: {
      KS_MODE: opts.mode ?? 'development',
      PUBLIC_BASE_URL: TEST_BASE_URL,
      TOKEN_SECRET: TEST_TOKEN_SECRET,
      TEMPORAL_TASK_QUEUE: sys.taskQueue,
    },
    now: opts.now ?? (() => new Date()),
  });
  const server = serveApi({
    fetch: app.fetch,
    port: 0,
    hostname: '127.0.0.1',
    trustedProxies,
    limits: opts.httpLimits ?? { ...HTTP_TIMEOUTS, maxConnectionsPerAddress: PRODUCTION_CAP },
  });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    sys,
    port,
    async http(method, path, { token, body, raw, type, from, chunked } = {}) {
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      if (from) headers['x-forwarded-for'] = from;
      let payload: string | Uint8Array | undefined;
      if (raw !== undefined) {
        payload = raw;
        headers['content-type'] = type ?? 'application/json';
      } else if (body !== undefined) {
        payload = JSON.stringify(body);
        headers['content-type'] = 'application/json';
      }
      const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
      const stream = () =>
        new ReadableStream<Uint8Array>({
          start(controller) {
            if (bytes) controller.enqueue(bytes);
            controller.close();
          },
        });
      const res = await fetch(baseUrl + path, {
        method,
        headers,
        ...(payload === undefined ? {} : chunked ? { body: stream(), duplex: 'half' } : { body: payload }),
      } as RequestInit);
      const text = await res.text();
      let parsed: Answer['body'] = {};
      try {
        parsed = JSON.parse(text) as Answer['body'];
      } catch {}
      return { status: res.status, headers: res.headers, text, body: parsed };
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await own?.close();
      await signIn?.close();
      await sys.close();
    },
  };
}

/** How many answers had each status. */
export function tally(answers: Answer[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const { status } of answers) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}
