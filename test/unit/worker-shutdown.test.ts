import { Worker } from '@temporalio/worker';
import { describe, expect, it, vi } from 'vitest';
import { envSchema, parseEnv } from '../../config/env';
import { STOP_TIMEOUT_MS } from '../../scripts/launcher';
import { createWorker } from '../../worker/create-worker';

describe('a stopping worker', () => {
  it('lets in-flight activities finish for WORKER_SHUTDOWN_GRACE_SECONDS (the SDK default, 0, cancels them)', async () => {
    const create = vi.spyOn(Worker, 'create').mockResolvedValue({} as Worker);
    try {
      await createWorker({
        connection: {} as never,
        namespace: 'default',
        taskQueue: 'ks-cloud',
        deps: { redemptions: {} } as never,
        workflowBundle: { code: '' },
        shutdownGraceMs: 20_000,
      });
      expect(create.mock.calls[0]![0]).toMatchObject({ shutdownGraceTime: 20_000 });
    } finally {
      create.mockRestore();
    }
  });

  it('has a grace by default, shorter than the launcher waits before SIGKILL', () => {
    const base = {
      DATABASE_URL: 'postgres://ks@db/ks',
      PUBLIC_BASE_URL: 'https://x.example',
      TOKEN_SECRET: 'x'.repeat(32),
      KS_MODE: 'development',
    };
    const grace = parseEnv(base).WORKER_SHUTDOWN_GRACE_SECONDS;
    expect(grace).toBeGreaterThan(0);
    expect(grace * 1000).toBeLessThan(STOP_TIMEOUT_MS);
    expect(parseEnv({ ...base, WORKER_SHUTDOWN_GRACE_SECONDS: '0' }).WORKER_SHUTDOWN_GRACE_SECONDS).toBe(0);
    expect(envSchema.shape.WORKER_SHUTDOWN_GRACE_SECONDS.safeParse('-1').success).toBe(false);
  });
});
