import type { Client } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { TaskQueues } from '../config/environment';
import type { StackCheckResult } from '../workflows/stack-check-api';

/** Runs the stackCheck workflow: proof that a worker serves both task queues with a working set-up. */
export function runStackCheck(client: Client, queues: TaskQueues, timeout: Duration): Promise<StackCheckResult> {
  return client.workflow.execute('stackCheck', {
    taskQueue: queues.orchestration,
    workflowId: `modelship-stack-check-${Date.now()}`,
    args: [{ trainingTaskQueue: queues.training }],
    workflowExecutionTimeout: timeout,
  });
}

const { TaskQueueType, TaskQueueKind } = temporal.api.enums.v1;

/** The pollers a worker must have for each queue: workflows and activities on orchestration, activities on training. */
function wantedPolls(queues: TaskQueues): { queue: string; type: temporal.api.enums.v1.TaskQueueType; what: string }[] {
  return [
    { queue: queues.orchestration, type: TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, what: `workflow tasks on ${queues.orchestration}` },
    { queue: queues.orchestration, type: TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, what: `activity tasks on ${queues.orchestration}` },
    { queue: queues.training, type: TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, what: `activity tasks on ${queues.training}` },
  ];
}

/**
 * What is not polled yet, from the server's view (DescribeTaskQueue), by a worker whose identity passes `accept`
 * (e.g. one process id). Unlike a check workflow this needs no free slot, so it answers at once even while a
 * resumed training holds the training queue's only one.
 */
export async function missingPollers(client: Client, queues: TaskQueues, accept: (identity: string) => boolean = () => true): Promise<string[]> {
  const missing: string[] = [];
  for (const wanted of wantedPolls(queues)) {
    const { pollers } = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: wanted.queue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: wanted.type,
    });
    if (!(pollers ?? []).some((poller) => accept(poller.identity ?? ''))) missing.push(wanted.what);
  }
  return missing;
}

/** A worker's default identity is `<pid>@<host>`: accept only the pollers of that process. */
export const pollerOfProcess = (pid: number) => (identity: string) => identity.startsWith(`${pid}@`);
