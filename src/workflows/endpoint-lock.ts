// One rollout per endpoint, durably and across every worker and client: a workflow per endpoint
// (id endpoint-lock:<target>:<endpoint>) grants the endpoint to one requester at a time, in the order they asked.
// Requesters reach it by signal-with-start (an activity), so the first request creates it; the holder leaves by
// signal when it ends, whatever the outcome (an activity that waits until the lock has taken it in, since the lock
// runs on the leaver's task queue). A holder that ends without leaving (terminated, timed out) is found by a
// periodic check of its run and released, so no dead run holds an endpoint for long.
// The lock ends when nobody holds or waits; a request that arrives as it ends is re-sent by its requester.
import {
  deprecatePatch,
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { OrchestrationActivities } from '../activities';
import { LOCK } from './activity-profiles';
import {
  describeHolder,
  endpointGrantedSignal,
  endpointLockId,
  endpointLockQuery,
  leaveEndpointSignal,
  requestEndpointSignal,
  sameRun,
  type EndpointGrant,
  type EndpointLockInput,
  type EndpointLockState,
  type EndpointRequest,
  type HoldProgress,
  type RolloutKind,
} from './endpoint-lock-api';

export type { HoldProgress } from './endpoint-lock-api';
import { innermostFailure } from './failures';
import { RETIRED_PATCHES } from './patches';

/** How often a holder's run is checked while others wait for the endpoint, and while nobody does. */
const CHECK_WHILE_WAITED_FOR = '10 seconds';
const CHECK_WHILE_IDLE = '2 minutes';
/** Beyond this many events the lock continues as new (its state carried), far below Temporal's limits. */
const HISTORY_LIMIT = 2_000;
const RECENT_EVENTS = 20;

const act = proxyActivities<OrchestrationActivities>(LOCK);

export async function endpointLock(input: EndpointLockInput): Promise<EndpointLockState> {
  const state: EndpointLockState = {
    lockId: endpointLockId(input.target, input.endpoint),
    target: input.target,
    endpoint: input.endpoint,
    holder: input.carried?.holder,
    waiting: input.carried?.waiting ?? [],
    granted: input.carried?.granted ?? 0,
    recent: input.carried?.recent ?? [],
  };
  /** Requests from the holder itself (a re-sent request): the grant is sent again, in case it was lost. */
  let regrant = false;
  const log = (event: string) => {
    state.recent.push(`${new Date().toISOString().slice(0, 19)}Z ${event}`);
    state.recent.splice(0, state.recent.length - RECENT_EVENTS);
  };
  const show = () =>
    setCurrentDetails(
      `**${input.endpoint}** (${input.target}): ${state.holder ? `held by ${describeHolder(state.holder)}` : 'free'}` +
        (state.waiting.length ? `\n\nwaiting, in order:\n${state.waiting.map((w, i) => `${i + 1}. ${describeHolder(w)}`).join('\n')}` : ''),
    );

  setHandler(endpointLockQuery, () => state);
  setHandler(requestEndpointSignal, (request) => {
    if (state.holder && sameRun(state.holder, request)) regrant = true;
    else if (!state.waiting.some((w) => sameRun(w, request))) {
      // Queued behind someone: its grant will name the run it waited for.
      const queuedBehind = state.holder?.workflowId ?? state.waiting[state.waiting.length - 1]?.workflowId;
      state.waiting.push({ ...request, queuedBehind });
      log(`${request.workflowId} asked (${request.description})`);
    }
    show();
  });
  setHandler(leaveEndpointSignal, (leave) => {
    if (state.holder && sameRun(state.holder, leave)) {
      log(`${leave.workflowId} released it: ${leave.reason}`);
      state.holder = undefined;
    } else if (state.waiting.some((w) => sameRun(w, leave))) {
      state.waiting = state.waiting.filter((w) => !sameRun(w, leave));
      log(`${leave.workflowId} stopped waiting: ${leave.reason}`);
    }
    show();
  });

  const grant = async (to: EndpointRequest, waitedBehind: string | undefined) => {
    const message: EndpointGrant = { lockId: state.lockId, waitedBehind };
    await getExternalWorkflowHandle(to.workflowId, to.runId).signal(endpointGrantedSignal, message);
  };
  // Which run held the endpoint last: the one a granted waiter waited behind.
  let lastHolder: string | undefined = state.holder?.workflowId;

  for (;;) {
    if (!state.holder && state.waiting.length > 0) {
      const next = state.waiting.shift()!;
      // The holder from now on: requests arriving while the grant is on its way queue behind it.
      const holder = { ...next, grantedAt: new Date().toISOString() };
      state.holder = holder;
      try {
        await grant(next, next.queuedBehind ? lastHolder : undefined);
        state.granted++;
        lastHolder = next.workflowId;
        log(`granted to ${next.workflowId}`);
      } catch (error) {
        // A closed run cannot take a signal: it stopped waiting without saying so (terminated, timed out).
        if (state.holder === holder) state.holder = undefined;
        log(`${next.workflowId} gone before its turn (${innermostFailure(error).message}); skipped`);
      }
      show();
      continue;
    }
    if (!state.holder) {
      // Free and nobody waits: end, so an idle endpoint costs nothing. The next request starts a new run.
      await condition(allHandlersFinished);
      if (!state.holder && state.waiting.length === 0) return state;
      continue;
    }
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > HISTORY_LIMIT) {
      await condition(allHandlersFinished);
      const { holder, waiting, granted, recent } = state;
      await continueAsNew<typeof endpointLock>({ target: input.target, endpoint: input.endpoint, carried: { holder, waiting, granted, recent } });
    }
    const holder = state.holder;
    const waiters = state.waiting.length;
    const changed = await condition(() => state.holder !== holder || regrant || state.waiting.length !== waiters, waiters ? CHECK_WHILE_WAITED_FOR : CHECK_WHILE_IDLE);
    if (regrant && state.holder === holder) {
      regrant = false;
      await grant(holder, undefined).catch(() => undefined); // a failed grant is found by the check below
      continue;
    }
    if (changed) continue;
    // Nothing happened for a while: is the holder still running? (A terminated run never leaves by itself.)
    const status = await act.workflowRunStatus({ workflowId: holder.workflowId, runId: holder.runId });
    if (status !== 'RUNNING' && state.holder === holder) {
      log(`${holder.workflowId} ended without releasing it (${status}); released`);
      state.holder = undefined;
      show();
    }
  }
}

