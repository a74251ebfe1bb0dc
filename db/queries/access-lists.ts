import { sql } from 'drizzle-orm';
import {
  type AccessGrant,
  type AccessStep,
  canonicalGrant,
  diffAccessList,
  fullListSteps,
  RETAINED_VERSIONS,
  splitChange,
} from '../../domain/access-sync';
import { accessSyncNotifications } from '../../domain/gateway-bus';
import type { Db, DbOrTx } from '../client';
import { rawStatement, type ValueOf } from '../prepared';
import { uuidArray, uuidArrayText } from './sql-arrays';
import { lockSite } from './subscriptions';

/**
 * Which lists a change can touch: the IQs of one site, narrowed to some IQs (a lock added, an IQ
 * reset) and/or to one member's credentials (a grant, a revoke, a member removed or deleted).
 */
export interface AccessScope {
  siteId: string;
  iqIds?: readonly string[];
  profileId?: string;
}

export interface AccessBump {
  iqId: string;
  /** The IQ's version after the change (the change took versions `version - steps + 1` … `version`). */
  version: number;
  steps: number;
}

interface EntryRow extends Record<string, unknown> {
  iq_id: string;
  credential_id: string;
  grant: AccessGrant;
}

/** Which narrowings a scope has: each shape of statement is built once (rawStatement). */
interface ScopeShape {
  byIqs: boolean;
  byMember: boolean;
}

interface ScopeValues extends Record<string, unknown> {
  siteId: string;
  iqIds: string | null;
  profileId: string | null;
}

/** `and` the scope's narrowing onto a query whose IQ column is `iqColumn` and member column `memberColumn`. */
function narrowing(shape: ScopeShape, v: ValueOf<ScopeValues>, iqColumn: string, memberColumn: string) {
  return sql`${shape.byIqs ? sql`and ${sql.raw(iqColumn)} = any(${v('iqIds')}::uuid[])` : sql``}
    ${shape.byMember ? sql`and ${sql.raw(memberColumn)} = ${v('profileId')}::uuid` : sql``}`;
}

/**
 * What the IQs in scope should hold while their site has an active term: every active tag, mobile
 * key and PIN (a PIN on its own IQ only) of a subscribed member, for that IQ's locks. An IQ without
 * locks holds nothing; `remote` opens through the cloud and is no IQ credential.
 */
const desiredEntries = (shape: ScopeShape, v: ValueOf<ScopeValues>) => sql`
  select i.id as iq_id, am.id as credential_id,
    jsonb_build_object('credentialId', am.id, 'memberId', am.profile_id, 'kind', am.kind,
      'lockIds', l.lock_ids, 'tagUid', am.tag_uid, 'pinHash', am.device_pin_hash) as grant
  from iqs i
  cross join lateral (select jsonb_agg(k.id) as lock_ids from locks k where k.iq_id = i.id) l
  join access_methods am on am.site_id = i.site_id and am.status = 'active'
  join memberships m on m.site_id = am.site_id and m.profile_id = am.profile_id and m.subscribed
  where i.site_id = ${v('siteId')}::uuid and l.lock_ids is not null
    and (am.kind in ('tag', 'mobile_key')
      or (am.kind = 'pin' and am.iq_id = i.id and am.device_pin_hash is not null))
    ${narrowing(shape, v, 'i.id', 'am.profile_id')}`;

/**
 * V6: while a site has no active term its IQs keep what they hold (expiry unsubscribes every member,
 * and that must change nothing on the locks); they only lose credentials that are no longer an active
 * method of a member (revoked, the member removed or deleted). They gain nothing until a term starts.
 */
const keptEntries = (shape: ScopeShape, v: ValueOf<ScopeValues>) => sql`
  select e.iq_id, e.credential_id, e.entry as grant
  from iq_access_entries e
  join iqs i on i.id = e.iq_id
  join access_methods am on am.id = e.credential_id and am.status = 'active'
  join memberships m on m.site_id = am.site_id and m.profile_id = am.profile_id
  where i.site_id = ${v('siteId')}::uuid ${narrowing(shape, v, 'e.iq_id', 'e.member_id')}`;

const currentEntries = (shape: ScopeShape, v: ValueOf<ScopeValues>) => sql`
  select e.iq_id, e.credential_id, e.entry as grant
  from iq_access_entries e
  join iqs i on i.id = e.iq_id
  where i.site_id = ${v('siteId')}::uuid ${narrowing(shape, v, 'e.iq_id', 'e.member_id')}`;

type EntriesStatement = (db: DbOrTx, values: ScopeValues) => Promise<Array<EntryRow & { desired: boolean }>>;

