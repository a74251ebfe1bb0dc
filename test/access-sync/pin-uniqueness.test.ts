/**
 * K2, K8: a PIN is one member's on its IQ. The IQ tells PINs apart only by their value, so a PIN drawn
 * equal to another member's live PIN on the same IQ would open as, and be recorded as, that member.
 * The draw is forced to collide here (six digits collide by chance once a few hundred PINs share an IQ).
 */
import { describe, expect, it, vi } from 'vitest';
import { accessSyncSystem, expectHoldsWhatTheDatabaseSays } from './harness';

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

const ks = accessSyncSystem({ name: 'pins' });

describe('PINs on one IQ', () => {
  it('a new PIN or a reset one never equals another member’s live PIN there; the IQ tells each member’s apart', async () => {
    const { siteId, owner } = await ks.a.site();
    const hall = await ks.a.iq(siteId, owner.token);
    const yard = await ks.a.iq(siteId, owner.token);
    const onHall = await ks.sims.start(hall.credentials);
    const [ann, bo, cy] = [await ks.a.member(siteId), await ks.a.member(siteId), await ks.a.member(siteId)];
    const door = hall.lockIds[0]!;

    forcedPins.push(123456, 123456, 123456);
    const annPin = await ks.a.pin(siteId, owner.token, ann.id, hall.id);
    // Another IQ's PIN may be the same: its IQ holds no other.
    const onYard = await ks.a.pin(siteId, owner.token, ann.id, yard.id);
    const boPin = await ks.a.pin(siteId, owner.token, bo.id, hall.id);
    expect([annPin.pin, onYard.pin]).toEqual(['123456', '123456']);
    expect(boPin.pin).not.toBe(annPin.pin);

    await ks.a.pin(siteId, owner.token, cy.id, hall.id);
    forcedPins.push(123456);
    const cyReset = await ks.a.ok('POST', `/sites/${siteId}/people/${cy.id}/pin-reset`, owner.token, {
      iqId: hall.id,
    });
    expect(cyReset.pin).not.toBe(annPin.pin);

    await expectHoldsWhatTheDatabaseSays(ks.sys, hall.id, onHall);
    expect(onHall.enterPin(door, annPin.pin)).toMatchObject({ opened: true, credentialId: annPin.id });
    expect(onHall.enterPin(door, boPin.pin)).toMatchObject({ opened: true, credentialId: boPin.id });
    expect(onHall.enterPin(door, cyReset.pin as string)).toMatchObject({
      opened: true,
      credentialId: cyReset.id,
    });
  });
});
