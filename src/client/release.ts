// Starting, watching and answering releases from the CLI (and the demo).
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { WorkflowContinuedAsNewError, WorkflowFailedError, type Client, type WorkflowClient, type WorkflowHandle } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultPayloadConverter } from '@temporalio/common';
import { mlflowTrackingUri, projectRoot, taskQueues, temporalUiUrl, type TaskQueues } from '../config/environment';
import type { ReleaseConfig } from '../config/schema';
import { MODEL_NAME } from '../shared/search-attributes';
import {
  releaseIdOf,
  releaseWorkflowIdOf,
  statusQuery,
  type ReleaseInput,
  type ReleaseResult,
  type ReleaseStatus,
  type ReleaseTemplate,
  type ReleaseTrigger,
} from '../workflows/release-api';
import { triggerLine } from '../workflows/trigger-api';
import type { ReviewRef } from '../workflows/review-api';

export const artifactsRoot = () => resolve(process.env.MODELSHIP_ARTIFACTS_DIR || join(projectRoot, 'workflow_artifacts'));

export function codeVersion(): string {
  return `modelship@${(require('../../package.json') as { version: string }).version}`;
}

/** Who runs this CLI, for `start --by` (the principal forbid_self_approval refuses). */
export function osUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER || process.env.USERNAME || undefined;
  }
}

export function workflowUrl(namespace: string, workflowId: string): string {
  return `${temporalUiUrl()}/namespaces/${namespace}/workflows/${encodeURIComponent(workflowId)}`;
}

/** Everything a release needs but its identity and trigger: what `start`, schedules and monitors start releases from. */
export function releaseTemplate(config: ReleaseConfig, namespace: string, options: { modelUri?: string; queues?: TaskQueues } = {}): ReleaseTemplate {
  const queues = options.queues ?? taskQueues();
  return {
    config,
    artifactsRoot: artifactsRoot(),
    ...(options.modelUri ? { modelUri: options.modelUri } : {}),
    codeVersion: codeVersion(),
    trainingTaskQueue: queues.training,
    links: { temporalUi: temporalUiUrl(), mlflow: mlflowTrackingUri(), namespace },
  };
}

/** A start refused because the model's release is running: one release per model at a time. */
export class ReleaseRunningError extends Error {
  constructor(
    readonly workflowId: string,
    readonly running: { releaseId?: string; trigger?: ReleaseTrigger; since?: Date },
  ) {
    const what = [running.releaseId, running.trigger && triggerLine(running.trigger), running.since && `since ${running.since.toISOString()}`].filter(Boolean).join(', ');
    super(
      `refused: a release of this model is running: ${workflowId}${what ? ` (${what})` : ''}. One release per model runs at a time. ` +
        `Fix: follow it (modelship status ${workflowId}), decide it (modelship approve|reject ${workflowId} …), or start with --attach to follow it.`,
    );
    this.name = 'ReleaseRunningError';
  }
}

export interface StartReleaseOptions {
  modelUri?: string;
  /** An explicit workflow id (tests running several releases of one model): the release's identity is then that id. */
  workflowId?: string;
  queues?: TaskQueues;
  startedBy?: string;
  trigger?: ReleaseTrigger;
  /** When the model's release is running: follow it instead of being refused. */
  attach?: boolean;
}

/**
 * Starts a release of config's model under release-<model>, the id every start uses (a person, a schedule, an
 * alarm, a promotion), so Temporal itself refuses a second one while it runs: ReleaseRunningError, or with
 * attach the running release's handle (`attached: true`).
 */
