/**
 * bench/enumeration (A4): does an answer's timing tell whether an email has a profile? Password
 * reset, sign-up and a wrong login, each sent for a registered and an unknown email in turn (so
 * the machine's load falls on both alike), one at a time, over HTTP to the product (bench/
 * local-stack). Prints each pair's medians and p90s; the last line gives known/unknown median
 * ratios (1.00 is no difference). test/security/enumeration.test.ts holds the cause instead: the
 * same SQL for both.
 *
 * Run: npx tsx bench/enumeration.ts [rounds=40] [--server dev|cluster]
 * Last line: RESULT enumeration reset=<ratio> signup=<ratio> login=<ratio>
 */
import { randomUUID } from 'node:crypto';
import { clientAddress } from './client-addresses';
import { startLocalStack } from './local-stack';
import { benchOptions } from './temporal-server';

const { server: SERVER, args } = benchOptions();
const rounds = Number(args[0] ?? 40);

const stack = await startLocalStack({ server: SERVER, trustedProxies: ['127.0.0.1'] });
// Every request its own client address, so the per-address limits (A6) stay out of the figures.
let client = 0;
const post = async (path: string, body: unknown) => {
  client++;
  const t0 = performance.now();
  const res = await fetch(stack.url + path, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-forwarded-for': clientAddress(client),
    },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - t0 };
};
const fresh = () => `bench-${randomUUID()}@example.test`;
const pick = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.floor((p / 100) * xs.length)] ?? 0;

try {
  // Registered emails, one per round of each request kind (sign-up creates the profiles).
  const registered = Array.from({ length: rounds }, fresh);
  for (const email of registered)
    await post('/auth/signup', { email, password: 'long enough pw', name: 'B' });

  const kinds = {
    reset: (email: string) => post('/auth/password-reset', { email }),
    signup: (email: string) => post('/auth/signup', { email, password: 'long enough pw', name: 'B' }),
    login: (email: string) => post('/auth/login', { email, password: 'wrong password' }),
  };
  console.log(`bench/enumeration: ${rounds} rounds per kind, ${stack.temporalServer}`);
  console.log('  kind     known p50/p90 ms    unknown p50/p90 ms   median ratio   statuses');
  const ratios: Record<string, string> = {};
  for (const [kind, send] of Object.entries(kinds)) {
    const known: number[] = [];
    const unknown: number[] = [];
    const statuses = new Set<string>();
    for (const email of registered) {
      const k = await send(email);
      const u = await send(fresh());
      known.push(k.ms);
      unknown.push(u.ms);
      statuses.add(`${k.status}/${u.status}`);
    }
    const ratio = pick(known, 50) / pick(unknown, 50);
    ratios[kind] = ratio.toFixed(2);
    console.log(
      `  ${kind.padEnd(7)}  ${pick(known, 50).toFixed(1).padStart(7)} / ${pick(known, 90).toFixed(1).padEnd(8)}` +
        `  ${pick(unknown, 50).toFixed(1).padStart(7)} / ${pick(unknown, 90).toFixed(1).padEnd(8)}` +
        `   ${ratio.toFixed(2).padStart(6)}         ${[...statuses].join(' ')}`,
    );
  }
  console.log(`RESULT enumeration reset=${ratios.reset} signup=${ratios.signup} login=${ratios.login}`);
} finally {
  await stack.stop();
}
