// The workflow bundle's entry: every workflow the worker runs.

export { notificationsWorkflow } from './notifications/workflow';
export { profileDeletionWorkflow } from './profile-deletion/workflow';
export { rolloutWaveWorkflow, rolloutWorkflow } from './rollout/workflow';
export { subscriptionWorkflow } from './subscription/workflow';
