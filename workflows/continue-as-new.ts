import { workflowInfo } from '@temporalio/workflow';

/**
 * Time for a fresh history: the server suggests it, or the history passed `maxHistoryEvents` (tests
 * lower it to exercise continue-as-new; the notifications workflow keeps its histories short).
 */
export function shouldContinueAsNew(maxHistoryEvents?: number): boolean {
  const info = workflowInfo();
  return (
    info.continueAsNewSuggested || (maxHistoryEvents !== undefined && info.historyLength > maxHistoryEvents)
  );
}
