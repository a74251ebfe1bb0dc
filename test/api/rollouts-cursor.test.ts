import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firmwareReleases, rollouts } from '../../db/schema';
import { startTestSystem, type TestSystem } from '../support/system';

/**
 * GET /support/rollouts pages newest first by (created_at, id). Its cursor carries those values, so
 * a rollout removed after it was listed (withdrawUnstartedRollout deletes one whose start failed)
 * still marks where the next page starts; a cursor that does not decode answers 400 as the events
 * listing's does.
 */
let sys: TestSystem;
let token: string;
const ids: string[] = [];

type Page = { rollouts: Array<{ id: string }>; nextCursor: string | null };
const list = (query: string) => sys.request('GET', `/support/rollouts?${query}`, { token });

beforeAll(async () => {
  sys = await startTestSystem({});
  token = (await sys.signIn({ platformRole: 'support' })).token;
  const [release] = await sys.db
    .insert(firmwareReleases)
    .values({ model: 'IQ4', version: '1.0.0', url: 'ftps://x/y', sha256: 'a'.repeat(64), sizeBytes: 1 })
    .returning();
  // Microseconds apart, and two at the same instant (ordered by id): a millisecond cursor would skip or repeat.
  const base = Date.parse('2026-01-01T00:00:00Z');
  const at = (ms: number, us: number) => `${new Date(base + ms).toISOString().slice(0, -1)}${us}Z`;
  const times = [at(0, 100), at(0, 200), at(0, 300), at(1, 0), at(1, 0), at(5, 500), at(9, 0)];
  for (const createdAt of times) {
    const [row] = await sys.db
      .insert(rollouts)
      .values({ releaseId: release!.id, target: { model: 'IQ4' }, policy: {} })
      .returning({ id: rollouts.id });
    await sys.sql`update rollouts set created_at = ${createdAt}::timestamptz where id = ${row!.id}`;
  }
  const newestFirst = await sys.sql<
    { id: string }[]
  >`select id from rollouts order by created_at desc, id desc`;
  ids.push(...newestFirst.map((r) => r.id));
});
afterAll(async () => {
  await sys?.close();
});

async function pages(limit: number, beforeEachPage?: (cursor: string) => Promise<void>) {
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    if (cursor && beforeEachPage) await beforeEachPage(cursor);
    const res = await list(`limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status).toBe(200);
    const page = (await res.json()) as Page;
    seen.push(...page.rollouts.map((r) => r.id));
    cursor = page.nextCursor;
  } while (cursor);
  return seen;
}

describe('GET /support/rollouts cursor', () => {
  it('pages through every rollout once, newest first, at microsecond precision', async () => {
    for (const limit of [1, 2, 3]) expect(await pages(limit)).toEqual(ids);
  });

  it('a page whose last rollout was deleted since still leads to the next page', async () => {
    const first = (await (await list('limit=2')).json()) as Page;
    const last = first.rollouts.at(-1)!.id;
    await sys.db.delete(rollouts).where(eq(rollouts.id, last));
    const next = (await (await list(`limit=2&cursor=${first.nextCursor}`)).json()) as Page;
    expect(next.rollouts.map((r) => r.id)).toEqual(ids.slice(2, 4));
    expect(next.nextCursor).not.toBeNull();
  });

  it('a cursor that does not decode answers 400 validation_failed, as the events listing does', async () => {
    const owner = await sys.signIn();
    const made = await sys.request('POST', '/sites', { token: owner.token, body: { name: 'Events site' } });
    const ownSite = ((await made.json()) as { id: string }).id;
    const unknownId = Buffer.from('rollout:6d2c1f1e-0000-4000-8000-000000000000').toString('base64url');
    for (const cursor of ['garbage', Buffer.from('rollout:12:zz').toString('base64url'), unknownId]) {
      const rolloutsAnswer = await list(`cursor=${cursor}`);
      const eventsAnswer = await sys.request('GET', `/sites/${ownSite}/events?cursor=${cursor}`, {
        token: owner.token,
      });
      expect(rolloutsAnswer.status).toBe(400);
      expect(eventsAnswer.status).toBe(400);
      const shape = async (res: Response) => {
        const { code, errors } = (await res.json()) as { code: string; errors: Array<{ path: string }> };
        return { code, paths: errors.map((e) => e.path) };
      };
      expect(await shape(rolloutsAnswer)).toEqual(await shape(eventsAnswer));
      expect(await shape(await list(`cursor=${cursor}`))).toEqual({
        code: 'validation_failed',
        paths: ['query.cursor'],
      });
    }
  });
});