/** One statement per shape of scope and status, built at its first use. */
const desiredAndCurrentStatements = new Map<string, EntriesStatement>();

function desiredAndCurrentStatement(shape: ScopeShape, active: boolean): EntriesStatement {
  const key = `${active}:${shape.byIqs}:${shape.byMember}`;
  let statement = desiredAndCurrentStatements.get(key);
  if (!statement) {
    statement = rawStatement<ScopeValues, EntryRow & { desired: boolean }>(
      (v) => sql`
        select true as desired, d.* from (${active ? desiredEntries(shape, v) : keptEntries(shape, v)}) d
        union all
        select false, c.* from (${currentEntries(shape, v)}) c`,
    );
    desiredAndCurrentStatements.set(key, statement);
  }
  return statement;
}

/**
 * What the IQs in scope should hold (desired while the site is active, else kept) and what they hold,
 * in one statement (issue 15: two per change of access rights, a redemption's claim among them).
 */
async function desiredAndCurrent(tx: DbOrTx, scope: AccessScope, active: boolean) {
  const shape = { byIqs: scope.iqIds !== undefined, byMember: scope.profileId !== undefined };
  const rows = await desiredAndCurrentStatement(shape, active)(tx, {
    siteId: scope.siteId,
    iqIds: scope.iqIds ? uuidArrayText(scope.iqIds) : null,
    profileId: scope.profileId ?? null,
  });
  return {
    desired: byIq(rows.filter((r) => r.desired)),
    current: byIq(rows.filter((r) => !r.desired)),
  };
}

/** By IQ and credential; grants read back from jsonb (which orders keys its own way) made canonical again. */
function byIq(rows: EntryRow[]): Map<string, Map<string, AccessGrant>> {
  const lists = new Map<string, Map<string, AccessGrant>>();
  for (const row of rows) {
    const list = lists.get(row.iq_id) ?? new Map<string, AccessGrant>();
    list.set(row.credential_id, canonicalGrant(row.grant));
    lists.set(row.iq_id, list);
  }
  return lists;
}

/**
 * Rows as one JSON parameter. PostgreSQL guesses such rows at 100: joined with iqs or
 * iq_access_entries, that was planned as a read of the whole table, so those statements also name
 * the rows' keys as an array (`= any`) (test/db/access-sync-by-key).
 */
const json = (value: unknown) => sql`${JSON.stringify(value)}::jsonb`;

/**
 * K7, called in the transaction of every change of access rights: brings the stored lists of the IQs
 * in scope to what the database now says, as new versions of each IQ that changed (one version per
 * change, more when it does not fit one protocol line), and tells the gateway instances holding
 * those IQs, on commit (NOTIFY in the transaction). Takes the site's row lock, which orders all
 * changes of one site; IQs that did not change keep their version.
 */
