import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { form } from './people';
import { TEST_BASE_URL, type TestSystem } from './system';

export interface SandboxSite {
  id: string;
  name: string;
  status: 'installing' | 'active';
  sandbox: true;
}

/**
 * A sandbox site (O2) as support makes one through the API: `POST /support/sites` invites the owner
 * (S7), who then accepts through the link of the invitation email in the mailbox. The owner needs a
 * profile (`sys.signIn`); the site is theirs, with the master key, when this returns.
 */
export async function sandboxSite(
  sys: TestSystem,
  supportToken: string,
  owner: { email: string },
  opts: { name?: string; timezone?: string } = {},
): Promise<SandboxSite> {
  const name = opts.name ?? `Sandbox ${randomUUID().slice(0, 8)}`;
  const created = await sys.request('POST', '/support/sites', {
    token: supportToken,
    body: {
      name,
      ownerEmail: owner.email,
      sandbox: true,
      ...(opts.timezone ? { timezone: opts.timezone } : {}),
    },
  });
  expect(created.status, await created.clone().text()).toBe(201);
  const site = (await created.json()) as SandboxSite;
  await acceptOwnerInvitation(sys, owner.email, name);
  return site;
}

/** Accepts, as the profile of `email`, the newest invitation emailed to it for the site named `siteName`. */
export async function acceptOwnerInvitation(sys: TestSystem, email: string, siteName: string) {
  const link = await invitationLinkFor(sys, email, siteName);
  const accepted = await sys.request('POST', link, form({}));
  expect(accepted.status, `accepting ${link}`).toBe(200);
}

/** The path of the newest invitation link emailed to `email` for the site named `siteName`. */
export async function invitationLinkFor(sys: TestSystem, email: string, siteName: string): Promise<string> {
  const mail = (await sys.mailbox())
    .filter(
      (m) => m.to === email.toLowerCase() && m.template === 'invitation' && m.subject.includes(siteName),
    )
    .at(-1);
  const match = mail && new RegExp(`${TEST_BASE_URL}(/invitations/[A-Za-z0-9_-]+)`).exec(mail.text);
  if (!match?.[1]) throw new Error(`no invitation to ${siteName} emailed to ${email}`);
  return match[1];
}
