import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { errorField, logger } from '../observability/logger';
import type { OpenOutcome } from './command-bus';
import { OPEN_PATH, OpenReplySchema } from './command-endpoint';

/**
 * The API's side of the gateways' command endpoints (gateway/command-endpoint.ts): one keep-alive
 * connection pool per instance. Whatever goes wrong answers as the device's outcome would, never as a
 * fault: an instance that refuses the connection holds no IQ (`offline`); any other failure leaves
 * the door's state unknown (`timeout`).
 */
export interface DirectOpener {
  open(commandUrl: string, target: { iqId: string; lockId: string }): Promise<OpenOutcome>;
  close(): void;
}

/** Idle pooled connections close after this long (the endpoint keeps them longer). */
const IDLE_SOCKET_MS = 30_000;
const MAX_SOCKETS_PER_INSTANCE = 64;

let ownSecret: string | undefined;
/**
 * GATEWAY_COMMAND_SECRET, or, where one process runs both the gateways and their callers (tests,
 * benches that fork their children with this environment), one made for this process.
 */
export function defaultCommandSecret(): string {
  ownSecret ??= process.env.GATEWAY_COMMAND_SECRET ?? randomBytes(32).toString('base64url');
  return ownSecret;
}

export function createDirectOpener(secret: string, timeoutMs: number): DirectOpener {
  const pools = new Map<string, Agent>();
  const authorization = `Bearer ${secret}`;
  const poolOf = (url: string) => {
    let agent = pools.get(url);
    if (!agent) {
      agent = new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS_PER_INSTANCE, timeout: IDLE_SOCKET_MS });
      pools.set(url, agent);
    }
    return agent;
  };
  return {
    open(commandUrl, target) {
      const body = JSON.stringify({ iqId: target.iqId, lockId: target.lockId });
      return new Promise((resolve) => {
        let settled = false;
        const done = (outcome: OpenOutcome) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(outcome);
        };
        const req = request(
          `${commandUrl}${OPEN_PATH}`,
          {
            method: 'POST',
            agent: poolOf(commandUrl),
            headers: {
              authorization,
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('error', () => done({ outcome: 'timeout' }));
            res.on('end', () => {
              let reply: OpenOutcome | undefined;
              try {
                reply = OpenReplySchema.safeParse(JSON.parse(Buffer.concat(chunks).toString('utf8'))).data;
              } catch {}
              if (res.statusCode !== 200 || !reply) {
                // A wrong secret or another service on that port: a configuration fault to see in logs.
                logger.error({ status: res.statusCode }, 'gateway command endpoint refused an open');
                return done({ outcome: 'timeout' });
              }
              done(reply);
            });
          },
        );
        const timer = setTimeout(() => {
          req.destroy();
          done({ outcome: 'timeout' });
        }, timeoutMs);
        req.on('error', (error: NodeJS.ErrnoException) => {
          // Refused: nothing listens there any more (the instance stopped), so no IQ is held there.
          if (error.code !== 'ECONNREFUSED') {
            logger.warn({ err: errorField(error) }, 'gateway command request failed');
          }
          done({ outcome: error.code === 'ECONNREFUSED' ? 'offline' : 'timeout' });
        });
        req.end(body);
      });
    },
    close() {
      for (const agent of pools.values()) agent.destroy();
      pools.clear();
    },
  };
}
