// The side of the endpoint lock that needs a Temporal client: asking for an endpoint (signal-with-start of the
// lock workflow, so the first request creates it) and checking that a holder still runs. Both are idempotent: the
// lock ignores a request it already has, and a description changes nothing.
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import {
  endpointLockId,
  endpointLockQuery,
  leaveEndpointSignal,
  requestEndpointSignal,
  sameRun,
  type EndpointLeave,
  type EndpointLockState,
  type EndpointRequest,
} from '../workflows/endpoint-lock-api';

export interface RequestEndpointInput {
  target: string;
  endpoint: string;
  /** The lock runs on the requester's own task queue (an orchestration worker serves it). */
  taskQueue: string;
  request: EndpointRequest;
}

export function createEndpointLockActivities() {
  return {
    /** Asks for the endpoint; answers with the lock's state after the request (undefined if it cannot be read yet). */
    async requestEndpoint(input: RequestEndpointInput): Promise<EndpointLockState | undefined> {
      const { client } = Context.current();
      const lockId = endpointLockId(input.target, input.endpoint);
      const handle = await client.workflow.signalWithStart('endpointLock', {
        workflowId: lockId,
        taskQueue: input.taskQueue,
        args: [{ target: input.target, endpoint: input.endpoint }],
        signal: requestEndpointSignal,
        signalArgs: [input.request],
        staticSummary: `One rollout at a time on endpoint ${input.endpoint} (${input.target})`,
      });
      // Only for the requester's status line: a query that fails (the lock's first task not yet run) is no error.
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          return await handle.query(endpointLockQuery);
        } catch {
          await sleep(300);
        }
      }
      return undefined;
    },

    /**
     * Leaves the endpoint (or stops waiting) and waits, briefly, until the lock has taken it in: the lock runs on the
     * leaver's task queue, so its worker must still be there to hand the endpoint on (or to end an idle lock).
     */
    async leaveEndpoint(input: { lockId: string; leave: EndpointLeave }): Promise<void> {
      const handle = Context.current().client.workflow.getHandle(input.lockId);
      try {
        await handle.signal(leaveEndpointSignal, input.leave);
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline) {
          if ((await handle.describe()).status.name !== 'RUNNING') return;
          const lock = await handle.query(endpointLockQuery);
          const mine = (run?: { workflowId: string; runId: string }) => run !== undefined && sameRun(run, input.leave);
          if (!mine(lock.holder) && !lock.waiting.some(mine)) return;
          await sleep(200);
        }
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return; // no lock run open: nothing to leave
        throw error;
      }
    },

    /** 'RUNNING', or how the run ended ('COMPLETED', 'FAILED', 'TERMINATED', …), or 'NOT_FOUND'. */
    async workflowRunStatus(input: { workflowId: string; runId: string }): Promise<string> {
      try {
        const description = await Context.current().client.workflow.getHandle(input.workflowId, input.runId).describe();
        return description.status.name;
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return 'NOT_FOUND';
        throw error;
      }
    },
  };
}
