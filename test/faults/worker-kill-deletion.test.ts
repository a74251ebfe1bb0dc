/** N3: a profile deletion with two sites' consents survives a worker killed at each boundary (harness: ./worker-kill.ts). */
import { expect } from 'vitest';
import { runDeletion } from './lifecycles';
import { describeWorkerKills } from './worker-kill';

describeWorkerKills({
  name: 'deletion',
  run: (ctx, crash) => runDeletion(ctx, { crash }),
  points: [
    'before:openDeletionRequest:1',
    'after:openDeletionRequest:1',
    'before:sendConsentLink:1',
    'provider:deletion-consent-request:1',
    'after:sendConsentLink:2',
    'before:loadDeletionRequest:1',
    'after:loadDeletionRequest:1',
    'before:deleteProfile:1',
    'provider:profile-deleted:1',
    'after:deleteProfile:1',
  ],
  checkUndisturbed: (summary) =>
    expect((summary as { delivered: Record<string, number> }).delivered).toEqual({
      'deletion-consent-request:R:S1': 1,
      'deletion-consent-request:R:S2': 1,
      'profile-deleted:R': 1,
    }),
});
