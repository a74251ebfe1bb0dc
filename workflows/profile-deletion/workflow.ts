import {
  allHandlersFinished,
  condition,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { ProfileDeletionActivities } from '../../activities/profile-deletion';
import {
  type DeletionStatus,
  deletionPlan,
  type FiledBy,
  nextStep,
  type RequestView,
} from '../../domain/profile-deletion';
import { ACTIVITY_OPTIONS } from '../activity-options';
import { DeletionStatus as DeletionStatusKey, SiteIds } from '../search-attributes';
import {
  type ConsentSignal,
  cancelSignal,
  consentSignal,
  deletionStateQuery,
  type ProfileDeletionState,
  sitesChangedSignal,
} from './messages';
import { describeDeletion, waitTimerSummary } from './state-view';

/** Ids only (D10): activities look the profile up. */
export interface ProfileDeletionInput {
  requestId: string;
  /** Absent on runs started before it was passed: support filed them (D1). */
  filedBy?: FiledBy;
}

/**
 * One writer per consent (issue 12): the consent page records the answer in the database, and its
 * `consent` signal only wakes the workflow, which reloads the request. Before this patch the workflow
 * also wrote each signalled answer through `recordConsent`.
 */
const CONSENT_SIGNAL_WAKES = 'consent-signal-wakes';
/**
 * Issue 16: the `SiteIds` search attribute (every site the request asks or waits on) and summaries on
 * activities and timers. Runs from before replay without either.
 */
const DESCRIBED = 'deletion-described';
/** Issue 16: a request the filing found blocked (D6) is only told to support. */
const BLOCKED_AT_FILING = 'deletion-blocked-at-filing';
/**
 * N7: the deadline's end is decided again when the request is closed (`finishDeletionRequest`), from
 * the answers stored by then: a denial recorded after the workflow's last read ends it `denied` (and
 * support hears of a denial), every approval keeps it open for the deletion. Before, such a denial
 * was overwritten by `timed_out`.
 */
const DEADLINE_RECHECKED = 'deletion-deadline-rechecked';

export async function profileDeletionWorkflow(
  input: ProfileDeletionInput,
): Promise<{ status: DeletionStatus }> {
  const filedAtMs = Date.now();
  const plan = deletionPlan(filedAtMs);
  const state: ProfileDeletionState = {
    requestId: input.requestId,
    status: 'awaiting_consent',
    sites: [],
    blockingSiteIds: [],
    plan,
    reminded: false,
  };
  const inbox: ConsentSignal[] = [];
  let cancelRequested = false;
  /** The step in progress, in words (the query and the Web UI's current details show it). */
  let doing: string | undefined;
  // Registered before the first await, so a signal sent with the start is not lost.
  setHandler(consentSignal, (s) => {
    if (typeof s?.siteId === 'string' && (s.decision === 'approved' || s.decision === 'denied'))
      inbox.push(s);
  });
  setHandler(cancelSignal, () => {
    cancelRequested = true;
  });
  // No patch: runs recorded before this handler never had the signal, so nothing they replay changes.
  let sitesChanged = false;
  setHandler(sitesChangedSignal, () => {
    sitesChanged = true;
  });
  setHandler(deletionStateQuery, () =>
    describeDeletion(state, {
      nowMs: Date.now(),
      filedAtMs,
      filedBy: input.filedBy ?? { role: 'support' },
      doing,
    }),
  );
  const described = patched(DESCRIBED);

  /** Activities with a summary for the timeline (Temporal user metadata); ids only. */
  const acts = (summary: string) =>
    proxyActivities<ProfileDeletionActivities>(
      described ? { ...ACTIVITY_OPTIONS, summary } : ACTIVITY_OPTIONS,
    );
  /** Runs one step of activities, saying what it does while it runs. */
  async function run<T>(summary: string, work: () => Promise<T>): Promise<T> {
    doing = summary;
    setCurrentDetails(summary);
    try {
      return await work();
    } finally {
      doing = undefined;
    }
  }

  const publish = () => upsertSearchAttributes([{ key: DeletionStatusKey, value: state.status }]);
  /** `SiteIds`: support finds every deletion touching a site (`SiteIds = '<siteId>'`). Only grows. */
  const siteIdsShown = new Set<string>();
  const showSites = (siteIds: readonly string[]) => {
    if (!described || siteIds.every((id) => siteIdsShown.has(id))) return;
    for (const id of siteIds) siteIdsShown.add(id);
    upsertSearchAttributes([{ key: SiteIds, value: [...siteIdsShown].sort() }]);
  };
  const adopt = (v: RequestView) => {
    state.sites = v.consents;
    state.status = v.status;
  };
  const tellSupport = (outcome: 'blocked_owner' | 'denied' | 'timed_out', siteIds: string[]) =>
    run(`Email support: ${outcome}`, () =>
      acts(`Email support: ${outcome}`).notifySupport({ requestId: input.requestId, outcome, siteIds }),
    );
  const reload = () =>
    run('Reload the answers', () =>
      acts('Reload the answers').loadDeletionRequest({ requestId: input.requestId }),
    );
  /** Records the end; false when the request stays open (every site approved by the deadline). */
  const finish = async (
    status: 'blocked_owner' | 'denied' | 'timed_out' | 'canceled',
    siteIds: string[],
  ): Promise<boolean> => {
    const result = await run(`Record the end: ${status}`, () =>
      acts(`Record the end: ${status}`).finishDeletionRequest({ requestId: input.requestId, status }),
    );
    const answeredAtDeadline =
      status === 'timed_out' &&
      (result.status === 'denied' || result.status === 'awaiting_consent') &&
      patched(DEADLINE_RECHECKED);
    if (answeredAtDeadline) {
      adopt(await reload());
      if (state.status === 'awaiting_consent') return false;
    } else state.status = result.status;
    publish();
    log.info('deletion request ended', { requestId: input.requestId, status: state.status, siteIds });
    if (answeredAtDeadline && state.status === 'denied') {
      const denied = state.sites.filter((s) => s.decision === 'denied').map((s) => s.siteId);
      await tellSupport('denied', denied);
    }
    // Support hears only of the outcome this workflow made; a cancel came from support itself.
    else if (result.status === status && status !== 'canceled') await tellSupport(status, siteIds);
    return true;
  };
  const askSites = (siteIds: string[], kind: 'request' | 'reminder') =>
    run(
      `${kind === 'request' ? 'Consent emails' : 'Consent reminders'} to the owners of ${siteIds.join(', ')}`,
      () =>
        Promise.all(
          siteIds.map((siteId) =>
            acts(
              `${kind === 'request' ? 'Consent email' : 'Consent reminder'} to the owner of site ${siteId}`,
            ).sendConsentLink({
              requestId: input.requestId,
              siteId,
              kind,
              tokenExpiresAtMs: plan.tokenExpiresAtMs,
            }),
          ),
        ),
    );
  const done = async () => {
    setCurrentDetails(`Ended: ${state.status}`);
    await condition(allHandlersFinished);
    return { status: state.status };
  };

  publish();
  const opened = await run('Open the request: the sites to ask', () =>
    acts('Open the request: the sites to ask').openDeletionRequest({
      requestId: input.requestId,
      deadlineAtMs: plan.deadlineAtMs,
    }),
  );
  adopt(opened);
  showSites([...opened.consents.map((c) => c.siteId), ...opened.ownedSiteIds]);
  if (opened.status === 'blocked_owner' && patched(BLOCKED_AT_FILING)) {
    // Blocked when it was filed (D6): the filing answered so; support hears what to do.
    state.blockingSiteIds = opened.ownedSiteIds;
    publish();
    await tellSupport('blocked_owner', opened.ownedSiteIds);
    return done();
  }
  if (opened.status !== 'awaiting_consent') {
    publish();
    return done();
  }
  if (opened.ownedSiteIds.length > 0) {
    state.blockingSiteIds = opened.ownedSiteIds;
    await finish('blocked_owner', opened.ownedSiteIds);
    return done();
  }
  await askSites(
    state.sites.map((s) => s.siteId),
    'request',
  );
  log.info('consent asked', { requestId: input.requestId, siteIds: state.sites.map((s) => s.siteId) });

  for (;;) {
    if (sitesChanged) {
      sitesChanged = false;
      adopt(await reload());
      continue;
    }
    while (inbox.length > 0) {
      if (patched(CONSENT_SIGNAL_WAKES)) {
        // Every signal so far is answered by one read: answers that arrive during it wake it again.
        inbox.length = 0;
        adopt(await reload());
        continue;
      }
      const signal = inbox.shift() as ConsentSignal;
      if (state.sites.some((s) => s.siteId === signal.siteId && s.decision === 'pending')) {
        adopt(
          await run('Read the answer', () =>
            acts('Read the answer').recordConsent({ requestId: input.requestId, ...signal }),
          ),
        );
      }
    }
    if (state.status !== 'awaiting_consent') {
      // Ended outside this workflow (a support cancel whose signal was lost).
      publish();
      return done();
    }
    const step = nextStep({
      consents: state.sites,
      nowMs: Date.now(),
      plan,
      canceled: cancelRequested,
      reminded: state.reminded,
    });
    if (step.kind === 'finish') {
      if (step.status === 'timed_out') {
        // An answer recorded whose signal never arrived still counts.
        adopt(await reload());
        if (state.status !== 'awaiting_consent' || state.sites.every((s) => s.decision !== 'pending'))
          continue;
      }
      const siteIds = state.sites
        .filter((s) => s.decision === (step.status === 'denied' ? 'denied' : 'pending'))
        .map((s) => s.siteId);
      if (await finish(step.status, siteIds)) return done();
      continue;
    }
    if (step.kind === 'delete') {
      const outcome = await run('Delete the profile (D7)', () =>
        acts('Delete the profile (D7)').deleteProfile({ requestId: input.requestId }),
      );
      switch (outcome.kind) {
        case 'deleted':
          state.status = 'completed';
          publish();
          log.info('profile deleted', { requestId: input.requestId });
          return done();
        case 'not_open':
          state.status = outcome.status;
          publish();
          return done();
        case 'owner':
          state.blockingSiteIds = outcome.siteIds;
          showSites(outcome.siteIds);
          await finish('blocked_owner', outcome.siteIds);
          return done();
        case 'not_approved':
          state.sites = outcome.consents;
          continue;
        case 'unasked_sites':
          state.sites.push(...outcome.siteIds.map((siteId) => ({ siteId, decision: 'pending' as const })));
          showSites(outcome.siteIds);
          await askSites(outcome.siteIds, 'request');
          continue;
      }
    }
    if (step.kind === 'remind') {
      // The activity skips a site whose answer is stored but not yet signalled.
      await askSites(step.siteIds, 'reminder');
      state.reminded = true;
      log.info('consent reminder sent', { requestId: input.requestId, siteIds: step.siteIds });
      continue;
    }
    if (step.kind === 'wait') {
      const pending = state.sites.filter((s) => s.decision === 'pending').map((s) => s.siteId);
      const summary = waitTimerSummary(state.reminded, pending);
      setCurrentDetails(`Waiting for answers; then: ${summary}`);
      const woken = () => inbox.length > 0 || cancelRequested || sitesChanged;
      if (described) await condition(woken, step.untilMs - Date.now(), { summary });
      else await condition(woken, step.untilMs - Date.now());
    }
  }
}