export async function startRelease(client: Client, namespace: string, config: ReleaseConfig, options: StartReleaseOptions = {}): Promise<WorkflowHandle & { attached?: boolean }> {
  const queues = options.queues ?? taskQueues();
  const startedBy = options.startedBy ?? osUser();
  const workflowId = options.workflowId ?? releaseWorkflowIdOf(config.model_name);
  const input: ReleaseInput = {
    ...releaseTemplate(config, namespace, { modelUri: options.modelUri, queues }),
    ...(options.workflowId ? {} : { releaseId: releaseIdOf(config.model_name, new Date(), randomUUID()) }),
    startedBy,
    trigger: options.trigger ?? { kind: 'person', by: startedBy },
  };
  const flags = [
    config.skip_training && 'skip training',
    config.skip_local_testing && 'skip local tests',
    config.skip_deployment && 'skip deployment',
    config.auto_approve_deployment && 'auto-approve',
  ]
    .filter(Boolean)
    .join(', ');
  try {
    return await client.workflow.start('modelRelease', {
      taskQueue: queues.orchestration,
      workflowId,
      workflowIdConflictPolicy: 'FAIL',
      args: [input],
      typedSearchAttributes: [{ key: MODEL_NAME, value: config.model_name }],
      staticSummary: `Release ${config.model_name} from ${config.input_data_path.split('/').pop()} → ${config.target}${flags ? ` (${flags})` : ''} (${triggerLine(input.trigger!)})`,
    });
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    const handle = client.workflow.getHandle(workflowId);
    if (options.attach) return Object.assign(handle, { attached: true });
    throw new ReleaseRunningError(workflowId, await runningRelease(handle));
  }
}

/** What the running release says of itself (its status query), or at least when it started. */
async function runningRelease(handle: WorkflowHandle): Promise<ReleaseRunningError['running']> {
  const since = await handle
    .describe()
    .then((d) => d.startTime)
    .catch(() => undefined);
  const status = await Promise.race([handle.query(statusQuery).catch(() => undefined), sleep(3000).then(() => undefined)]);
  return { ...(status ? { releaseId: status.workflowId, trigger: status.trigger } : {}), ...(since ? { since } : {}) };
}

// gRPC status codes that say "the server or the network is having a moment", not "the workflow ended".
const TRANSIENT_GRPC_CODES = new Set([
  1, // CANCELLED (e.g. the channel closed under a long poll)
  2, // UNKNOWN
  4, // DEADLINE_EXCEEDED
  8, // RESOURCE_EXHAUSTED
  10, // ABORTED
  13, // INTERNAL
  14, // UNAVAILABLE (server restarting, connection refused)
]);

/**
 * True for an error that a retry may cure: the Temporal server restarting, a dropped connection, a timed-out
 * call. Never for a workflow's own end (failed, cancelled, terminated, timed out) nor for a refused request.
 */
export function isTransientRpcError(error: unknown): boolean {
  if (error instanceof WorkflowFailedError || error instanceof WorkflowContinuedAsNewError || error instanceof WorkflowNotFoundError) return false;
  for (let current = error as { code?: unknown; cause?: unknown; message?: unknown } | undefined, depth = 0; current && depth < 5; depth++) {
    if (typeof current.code === 'number') return TRANSIENT_GRPC_CODES.has(current.code);
    if (typeof current.message === 'string' && /ECONNREFUSED|ECONNRESET|socket hang up|Connection dropped|No connection established/i.test(current.message)) return true;
    current = current.cause as typeof current;
  }
  return false;
}

/** A gRPC error's own words ("14 UNAVAILABLE: Connection dropped"), not the client's wrapper. */
const rpcMessage = (error: unknown) => ((error as { cause?: Error }).cause?.message ?? (error as Error).message) || String(error);

/** The parts of a workflow handle a watcher uses (a fake in tests). */
export type WatchedHandle = Pick<WorkflowHandle, 'result' | 'query' | 'describe' | 'workflowId'> & Partial<Pick<WorkflowHandle, 'client'>>;

export interface RideOutOptions {
  /** Called once when contact is lost and once when it is back. */
  onContact?: (line: string) => void;
  /** Give up after this long without an answer (default 15 minutes). */
  giveUpAfterMs?: number;
  /** First pause between retries, doubled up to 10 s (tests use a short one). */
  retryDelayMs?: number;
  /** Stop watching (the caller is done with the connection): no further call is made once it is aborted. */
  signal?: AbortSignal;
}

