import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailer } from '../../emails/mailer';
import { allowTransactionsRunAgain, endOddRunsAsDeadlocked } from '../support/no-deadlocks';
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
let removeEventTrigger: () => Promise<void>;

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
  // Each invitation's first run is ended after its email, at its event's insert.
  removeEventTrigger = await endOddRunsAsDeadlocked(sys.sql, {
    name: 'end_invited_event',
    table: 'events',
    when: "new.type = 'member.invited'",
  });
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
    await removeEventTrigger();
    // Now the email's own record ends the first run (sendOrRefuse once answered that 503 email_unavailable).
    await endOddRunsAsDeadlocked(sys.sql, {
      name: 'end_invitation_record',
      table: 'sent_emails',
      when: "new.template = 'invitation'",
    });
    await expectOneEmailThatWorks(() =>
      sys.request('POST', `/sites/${site.id}/people`, {
        token: owner.token,
        body: { email: `invitee-${randomUUID()}@example.test`, role: 'user' },
      }),
    );
  });
});
