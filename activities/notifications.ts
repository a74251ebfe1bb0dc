import { log } from '@temporalio/activity';
import type { Db } from '../db/client';
import { eventsWithNames } from '../db/queries/events';
import { claimEventsForEmail } from '../db/queries/notified-events';
import { findSite, findSiteOwner } from '../db/queries/sites';
import { notificationEmailKey } from '../domain/notification-emails';
import { matchesNotification, notificationChoiceOf } from '../domain/notifications';
import { formatSiteDate } from '../emails/format';
import type { Mailer } from '../emails/mailer';

export interface SendEventNotificationInput {
  siteId: string;
  /** Oldest first; one for an immediate email, the window's events for a digest. */
  eventIds: string[];
  digest: boolean;
  /** Events beyond the listed ones, counted only. */
  overflow: number;
}

/** What an owner reads for each notifiable event. */
export const EVENT_LABELS: Readonly<Record<string, string>> = {
  'lock.open_refused': 'Refused opening',
  tamper: 'Tamper alarm',
  door_left_open: 'Door left open',
  low_battery: 'Low battery',
  intrusion: 'Intrusion alarm',
};

/** What the owner reads of one event; times in the site's time zone. */
const eventView = (timezone: string) => (e: Awaited<ReturnType<typeof eventsWithNames>>[number]) => {
  const choice = notificationChoiceOf(e.type)!;
  const reason = typeof e.data?.reason === 'string' ? e.data.reason : undefined;
  return {
    label: EVENT_LABELS[choice] ?? choice,
    at: formatSiteDate(e.at, timezone),
    place: [e.lockName, e.iqName ?? e.iqSerial].filter(Boolean).join(' · ') || undefined,
    detail:
      choice === 'lock.open_refused'
        ? [e.actorName ? `by ${e.actorName}` : undefined, reason ? `(${reason})` : undefined]
            .filter(Boolean)
            .join(' ') || undefined
        : undefined,
  };
};

export function createNotificationActivities(deps: { db: Db; mailer: Mailer }) {
  const { db, mailer } = deps;
  return {
    /**
     * Emails the site's owner (only the owner: K6) about the events that still match the owner's
     * current choice and that no other email told of (N3): the relay may hand an event over again,
     * into this run's next digest or a new run's first email. The events are claimed in the
     * transaction that queues the email, which is sent once that has committed; a retry finds its own
     * claims and sends the email it queued. Returns counts only: workflow results carry no personal
     * data (D10).
     */
    async sendEventNotification(
      input: SendEventNotificationInput,
    ): Promise<{ sent: boolean; events: number }> {
      if (input.eventIds.length === 0) return { sent: false, events: 0 };
      const site = await findSite(db, input.siteId);
      const owner = site ? await findSiteOwner(db, input.siteId) : undefined;
      if (!site || !owner) return { sent: false, events: 0 };

      const rows = await eventsWithNames(db, input.siteId, input.eventIds);
      const matching = rows.filter((e) => matchesNotification(e.type, site.notifyEventTypes));
      const idempotencyKey = input.digest
        ? notificationEmailKey({ kind: 'digest', eventIds: input.eventIds })
        : notificationEmailKey({ kind: 'immediate', eventId: input.eventIds[0]! });

      const told = await db.transaction(async (tx) => {
        const held = await claimEventsForEmail(
          tx,
          { key: idempotencyKey, eventIds: input.eventIds },
          matching.map((e) => e.id),
        );
        const view = rows.filter((e) => held.has(e.id)).map(eventView(site.timezone));
        if (!input.digest) {
          if (view.length === 0) return 0;
          await mailer.queue(
            {
              to: owner.email,
              template: 'event-notification',
              props: { siteName: site.name, ...view[0]! },
              idempotencyKey,
            },
            tx,
          );
          return 1;
        }
        // The overflow's events have no ids to claim: counted in this digest, whatever its list kept.
        const total = view.length + input.overflow;
        if (total === 0) return 0;
        const counts = new Map<string, number>();
        for (const v of view) counts.set(v.label, (counts.get(v.label) ?? 0) + 1);
        await mailer.queue(
          {
            to: owner.email,
            template: 'event-digest',
            props: {
              siteName: site.name,
              total,
              counts: [...counts].map(([label, count]) => ({ label, count })),
              events: view,
              more: input.overflow,
            },
            idempotencyKey,
          },
          tx,
        );
        return total;
      });
      if (told === 0) {
        log.info('no event left to tell the owner of', {
          siteId: input.siteId,
          events: input.eventIds.length,
        });
        return { sent: false, events: 0 };
      }
      await mailer.sendQueued(idempotencyKey);
      log.info(input.digest ? 'owner sent a digest' : 'owner notified', {
        siteId: input.siteId,
        events: told,
      });
      return { sent: true, events: told };
    },
  };
}

export type NotificationActivities = ReturnType<typeof createNotificationActivities>;
