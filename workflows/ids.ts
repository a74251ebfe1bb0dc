/** Readable workflow ids (O1): support finds a site's or request's workflow by its id. */
export const subscriptionWorkflowId = (siteId: string) => `subscription-${siteId}`;
export const profileDeletionWorkflowId = (requestId: string) => `profile-deletion-${requestId}`;
export const notificationsWorkflowId = (siteId: string) => `notifications-${siteId}`;
export const rolloutWorkflowId = (rolloutId: string) => `rollout-${rolloutId}`;