/** Runs one call under an AbortSignal of its own that follows `signal`, and lets go of `signal` when the call ends. */
async function withOwnSignal<T>(signal: AbortSignal, call: (own: AbortSignal) => Promise<T>): Promise<T> {
  const own = new AbortController();
  const follow = () => own.abort(signal.reason);
  if (signal.aborted) follow();
  else signal.addEventListener('abort', follow, { once: true });
  try {
    return await call(own.signal);
  } finally {
    signal.removeEventListener('abort', follow);
  }
}

// GetWorkflowExecutionHistory's filter for the close event only (temporal.api.enums.v1.HistoryEventFilterType).
const CLOSE_EVENT_ONLY = 2;

/**
 * The result of a run, cancelled when `signal` aborts. The SDK adds an abort listener to the signal of every call it
 * makes and never removes it, and result() long-polls many times over a long release: with one signal over all of
 * them, listeners pile up (MaxListenersExceededWarning). So the wait is one long poll at a time, each under a signal
 * of its own, and result() is asked only once the run has closed.
 */
async function resultOnceClosed(handle: Pick<WorkflowHandle, 'result' | 'workflowId'>, client: WorkflowClient, signal: AbortSignal): Promise<unknown> {
  try {
    let nextPageToken: Uint8Array | undefined;
    for (;;) {
      const request = {
        namespace: client.options.namespace,
        execution: { workflowId: handle.workflowId },
        waitNewEvent: true,
        historyEventFilterType: CLOSE_EVENT_ONLY,
        skipArchival: true,
        nextPageToken,
      };
      const response = await withOwnSignal(signal, (own) => client.withAbortSignal(own, () => client.workflowService.getWorkflowExecutionHistory(request)));
      if (response.history?.events?.length) break;
      nextPageToken = response.nextPageToken ?? undefined;
    }
  } catch (error) {
    if (signal.aborted || isTransientRpcError(error)) throw error;
    // Anything else (e.g. no such workflow) result() below says in the SDK's own terms.
  }
  return withOwnSignal(signal, (own) => client.withAbortSignal(own, () => handle.result()));
}

/**
 * The workflow's result, riding out transient errors (retry, the connection reconnects on its own): resolves with
 * the result or the workflow's failure, never with a gRPC hiccup. A watcher must not report a release as failed,
 * nor crash, because the server restarted under it.
 */
export async function awaitResult<T>(
  handle: Pick<WorkflowHandle, 'result' | 'workflowId'> & Partial<Pick<WorkflowHandle, 'client'>>,
  options: RideOutOptions = {},
): Promise<{ result: T } | { error: Error }> {
  const { signal } = options;
  // Aborting also cancels the pending long poll, so no call is left in flight when the caller closes the connection.
  const result = () => (signal && handle.client ? resultOnceClosed(handle, handle.client, signal) : handle.result());
  const giveUpAfter = options.giveUpAfterMs ?? 15 * 60_000;
  let lostSince: number | undefined;
  let delay = options.retryDelayMs ?? 500;
  for (;;) {
    try {
      const value = (await result()) as T;
      if (lostSince !== undefined) options.onContact?.('back in contact with Temporal');
      return { result: value };
    } catch (error) {
      if (signal?.aborted) return { error: error as Error };
      if (!isTransientRpcError(error)) {
        if (lostSince !== undefined) options.onContact?.('back in contact with Temporal');
        return { error: error as Error };
      }
      if (lostSince === undefined) {
        lostSince = Date.now();
        options.onContact?.(`lost contact with Temporal (${rpcMessage(error)}); the release goes on without us, retrying…`);
      } else if (Date.now() - lostSince > giveUpAfter) {
        return {
          error: new Error(
            `no answer from Temporal for ${Math.round(giveUpAfter / 60_000)} min (last error: ${rpcMessage(error)}); the release may still be running: modelship status <workflow id>`,
          ),
        };
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 10_000);
      if (signal?.aborted) return { error: new Error('stopped watching') };
    }
  }
}

