/**
 * What bench/api-load and its load generator share: the job the bench writes for the generator, and
 * the scenarios (each a request per client and turn).
 */

export interface ApiLoadJob {
  url: string;
  floorUrl: string;
  clients: number;
  stormLogins: number;
  password: string;
  /** One owner per client: their email, bearer token and site. */
  owners: Array<{ email: string; token: string; siteId: string }>;
}

export interface Request {
  method: string;
  path: string;
  body?: unknown;
  auth: boolean;
}
export type Scenario = (client: number, n: number) => Request;

export const SCENARIOS = [
  'POST /auth/login',
  'GET /me',
  'GET /sites/{id}/subscription',
  'GET /sites/{id}/events',
  'GET /sites/{id}/people',
  'PATCH /me',
  'PUT /sites/{id}/notifications',
] as const;
/** The reads whose lowest ratio to the floor is the RESULT's `reads`. */
export const READS = SCENARIOS.filter((s) => s.startsWith('GET '));

export function scenarios(job: ApiLoadJob): Record<string, Scenario> {
  const site = (c: number) => job.owners[c % job.owners.length]!.siteId;
  const named: Record<(typeof SCENARIOS)[number], Scenario> = {
    'POST /auth/login': (c) => ({
      method: 'POST',
      path: '/auth/login',
      body: { email: job.owners[c % job.owners.length]!.email, password: job.password },
      auth: false,
    }),
    'GET /me': () => ({ method: 'GET', path: '/me', auth: true }),
    'GET /sites/{id}/subscription': (c) => ({
      method: 'GET',
      path: `/sites/${site(c)}/subscription`,
      auth: true,
    }),
    'GET /sites/{id}/events': (c) => ({
      method: 'GET',
      path: `/sites/${site(c)}/events?limit=50`,
      auth: true,
    }),
    'GET /sites/{id}/people': (c) => ({ method: 'GET', path: `/sites/${site(c)}/people`, auth: true }),
    'PATCH /me': (c, n) => ({ method: 'PATCH', path: '/me', body: { name: `Owner ${c} v${n}` }, auth: true }),
    'PUT /sites/{id}/notifications': (c, n) => ({
      method: 'PUT',
      path: `/sites/${site(c)}/notifications`,
      body: { eventTypes: n % 2 ? ['tamper'] : ['tamper', 'lock.open_refused'] },
      auth: true,
    }),
  };
  // Mostly reads, some writes: me, subscription, events, people 20% each; PATCH me, PUT notifications 10% each.
  const weights: Array<[(typeof SCENARIOS)[number], number]> = [
    ['GET /me', 2],
    ['GET /sites/{id}/subscription', 2],
    ['GET /sites/{id}/events', 2],
    ['GET /sites/{id}/people', 2],
    ['PATCH /me', 1],
    ['PUT /sites/{id}/notifications', 1],
  ];
  const table = weights.flatMap(([name, w]) => Array<string>(w).fill(name));
  return {
    ...named,
    mix: (c, n) => named[table[(n + c) % table.length] as (typeof SCENARIOS)[number]](c, n),
  };
}
