import {
  allHandlersFinished,
  condition,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { ProfileDeletionActivities } from '../../activities/profile-deletion';
import { type DeletionStatus, deletionPlan, nextStep, type RequestView } from '../../domain/profile-deletion';
import { ACTIVITY_OPTIONS } from '../activity-options';
import { DeletionStatus as DeletionStatusKey } from '../search-attributes';
import {
  type ConsentSignal,
  cancelSignal,
  consentSignal,
  deletionStateQuery,
  type ProfileDeletionState,
} from './messages';

/** Ids only (D10): activities look the profile up. */
export interface ProfileDeletionInput {
  requestId: string;
}

const acts = proxyActivities<ProfileDeletionActivities>(ACTIVITY_OPTIONS);

/**
 * One writer per consent (issue 12): the consent page records the answer in the database, and its
 * `consent` signal only wakes the workflow, which reloads the request. Before this patch the workflow
 * also wrote each signalled answer through `recordConsent`.
 */
const CONSENT_SIGNAL_WAKES = 'consent-signal-wakes';

/**
 * `profile-deletion-<requestId>` (SPEC 3.5): asks every site's owner, reminds once at day 7, gives up
 * at day 30, and deletes once every site approved. Decisions arrive as `consent` signals after the
 * consent page recorded them, as wake-ups: the database is the truth, re-read at each signal and at the
 * deadline.
 */
export async function profileDeletionWorkflow(
  input: ProfileDeletionInput,
): Promise<{ status: DeletionStatus }> {
  const plan = deletionPlan(Date.now());
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
  // Registered before the first await, so a signal sent with the start is not lost.
  setHandler(consentSignal, (s) => {
    if (typeof s?.siteId === 'string' && (s.decision === 'approved' || s.decision === 'denied'))
      inbox.push(s);
  });
  setHandler(cancelSignal, () => {
    cancelRequested = true;
  });
  setHandler(deletionStateQuery, () => state);

  const publish = () => upsertSearchAttributes([{ key: DeletionStatusKey, value: state.status }]);
  const adopt = (v: RequestView) => {
    state.sites = v.consents;
    state.status = v.status;
  };
  const finish = async (status: 'blocked_owner' | 'denied' | 'timed_out' | 'canceled', siteIds: string[]) => {
    const result = await acts.finishDeletionRequest({ requestId: input.requestId, status });
    state.status = result.status;
    publish();
    log.info('deletion request ended', { requestId: input.requestId, status: result.status, siteIds });
    // Support hears only of the outcome this workflow made; a cancel came from support itself.
    if (result.status === status && status !== 'canceled') {
      await acts.notifySupport({ requestId: input.requestId, outcome: status, siteIds });
    }
  };
  const askSites = (siteIds: string[], kind: 'request' | 'reminder') =>
    Promise.all(
      siteIds.map((siteId) =>
        acts.sendConsentLink({
          requestId: input.requestId,
          siteId,
          kind,
          tokenExpiresAtMs: plan.tokenExpiresAtMs,
        }),
      ),
    );
  const done = async () => {
    await condition(allHandlersFinished);
    return { status: state.status };
  };

  publish();
  const opened = await acts.openDeletionRequest({
    requestId: input.requestId,
    deadlineAtMs: plan.deadlineAtMs,
  });
  adopt(opened);
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
    while (inbox.length > 0) {
      if (patched(CONSENT_SIGNAL_WAKES)) {
        // Every signal so far is answered by one read: answers that arrive during it wake it again.
        inbox.length = 0;
        adopt(await acts.loadDeletionRequest({ requestId: input.requestId }));
        continue;
      }
      const signal = inbox.shift() as ConsentSignal;
      if (state.sites.some((s) => s.siteId === signal.siteId && s.decision === 'pending')) {
        adopt(await acts.recordConsent({ requestId: input.requestId, ...signal }));
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
        adopt(await acts.loadDeletionRequest({ requestId: input.requestId }));
        if (state.status !== 'awaiting_consent' || state.sites.every((s) => s.decision !== 'pending'))
          continue;
      }
      const siteIds = state.sites
        .filter((s) => s.decision === (step.status === 'denied' ? 'denied' : 'pending'))
        .map((s) => s.siteId);
      await finish(step.status, siteIds);
      return done();
    }
    if (step.kind === 'delete') {
      const outcome = await acts.deleteProfile({ requestId: input.requestId });
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
          await finish('blocked_owner', outcome.siteIds);
          return done();
        case 'not_approved':
          state.sites = outcome.consents;
          continue;
        case 'unasked_sites':
          state.sites.push(...outcome.siteIds.map((siteId) => ({ siteId, decision: 'pending' as const })));
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
      await condition(() => inbox.length > 0 || cancelRequested, step.untilMs - Date.now());
    }
  }
}