/** The release status a failed run carries as its failure details, if the error is that (and not, say, a gRPC error). */
export function failedReleaseStatus(error: unknown): ReleaseResult | undefined {
  if (!(error instanceof WorkflowFailedError)) return undefined;
  const details = (error.cause as { details?: unknown } | undefined)?.details;
  const status = Array.isArray(details) ? (details[0] as Partial<ReleaseResult> | undefined) : undefined;
  return status && typeof status === 'object' && Array.isArray(status.steps) ? (status as ReleaseResult) : undefined;
}

interface PendingActivityLike {
  activityType?: { name?: string | null } | null;
  attempt?: number | null;
  heartbeatDetails?: { payloads?: unknown[] | null } | null;
  lastFailure?: { message?: string | null } | null;
}

/** One line for a pending activity: its retry and why ("registerModel: MLflow … unreachable, retrying (attempt 3)"), or its heartbeat progress. */
export function describePendingActivity(activity: PendingActivityLike): string | undefined {
  const name = activity.activityType?.name ?? 'activity';
  const attempt = activity.attempt ?? 1;
  if (attempt > 1 && activity.lastFailure?.message) return `${name}: ${activity.lastFailure.message}, retrying (attempt ${attempt})`;
  const payload = activity.heartbeatDetails?.payloads?.[0];
  if (payload) {
    const details = defaultPayloadConverter.fromPayload(payload as never) as { message?: string } | undefined;
    if (details?.message) return `${name}: ${details.message}`;
  }
  if (attempt > 1) return `${name}: attempt ${attempt}`;
  return undefined;
}

/**
 * What the release is doing right now, from the server's view: each pending activity's heartbeat progress or the
 * reason it is being retried, in the release and in its rollout (a child workflow).
 */
export async function pendingWork(handle: WatchedHandle): Promise<string[]> {
  const description = await handle.describe();
  const lines = (description.raw.pendingActivities ?? []).map(describePendingActivity).filter((line): line is string => !!line);
  const client = handle.client;
  for (const child of description.raw.pendingChildren ?? []) {
    if (!client || !child.workflowId) continue;
    const childDescription = await client
      .getHandle(child.workflowId)
      .describe()
      .catch(() => undefined);
    for (const activity of childDescription?.raw.pendingActivities ?? []) {
      const line = describePendingActivity(activity);
      if (line) lines.push(`${child.workflowTypeName ?? 'child'}: ${line}`);
    }
  }
  return lines;
}

/** What a running activity last reported in its heartbeat (e.g. "fit 37/180") or why it is retried, if any. */
export async function activityProgress(handle: WatchedHandle): Promise<string | undefined> {
  return (await pendingWork(handle))[0];
}

/**
 * Prints progress until the run ends (returns its result) or waits for approval (returns the status).
 * Each change of step, step summary or heartbeat progress is one line. Transient errors from the server (a
 * restart, a dropped connection) are ridden out and said once; they are never taken for the release's end.
 */
