import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { eq } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { insertRelease, insertRollout } from '../../db/queries/rollouts';
import { iqs, locks, rolloutTargets, sites } from '../../db/schema';
import { DEFAULT_POLICY } from '../../domain/rollout';
import { hashDeviceSecret } from '../../domain/secrets';
import type { IqCredentials } from '../../iq-sim/iq';

/**
 * Every simulated IQ of a test connects from 127.0.0.1: a gateway serving a fleet of them lifts the
 * per-address cap that production keeps low (hello-guard.ts), and the failed-hello throttle, which a
 * few hellos late on a loaded machine would otherwise turn on for the whole fleet.
 */
export const LOOPBACK_FLEET_GUARD = { maxConnectionsPerAddress: 50_000, maxFailedHellos: 50_000 };

/** A site with one IQ (known secret) and one lock, written straight to the database. */
export async function seedIq(db: Db, opts: { subscribed?: boolean } = {}) {
  const [site] = await db
    .insert(sites)
    .values({ name: 'Gateway test', subscriptionStatus: 'active' })
    .returning();
  const secret = randomBytes(32).toString('base64url');
  const serial = `IQ-${randomUUID().slice(0, 8)}`;
  const [iq] = await db
    .insert(iqs)
    .values({
      siteId: site!.id,
      serial,
      model: 'IQ2',
      secretHash: hashDeviceSecret(secret),
      subscribed: opts.subscribed ?? true,
    })
    .returning();
  const [lock] = await db.insert(locks).values({ siteId: site!.id, iqId: iq!.id, name: 'Door' }).returning();
  return {
    site: site!,
    iq: iq!,
    lock: lock!,
    credentials: { serial, secret, model: 'IQ2', firmware: '1.0.0' },
  };
}

/**
 * A new site with `count` IQs (random secrets, firmware 1.0.0), written straight to the database;
 * the IQs in insertion order with the credentials a simulated IQ connects with.
 */
export async function seedSiteWithIqs(
  db: Db,
  count: number,
  opts: { name: string; timezone?: string; subscribed?: boolean },
): Promise<{ siteId: string; iqs: Array<{ id: string; credentials: IqCredentials }> }> {
  const [site] = await db
    .insert(sites)
    .values({ name: opts.name, timezone: opts.timezone ?? 'UTC' })
    .returning();
  const secrets = Array.from({ length: count }, () => randomBytes(24).toString('base64url'));
  const rows = await db
    .insert(iqs)
    .values(
      secrets.map((secret) => ({
        siteId: site!.id,
        serial: `IQ-${randomUUID()}`,
        model: 'IQ2',
        secretHash: hashDeviceSecret(secret),
        subscribed: opts.subscribed ?? true,
      })),
    )
    .returning();
  return {
    siteId: site!.id,
    iqs: rows.map((row, i) => ({
      id: row.id,
      credentials: { serial: row.serial, secret: secrets[i]!, model: 'IQ2', firmware: '1.0.0' },
    })),
  };
}

/**
 * A rollout of a new release of the IQ's model that sent the IQ its update once, written straight to
 * the database: what the gateway finds when a report names `updateId`. The update is in progress
 * unless `state` says otherwise (an update in progress is sent again at the IQ's hello).
 */
export async function seedUpdateInProgress(
  db: Db,
  iqId: string,
  opts: { model?: string; state?: 'in_progress' | 'canceled' } = {},
) {
  const model = opts.model ?? 'IQ2';
  const version = `9.${randomUUID()}`;
  const release = await insertRelease(db, {
    model,
    version,
    url: `ftps://files.ks.test/${version}.bin`,
    sha256: '0'.repeat(64),
    sizeBytes: 1,
  });
  const rollout = await insertRollout(db, {
    releaseId: release!.id,
    target: { iqIds: [iqId] },
    policy: DEFAULT_POLICY,
  });
  const updateId = `${rollout.id}:1`;
  await db.insert(rolloutTargets).values({
    rolloutId: rollout.id,
    iqId,
    position: 0,
    state: opts.state ?? 'in_progress',
    attempts: 1,
    updateId,
    startedAt: new Date(),
  });
  return { rolloutId: rollout.id, version, updateId };
}

export async function iqRow(db: Db, iqId: string) {
  const [row] = await db.select().from(iqs).where(eq(iqs.id, iqId));
  return row!;
}

/** Polls until `check` passes (it throws until then). */
export async function eventually(check: () => Promise<void> | void, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** A bare TCP client that speaks whatever the test writes, to send what no real IQ would. */
export async function rawClient(port: number, opts: { localAddress?: string } = {}) {
  const socket: Socket = connect({ host: '127.0.0.1', port, ...opts });
  await once(socket, 'connect');
  const lines: unknown[] = [];
  let buffer = '';
  socket.on('data', (chunk) => {
    buffer += chunk.toString('utf8');
    for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
      lines.push(JSON.parse(buffer.slice(0, nl)));
      buffer = buffer.slice(nl + 1);
    }
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((done) => socket.once('close', () => done()));
  let read = 0;
  return {
    socket,
    closed,
    write: (text: string) => socket.write(text),
    /** The next line the gateway sends. */
    async next(timeoutMs = 5_000): Promise<unknown> {
      const deadline = Date.now() + timeoutMs;
      while (lines.length <= read) {
        if (Date.now() > deadline) throw new Error('no line from the gateway');
        await new Promise((r) => setTimeout(r, 10));
      }
      return lines[read++];
    },
  };
}
