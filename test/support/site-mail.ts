import { expect, vi } from 'vitest';
import type { TestSystem } from './system';

/** A site's emails in order, as template names (reminders carry their day count: subscription-reminder7). */
export async function siteMail(sys: TestSystem, siteName: string): Promise<string[]> {
  return (await sys.mailbox())
    .filter((m) => m.subject.includes(siteName))
    .map((m) => m.template + (m.idempotencyKey.match(/^reminder:.+:(\d+)d$/)?.[1] ?? ''));
}

/** Waits (bounded) for the workflow to act on a fired timer; time does not skip while we poll. */
export function expectSiteMail(sys: TestSystem, siteName: string, expected: string[]) {
  return vi.waitFor(async () => expect(await siteMail(sys, siteName)).toEqual(expected), {
    timeout: 15_000,
    interval: 100,
  });
}
