// Imported by workflow code: only @temporalio/common may be imported here (workflow-sandbox safe).
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
// Same package, not re-exported from its root; it maps SDK type names to the proto enum numbers.
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';

export const SiteId = defineSearchAttributeKey('SiteId', SearchAttributeType.KEYWORD);
export const SubscriptionStatus = defineSearchAttributeKey('SubscriptionStatus', SearchAttributeType.KEYWORD);
export const SubscriptionEndsAt = defineSearchAttributeKey(
  'SubscriptionEndsAt',
  SearchAttributeType.DATETIME,
);
export const DeletionStatus = defineSearchAttributeKey('DeletionStatus', SearchAttributeType.KEYWORD);
export const RolloutStatus = defineSearchAttributeKey('RolloutStatus', SearchAttributeType.KEYWORD);

/** Every search attribute the product uses; each Temporal namespace must have all of them registered. */
export const SEARCH_ATTRIBUTE_KEYS = [
  SiteId,
  SubscriptionStatus,
  SubscriptionEndsAt,
  DeletionStatus,
  RolloutStatus,
] as const;

/** Proto `IndexedValueType` enum number, as `OperatorService.addSearchAttributes` expects it. */
export type IndexedValueType = NonNullable<ReturnType<typeof encodeSearchAttributeIndexedValueType>>;

function indexedValueType(type: SearchAttributeType): IndexedValueType {
  const encoded = encodeSearchAttributeIndexedValueType(type);
  if (encoded === undefined) throw new TypeError(`unknown search attribute type ${type}`);
  return encoded;
}

/** Name → indexed value type: the `searchAttributes` field of `addSearchAttributes`. */
export const SEARCH_ATTRIBUTES: Readonly<Record<string, IndexedValueType>> = Object.fromEntries(
  SEARCH_ATTRIBUTE_KEYS.map((key) => [key.name, indexedValueType(key.type)]),
);
