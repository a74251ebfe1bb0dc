/**
 * D10 / issue 7 item 6: no personal data in workflow histories, memos or search attributes. Runs
 * every workflow the product has, with distinctive emails and names, then fetches every history of
 * the test's task queue from the Temporal server and searches it for each of them.
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { events, iqs, locks, sites } from '../../db/schema';
import { answer, consentToken, deletionStatus, fileDeletion } from '../support/deletion';
import { addMember, createSite, voucher } from '../support/fixtures';
import { sandboxSite } from '../support/sandbox';
import { siteMail } from '../support/site-mail';
import { startTestSystem, type TestSystem } from '../support/system';

let sys: TestSystem;
let support: { token: string };
const tag = randomUUID().slice(0, 8);
/** Every email and name used; none may appear in any history. */
const personal: string[] = [];

async function person(role: string, platformRole?: 'support') {
  const email = `privacy-${role}-${tag}@histories-secret.test`;
  const name = `Quintessa ${role[0]!.toUpperCase()}${role.slice(1)}mann ${tag}`;
  personal.push(email, name);
  return { ...(await sys.signIn({ email, name, ...(platformRole ? { platformRole } : {}) })), name };
}

const call = async (method: string, path: string, token: string, body?: unknown) => {
  const res = await sys.request(method, path, { token, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
};

let sandboxSiteId = '';
const mailKeys = async () => (await sys.mailbox()).map((m) => m.idempotencyKey);

beforeAll(async () => {
  sys = await startTestSystem({});
  support = await person('support', 'support');
});
afterAll(async () => {
  await sys?.close();
});

/** Every string inside a value, with byte arrays (payload data) decoded as UTF-8 text. */
function texts(value: unknown, out: string[] = [], seen = new Set<unknown>()): string[] {
  if (value === null || value === undefined) return out;
  if (typeof value === 'string') out.push(value);
  else if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
  else if (typeof value === 'object') {
    if (seen.has(value)) return out;
    seen.add(value);
    if (value instanceof Map) {
      for (const [k, v] of value) {
        texts(k, out, seen);
        texts(v, out, seen);
      }
    } else {
      for (const [k, v] of Object.entries(value)) {
        out.push(k);
        texts(v, out, seen);
      }
    }
  }
  return out;
}

describe('no personal data in workflow histories (D10)', () => {
  it('subscription (redemption, reminders on a sandbox clock, expiry)', async () => {
    const owner = await person('subowner');
    const siteId = (await sandboxSite(sys, support.token, owner, { name: `Privacy sandbox ${tag}` })).id;
    sandboxSiteId = siteId;
    const v = await voucher(sys, { durationDays: 30 });
    const redeemed = await call('POST', `/sites/${siteId}/subscription/redemptions`, owner.token, {
      code: v.code,
    });
    expect(redeemed.status).toBe(200);
    // 30-day term: 28 days before the end is day 2, 7 before is day 23, 1 before is day 29, the end day 30.
    const name = `Privacy sandbox ${tag}`;
    const steps: Array<[number, string]> = [
      [3, 'subscription-reminder28'],
      [21, 'subscription-reminder7'],
      [5, 'subscription-reminder1'],
      [2, 'subscription-expired'],
    ];
    for (const [days, expected] of steps) {
      const moved = await call('POST', `/support/sites/${siteId}/clock`, support.token, {
        advanceSeconds: days * 86_400,
      });
      expect(moved.status).toBe(200);
      await vi.waitFor(async () => expect(await siteMail(sys, name)).toContain(expected), {
        timeout: 20_000,
        interval: 100,
      });
    }
    expect(await siteMail(sys, name)).toEqual([
      'invitation',
      'redemption-receipt',
      'subscription-reminder28',
      'subscription-reminder7',
      'subscription-reminder1',
      'subscription-expired',
    ]);
  });

  it('profile deletion to completion', async () => {
    const member = await person('deleted');
    const owner = await person('delowner');
    const site = await createSite(sys, owner.id);
    await addMember(sys, site.id, member.id);
    const filed = await fileDeletion(sys, support.token, member.email);
    const token = await consentToken(sys, filed.id, site.id);
    expect((await answer(sys, token, 'approve')).status).toBe(200);
    await vi.waitFor(
      async () => expect((await deletionStatus(sys, support.token, filed.id)).status).toBe('completed'),
      {
        timeout: 20_000,
        interval: 100,
      },
    );
  });

  it('owner notifications', async () => {
    const owner = await person('notifyowner');
    const admin = await person('notifyadmin');
    const site = await createSite(sys, owner.id);
    await sys.db.update(sites).set({ subscriptionStatus: 'active' }).where(eq(sites.id, site.id));
    await addMember(sys, site.id, admin.id, { role: 'admin', access: false });
    expect(
      (
        await call('PUT', `/sites/${site.id}/notifications`, owner.token, {
          eventTypes: ['lock.open_refused'],
        })
      ).status,
    ).toBe(200);
    const [iq] = await sys.db
      .insert(iqs)
      .values({ siteId: site.id, serial: `IQ-P-${tag}`, model: 'IQ2', secretHash: 'x', subscribed: true })
      .returning();
    const [lock] = await sys.db
      .insert(locks)
      .values({ siteId: site.id, iqId: iq!.id, name: 'Door' })
      .returning();
    // Refused (the admin holds no slot): an event with the admin as actor, emailed to the owner.
    expect((await call('POST', `/sites/${site.id}/locks/${lock!.id}/open`, admin.token)).status).toBe(403);
    await vi.waitFor(
      async () => expect((await mailKeys()).some((k) => k.startsWith('notification:'))).toBe(true),
      {
        timeout: 20_000,
        interval: 100,
      },
    );
    // The email itself names the actor; the history must not.
    const mail = (await sys.mailbox()).find((m) => m.idempotencyKey.startsWith('notification:'));
    expect(mail!.text).toContain(admin.name);
    expect(await sys.db.select().from(events)).not.toHaveLength(0);
  });

  it('firmware rollout (the rollout and its wave)', async () => {
    const owner = await person('rolloutowner');
    const site = await createSite(sys, owner.id);
    await sys.db.insert(iqs).values({
      siteId: site.id,
      serial: `IQ-R-${tag}`,
      model: 'IQ2',
      secretHash: 'x',
      subscribed: true,
      firmware: '1.0.0',
    });
    const release = await call('POST', '/support/firmware-releases', support.token, {
      model: 'IQ2',
      version: `9.${Date.now() % 1000}.0`,
      url: 'https://firmware.test/iq2.bin',
      sha256: 'a'.repeat(64),
      sizeBytes: 1024,
    });
    expect(release.status).toBe(201);
    const rollout = await call('POST', '/support/rollouts', support.token, {
      releaseId: release.body.id,
      target: { siteIds: [site.id] },
      policy: { offlineDeadlineSeconds: 1 },
    });
    expect(rollout.status).toBe(201);
    // The IQ never connects: it times out after a second and the rollout ends.
    await vi.waitFor(
      async () => {
        const p = await call('GET', `/support/rollouts/${rollout.body.id}`, support.token);
        expect(p.body.status).toBe('completed');
      },
      { timeout: 30_000, interval: 250 },
    );
  });

  it('no history, memo or search attribute of the task queue holds any email or name used', async () => {
    const expectedTypes = [
      'subscriptionWorkflow',
      'profileDeletionWorkflow',
      'notificationsWorkflow',
      'rolloutWorkflow',
      'rolloutWaveWorkflow',
    ];
    const listAll = async () => {
      const found = [];
      for await (const wf of sys.temporal.workflow.list({ query: `TaskQueue = "${sys.taskQueue}"` }))
        found.push(wf);
      return found;
    };
    let workflows = await listAll();
    await vi.waitFor(
      async () => {
        workflows = await listAll();
        for (const t of expectedTypes) expect(workflows.map((w) => w.type)).toContain(t);
      },
      { timeout: 20_000, interval: 250 },
    );
    const needles = personal.map((p) => p.toLowerCase());
    const leaks: string[] = [];
    let bytes = 0;
    let sawSiteId = false;
    for (const wf of workflows) {
      const handle = sys.temporal.workflow.getHandle(wf.workflowId, wf.runId);
      const history = await handle.fetchHistory();
      const description = await handle.describe();
      const haystack = texts([
        history,
        wf.memo,
        wf.searchAttributes,
        wf.typedSearchAttributes,
        description.memo,
        description.raw,
      ])
        .join('\n')
        .toLowerCase();
      bytes += haystack.length;
      if (haystack.includes(sandboxSiteId)) sawSiteId = true;
      for (const needle of needles)
        if (haystack.includes(needle)) leaks.push(`${wf.workflowId} (${wf.type}) holds ${needle}`);
    }
    console.log(
      `[privacy] scanned ${workflows.length} workflow runs (${[...new Set(workflows.map((w) => w.type))].join(', ')}), ` +
        `${(bytes / 1024).toFixed(0)} KiB of decoded text, for ${needles.length} emails and names: ${leaks.length} found`,
    );
    expect(leaks).toEqual([]);
    // The scan can see what it looks for: the decoded payloads hold the ids the workflows carry.
    expect(sawSiteId).toBe(true);
    expect(workflows.length).toBeGreaterThanOrEqual(expectedTypes.length);
  });
});
