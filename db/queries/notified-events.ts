import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { uuidArray } from './sql-arrays';

/**
 * K6, N3: claims `toClaim` (some of the email's events) for the email keyed `email.key`, each event
 * that no email has claimed, and answers those of the email's events it holds. An email that holds
 * some already is a retry: it claims nothing more, so it keeps telling of what its first run queued.
 * The answer is read by a statement of its own, so a run of the same email that committed while the
 * insert waited for it is seen: its email is this one. Call it in the transaction that queues the email.
 */
export async function claimEventsForEmail(
  tx: DbOrTx,
  email: { key: string; eventIds: readonly string[] },
  toClaim: readonly string[],
): Promise<Set<string>> {
  if (email.eventIds.length === 0) return new Set();
  const ofEmail = uuidArray(email.eventIds);
  if (toClaim.length > 0) {
    // In id order: two emails claiming some of the same events wait for each other, never in a cycle.
    await tx.execute(sql`
      insert into notified_events (event_id, email_key)
      select id, ${email.key} from unnest(${uuidArray(toClaim)}) as id
      where not exists (select 1 from notified_events where email_key = ${email.key} and event_id = any(${ofEmail}))
      order by id
      on conflict (event_id) do nothing`);
  }
  const held = await tx.execute<{ event_id: string }>(sql`
    select event_id from notified_events where email_key = ${email.key} and event_id = any(${ofEmail})`);
  return new Set(held.map((r) => r.event_id));
}
