/**
 * K2, K8: a PIN is one member's on its IQ. The IQ tells PINs apart only by their value, so a PIN drawn
 * equal to another member's live PIN on the same IQ would open as, and be recorded as, that member.
 * The draw is forced to collide here (six digits collide by chance once a few hundred PINs share an IQ).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { LOOPBACK_FLEET_GUARD } from '../gateway/helpers';
import { startTestSystem, type TestSystem } from '../support/system';
import { api, expectHoldsWhatTheDatabaseSays, simulator } from './harness';

/** PIN draws (randomInt(0, 1_000_000)) answer these first, then at random. */
const forcedPins = vi.hoisted(() => [] as number[]);
vi.mock('node:crypto', async (original) => {
  const crypto = await original<typeof import('node:crypto')>();
  const randomInt = ((...args: unknown[]) =>
    args.length === 2 && args[0] === 0 && args[1] === 1_000_000 && forcedPins.length > 0
      ? forcedPins.shift()
      : (crypto.randomInt as (...a: unknown[]) => unknown)(...args)) as typeof crypto.randomInt;
  return { ...crypto, default: { ...crypto, randomInt }, randomInt };
});

let sys: TestSystem;
let gateway: RunningGateway;
let a: ReturnType<typeof api>;
let sims: ReturnType<typeof simulator>;

beforeAll(async () => {
  sys = await startTestSystem({});
  gateway = await startGateway({
    guard: LOOPBACK_FLEET_GUARD,
    db: sys.db,
    sql: sys.sql,
    ports: [0],
    instanceId: `gw-pins-${randomUUID().slice(0, 8)}`,
    heartbeatSeconds: 1,
    host: '127.0.0.1',
    accessAckTimeoutMs: 1_000,
  });
  a = api(sys);
  sims = simulator({ ports: gateway.ports });
});
afterAll(async () => {
  await sims?.stopAll();
  await gateway?.stop();
  await sys?.close();
});

describe('PINs on one IQ', () => {
  it('a new PIN or a reset one never equals another member’s live PIN there; the IQ tells each member’s apart', async () => {
    const { siteId, owner } = await a.site();
    const hall = await a.iq(siteId, owner.token);
    const yard = await a.iq(siteId, owner.token);
    const onHall = await sims.start(hall.credentials);
    const [ann, bo, cy] = [await a.member(siteId), await a.member(siteId), await a.member(siteId)];
    const door = hall.lockIds[0]!;

    forcedPins.push(123456, 123456, 123456);
    const annPin = await a.pin(siteId, owner.token, ann.id, hall.id);
    // Another IQ's PIN may be the same: its IQ holds no other.
    const onYard = await a.pin(siteId, owner.token, ann.id, yard.id);
    const boPin = await a.pin(siteId, owner.token, bo.id, hall.id);
    expect([annPin.pin, onYard.pin]).toEqual(['123456', '123456']);
    expect(boPin.pin).not.toBe(annPin.pin);

    await a.pin(siteId, owner.token, cy.id, hall.id);
    forcedPins.push(123456);
    const cyReset = await a.ok('POST', `/sites/${siteId}/people/${cy.id}/pin-reset`, owner.token, {
      iqId: hall.id,
    });
    expect(cyReset.pin).not.toBe(annPin.pin);

    await expectHoldsWhatTheDatabaseSays(sys, hall.id, onHall);
    expect(onHall.enterPin(door, annPin.pin)).toMatchObject({ opened: true, credentialId: annPin.id });
    expect(onHall.enterPin(door, boPin.pin)).toMatchObject({ opened: true, credentialId: boPin.id });
    expect(onHall.enterPin(door, cyReset.pin as string)).toMatchObject({
      opened: true,
      credentialId: cyReset.id,
    });
  });
});
