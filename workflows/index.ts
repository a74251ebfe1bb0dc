// The workflow bundle's entry: every workflow the worker runs.

export { profileDeletionWorkflow } from './profile-deletion/workflow';
export { subscriptionWorkflow } from './subscription/workflow';
