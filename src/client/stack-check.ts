import type { Client } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { TaskQueues } from '../config/environment';
import type { StackCheckResult } from '../workflows';

/** Runs the stackCheck workflow: proof that a worker serves both task queues with a working set-up. */
export function runStackCheck(client: Client, queues: TaskQueues, timeout: Duration): Promise<StackCheckResult> {
  return client.workflow.execute('stackCheck', {
    taskQueue: queues.orchestration,
    workflowId: `modelship-stack-check-${Date.now()}`,
    args: [{ trainingTaskQueue: queues.training }],
    workflowExecutionTimeout: timeout,
  });
}