export async function watchRelease(
  handle: WatchedHandle,
  print: (line: string) => void,
  options: { stopAtApproval?: boolean; pollMs?: number } & Pick<RideOutOptions, 'retryDelayMs' | 'giveUpAfterMs'> = {},
): Promise<{ result?: ReleaseResult; status?: ReleaseStatus; error?: Error }> {
  const seen = new Set<string>();
  let lastProgress = '';
  // Stopped when we return at approval: the caller then closes the connection, and a retry of the pending
  // result call on a closed channel would throw out of gRPC's timers and crash the CLI.
  const stop = new AbortController();
  const done = awaitResult<ReleaseResult>(handle, { ...options, signal: stop.signal, onContact: (line) => print(`    ${line}`) });
  try {
    for (;;) {
      const finished = await Promise.race([done, sleep(options.pollMs ?? 1_000).then(() => undefined)]);
      let status: ReleaseStatus | undefined;
      try {
        status = await handle.query(statusQuery);
      } catch {
        status = undefined; // not started on a worker yet, already closed, or the server is restarting
      }
      if (status && Array.isArray(status.steps)) {
        for (const step of status.steps) {
          // A running step is said once, and again whenever its summary moves on (e.g. the search's shards).
          const key = `${step.name}:${step.status}:${step.summary ?? ''}`;
          if (step.status !== 'pending' && !seen.has(key) && (step.status !== 'running' || step.summary || !seen.has(`${step.name}:running:`))) {
            if (step.status === 'running') seen.add(`${step.name}:running:`);
            seen.add(key);
            print(
              `${step.status === 'running' ? '…' : step.status === 'succeeded' ? '✔' : step.status === 'skipped' ? '–' : '✖'} ${step.name}${step.summary ? `: ${step.summary}` : ''}`,
            );
          }
        }
      }
      if (finished) return finished;
      if (status?.waitingFor && options.stopAtApproval !== false) return { status };
      const progress = await activityProgress(handle).catch(() => undefined);
      if (progress && progress !== lastProgress) {
        lastProgress = progress;
        print(`    ${progress}`);
      }
    }
  } finally {
    stop.abort();
  }
}

export function summarize(result: ReleaseStatus & { artifactsDir?: string; reportPath?: string }, namespace: string): string {
  const lines = [`outcome: ${result.outcome}${result.error ? ` — ${result.error}` : ''}`];
  if (result.candidate) lines.push(`model:   ${result.candidate.modelUri} (@candidate)`);
  if (result.metrics) {
    const m = result.metrics;
    lines.push(
      `metrics: ROC AUC ${m.roc_auc.toFixed(4)} · PR AUC ${m.average_precision.toFixed(4)} · F1 ${m.f1.toFixed(4)} · accuracy ${m.accuracy.toFixed(4)} (majority baseline ${m.majority_baseline_accuracy.toFixed(4)}) · ${m.rows} held-out rows`,
    );
  }
  if (result.gates) lines.push(`gates:   ${result.gates.checks.map((c) => `${c.name} ${c.passed ? '✔' : '✖'}`).join(' · ')}`);
  const tests = result.steps.find((s) => s.name === 'local_tests');
  if (tests) lines.push(`tests:   ${tests.status}${tests.summary ? ` — ${tests.summary}` : ''}`);
  if (result.approval) {
    const signed =
      result.approval.signatures === 'required' ? ' (signed)' : result.approval.signatures === 'not required' && !result.approval.automatic ? ' (names only, not verified)' : '';
    lines.push(`approval: ${result.approval.decision}${result.approval.automatic ? ' (automatic)' : result.approval.by ? ` by ${result.approval.by}${signed}` : ''}`);
  }
  const deploy = result.steps.find((s) => s.name === 'deploy');
  if (deploy) lines.push(`served:  ${deploy.status === 'succeeded' ? deploy.summary : `not deployed (${deploy.summary ?? deploy.status})`}`);
  lines.push(`links:   ${workflowUrl(namespace, result.handleId ?? result.workflowId)}`);
  lines.push(`         ${mlflowTrackingUri()}/#/models/${result.candidate?.name ?? ''}`);
  if (result.reportPath) lines.push(`report:  ${result.reportPath}`);
  if (result.review) lines.push(...reviewLines(result.review));
  return lines.join('\n');
}

/** The review's file, its page in MLflow, or why it is missing. */
export function reviewLines(review: ReviewRef): string[] {
  return [
    review.path && `review:  ${review.path}${review.phase === 'awaiting_approval' ? ' (read it before approving)' : ''}`,
    review.mlflowUrl && `         ${review.mlflowUrl}`,
    review.error && `review:  ${review.error}`,
  ].filter((line): line is string => Boolean(line));
}
