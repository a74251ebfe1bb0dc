import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db/client';
import {
  consentContext,
  type DeletionStatus,
  findDeletionRequest,
  finishDeletionRequest,
  listConsents,
  sentEmailStatus,
  setConsentToken,
} from '../db/queries/deletions';
import { findSiteOwner } from '../db/queries/sites';
import {
  consentDeadlineMs,
  consentEmailKey,
  goodbyeEmailKey,
  outcomeEmailKey,
  type RequestView,
} from '../domain/profile-deletion';
import { publicLink } from '../domain/public-link';
import { newToken } from '../domain/secrets';
import { formatSiteDate } from '../emails/format';
import type { Mailer } from '../emails/mailer';
import type { DeletionSupportOutcome } from '../emails/templates/deletion-outcome-support';
import {
  type DeletionOutcome,
  deleteProfileData,
  openDeletionRequest,
  sendGoodbye,
} from '../operations/profile-deletion';

export interface ProfileDeletionDeps {
  db: Db;
  mailer: Mailer;
  /** PUBLIC_BASE_URL: consent links point to `/consents/<token>` there. */
  publicBaseUrl: string;
  /** Where outcomes that need a person go (D4, D5, D6). */
  supportEmail: string;
}

/**
 * Activities of `profile-deletion-<requestId>`. They take the request id and look everything else up,
 * so no email, name or profile id enters the workflow history.
 */