export async function syncAccessLists(
  tx: DbOrTx,
  scope: AccessScope,
  /** The site's status when the caller holds its row lock already (one statement fewer: issue 15). */
  locked?: { subscriptionStatus: string },
): Promise<AccessBump[]> {
  const site = locked ?? (await lockSite(tx, scope.siteId));
  if (!site) return [];
  const { desired, current } = await desiredAndCurrent(tx, scope, site.subscriptionStatus === 'active');

  const changes: Array<{ iqId: string; steps: AccessStep[]; grants: AccessGrant[]; revokes: string[] }> = [];
  for (const iqId of new Set([...desired.keys(), ...current.keys()])) {
    const diff = diffAccessList(current.get(iqId) ?? new Map(), desired.get(iqId) ?? new Map());
    const steps = splitChange(diff);
    if (steps.length > 0) changes.push({ iqId, steps, ...diff });
  }
  if (changes.length === 0) return [];

  // The version bump takes each IQ's row lock: a hello reading the IQ's version (markIqOnline) waits
  // for this commit, and the instance read here is the one holding the IQ when it does.
  const bumped = await tx.execute<{
    id: string;
    access_version: number;
    online: boolean;
    subscribed: boolean;
    gateway_instance: string | null;
  }>(sql`
    update iqs set access_version = iqs.access_version + x.n
    from jsonb_to_recordset(${json(changes.map((c) => ({ id: c.iqId, n: c.steps.length })))}) as x(id uuid, n int)
    where iqs.id = any(${uuidArray(changes.map((c) => c.iqId))}) and iqs.id = x.id
    returning iqs.id, iqs.access_version, iqs.online, iqs.subscribed, iqs.gateway_instance`);
  const versionOf = new Map(bumped.map((b) => [b.id, b.access_version]));

  const log = changes.flatMap((c) => {
    const last = versionOf.get(c.iqId)!;
    return c.steps.map((step, i) => ({
      iq_id: c.iqId,
      version: last - c.steps.length + 1 + i,
      grants: step.grants,
      revokes: step.revokes,
    }));
  });
  await tx.execute(sql`
    insert into iq_access_changes (iq_id, version, full_list, grants, revokes)
    select x.iq_id, x.version, false, x.grants, x.revokes
    from jsonb_to_recordset(${json(log)}) as x(iq_id uuid, version int, grants jsonb, revokes jsonb)`);
  const revoked = changes.flatMap((c) => c.revokes.map((id) => ({ iq_id: c.iqId, credential_id: id })));
  if (revoked.length > 0) {
    await tx.execute(sql`
      delete from iq_access_entries e
      using jsonb_to_recordset(${json(revoked)}) as x(iq_id uuid, credential_id uuid)
      where e.iq_id = any(${uuidArray(revoked.map((r) => r.iq_id))})
        and e.iq_id = x.iq_id and e.credential_id = x.credential_id`);
  }
  const granted = changes.flatMap((c) =>
    c.grants.map((g) => ({ iq_id: c.iqId, credential_id: g.credentialId, member_id: g.memberId, entry: g })),
  );
  if (granted.length > 0) {
    await tx.execute(sql`
      insert into iq_access_entries (iq_id, credential_id, member_id, entry)
      select x.iq_id, x.credential_id, x.member_id, x.entry
      from jsonb_to_recordset(${json(granted)}) as x(iq_id uuid, credential_id uuid, member_id uuid, entry jsonb)
      on conflict (iq_id, credential_id) do update set member_id = excluded.member_id, entry = excluded.entry`);
  }
  await pruneDeltas(
    tx,
    bumped.map((b) => ({ iq_id: b.id, version: b.access_version })),
  );
  const online = bumped.filter((b) => b.online && b.subscribed && b.gateway_instance);
  const notifications = accessSyncNotifications(
    online.map((b) => ({ iqId: b.id, instance: b.gateway_instance!, version: b.access_version })),
  );
  if (notifications.length > 0) {
    await tx.execute(sql`
      select pg_notify(x.channel, x.payload)
      from jsonb_to_recordset(${json(notifications)}) as x(channel text, payload text)`);
  }
  return changes.map((c) => ({ iqId: c.iqId, version: versionOf.get(c.iqId)!, steps: c.steps.length }));
}

/** Retention: each IQ keeps the deltas of its last RETAINED_VERSIONS versions. */
async function pruneDeltas(tx: DbOrTx, latest: Array<{ iq_id: string; version: number }>) {
  if (latest.length === 0) return;
  await tx.execute(sql`
    delete from iq_access_changes c
    using jsonb_to_recordset(${json(latest)}) as x(iq_id uuid, version int)
    where c.iq_id = x.iq_id and c.version <= x.version - ${RETAINED_VERSIONS}::int`);
}

export interface VersionedStep extends AccessStep {
  version: number;
}

/**
 * For each request, the retained versions of that IQ after `after` up to `upTo`, oldest first, in one
 * statement however many IQs ask at once; answers in the order of the requests (the caller checks
 * none is missing).
 */
export async function accessStepsAfter(
  db: DbOrTx,
  requests: ReadonlyArray<{ iqId: string; after: number; upTo: number }>,
): Promise<VersionedStep[][]> {
  const steps = requests.map((): VersionedStep[] => []);
  if (requests.length === 0) return steps;
  const rows = await db.execute<{
    n: number;
    version: number;
    full_list: boolean;
    grants: AccessGrant[];
    revokes: string[];
  }>(sql`
    select x.n, c.version, c.full_list, c.grants, c.revokes
    from jsonb_to_recordset(${json(requests.map((r, n) => ({ n, iq_id: r.iqId, after: r.after, up_to: r.upTo })))})
      as x(n int, iq_id uuid, after int, up_to int)
    join iq_access_changes c on c.iq_id = x.iq_id and c.version > x.after and c.version <= x.up_to
    order by x.n, c.version`);
  for (const r of rows) {
    steps[r.n]!.push({ version: r.version, full: r.full_list, grants: r.grants, revokes: r.revokes });
  }
  return steps;
}

