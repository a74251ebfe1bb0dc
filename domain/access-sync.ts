// Pure rules of access sync (K7): what an IQ's list holds, how a change of it becomes versions, and
// what an IQ that says hello is sent. Imports nothing of the project.

export type CredentialKind = 'tag' | 'mobile_key' | 'pin';
export const CREDENTIAL_KINDS: readonly CredentialKind[] = ['tag', 'mobile_key', 'pin'];

/** One credential on an IQ's list, exactly as the `access` message carries it (API.md). */
export interface AccessGrant {
  credentialId: string;
  memberId: string;
  kind: CredentialKind;
  lockIds: string[];
  tagUid?: string | undefined;
  pinHash?: string | undefined;
}

/** One version of an IQ's list: the delta from the version before, or (full) the whole list. */
export interface AccessStep {
  full: boolean;
  grants: AccessGrant[];
  revokes: string[];
}

/**
 * Retention: the deltas of an IQ's last 100 versions are kept (older ones are pruned as new ones are
 * written). An IQ that is more versions behind, or whose missed deltas are gone, gets a full list.
 */
export const RETAINED_VERSIONS = 100;

/**
 * Room for the grants and revokes of one `access` line: the protocol's 64 KiB line limit less the
 * envelope (`type`, `version`, `full`, field names) with a wide margin.
 */
export const ACCESS_MESSAGE_BUDGET_BYTES = 60_000;

/**
 * A grant in its one canonical form (lock ids sorted, optional fields present only when set), so two
 * grants are equal exactly when their JSON is.
 */
export function canonicalGrant(grant: {
  credentialId: string;
  memberId: string;
  kind: CredentialKind;
  lockIds: readonly string[];
  tagUid?: string | null | undefined;
  pinHash?: string | null | undefined;
}): AccessGrant {
  return {
    credentialId: grant.credentialId,
    memberId: grant.memberId,
    kind: grant.kind,
    lockIds: [...grant.lockIds].sort(),
    ...(grant.tagUid ? { tagUid: grant.tagUid } : {}),
    ...(grant.pinHash ? { pinHash: grant.pinHash } : {}),
  };
}

/**
 * The change that turns `current` into `desired` (both keyed by credential id): grants for credentials
 * that are new or whose grant differs (a re-grant replaces), revokes for credentials that are gone.
 * Sorted by credential id, so the same change is always written the same way.
 */
export function diffAccessList(
  current: ReadonlyMap<string, AccessGrant>,
  desired: ReadonlyMap<string, AccessGrant>,
): { grants: AccessGrant[]; revokes: string[] } {
  const grants: AccessGrant[] = [];
  for (const [id, grant] of desired) {
    const held = current.get(id);
    if (!held || JSON.stringify(held) !== JSON.stringify(grant)) grants.push(grant);
  }
  const revokes = [...current.keys()].filter((id) => !desired.has(id));
  grants.sort((a, b) => (a.credentialId < b.credentialId ? -1 : 1));
  revokes.sort();
  return { grants, revokes };
}

/** JSON size of an item inside an array, its separating comma included. */
const sizeOf = (item: unknown) => JSON.stringify(item).length + 1;

/**
 * Splits one change into as few versions as fit a line each: revokes first (rights go before any
 * arrive), then grants. Each step is a valid delta from the one before; applied in order they give
 * the whole change. A single grant larger than the budget still gets a step of its own.
 */
export function splitChange(
  change: { grants: readonly AccessGrant[]; revokes: readonly string[] },
  budget = ACCESS_MESSAGE_BUDGET_BYTES,
): AccessStep[] {
  const steps: AccessStep[] = [];
  let step: AccessStep = { full: false, grants: [], revokes: [] };
  let used = 0;
  const add = (size: number, put: (s: AccessStep) => void) => {
    if (used > 0 && used + size > budget) {
      steps.push(step);
      step = { full: false, grants: [], revokes: [] };
      used = 0;
    }
    put(step);
    used += size;
  };
  for (const id of change.revokes) add(sizeOf(id), (s) => s.revokes.push(id));
  for (const grant of change.grants) add(sizeOf(grant), (s) => s.grants.push(grant));
  if (used > 0) steps.push(step);
  return steps;
}

/**
 * A whole list as steps: one `full` step when it fits a line; otherwise a `full` step with the first
 * part, then deltas granting the rest. An empty list is one empty `full` step.
 */
export function fullListSteps(
  grants: readonly AccessGrant[],
  budget = ACCESS_MESSAGE_BUDGET_BYTES,
): AccessStep[] {
  const steps = splitChange({ grants, revokes: [] }, budget);
  if (steps.length === 0) return [{ full: true, grants: [], revokes: [] }];
  steps[0]!.full = true;
  return steps;
}

export type CatchUp =
  /** The IQ holds the current version. */
  | { kind: 'none' }
  /** The IQ gets the deltas of every version after `after`, in order. */
  | { kind: 'deltas'; after: number }
  /** The IQ's version is unknown, impossible or too old: it gets the whole list. */
  | { kind: 'full' };

/** What an IQ that holds `deviceVersion` (undefined: it did not say) is sent to reach `currentVersion`. */
export function catchUpPlan(deviceVersion: number | undefined, currentVersion: number): CatchUp {
  if (deviceVersion === undefined || deviceVersion < 0 || deviceVersion > currentVersion) {
    return { kind: 'full' };
  }
  if (deviceVersion === currentVersion) return { kind: 'none' };
  if (currentVersion - deviceVersion > RETAINED_VERSIONS) return { kind: 'full' };
  return { kind: 'deltas', after: deviceVersion };
}

/** True when `versions` (ascending) are exactly after+1 … current: no delta was pruned. */
export function deltasComplete(after: number, current: number, versions: readonly number[]): boolean {
  if (versions.length !== current - after) return false;
  return versions.every((v, i) => v === after + 1 + i);
}

/**
 * The acknowledged version after a hello: the IQ's own word on what it holds when that is a version
 * the cloud issued, else 0 (it holds nothing known). Acks only ever raise it afterwards.
 */
export function ackedAfterHello(reported: number | undefined, currentVersion: number): number {
  return reported !== undefined && reported >= 0 && reported <= currentVersion ? reported : 0;
}
