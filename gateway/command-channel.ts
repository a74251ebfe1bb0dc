import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { errorField, logger } from '../observability/logger';
import { batchedLines } from './batched-lines';
import type { OpenOutcome } from './command-bus';
import {
  ChallengeSchema,
  COMMAND_URL_SCHEME,
  commandProof,
  EndpointErrorSchema,
  MAX_COMMAND_LINE_BYTES,
  type OpenCommand,
  OpenReplySchema,
} from './command-endpoint';
import { LineReader } from './line-reader';

/**
 * The API's side of the gateways' command endpoints (gateway/command-endpoint.ts): one connection per
 * instance, opened at the first open and shared by every open after it. Whatever goes wrong answers as
 * the device's outcome would, never as a fault: an instance that refuses the connection holds no IQ
 * (`offline`); any other failure leaves the door's state unknown (`timeout`).
 */
export interface DirectOpener {
  open(commandUrl: string, target: OpenCommand): Promise<OpenOutcome>;
  close(): void;
}

let ownSecret: string | undefined;
/**
 * GATEWAY_COMMAND_SECRET, or, where one process runs both the gateways and their callers (tests,
 * benches that fork their children with this environment), one made for this process.
 */
export function defaultCommandSecret(): string {
  // An empty variable counts as unset, as in config/env.ts.
  ownSecret ??= process.env.GATEWAY_COMMAND_SECRET || randomBytes(32).toString('base64url');
  return ownSecret;
}

/** host and port of a tcp://host:port address; undefined for anything else. */
function endpointAddress(commandUrl: string): { host: string; port: number } | undefined {
  try {
    const url = new URL(commandUrl);
    const port = Number(url.port);
    if (url.protocol !== COMMAND_URL_SCHEME || !url.hostname || !Number.isInteger(port) || port <= 0) {
      return undefined;
    }
    return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port };
  } catch {
    return undefined;
  }
}

interface Waiting {
  resolve(outcome: OpenOutcome): void;
  timer: NodeJS.Timeout;
}

class Channel {
  private readonly socket: Socket;
  private readonly lines: ReturnType<typeof batchedLines>;
  private readonly waiting = new Map<number, Waiting>();
  private readonly reader = new LineReader(MAX_COMMAND_LINE_BYTES);
  /** Requests made before the endpoint's nonce came; they follow the proof. */
  private queued: string[] | undefined = [];
  private nextId = 1;
  private connected = false;
  private closed = false;

  constructor(
    address: { host: string; port: number },
    private readonly secret: string,
    private readonly timeoutMs: number,
    private readonly onClosed: () => void,
  ) {
    this.socket = connect({ ...address, noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 });
    // An idle channel does not keep the process alive; one with opens waiting does.
    this.socket.unref();
    this.lines = batchedLines(this.socket);
    this.socket.on('connect', () => {
      this.connected = true;
    });
    this.socket.on('data', (chunk: Buffer) => this.read(chunk));
    this.socket.on('error', (error: NodeJS.ErrnoException) => {
      // Refused: nothing listens there any more (the instance stopped), so no IQ is held there.
      const refused = !this.connected && error.code === 'ECONNREFUSED';
      if (!refused) logger.warn({ err: errorField(error) }, 'gateway command channel failed');
      this.shut(refused ? 'offline' : 'timeout');
    });
    this.socket.on('close', () => this.shut('timeout'));
  }

  open(target: OpenCommand): Promise<OpenOutcome> {
    if (this.closed) return Promise.resolve({ outcome: 'timeout' });
    return new Promise((resolve) => {
      const id = this.nextId++;
      // No answer in time: the instance is stuck or the path to it is, so every open waiting on this
      // channel ends the same way and the next open connects afresh.
      const timer = setTimeout(() => this.shut('timeout'), this.timeoutMs);
      this.waiting.set(id, { resolve, timer });
      this.socket.ref();
      const line = `${JSON.stringify({ id, ...target })}\n`;
      if (this.queued) this.queued.push(line);
      else this.lines.write(line);
    });
  }

  /** Ends the channel; every open still waiting gets `outcome`. */
  shut(outcome: 'offline' | 'timeout') {
    if (this.closed) return;
    this.closed = true;
    this.onClosed();
    this.socket.destroy();
    for (const { resolve, timer } of this.waiting.values()) {
      clearTimeout(timer);
      resolve({ outcome });
    }
    this.waiting.clear();
  }

  private read(chunk: Buffer) {
    const lines = this.reader.push(chunk);
    if (lines === 'overflow') return this.fault('an over-long line');
    for (const line of lines) {
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        return this.fault('a line that is not JSON');
      }
      if (this.queued) {
        const challenge = ChallengeSchema.safeParse(message).data;
        if (!challenge) return this.fault('no challenge');
        const proof = `${JSON.stringify({ proof: commandProof(this.secret, challenge.nonce) })}\n`;
        this.socket.write(proof + this.queued.join(''));
        this.queued = undefined;
        continue;
      }
      const id = (message as { id?: unknown }).id;
      const reply = OpenReplySchema.safeParse(message).data;
      const waiting = typeof id === 'number' ? this.waiting.get(id) : undefined;
      if (!reply || !waiting) {
        const refusal = EndpointErrorSchema.safeParse(message).data;
        // A wrong secret or another service on that port: a configuration fault to see in logs.
        if (refusal) {
          logger.error({ error: refusal.error }, 'gateway command endpoint refused the channel');
          return this.shut('timeout');
        }
        return this.fault('an answer to no open');
      }
      this.waiting.delete(id as number);
      clearTimeout(waiting.timer);
      if (this.waiting.size === 0) this.socket.unref();
      waiting.resolve(reply);
    }
  }

  private fault(what: string) {
    logger.error({ what }, 'gateway command endpoint broke the protocol');
    this.shut('timeout');
  }
}

export function createDirectOpener(secret: string, timeoutMs: number): DirectOpener {
  const channels = new Map<string, Channel>();
  return {
    open(commandUrl, target) {
      let channel = channels.get(commandUrl);
      if (!channel) {
        const address = endpointAddress(commandUrl);
        if (!address) {
          // Nothing was sent anywhere, so the door is as it was.
          logger.error(
            { commandUrl },
            'a gateway instance registered an address that is not tcp://host:port',
          );
          return Promise.resolve({ outcome: 'offline' });
        }
        const created = new Channel(address, secret, timeoutMs, () => {
          if (channels.get(commandUrl) === created) channels.delete(commandUrl);
        });
        channels.set(commandUrl, created);
        channel = created;
      }
      return channel.open(target);
    },
    close() {
      for (const channel of [...channels.values()]) channel.shut('timeout');
      channels.clear();
    },
  };
}
