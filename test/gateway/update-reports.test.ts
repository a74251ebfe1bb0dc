/**
 * What the gateway does with an IQ's `update-status` reports (F6, API.md's device protocol): a report
 * about one of the IQ's own updates is kept in the site's audit trail, and a failure ends that
 * attempt, unless the IQ already said hello on the release's version (success, which a late report
 * never flips); a report naming an update the IQ was never sent is a lie, refused as `bad_message`.
 */
import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import { markReportedVersion } from '../../db/queries/rollouts';
import { events, rolloutTargets } from '../../db/schema';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { createTestDatabase } from '../support/database';
import { rawClient, seedIq, seedUpdateInProgress } from './helpers';

let database: Database;
let gateway: RunningGateway;

beforeAll(async () => {
  database = await createTestDatabase();
  gateway = await startGateway({
    db: database.db,
    sql: database.sql,
    ports: [0],
    instanceId: 'gw-update-reports',
    heartbeatSeconds: 5,
    host: '127.0.0.1',
  });
});
afterAll(async () => {
  await gateway?.stop();
  await database?.close();
});

type Seeded = Awaited<ReturnType<typeof seedIq>>;
const helloLine = (seeded: Seeded, firmware: string) =>
  `${JSON.stringify({ type: 'hello', ...seeded.credentials, firmware, accessVersion: 0 })}\n`;
const statusLine = (updateId: string, state: string, error?: string) =>
  `${JSON.stringify({ type: 'update-status', updateId, state, ...(error ? { error } : {}) })}\n`;

/** The IQ connected and welcomed, having written `after` right behind its hello (as a buffered IQ does). */
async function connect(seeded: Seeded, firmware: string, after = '') {
  const raw = await rawClient(gateway.ports[0]!);
  raw.write(helloLine(seeded, firmware) + after);
  expect(await raw.next()).toMatchObject({ type: 'welcome' });
  return raw;
}

/** The gateway's next answer, past the update it sends again at hello (the attempt in progress). */
async function answer(raw: Awaited<ReturnType<typeof connect>>) {
  for (;;) {
    const line = (await raw.next()) as { type: string };
    if (line.type !== 'update') return line;
  }
}

/**
 * Lines are handled in order: a second hello, which the gateway answers `bad_message`, comes back
 * only once every line before it was handled.
 */
async function handled(raw: Awaited<ReturnType<typeof connect>>, seeded: Seeded) {
  raw.write(helloLine(seeded, 'any'));
  expect(await answer(raw)).toEqual({ type: 'error', code: 'bad_message' });
}

const target = async (rolloutId: string, iqId: string) => {
  const [row] = await database.db
    .select()
    .from(rolloutTargets)
    .where(and(eq(rolloutTargets.rolloutId, rolloutId), eq(rolloutTargets.iqId, iqId)));
  return row!;
};
const reports = async (iqId: string) =>
  (
    await database.db
      .select()
      .from(events)
      .where(and(eq(events.iqId, iqId), eq(events.type, 'iq.update_status')))
      .orderBy(events.seq)
  ).map((e) => e.data);

describe('update-status reports (F6)', () => {
  it('a failure the IQ reports while on its old firmware fails that attempt', async () => {
    const seeded = await seedIq(database.db);
    const update = await seedUpdateInProgress(database.db, seeded.iq.id);
    const raw = await connect(seeded, '1.0.0', statusLine(update.updateId, 'failed', 'checksum_mismatch'));
    await handled(raw, seeded);
    expect(await target(update.rolloutId, seeded.iq.id)).toMatchObject({
      state: 'failed',
      error: 'checksum_mismatch',
    });
    raw.socket.destroy();
  });

  it('a stale failure read right after the hello on the release’s version changes nothing: it succeeds', async () => {
    const seeded = await seedIq(database.db);
    const update = await seedUpdateInProgress(database.db, seeded.iq.id);
    // Back on the new version, the IQ sends the failure it buffered from before its reboot.
    const raw = await connect(seeded, update.version, statusLine(update.updateId, 'failed', 'stale_report'));
    await handled(raw, seeded);
    expect(await target(update.rolloutId, seeded.iq.id)).toMatchObject({ state: 'in_progress', error: null });
    // The wave's next look records the success the hello reported.
    expect(await markReportedVersion(database.db, update.rolloutId, update.version, new Date())).toBe(1);
    expect(await target(update.rolloutId, seeded.iq.id)).toMatchObject({ state: 'succeeded', error: null });
    raw.socket.destroy();
  });

  it('a report naming no update of this IQ is refused as bad_message and recorded nowhere', async () => {
    const seeded = await seedIq(database.db);
    const other = await seedIq(database.db);
    const update = await seedUpdateInProgress(database.db, seeded.iq.id);
    const othersUpdate = await seedUpdateInProgress(database.db, other.iq.id);
    const raw = await connect(seeded, '1.0.0');
    for (const lie of [
      randomUUID(), // made up
      othersUpdate.updateId, // another IQ's
      `${update.rolloutId}:2`, // an attempt never sent
      `${update.rolloutId}:0`,
    ]) {
      raw.write(statusLine(lie, 'failed', 'made up'));
      expect(await answer(raw)).toEqual({ type: 'error', code: 'bad_message' });
    }
    // Error texts are bounded by the protocol (200 characters).
    raw.write(statusLine(update.updateId, 'failed', 'x'.repeat(201)));
    expect(await answer(raw)).toEqual({ type: 'error', code: 'bad_message' });
    expect(await reports(seeded.iq.id)).toEqual([]);
    expect(await target(othersUpdate.rolloutId, other.iq.id)).toMatchObject({ state: 'in_progress' });

    raw.write(statusLine(update.updateId, 'downloading'));
    await handled(raw, seeded);
    expect(await reports(seeded.iq.id)).toEqual([{ updateId: update.updateId, state: 'downloading' }]);
    raw.socket.destroy();
  });

  it('a flood of reports on one update keeps each state once: no more than the IQ may say about it', async () => {
    const seeded = await seedIq(database.db);
    const update = await seedUpdateInProgress(database.db, seeded.iq.id);
    const raw = await connect(seeded, '1.0.0');
    const flood = (state: string, n: number, error?: string) =>
      Array.from({ length: n }, (_, i) => statusLine(update.updateId, state, error && `${error}-${i}`)).join(
        '',
      );
    raw.write(flood('downloading', 300) + flood('installing', 300) + flood('failed', 50, 'flash_error'));
    await handled(raw, seeded);
    expect(await reports(seeded.iq.id)).toEqual([
      { updateId: update.updateId, state: 'downloading' },
      { updateId: update.updateId, state: 'installing' },
      { updateId: update.updateId, state: 'failed', error: 'flash_error-0' },
    ]);
    // A repeat is no lie: never answered bad_message (the first answer after the flood is the hello's).
    expect(await target(update.rolloutId, seeded.iq.id)).toMatchObject({
      state: 'failed',
      error: 'flash_error-0',
    });
    // Reconnecting buys the IQ nothing more.
    raw.socket.destroy();
    const again = await connect(seeded, '1.0.0', flood('downloading', 20));
    await handled(again, seeded);
    expect(await reports(seeded.iq.id)).toHaveLength(3);
    again.socket.destroy();
  });
});
