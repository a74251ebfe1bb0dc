import type { Context } from 'hono';

/** What the Node adapter (@hono/node-server) puts in `c.env`: the request's Node message. */
interface NodeBindings {
  incoming?: { aborted?: boolean };
}

/**
 * Whether the client hung up (or was cut off as too slow, api/http-server.ts) before its request
 * arrived whole. Reading the rest of its body then fails with Node's `aborted` (ECONNRESET), which is
 * no service of ours being away: the client's doing, answered (to nobody) and counted as a 4xx.
 */
export const clientGone = (c: Context): boolean =>
  (c.env as NodeBindings | undefined)?.incoming?.aborted === true;
