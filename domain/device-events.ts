// Pure rules of the events an IQ reports (K8). Imports nothing of the project.
import type { ThrottlePolicy } from './throttling';

/**
 * The pace of an IQ connection's reports (events, update statuses), each of which costs the database
 * statements: a burst of 1,000 (an IQ back online uploads what it buffered), then 100 a second. A
 * faster IQ is held back, never dropped: its lines wait in its own socket until their turn.
 */
export const DEVICE_REPORTS: ThrottlePolicy = { limit: 1_000, windowMs: 10_000 };

/** A device clock may run this far ahead of ours; an event further in the future is a lie. */
export const MAX_DEVICE_CLOCK_AHEAD_MS = 5 * 60_000;

/**
 * When a reported event happened: the IQ's own time (an IQ that was offline uploads events with the
 * times they happened), or now when it gave none. Undefined when the time is implausible: ahead of
 * our clock by more than the skew allowed, or before the IQ was registered (it held no credential then).
 */
export function deviceEventTime(
  reportedAtMs: number | undefined,
  nowMs: number,
  registeredAtMs: number,
): Date | undefined {
  if (reportedAtMs === undefined) return new Date(nowMs);
  if (!Number.isFinite(reportedAtMs)) return undefined;
  if (reportedAtMs > nowMs + MAX_DEVICE_CLOCK_AHEAD_MS) return undefined;
  if (reportedAtMs < registeredAtMs - MAX_DEVICE_CLOCK_AHEAD_MS) return undefined;
  return new Date(reportedAtMs);
}
