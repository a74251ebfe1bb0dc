// Pure rules of the events an IQ reports (K8). Imports nothing of the project.

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
