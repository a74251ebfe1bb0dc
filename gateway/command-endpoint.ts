import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { z } from 'zod';
import { errorField, logger } from '../observability/logger';
import { batchedLines } from './batched-lines';
import type { OpenOutcome } from './command-bus';
import { LineReader } from './line-reader';

/**
 * The gateway instance's internal command endpoint (issue 15): request/reply commands (a remote
 * opening) come here directly, one round trip, instead of a NOTIFY each way through PostgreSQL.
 * Fire-and-forget commands (access sync, subscription flags, updates) stay on the bus.
 *
 * The channel is TCP with one JSON object per line, as the device protocol is: a caller keeps one
 * connection per instance and has many opens in flight on it, each answered under its id, which
 * costs a fraction of an HTTP exchange per open. Before anything else the caller proves it holds the
 * shared secret (GATEWAY_COMMAND_SECRET): the endpoint's first line is a fresh nonce and the caller's
 * first line its HMAC, so the secret never crosses the wire and a recorded proof opens nothing on
 * another connection. The endpoint binds loopback unless configured otherwise.
 *
 *   endpoint → caller   {"nonce":"<random>"}
 *   caller → endpoint   {"proof":"<HMAC-SHA256(secret, nonce), base64url>"}
 *   caller → endpoint   {"id":7,"iqId":"<uuid>","lockId":"<uuid>","requestId"?,"actorProfileId"?}  (any number, any time)
 *   endpoint → caller   {"id":7,"outcome":"opened"}                          (in the order IQs answer)
 *   endpoint → caller   {"error":"unauthorized"|"bad_request"|"too_large"}   then it closes
 */

export const COMMAND_URL_SCHEME = 'tcp:';
export const ChallengeSchema = z.object({ nonce: z.string().min(1).max(100) });
const ProofSchema = z.object({ proof: z.string().max(100) });
export const OpenRequestSchema = z.object({
  id: z.number().int().nonnegative(),
  iqId: z.uuid(),
  lockId: z.uuid(),
  /** The caller's id of the opening (the IQ's requestId), which its timeout's event names. */
  requestId: z.uuid().optional(),
  /** The member opening: an answer after the timeout records the opening in their name (K4, K8). */
  actorProfileId: z.uuid().optional(),
});
/** What an open asks of the instance holding the IQ. */
export type OpenCommand = Omit<z.infer<typeof OpenRequestSchema>, 'id'>;
export const OpenReplySchema = z.discriminatedUnion('outcome', [
  z.object({ outcome: z.literal('opened') }),
  z.object({ outcome: z.literal('refused'), reason: z.string().max(200) }),
  z.object({ outcome: z.literal('offline') }),
  z.object({ outcome: z.literal('timeout') }),
]);
export const EndpointErrorSchema = z.object({ error: z.string().max(100) });

/** The shared secret must be this long (like TOKEN_SECRET). */
export const MIN_COMMAND_SECRET_LENGTH = 32;
/** Longer than any line either side sends; more is a caller that does not speak the protocol. */
export const MAX_COMMAND_LINE_BYTES = 1024;
/** A connection that has not proven the secret by then is closed. */
const PROOF_DEADLINE_MS = 5_000;

/** What a caller holding `secret` answers to `nonce`. */
export const commandProof = (secret: string, nonce: string) =>
  createHmac('sha256', secret).update(nonce).digest('base64url');

const digest = (s: string) => createHash('sha256').update(s).digest();

export interface CommandEndpoint {
  /** Where callers reach it: tcp://host:port. */
  url: string;
  close(): Promise<void>;
}

export async function serveCommands(opts: {
  host: string;
  port: number;
  /** The host name callers use; by default the bound address, or this machine's name when bound to all. */
  advertisedHost?: string | undefined;
  secret: string;
  open(target: OpenCommand): Promise<OpenOutcome>;
}): Promise<CommandEndpoint> {
  if (opts.secret.length < MIN_COMMAND_SECRET_LENGTH) {
    throw new Error(`the command secret must be at least ${MIN_COMMAND_SECRET_LENGTH} characters`);
  }
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.on('error', () => {});
    const nonce = randomBytes(32).toString('base64url');
    // Compared as digests: equal lengths whatever the caller sent, in constant time.
    const expected = digest(commandProof(opts.secret, nonce));
    const reader = new LineReader(MAX_COMMAND_LINE_BYTES);
    let proven = false;
    let closing = false;
    const answers = batchedLines(socket);
    const send = (message: object) => {
      if (!closing && socket.writable) answers.write(`${JSON.stringify(message)}\n`);
    };
    const refuse = (error: 'unauthorized' | 'bad_request' | 'too_large') => {
      if (closing) return;
      // After the answers already given, at once: the connection ends right after.
      answers.flush();
      if (socket.writable) socket.write(`${JSON.stringify({ error })}\n`);
      closing = true;
      clearTimeout(deadline);
      // Whatever else it sends is dropped; the connection ends once the answer is out, or after a
      // second for a caller that does not read it.
      socket.end();
      setTimeout(() => socket.destroy(), 1_000).unref();
    };
    const deadline = setTimeout(() => refuse('unauthorized'), PROOF_DEADLINE_MS);
    socket.on('close', () => {
      clearTimeout(deadline);
      sockets.delete(socket);
    });
    socket.on('data', (chunk: Buffer) => {
      if (closing) return;
      const lines = reader.push(chunk);
      if (lines === 'overflow') return refuse('too_large');
      for (const line of lines) {
        let message: unknown;
        try {
          message = JSON.parse(line);
        } catch {
          return refuse('bad_request');
        }
        if (!proven) {
          const proof = ProofSchema.safeParse(message).data;
          if (!proof || !timingSafeEqual(digest(proof.proof), expected)) return refuse('unauthorized');
          proven = true;
          clearTimeout(deadline);
          continue;
        }
        const request = OpenRequestSchema.safeParse(message).data;
        if (!request) return refuse('bad_request');
        const { id, ...target } = request;
        opts.open(target).then(
          (outcome) => send({ id, ...outcome }),
          (error: unknown) => {
            logger.error({ err: errorField(error) }, 'open command failed');
            send({ id, outcome: 'timeout' });
          },
        );
      }
    });
    send({ nonce });
  });
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
    url: `${COMMAND_URL_SCHEME}//${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise((done) => {
        server.close(() => done());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
