/**
 * N3: a rollout (12 simulated IQs, three waves, a gateway in the test process) survives a worker
 * killed before and after each of its activities, after the sliding middle wave handed back and before
 * the last; an undisturbed run sends each IQ exactly one update command (harness: ./worker-kill.ts).
 */
import { expect } from 'vitest';
import { runRollout } from './lifecycles';
import { describeWorkerKills } from './worker-kill';

describeWorkerKills({
  name: 'rollout',
  run: (ctx, crash) => runRollout(ctx, { crash }),
  points: [
    'before:resolveRolloutTargets:1',
    'after:resolveRolloutTargets:1',
    'before:runRolloutWave:1',
    'after:runRolloutWave:1',
    'after:runRolloutWave:2',
    'before:runRolloutWave:3',
    'before:finishRollout:1',
    'after:finishRollout:1',
    'before:sendRolloutReport:1',
    'provider:rollout-report:1',
    'after:sendRolloutReport:1',
  ],
  checkUndisturbed: (summary) => {
    const roll = summary as {
      rollout: unknown;
      targets: Array<{ state: string; attempts: number }>;
      updatesPerIq: number[];
      delivered: Record<string, number>;
    };
    expect(roll.rollout).toEqual({ status: 'completed', abort_reason: null });
    expect(roll.targets.map((t) => [t.state, t.attempts])).toEqual(Array(12).fill(['succeeded', 1]));
    expect(roll.updatesPerIq).toEqual(Array(12).fill(1));
    expect(roll.delivered).toEqual({ 'rollout-report:R': 1 });
  },
});
