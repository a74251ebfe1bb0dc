import { createHash } from 'node:crypto';
import type { GatewayMessage } from '../gateway/protocol';

type Update = Extract<GatewayMessage, { type: 'update' }>;
type Status = { state: 'downloading' | 'installing' } | { state: 'failed'; error: string };

export interface UpdateBehaviour {
  /** Share of installs that fail (0–1). */
  failureRate?: number;
  /** How long download plus install take. */
  durationMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Fetches the file when its URL is http(s) and answers; checks size and SHA-256. An unreachable host
 * (or an FTPS URL, which production uses) is simulated as a good download: the fleet can exercise
 * rollouts without a file server, while a reachable server's wrong file still fails the update.
 */
async function download(update: Update): Promise<string | undefined> {
  if (!/^https?:/i.test(update.url)) return undefined;
  let body: Buffer;
  try {
    const res = await fetch(update.url, { signal: AbortSignal.timeout(30_000) });
    if (!res.ok) return 'download_failed';
    body = Buffer.from(await res.arrayBuffer());
  } catch {
    return undefined;
  }
  if (body.length !== update.sizeBytes) return 'size_mismatch';
  if (createHash('sha256').update(body).digest('hex') !== update.sha256) return 'checksum_mismatch';
  return undefined;
}

/** Runs one update, reporting each step; true when the IQ should come back on the new version. */
export async function runUpdate(
  update: Update,
  behaviour: UpdateBehaviour,
  random: () => number,
  report: (status: Status) => void,
): Promise<boolean> {
  const half = (behaviour.durationMs ?? 2_000) / 2;
  report({ state: 'downloading' });
  const downloadError = await download(update);
  if (downloadError) {
    report({ state: 'failed', error: downloadError });
    return false;
  }
  await sleep(half);
  report({ state: 'installing' });
  await sleep(half);
  if (random() < (behaviour.failureRate ?? 0)) {
    report({ state: 'failed', error: 'install_failed' });
    return false;
  }
  return true;
}