export function createProfileDeletionActivities(deps: ProfileDeletionDeps) {
  const { db, mailer } = deps;

  async function view(requestId: string): Promise<RequestView> {
    const request = await findDeletionRequest(db, requestId);
    if (!request)
      throw ApplicationFailure.nonRetryable(`request ${requestId} does not exist`, 'RequestNotFound');
    return { status: request.status, consents: await listConsents(db, requestId) };
  }

  return {
    /**
     * Sets the deadline the workflow planned and asks every site the profile belongs to, unless the
     * profile owns one (D6: then nothing is asked). A retry finds the consents it wrote.
     */
    async openDeletionRequest(input: {
      requestId: string;
      deadlineAtMs: number;
    }): Promise<RequestView & { ownedSiteIds: string[] }> {
      const opened = await openDeletionRequest(db, {
        requestId: input.requestId,
        deadlineAt: new Date(input.deadlineAtMs),
      });
      if (!opened) {
        throw ApplicationFailure.nonRetryable(`request ${input.requestId} does not exist`, 'RequestNotFound');
      }
      return opened;
    },

    /**
     * Emails the site's owner a fresh single-use link (D2, D3); the reminder's link replaces the first.
     * Once the email is recorded the link in it is the stored one: a retry then only completes the
     * delivery, so the owner never holds a link whose hash was replaced.
     */
    async sendConsentLink(input: {
      requestId: string;
      siteId: string;
      kind: 'request' | 'reminder';
      /** The workflow's plan; the request's stored deadline (which the workflow set) decides. */
      tokenExpiresAtMs: number;
    }): Promise<{ sent: boolean }> {
      const key = consentEmailKey(input.kind, input.requestId, input.siteId);
      const recorded = await sentEmailStatus(db, key);
      if (recorded === 'sent') return { sent: true };
      const ctx = await consentContext(db, input.requestId, input.siteId);
      const owner = await findSiteOwner(db, input.siteId);
      if (ctx?.status !== 'awaiting_consent' || ctx.decision !== 'pending' || !owner) {
        log.info('consent link not sent: the site answered, the request ended or the site has no owner', {
          requestId: input.requestId,
          siteId: input.siteId,
        });
        return { sent: false };
      }
      // The link expires at the request's consent deadline, the one "answer by" time people see.
      const expiresAt = new Date(consentDeadlineMs(ctx.deadlineAt.getTime()));
      if (owner.profileId === ctx.subjectId) {
        // D6: the site's owner is the person whose deletion it asks about (an ownership transferred
        // to them): no link for them. The site is marked asked, so its next owner is sent one.
        await setConsentToken(db, {
          requestId: input.requestId,
          siteId: input.siteId,
          tokenHash: null,
          expiresAt,
          reminded: input.kind === 'reminder',
          now: new Date(),
        });
        log.info('consent link not sent: the site is owned by the person whose deletion it asks about', {
          requestId: input.requestId,
          siteId: input.siteId,
        });
        return { sent: false };
      }
      let consentUrl = '';
      if (!recorded) {
        const { token, hash } = newToken();
        const set = await setConsentToken(db, {
          requestId: input.requestId,
          siteId: input.siteId,
          tokenHash: hash,
          expiresAt,
          reminded: input.kind === 'reminder',
          now: new Date(),
        });
        if (!set) return { sent: false };
        consentUrl = publicLink(deps.publicBaseUrl, `/consents/${token}`);
      }
      // With a recorded email the mailer delivers that message and these props are not rendered into it.
      await mailer.send({
        to: owner.email,
        template: input.kind === 'request' ? 'deletion-consent-request' : 'deletion-consent-reminder',
        props: { siteName: ctx.siteName, consentUrl, answerBy: formatSiteDate(expiresAt, ctx.timezone) },
        idempotencyKey: key,
      });
      return { sent: true };
    },

    /**
     * Called by workflows that started before patch `consent-signal-wakes`, after each `consent`
     * signal. The consent page is the one writer of an answer (it records it before it signals), so
     * this only reads.
     */
    async recordConsent(input: {
      requestId: string;
      siteId: string;
      decision: 'approved' | 'denied';
    }): Promise<RequestView> {
      return view(input.requestId);
    },

    /** The stored truth, read at each `consent` signal and at the deadline (an answer whose signal was lost). */
    async loadDeletionRequest(input: { requestId: string }): Promise<RequestView> {
      return view(input.requestId);
    },

    async finishDeletionRequest(input: {
      requestId: string;
      status: 'blocked_owner' | 'denied' | 'timed_out' | 'canceled';
    }): Promise<{ status: DeletionStatus }> {
      const status = await finishDeletionRequest(db, input.requestId, input.status, new Date());
      if (!status)
        throw ApplicationFailure.nonRetryable(`request ${input.requestId} does not exist`, 'RequestNotFound');
      return { status };
    },

    async notifySupport(input: { requestId: string; outcome: DeletionSupportOutcome; siteIds: string[] }) {
      await mailer.send({
        to: deps.supportEmail,
        template: 'deletion-outcome-support',
        props: {
          ...input,
          requestUrl: publicLink(deps.publicBaseUrl, `/support/profile-deletions/${input.requestId}`),
        },
        idempotencyKey: outcomeEmailKey(input.requestId),
      });
    },

    /**
     * D7: the deletion, with its goodbye queued in the same transaction, and then the goodbye sent
     * (see deleteProfileData and sendGoodbye). After a failed send, the retry finds the request
     * completed and sends it then.
     */
    async deleteProfile(input: { requestId: string }): Promise<DeletionOutcome> {
      const outcome = await deleteProfileData(db, input.requestId, new Date(), (profile, tx) =>
        mailer.queue(
          {
            to: profile.email,
            template: 'profile-deleted',
            props: { name: profile.name },
            idempotencyKey: goodbyeEmailKey(input.requestId),
          },
          tx,
        ),
      );
      log.info('profile deletion', { requestId: input.requestId, outcome: outcome.kind });
      if (outcome.kind === 'deleted' || (outcome.kind === 'not_open' && outcome.status === 'completed')) {
        const goodbye = await sendGoodbye(db, mailer, input.requestId);
        if (goodbye === 'refused')
          log.error('goodbye email refused by the provider', { requestId: input.requestId });
      }
      return outcome;
    },
  };
}

export type ProfileDeletionActivities = ReturnType<typeof createProfileDeletionActivities>;
