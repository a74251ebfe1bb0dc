import { describe, expect, it } from 'vitest';
import { NOTIFIABLE_EVENT_TYPES } from '../../api/routes/events';
import { notificationEmailKey } from '../../domain/notification-emails';
import {
  addEvent,
  afterStep,
  emptyNotifyState,
  MAX_DIGEST_EVENTS,
  matchesNotification,
  NOTIFICATION_CHOICES,
  type NotifyState,
  nextStep,
  notificationChoiceOf,
} from '../../domain/notifications';

const W = 600_000;
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('what matches (K6)', () => {
  it('every choice the API accepts is reachable from a recorded event type, and no other', () => {
    expect([...NOTIFICATION_CHOICES].sort()).toEqual([...NOTIFIABLE_EVENT_TYPES].sort());
  });
  it('maps device events lock.<kind> and refused openings to the owner’s choices', () => {
    expect(notificationChoiceOf('lock.tamper')).toBe('tamper');
    expect(notificationChoiceOf('lock.door_left_open')).toBe('door_left_open');
    expect(notificationChoiceOf('lock.low_battery')).toBe('low_battery');
    expect(notificationChoiceOf('lock.intrusion')).toBe('intrusion');
    expect(notificationChoiceOf('lock.open_refused')).toBe('lock.open_refused');
  });
  it('other event types never notify', () => {
    for (const t of [
      'lock.opened',
      'member.subscribed',
      'tamper',
      'constructor',
      '__proto__',
      'toString',
      '',
    ]) {
      expect(notificationChoiceOf(t)).toBeUndefined();
      expect(matchesNotification(t, [...NOTIFICATION_CHOICES, t])).toBe(false);
    }
  });
  it('matches only what the owner chose', () => {
    expect(matchesNotification('lock.tamper', ['tamper'])).toBe(true);
    expect(matchesNotification('lock.tamper', ['intrusion', 'lock.open_refused'])).toBe(false);
    expect(matchesNotification('lock.open_refused', [])).toBe(false);
  });
});

describe('when to send', () => {
  it('an event after a quiet time goes out at once and opens a window', () => {
    const s = addEvent(emptyNotifyState(), id(1));
    const step = nextStep(s, 1000);
    expect(step).toEqual({ kind: 'immediate', eventId: id(1) });
    const after = afterStep(s, step, 1000, W);
    expect(after).toEqual({ pending: [], overflow: 0, windowEndsAtMs: 1000 + W });
  });
  it('events in the window wait for its end, then become one digest and a new window', () => {
    let s: NotifyState = { pending: [], overflow: 0, windowEndsAtMs: 1000 + W };
    for (let i = 2; i <= 50; i++) s = addEvent(s, id(i));
    expect(nextStep(s, 2000)).toEqual({ kind: 'wait', untilMs: 1000 + W });
    const step = nextStep(s, 1000 + W);
    expect(step.kind).toBe('digest');
    expect(step.kind === 'digest' && step.eventIds).toHaveLength(49);
    const after = afterStep(s, step, 1000 + W, W);
    expect(after).toEqual({ pending: [], overflow: 0, windowEndsAtMs: 1000 + 2 * W });
  });
  it('a window that ends with nothing collected closes: the next event goes out at once', () => {
    const s: NotifyState = { pending: [], overflow: 0, windowEndsAtMs: 1000 };
    expect(nextStep(s, 1000)).toEqual({ kind: 'idle' });
    expect(afterStep(s, { kind: 'idle' }, 1000, W)).toEqual(emptyNotifyState());
  });
  it('events arriving while a digest is sent stay for the next one', () => {
    let s: NotifyState = { pending: [id(1), id(2)], overflow: 0, windowEndsAtMs: 0 };
    const step = nextStep(s, 10);
    s = addEvent(s, id(3));
    expect(afterStep(s, step, 10, W).pending).toEqual([id(3)]);
  });
  it('a repeated event id counts once; beyond the digest size events are counted, not kept', () => {
    let s = addEvent(addEvent(emptyNotifyState(), id(1)), id(1));
    expect(s.pending).toEqual([id(1)]);
    for (let i = 2; i <= MAX_DIGEST_EVENTS + 30; i++) s = addEvent(s, id(i));
    expect(s.pending).toHaveLength(MAX_DIGEST_EVENTS);
    expect(s.overflow).toBe(30);
    s = { ...s, windowEndsAtMs: 0 };
    const step = nextStep(s, 1);
    expect(step.kind === 'digest' && step.overflow).toBe(30);
    expect(afterStep(s, step, 1, W)).toMatchObject({ pending: [], overflow: 0 });
  });
  it('each email has its own idempotency key', () => {
    expect(notificationEmailKey({ kind: 'immediate', eventId: id(1) })).not.toBe(
      notificationEmailKey({ kind: 'digest', eventIds: [id(1)] }),
    );
  });
  it('a digest is keyed by its whole set of events: one sharing its first event is another email', () => {
    const key = (...n: number[]) => notificationEmailKey({ kind: 'digest', eventIds: n.map(id) });
    // Before: both were notification-digest:<first id>, and the mailer dropped the second.
    expect(key(2, 4)).not.toBe(key(2, 3));
    expect(key(2)).not.toBe(key(2, 3));
    // The same set is the same email, whatever its order.
    expect(key(3, 2)).toBe(key(2, 3));
    // Short enough for the provider's idempotency key (256 characters) at a full digest.
    const full = Array.from({ length: MAX_DIGEST_EVENTS }, (_, i) => i + 1);
    expect(key(...full)).toMatch(/^notification-digest:[0-9a-f]{64}$/);
  });
});