// --- The requester's side: used inside the workflow that rolls out (release, deploy, rollback).

/** While waiting, the request is re-sent this often: it survives a lock that ended or continued as new meanwhile. */
const RESEND_EVERY = '1 minute';

export interface EndpointClaim {
  target: string;
  endpoint: string;
  kind: RolloutKind;
  description: string;
}

/**
 * Runs `rollout` while this run holds the endpoint: asks for it, waits its turn (re-asking now and then), and
 * always leaves afterwards — on success, failure (after the rollout's own undo) and cancellation, also while
 * still waiting.
 */
export async function holdEndpoint<T>(claim: EndpointClaim, progress: (p: HoldProgress) => void, rollout: (hold: HoldProgress) => Promise<T>): Promise<T> {
  deprecatePatch(RETIRED_PATCHES.endpointLock);
  const { workflowId, runId, taskQueue } = workflowInfo();
  const lockId = endpointLockId(claim.target, claim.endpoint);
  let granted: EndpointGrant | undefined;
  setHandler(endpointGrantedSignal, (grant) => {
    if (grant.lockId === lockId) granted = grant;
  });
  const request: EndpointRequest = { workflowId, runId, kind: claim.kind, description: claim.description, requestedAt: new Date().toISOString() };
  const asked = Date.now();
  let ended = 'released after the rollout';
  let hold: HoldProgress | undefined;
  try {
    for (;;) {
      const view = await act.requestEndpoint({ target: claim.target, endpoint: claim.endpoint, taskQueue, request });
      if (granted) break;
      const holder = view?.holder && view.holder.workflowId !== workflowId ? describeHolder(view.holder) : undefined;
      const position = view?.waiting.findIndex((w) => w.workflowId === workflowId && w.runId === runId) ?? -1;
      const ahead = position >= 0 ? position : undefined;
      progress({
        state: 'waiting',
        lockId,
        endpoint: claim.endpoint,
        holder,
        ahead,
        line: `waiting for endpoint ${claim.endpoint}${holder ? `, held by ${holder}` : ''}${ahead ? `, ${ahead} ahead` : ''}: one rollout per endpoint, this one waits its turn`,
      });
      if (await condition(() => granted !== undefined, RESEND_EVERY)) break;
    }
    const { waitedBehind } = granted as EndpointGrant; // the loop above ends only once granted
    const waitedSeconds = Math.round((Date.now() - asked) / 1000);
    hold = {
      state: 'holding',
      lockId,
      endpoint: claim.endpoint,
      waitedBehind,
      waitedSeconds,
      line: `holds endpoint ${claim.endpoint}${waitedBehind ? ` after waiting ${waitedSeconds} s behind ${waitedBehind}` : ' (it was free)'}: rolling out`,
    };
    progress(hold);
    return await rollout(hold);
  } catch (error) {
    ended = `ended: ${innermostFailure(error).message.slice(0, 200)}`;
    throw error;
  } finally {
    // Not cancellable: a cancelled run must still leave (or stop waiting), or the next one waits for the check.
    const reason = granted ? ended : `stopped waiting (${ended})`;
    // A leave that cannot be delivered is no deadlock: the lock's check of this run releases the endpoint.
    await CancellationScope.nonCancellable(() => act.leaveEndpoint({ lockId, leave: { workflowId, runId, reason } }).catch(() => undefined));
    progress({ ...(hold ?? { lockId, endpoint: claim.endpoint }), state: 'released', line: `left endpoint ${claim.endpoint}: ${reason}` });
  }
}
