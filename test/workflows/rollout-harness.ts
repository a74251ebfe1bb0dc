/**
 * What the rollout suites share: a test system with a device gateway (1 s heartbeats), a support
 * sign-in, and the API calls that define a release and start a rollout. Registers its own
 * beforeAll/afterAll; fleets pushed to `fleets` are stopped with the gateway.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect } from 'vitest';
import { type RunningGateway, startGateway } from '../../gateway/server';
import type { Fleet } from '../../iq-sim/fleet';
import { rolloutWorkflowId } from '../../workflows/ids';
import { LOOPBACK_FLEET_GUARD } from '../gateway/helpers';
import { startTestSystem, type TestSystem } from '../support/system';

export type Body = Record<string, unknown>;

export function rolloutHarness(options: { instanceId: string; versionMajor: number }) {
  let sys: TestSystem | undefined;
  let gateway: RunningGateway | undefined;
  let supportToken = '';
  const fleets: Fleet[] = [];

  beforeAll(async () => {
    sys = await startTestSystem({});
    gateway = await startGateway({
      guard: LOOPBACK_FLEET_GUARD,
      db: sys.db,
      sql: sys.sql,
      ports: [0],
      instanceId: options.instanceId,
      heartbeatSeconds: 1,
      host: '127.0.0.1',
    });
    supportToken = (await sys.signIn({ platformRole: 'support' })).token;
  });
  afterAll(async () => {
    await Promise.all(fleets.map((f) => f.stop()));
    await gateway?.stop();
    await sys?.close();
  });

  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the rollout harness starts in beforeAll');
    return value;
  };
  const system = () => started(sys);

  /** A call as support. */
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await system().request(method, path, {
      token: supportToken,
      ...(body !== undefined ? { body } : {}),
    });
    return { status: res.status, body: (await res.json()) as Body };
  };

  let versions = 0;
  /** A new IQ2 release, `<versionMajor>.<n>.0`. */
  const release = async () => {
    const version = `${options.versionMajor}.${versions++}.0`;
    const res = await call('POST', '/support/firmware-releases', {
      model: 'IQ2',
      version,
      // Not fetched by the simulator (FTPS, as in production): the download is simulated as good.
      url: `ftps://files.ks.test/iq2-${version}.bin`,
      sha256: createHash('sha256').update(version).digest('hex'),
      sizeBytes: 1024,
    });
    expect(res.status).toBe(201);
    return { id: res.body.id as string, version };
  };

  const startRollout = async (body: Body) => {
    const res = await call('POST', '/support/rollouts', body);
    expect(res.status).toBe(201);
    return res.body.id as string;
  };

  return {
    get sys() {
      return system();
    },
    get gateway() {
      return started(gateway);
    },
    fleets,
    call,
    release,
    startRollout,
    /** The rollout workflow's result. */
    result: (id: string) => system().temporal.workflow.getHandle(rolloutWorkflowId(id)).result(),
  };
}
