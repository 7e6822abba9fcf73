import { proxyActivities } from '@temporalio/workflow';
import type { OrchestrationActivities, TrainingActivities } from '../activities';
import { reachability } from './activity-profiles';
import type { StackCheckInput, StackCheckResult } from './stack-check-api';

/**
 * Proves that both task queues are served by a working worker: one activity on each queue.
 * A queue nobody polls fails after the schedule-to-close timeout instead of waiting forever.
 */
export async function stackCheck(input: StackCheckInput): Promise<StackCheckResult> {
  const { inspectWorker } = proxyActivities<OrchestrationActivities>(reachability());
  const { inspectTrainerEnvironment } = proxyActivities<TrainingActivities>(reachability(input.trainingTaskQueue));
  const [orchestration, training] = await Promise.all([inspectWorker(), inspectTrainerEnvironment()]);
  return { orchestration, training };
}
