// The timeouts and retry policies the workflows give their activities, one profile per kind of call. Pick a profile
// here rather than writing options beside a proxy: the same kind of call then rides out the same outage everywhere.
// A business failure is non-retryable and ends the step at once whatever the profile; while a call is retried,
// `modelship status` shows its last error from the pending activity.
import type { ActivityOptions } from '@temporalio/workflow';
import { durationMs } from '../shared/duration';

/**
 * Reads and writes of metadata (MLflow registry, endpoint state, probes, bake metrics, approvals, the report): quick
 * calls retried for about 7 minutes, so an MLflow or endpoint server that restarts mid-release or mid-rollout is
 * waited for, never rolled back for. At most 5 s between attempts: the step goes on within seconds of the server's
 * return.
 */
export const QUICK: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 90, initialInterval: '1 second', maximumInterval: '5 seconds' },
};

/** Work that reads a data set or a model (validation, evaluation, local tests, the review): heartbeats, retried ~3 min. */
export const HEAVY: ActivityOptions = {
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '5 minutes',
  retry: { maximumAttempts: 8, initialInterval: '2 seconds', maximumInterval: '30 seconds' },
};

/**
 * Training on the training task queue. A training activity heartbeats every 2 s whatever the trainer does
 * (activities/training.ts), so a heartbeat missing for 10 s (a shard) or 15 s (prepare and finish, which read the
 * whole data set) means its worker is gone: the work moves to another worker.
 */
export function training(taskQueue: string, part: 'whole' | 'shard'): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout: '6 hours',
    heartbeatTimeout: part === 'shard' ? '10 seconds' : '15 seconds',
    retry: { maximumAttempts: 5, initialInterval: '2 seconds' },
  };
}

/**
 * Target changes (provisioning, traffic, deletions) take minutes on a cloud target. The activity bounds its own wait
 * by deployment_timeout and heartbeats, so a dead worker is noticed within a minute, not at the bound. `undo` is for
 * compensations: retried hard, and reported if it still fails, never swallowed.
 */
export function targetChange(deploymentTimeout: string, kind: 'do' | 'undo'): ActivityOptions {
  return {
    startToCloseTimeout: durationMs(deploymentTimeout) + 5 * 60_000,
    heartbeatTimeout: '1 minute',
    retry:
      kind === 'do'
        ? { maximumAttempts: 3, initialInterval: '5 seconds', maximumInterval: '1 minute' }
        : { maximumAttempts: 10, initialInterval: '1 second', maximumInterval: '30 seconds' },
  };
}

/** The endpoint lock's own calls (ask, leave, check a holder): short, retried about a minute. */
export const LOCK: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 10, initialInterval: '1 second', maximumInterval: '10 seconds' },
};

/**
 * The stack check proves a queue is served: a queue nobody polls fails after the schedule-to-close bound instead
 * of waiting forever.
 */
export function reachability(taskQueue?: string): ActivityOptions {
  return taskQueue
    ? { taskQueue, scheduleToCloseTimeout: '2 minutes', retry: { maximumAttempts: 2, initialInterval: '1 second' } }
    : { scheduleToCloseTimeout: '1 minute', retry: { maximumAttempts: 3, initialInterval: '1 second' } };
}
