import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailer } from '../../emails/mailer';
import { allowTransactionsRunAgain } from '../support/no-deadlocks';
import { activeSite } from '../support/people';
import { startTestSystem, type TestSystem } from '../support/system';

/**
 * An invitation's email goes out inside its transaction. When PostgreSQL ends that transaction after
 * the email went out (a deadlock's victim), it runs again (db/client.ts): the second run must send
 * the same email under the same key, which the provider drops, and its link must be the one that
 * works. Before, each run made its own invitation id and link: two emails reached the person, and
 * the first one's link was dead.
 */

let sys: TestSystem;
/** Each invitation email the provider was asked to send: its key and its link. */
let sends: Array<{ key: string; acceptUrl: string }> = [];

beforeAll(async () => {
  sys = await startTestSystem({
    mailer: (db) => {
      const provider = createMailer({ db, from: 'KS Cloud <test@ks.test>' });
      return {
        ...provider,
        send(email, within) {
          if (email.template === 'invitation') {
            sends.push({
              key: email.idempotencyKey,
              acceptUrl: (email.props as { acceptUrl: string }).acceptUrl,
            });
          }
          return provider.send(email, within);
        },
      };
    },
  });
  // Each invitation's first run is ended after its email, at its event's insert, as PostgreSQL ends
  // a deadlock's victim (40P01); a sequence counts the runs, since rollbacks do not undo it.
  await sys.sql`create sequence invited_event_runs`;
  await sys.sql.unsafe(`
    create function end_first_run() returns trigger language plpgsql as $$
    begin
      if nextval('invited_event_runs') % 2 = 1 then
        raise exception 'deadlock detected (a test''s)' using errcode = '40P01';
      end if;
      return new;
    end $$`);
  await sys.sql.unsafe(`
    create trigger end_first_run before insert on events
    for each row when (new.type = 'member.invited') execute function end_first_run()`);
});

afterAll(async () => {
  await sys?.close();
});

/**
 * `invite` is answered 201, and its two runs sent one email: the same key and the same link, and the
 * link opens the invitation.
 */
async function expectOneEmailThatWorks(invite: () => Promise<Response>) {
  sends = [];
  expect((await invite()).status).toBe(201);
  expect(sends).toHaveLength(2);
  expect(sends[1]!.key).toBe(sends[0]!.key);
  expect(sends[1]!.acceptUrl).toBe(sends[0]!.acceptUrl);
  const shown = await sys.request('GET', new URL(sends[0]!.acceptUrl).pathname);
  expect(shown.status).toBe(200);
  expect(await shown.text()).toContain('<form method="post">');
}

describe('an invitation whose transaction runs again', () => {
  it('a member invited: one email, and its link works', async () => {
    allowTransactionsRunAgain();
    const { owner, site } = await activeSite(sys);
    await expectOneEmailThatWorks(() =>
      sys.request('POST', `/sites/${site.id}/people`, {
        token: owner.token,
        body: { email: `invitee-${randomUUID()}@example.test`, role: 'user' },
      }),
    );
  });

  it('a site an installer creates for its owner: one email, and its link works', async () => {
    allowTransactionsRunAgain();
    const installer = await sys.signIn({ platformRole: 'installer' });
    await expectOneEmailThatWorks(() =>
      sys.request('POST', '/sites', {
        token: installer.token,
        body: { name: 'Workshop', ownerEmail: `owner-${randomUUID()}@example.test` },
      }),
    );
  });

  it('ended while its email was being recorded: no refusal, it runs again', async () => {
    allowTransactionsRunAgain();
    const { owner, site } = await activeSite(sys);
    await sys.sql`drop trigger end_first_run on events`;
    // Now the email's own record ends the first run (sendOrRefuse once answered that 503 email_unavailable).
    await sys.sql.unsafe(`
      create trigger end_first_run before insert on sent_emails
      for each row when (new.template = 'invitation') execute function end_first_run()`);
    await sys.sql`select setval('invited_event_runs', 2)`;
    await expectOneEmailThatWorks(() =>
      sys.request('POST', `/sites/${site.id}/people`, {
        token: owner.token,
        body: { email: `invitee-${randomUUID()}@example.test`, role: 'user' },
      }),
    );
  });
});
