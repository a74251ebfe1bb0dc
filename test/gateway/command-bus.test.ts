import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import { type Command, createCommandClient, listenForCommands } from '../../gateway/command-bus';
import { createTestDatabase } from '../support/database';
import { eventually } from './helpers';

let database: Database;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

const update = (n: number): Command => ({
  kind: 'update',
  iqId: randomUUID(),
  updateId: `u:${n}`,
  version: '2.0.0',
  url: 'ftps://files.example/iq2-2.0.0.bin',
  sha256: 'a'.repeat(64),
  sizeBytes: n,
});

describe('command bus', () => {
  it('sendMany delivers each command once, to its own instance, in the order given', async () => {
    const heard = new Map<string, Command[]>([
      ['gw-a', []],
      ['gw-b', []],
    ]);
    const unlisten = await Promise.all(
      [...heard].map(([instance, list]) => listenForCommands(database.sql, instance, (c) => list.push(c))),
    );
    const bus = createCommandClient(database.sql);
    const commands = Array.from({ length: 40 }, (_, n) => ({
      instanceId: n % 3 === 0 ? 'gw-b' : 'gw-a',
      command: update(n),
    }));
    await bus.sendMany([]);
    await bus.sendMany(commands);
    for (const [instance, list] of heard) {
      const sent = commands.filter((c) => c.instanceId === instance).map((c) => c.command);
      await eventually(() => expect(list).toEqual(sent));
    }
    await Promise.all(unlisten.map((u) => u()));
  });
});