/** The IQ's whole list and its version, read in one statement (one snapshot). */
async function wholeList(db: DbOrTx, iqId: string, lock: boolean) {
  if (lock) await db.execute(sql`select 1 from iqs where id = ${iqId}::uuid for update`);
  const [row] = await db.execute<{ version: number; grants: AccessGrant[] }>(sql`
    select i.access_version as version,
      coalesce(json_agg(e.entry order by e.credential_id) filter (where e.iq_id is not null), '[]') as grants
    from iqs i left join iq_access_entries e on e.iq_id = i.id
    where i.id = ${iqId}::uuid
    group by i.access_version`);
  return row;
}

/**
 * The steps that give an IQ its whole list. When it fits one line: one `full` step at the current
 * version, nothing written. When it does not, the list is written as new versions (a `full` step with
 * the first part, then deltas with the rest) under the IQ's row lock, so they follow whatever version
 * a concurrent change takes, and the IQ is sent those.
 */
export async function fullListNow(db: Db, iqId: string): Promise<VersionedStep[]> {
  const now = await wholeList(db, iqId, false);
  if (!now) return [];
  const steps = fullListSteps(now.grants);
  if (steps.length === 1) return [{ ...steps[0]!, version: now.version }];
  return db.transaction(async (tx) => {
    const locked = (await wholeList(tx, iqId, true))!;
    const chain = fullListSteps(locked.grants);
    const first = locked.version + 1;
    const written = chain.map((step, i) => ({ ...step, version: first + i }));
    const rows = written.map((s) => ({
      version: s.version,
      full_list: s.full,
      grants: s.grants,
      revokes: s.revokes,
    }));
    await tx.execute(
      sql`update iqs set access_version = ${first + chain.length - 1}::int where id = ${iqId}::uuid`,
    );
    await tx.execute(sql`
      insert into iq_access_changes (iq_id, version, full_list, grants, revokes)
      select ${iqId}::uuid, x.version, x.full_list, x.grants, x.revokes
      from jsonb_to_recordset(${json(rows)}) as x(version int, full_list boolean, grants jsonb, revokes jsonb)`);
    await pruneDeltas(tx, [{ iq_id: iqId, version: first + chain.length - 1 }]);
    return written;
  });
}

/**
 * IQs' acks: each raises its IQ's acknowledged version, never past the version it should hold. Rows
 * a concurrent access change holds are skipped rather than waited for (a many-row update waiting on
 * another could deadlock): their ids are returned, to be written again. An IQ that is gone, or an ack
 * above the stored version (the sender never lets one through), is not returned: it has nothing to wait for.
 */
export async function recordAccessAcks(
  db: DbOrTx,
  acks: ReadonlyArray<{ iqId: string; version: number }>,
): Promise<string[]> {
  if (acks.length === 0) return [];
  const held = await db.execute<{ id: string }>(sql`
    with wanted as (
      select x.id, x.version from jsonb_to_recordset(${json(acks.map((a) => ({ id: a.iqId, version: a.version })))})
        as x(id uuid, version int)
    ),
    -- Each IQ by primary key from an id array: joined with the records, a few acks were planned as
    -- a scan of every IQ (a function's rows are guessed at 100), 29 ms a batch in bench/rollout.
    free as (
      select i.id from iqs i where i.id = any(array(select id from wanted)) order by i.id for update of i skip locked
    ),
    written as (
      update iqs set access_acked = greatest(iqs.access_acked, w.version)
      from wanted w
      where iqs.id = any(array(select id from free)) and iqs.id = w.id and iqs.access_version >= w.version
      returning iqs.id
    )
    select i.id from iqs i join wanted w on w.id = i.id
    where i.id = any(array(select id from wanted)) and i.id <> all(array(select id from free))
      and i.access_version >= w.version`);
  return held.map((r) => r.id);
}

/**
 * D7: the deleted member's grants leave the retained deltas of the IQs of `siteIds` (their revokes
 * stay: credential ids lead nowhere once the credential is unlinked). A grant names its credential's
 * member at its credential's site, so the sites of every credential the member ever held, those they
 * left among them, are where their grants can be. Called in the deletion's transaction, after
 * syncAccessLists revoked what the IQs of the sites they still belonged to held.
 */
export async function forgetMemberGrants(tx: DbOrTx, siteIds: readonly string[], profileId: string) {
  if (siteIds.length === 0) return;
  await tx.execute(sql`
    update iq_access_changes c
    set grants = (select coalesce(jsonb_agg(g), '[]'::jsonb) from jsonb_array_elements(c.grants) g
                  where g->>'memberId' <> ${profileId})
    from iqs i
    where i.id = c.iq_id and i.site_id = any(${uuidArray(siteIds)})
      and c.grants @> ${json([{ memberId: profileId }])}`);
}
