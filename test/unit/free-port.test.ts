import { createServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { canListen, freePort } from '../../infra/free-port';
import { serverPorts } from '../../scripts/launcher';

/** Every port this file was handed: freePort never hands one out twice in a process. */
const given = new Set<number>();
const handed = async (opts?: Parameters<typeof freePort>[0]) => {
  const port = await freePort(opts);
  given.add(port);
  return port;
};

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe('freePort', () => {
  it('hands out bindable ports below the ephemeral range, where no outgoing connection takes them', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => handed()));
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(21_000);
      expect(port).toBeLessThan(32_768);
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', resolve);
      });
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('never hands the same port to two callers, one after the other or at the same time', async () => {
    // 300 random picks among 11,700 ports would repeat one about 98 times in 100.
    const ports: number[] = [];
    for (let i = 0; i < 300; i++) ports.push(await handed());
    ports.push(...(await Promise.all(Array.from({ length: 100 }, () => handed()))));
    expect(new Set(ports).size).toBe(400);
  });

  it('skips the ports it is told to avoid (configured for servers that have not bound them yet)', async () => {
    // A third port that nothing holds now and that this file was not handed before (other tests'
    // servers run beside this one, and the tests above were handed 420 random ports).
    let third = 31_003;
    while (given.has(third) || !(await canListen(third))) third++;
    const random = vi.spyOn(Math, 'random');
    // The first two picks land on the avoided ports, the third on neither.
    const at = (port: number) => (port - 21_000 + 0.5) / (32_700 - 21_000);
    random.mockReturnValueOnce(at(31_001)).mockReturnValueOnce(at(31_002)).mockReturnValueOnce(at(third));
    expect(await handed({ avoid: [31_001, 31_002] })).toBe(third);
  });
});

describe('serverPorts', () => {
  it('names the API ports, Temporal’s, its UI’s and the gateway’s, with their defaults', () => {
    vi.stubEnv('TEMPORAL_PORT', '23001');
    vi.stubEnv('TEMPORAL_UI_PORT', '23002');
    vi.stubEnv('GATEWAY_PORTS', '23003,23004');
    expect(serverPorts([23000])).toEqual({
      temporal: 23001,
      temporalUi: 23002,
      all: [23000, 23001, 23002, 23003, 23004],
    });
    vi.unstubAllEnvs();
    for (const key of ['TEMPORAL_PORT', 'TEMPORAL_UI_PORT', 'GATEWAY_PORTS']) vi.stubEnv(key, undefined);
    expect(serverPorts([3000, 3001]).all).toEqual([3000, 3001, 7233, 8233, 40000, 40001]);
  });
});
