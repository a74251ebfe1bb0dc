// Imported by workflow code: only @temporalio/common may be imported here (workflow-sandbox safe).
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SiteId = defineSearchAttributeKey('SiteId', SearchAttributeType.KEYWORD);
export const SubscriptionStatus = defineSearchAttributeKey('SubscriptionStatus', SearchAttributeType.KEYWORD);
export const SubscriptionEndsAt = defineSearchAttributeKey(
  'SubscriptionEndsAt',
  SearchAttributeType.DATETIME,
);
export const DeletionStatus = defineSearchAttributeKey('DeletionStatus', SearchAttributeType.KEYWORD);
export const RolloutStatus = defineSearchAttributeKey('RolloutStatus', SearchAttributeType.KEYWORD);
/** Every site a profile deletion asks or waits on: `SiteIds = '<siteId>'` finds a site's deletions. */
export const SiteIds = defineSearchAttributeKey('SiteIds', SearchAttributeType.KEYWORD_LIST);

/** Every search attribute the product uses; each Temporal namespace must have all of them registered. */
export const SEARCH_ATTRIBUTE_KEYS = [
  SiteId,
  SubscriptionStatus,
  SubscriptionEndsAt,
  DeletionStatus,
  RolloutStatus,
  SiteIds,
] as const;
