// One rollout per endpoint: the messages and state of the per-endpoint lock workflow, shared by the workflows that
// take the lock (release, deploy, rollback), the activity that asks for it and the CLI that shows it.
import { defineQuery, defineSignal } from '@temporalio/workflow';

export type RolloutKind = 'release' | 'deploy' | 'rollback';

/** Who asks for an endpoint: one run of a workflow (the run id tells a retried run from the one that asked). */
export interface EndpointRequest {
  workflowId: string;
  runId: string;
  kind: RolloutKind;
  /** One line for people, e.g. "release of churn v3". */
  description: string;
  requestedAt: string;
  /** Set by the lock: the run this request queued behind (it did not get a free endpoint). */
  queuedBehind?: string;
}

export interface EndpointHolder extends EndpointRequest {
  grantedAt: string;
}

export interface EndpointLockState {
  lockId: string;
  target: string;
  endpoint: string;
  holder?: EndpointHolder;
  /** In the order they will be granted. */
  waiting: EndpointRequest[];
  /** How many times the endpoint was granted (across continue-as-new). */
  granted: number;
  /** The last events, newest last: grants, releases, holders found gone. */
  recent: string[];
}

export interface EndpointLockInput {
  target: string;
  endpoint: string;
  /** State carried over a continue-as-new. */
  carried?: Omit<EndpointLockState, 'lockId' | 'target' | 'endpoint'>;
}

export interface EndpointGrant {
  lockId: string;
  /** Who held the endpoint when this request arrived (undefined: it was free). */
  waitedBehind?: string;
}

export interface EndpointLeave {
  workflowId: string;
  runId: string;
  /** Why: released after the rollout, or withdrawn while waiting (cancelled, failed). */
  reason: string;
}

/** What a rollout's run reports about its endpoint: waiting for it, holding it, or done with it. */
export interface HoldProgress {
  state: 'waiting' | 'holding' | 'released';
  lockId: string;
  endpoint: string;
  /** While waiting: who holds the endpoint, and how many wait before this one. */
  holder?: string;
  ahead?: number;
  /** Once granted: the run this one waited for (none: the endpoint was free) and for how long. */
  waitedBehind?: string;
  waitedSeconds?: number;
  line: string;
}

/** One lock per endpoint of a target; the workflow id is the lock. */
/** The same run of the same workflow (a request, a holder or a leave names one). */
export function sameRun(a: { workflowId: string; runId: string }, b: { workflowId: string; runId: string }): boolean {
  return a.workflowId === b.workflowId && a.runId === b.runId;
}

export function endpointLockId(target: string, endpoint: string): string {
  return `endpoint-lock:${target}:${endpoint}`;
}

export const requestEndpointSignal = defineSignal<[EndpointRequest]>('requestEndpoint');
export const leaveEndpointSignal = defineSignal<[EndpointLeave]>('leaveEndpoint');
/** Sent by the lock to the requester's run when the endpoint is its. */
export const endpointGrantedSignal = defineSignal<[EndpointGrant]>('endpointGranted');
export const endpointLockQuery = defineQuery<EndpointLockState>('endpointLock');

/** "release-x (release of m v3, since 12:01:02)" */
export function describeHolder(holder: EndpointRequest & { grantedAt?: string }): string {
  return `${holder.workflowId} (${holder.description}${holder.grantedAt ? `, since ${holder.grantedAt.slice(11, 19)} UTC` : ''})`;
}
