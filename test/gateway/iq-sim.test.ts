import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import { events } from '../../db/schema';
import { createCommandClient } from '../../gateway/command-bus';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { startFleet } from '../../iq-sim/fleet';
import { startSimulatedIq } from '../../iq-sim/iq';
import { createTestDatabase } from '../support/database';
import { eventually, iqRow, seedIq, seedUpdateInProgress } from './helpers';

let database: Database;
let gateway: RunningGateway;
let files: Server;
let bus: ReturnType<typeof createCommandClient>;
const firmware = Buffer.from('firmware 2.0.0 image');
const sha256 = createHash('sha256').update(firmware).digest('hex');

beforeAll(async () => {
  database = await createTestDatabase();
  gateway = await startGateway({
    db: database.db,
    sql: database.sql,
    ports: [0],
    instanceId: 'gw-sim',
    heartbeatSeconds: 1,
    host: '127.0.0.1',
  });
  bus = createCommandClient(database.sql);
  files = createServer((_, res) => res.end(firmware)).listen(0, '127.0.0.1');
  await once(files, 'listening');
});
afterAll(async () => {
  files?.close();
  await gateway?.stop();
  await database?.close();
});

const fileUrl = () => `http://127.0.0.1:${(files.address() as { port: number }).port}/iq2-2.0.0.bin`;
const statuses = async (iqId: string) =>
  (
    await database.db
      .select()
      .from(events)
      .where(and(eq(events.iqId, iqId), eq(events.type, 'iq.update_status')))
      .orderBy(events.seq)
  ).map((e) => e.data);

/**
 * An update id the gateway takes reports on (it refuses made-up ones): a rollout's that sent the IQ
 * an update, since ended (so its hello is not sent that update again).
 */
const sentUpdate = (iqId: string) => seedUpdateInProgress(database.db, iqId, { state: 'canceled' });

describe('IQ simulator', () => {
  it('downloads, checks and installs an update, then comes back on the new version', async () => {
    const { iq, credentials } = await seedIq(database.db);
    const device = await startSimulatedIq({
      ...credentials,
      ports: gateway.ports,
      update: { durationMs: 100 },
    });
    const { updateId } = await sentUpdate(iq.id);
    await bus.send('gw-sim', {
      kind: 'update',
      iqId: iq.id,
      updateId,
      version: '2.0.0',
      url: fileUrl(),
      sha256,
      sizeBytes: firmware.length,
    });
    await eventually(async () =>
      expect(await iqRow(database.db, iq.id)).toMatchObject({ online: true, firmware: '2.0.0' }),
    );
    expect(device.firmware).toBe('2.0.0');
    expect(await statuses(iq.id)).toEqual([
      { updateId, state: 'downloading' },
      { updateId, state: 'installing' },
    ]);
    await device.stop();
  });

  it('fails an update whose file does not match its checksum, or whose install fails', async () => {
    const { iq, credentials } = await seedIq(database.db);
    const device = await startSimulatedIq({
      ...credentials,
      ports: gateway.ports,
      update: { durationMs: 50, failureRate: 1 },
    });
    const bad = (await sentUpdate(iq.id)).updateId;
    await bus.send('gw-sim', {
      kind: 'update',
      iqId: iq.id,
      updateId: bad,
      version: '2.0.0',
      url: fileUrl(),
      sha256: 'f'.repeat(64),
      sizeBytes: firmware.length,
    });
    await eventually(async () =>
      expect(await statuses(iq.id)).toContainEqual({
        updateId: bad,
        state: 'failed',
        error: 'checksum_mismatch',
      }),
    );
    const flaky = (await sentUpdate(iq.id)).updateId;
    await bus.send('gw-sim', {
      kind: 'update',
      iqId: iq.id,
      updateId: flaky,
      version: '2.0.0',
      url: fileUrl(),
      sha256,
      sizeBytes: firmware.length,
    });
    await eventually(async () =>
      expect(await statuses(iq.id)).toContainEqual({
        updateId: flaky,
        state: 'failed',
        error: 'install_failed',
      }),
    );
    expect((await iqRow(database.db, iq.id)).firmware).toBe('1.0.0');
    await device.stop();
  });

  it('runs a fleet with a share kept offline', async () => {
    const seeded = await Promise.all(Array.from({ length: 4 }, () => seedIq(database.db)));
    const fleet = await startFleet({
      credentials: seeded.map((s) => s.credentials),
      ports: gateway.ports,
      offlineShare: 0.25,
    });
    expect([fleet.online.length, fleet.offline.length, fleet.failed.length]).toEqual([3, 1, 0]);
    expect((await iqRow(database.db, seeded[0]!.iq.id)).online).toBe(false);
    expect((await iqRow(database.db, seeded[3]!.iq.id)).online).toBe(true);
    await fleet.stop();
  });
});
