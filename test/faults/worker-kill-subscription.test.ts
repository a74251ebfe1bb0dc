/** N3: the subscription's lifecycle (redemption, sandbox clock, reminders, expiry) survives a worker killed at each boundary (harness: ./worker-kill.ts). */
import { expect } from 'vitest';
import { runSubscription } from './lifecycles';
import { describeWorkerKills } from './worker-kill';

describeWorkerKills({
  name: 'subscription',
  run: (ctx, crash) => runSubscription(ctx, { crash }),
  points: [
    'before:loadSubscription:1',
    'after:loadSubscription:1',
    'before:redeemVoucher:1',
    'after:redeemVoucher:1',
    'before:redemptionRelay:1',
    'provider:receipt:1',
    'after:redemptionRelay:1',
    'before:setSiteClockOffset:1',
    'after:setSiteClockOffset:4',
    'before:sendReminder:1',
    'after:sendReminder:2',
    'provider:reminder:3',
    'before:expireSubscription:1',
    'after:expireSubscription:1',
    'before:sendExpiredEmail:1',
    'provider:expired:1',
    'after:sendExpiredEmail:1',
  ],
  checkUndisturbed: (summary) =>
    expect((summary as { delivered: Record<string, number> }).delivered).toEqual({
      'receipt:T': 1,
      'reminder:T:28d': 1,
      'reminder:T:7d': 1,
      'reminder:T:1d': 1,
      'expired:T': 1,
    }),
});
