import { log } from '@temporalio/activity';
import type { Db } from '../db/client';
import { eventsWithNames } from '../db/queries/events';
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

export function createNotificationActivities(deps: { db: Db; mailer: Mailer }) {
  const { db, mailer } = deps;
  return {
    /**
     * Emails the site's owner (only the owner: K6) about the events that still match the owner's
     * current choice. Returns counts only: workflow results carry no personal data (D10).
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
      if (matching.length === 0) return { sent: false, events: 0 };

      const view = matching.map((e) => {
        const choice = notificationChoiceOf(e.type)!;
        const reason = typeof e.data?.reason === 'string' ? e.data.reason : undefined;
        return {
          label: EVENT_LABELS[choice] ?? choice,
          at: formatSiteDate(e.at, site.timezone),
          place: [e.lockName, e.iqName ?? e.iqSerial].filter(Boolean).join(' · ') || undefined,
          detail:
            choice === 'lock.open_refused'
              ? [e.actorName ? `by ${e.actorName}` : undefined, reason ? `(${reason})` : undefined]
                  .filter(Boolean)
                  .join(' ') || undefined
              : undefined,
        };
      });

      if (!input.digest) {
        const first = view[0]!;
        await mailer.send({
          to: owner.email,
          template: 'event-notification',
          props: { siteName: site.name, ...first },
          idempotencyKey: notificationEmailKey({ kind: 'immediate', eventId: input.eventIds[0]! }),
        });
        log.info('owner notified', { siteId: input.siteId, eventId: input.eventIds[0] });
        return { sent: true, events: 1 };
      }
      const counts = new Map<string, number>();
      for (const v of view) counts.set(v.label, (counts.get(v.label) ?? 0) + 1);
      await mailer.send({
        to: owner.email,
        template: 'event-digest',
        props: {
          siteName: site.name,
          total: view.length + input.overflow,
          counts: [...counts].map(([label, count]) => ({ label, count })),
          events: view,
          more: input.overflow,
        },
        idempotencyKey: notificationEmailKey({ kind: 'digest', eventIds: input.eventIds }),
      });
      log.info('owner sent a digest', { siteId: input.siteId, events: view.length + input.overflow });
      return { sent: true, events: view.length + input.overflow };
    },
  };
}

export type NotificationActivities = ReturnType<typeof createNotificationActivities>;
