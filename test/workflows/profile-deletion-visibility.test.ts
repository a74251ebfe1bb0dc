import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { memberships } from '../../db/schema';
import { queryProfileDeletion } from '../../workflows/client/profile-deletion';
import { profileDeletionWorkflowId } from '../../workflows/ids';
import { DeletionStatus, SiteIds } from '../../workflows/search-attributes';
import { consentToken, fileDeletion, personInSites } from '../support/deletion';
import { DAY } from '../support/fixtures';
import { startTestSystem, type TestSystem } from '../support/system';

/**
 * What support sees of a deletion in the Temporal Web UI and CLI (O1, issue 16), on the shared dev
 * server (real visibility, real time): found by `SiteIds = '<siteId>'` for each site it touches, a
 * summary on the run and on each timer and activity (ids only), and a `state` query in ISO times
 * that says who filed it, each site's answer and deadline, and what it waits for next.
 */
let sys: TestSystem;
let support: { id: string; token: string };

beforeAll(async () => {
  sys = await startTestSystem({});
  support = await sys.signIn({ platformRole: 'support' });
});
afterAll(async () => {
  await sys?.close();
});

const handle = (requestId: string) => sys.temporal.workflow.getHandle(profileDeletionWorkflowId(requestId));

/** Workflow ids the visibility query finds (the dev server's visibility is eventually consistent). */
async function found(query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const w of sys.temporal.workflow.list({ query })) ids.push(w.workflowId);
  return ids;
}

/** `kind: summary` of every event with Temporal user metadata, in history order. */
async function summaries(requestId: string): Promise<string[]> {
  return ((await handle(requestId).fetchHistory()).events ?? []).flatMap((e) => {
    const payload = e.userMetadata?.summary;
    if (!payload?.data) return [];
    const kind = e.workflowExecutionStartedEventAttributes
      ? 'run'
      : e.timerStartedEventAttributes
        ? 'timer'
        : e.activityTaskScheduledEventAttributes
          ? 'activity'
          : 'other';
    return [`${kind}: ${JSON.parse(Buffer.from(payload.data).toString('utf8'))}`];
  });
}

const cancel = (id: string) =>
  sys.request('POST', `/support/profile-deletions/${id}/cancel`, { token: support.token });

describe('profile deletion in the Web UI and CLI', () => {
  it('a deletion touching two sites is found by SiteIds for each, says what it is and what it waits for', async () => {
    const { person, sites } = await personInSites(sys, 2);
    const { sites: elsewhere } = await personInSites(sys, 1);
    const siteIds = sites.map((s) => s.id).sort();
    const filedAt = Date.now();
    const request = await fileDeletion(sys, support.token, person.email);
    for (const site of sites) await consentToken(sys, request.id, site.id);
    const workflowId = profileDeletionWorkflowId(request.id);

    for (const siteId of siteIds) {
      await vi.waitFor(async () => expect(await found(`SiteIds = '${siteId}'`)).toEqual([workflowId]), {
        timeout: 20_000,
        interval: 250,
      });
    }
    // With the status, as support would narrow it; another site's query does not find it.
    expect(await found(`SiteIds = '${siteIds[0]}' AND DeletionStatus = 'awaiting_consent'`)).toEqual([
      workflowId,
    ]);
    expect(await found(`SiteIds = '${elsewhere[0]!.id}'`)).not.toContain(workflowId);

    const described = await handle(request.id).describe();
    expect(described.typedSearchAttributes.get(SiteIds)).toEqual(siteIds);
    expect(described.typedSearchAttributes.get(DeletionStatus)).toBe('awaiting_consent');
    expect(await described.staticSummary()).toBe(`Profile deletion request ${request.id}`);
    expect(await described.staticDetails()).toContain('SiteIds');

    // The plan in ISO times, who filed it, each site's answer-by, and what comes next.
    const state = await vi.waitFor(
      async () => {
        const s = await queryProfileDeletion(sys.temporal, request.id);
        expect(s.waitingFor).toBeDefined();
        return s;
      },
      { timeout: 20_000, interval: 200 },
    );
    const filed = Date.parse(state.request.filedAt);
    expect(Math.abs(filed - filedAt)).toBeLessThan(60_000);
    expect(Math.abs(Date.parse(state.now) - Date.now())).toBeLessThan(60_000);
    const consentDeadline = new Date(filed + 30 * DAY - 3_600_000).toISOString();
    expect(state).toEqual({
      requestId: request.id,
      status: 'awaiting_consent',
      now: state.now,
      request: {
        filedAt: new Date(filed).toISOString(),
        filedBy: { role: 'support', profileId: support.id },
      },
      sites: siteIds.map((siteId) => ({ siteId, decision: 'pending', answerBy: consentDeadline })),
      blockingSiteIds: [],
      plan: {
        reminderAt: new Date(filed + 7 * DAY).toISOString(),
        consentDeadline,
        timesOutAt: new Date(filed + 30 * DAY).toISOString(),
      },
      reminded: false,
      activity: 'Waiting for answers or the reminder',
      waitingFor: { what: 'answers or the reminder', until: new Date(filed + 7 * DAY).toISOString() },
    });

    // The timeline: ids only, never the person.
    const timeline = await summaries(request.id);
    expect(timeline.slice(0, 2)).toEqual([
      `run: Profile deletion request ${request.id}`,
      'activity: Open the request: the sites to ask',
    ]);
    expect(timeline.slice(2, 4).sort()).toEqual(
      siteIds.map((id) => `activity: Consent email to the owner of site ${id}`),
    );
    expect(timeline.slice(4)).toEqual([`timer: 7-day consent reminder for sites ${siteIds.join(', ')}`]);
    const history = JSON.stringify(await handle(request.id).fetchHistory());
    for (const needle of [person.email, person.name, person.id]) expect(history).not.toContain(needle);

    expect((await cancel(request.id)).status).toBe(200);
    await handle(request.id).result();
  });

  it('a deletion blocked by an owned site is found by that site, and ended at once', async () => {
    const { person, sites } = await personInSites(sys, 1);
    const [site] = await sys.sql`insert into sites (name) values (${`Owned ${randomUUID()}`}) returning id`;
    const owned = site!.id as string;
    await sys.db.insert(memberships).values({ siteId: owned, profileId: person.id, role: 'owner' });
    const request = await fileDeletion(sys, support.token, person.email);
    expect(request.status).toBe('blocked_owner');
    expect(await handle(request.id).result()).toEqual({ status: 'blocked_owner' });
    const workflowId = profileDeletionWorkflowId(request.id);
    await vi.waitFor(
      async () =>
        expect(await found(`SiteIds = '${owned}' AND DeletionStatus = 'blocked_owner'`)).toEqual([
          workflowId,
        ]),
      { timeout: 20_000, interval: 250 },
    );
    // The site it only belongs to was not asked: it is not named.
    expect(await found(`SiteIds = '${sites[0]!.id}'`)).not.toContain(workflowId);
    expect(await summaries(request.id)).toEqual([
      `run: Profile deletion request ${request.id}`,
      'activity: Open the request: the sites to ask',
      'activity: Email support: blocked_owner',
    ]);
  });
});
