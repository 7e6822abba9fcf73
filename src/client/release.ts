// Starting, watching and answering releases from the CLI (and the demo).
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { mlflowTrackingUri, projectRoot, taskQueues, temporalUiUrl, type TaskQueues } from '../config/environment';
import type { ReleaseConfig } from '../config/schema';
import { MODEL_NAME } from '../workflows/search-attributes';
import { statusQuery, type ReleaseInput, type ReleaseResult, type ReleaseStatus, type ReviewRef } from '../workflows/release-api';

export const artifactsRoot = () => resolve(process.env.MODELSHIP_ARTIFACTS_DIR || join(projectRoot, 'workflow_artifacts'));

export function codeVersion(): string {
  return `modelship@${(require('../../package.json') as { version: string }).version}`;
}

export function releaseWorkflowId(modelName: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `release-${modelName}-${stamp}-${randomUUID().slice(0, 4)}`;
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

export async function startRelease(
  client: Client,
  namespace: string,
  config: ReleaseConfig,
  options: { modelUri?: string; workflowId?: string; queues?: TaskQueues; startedBy?: string } = {},
): Promise<WorkflowHandle> {
  const queues = options.queues ?? taskQueues();
  const input: ReleaseInput = {
    config,
    artifactsRoot: artifactsRoot(),
    modelUri: options.modelUri,
    codeVersion: codeVersion(),
    startedBy: options.startedBy ?? osUser(),
    trainingTaskQueue: queues.training,
    links: { temporalUi: temporalUiUrl(), mlflow: mlflowTrackingUri(), namespace },
  };
  const flags = [config.skip_training && 'skip training', config.skip_local_testing && 'skip local tests', config.skip_deployment && 'skip deployment', config.auto_approve_deployment && 'auto-approve']
    .filter(Boolean)
    .join(', ');
  return client.workflow.start('modelRelease', {
    taskQueue: queues.orchestration,
    workflowId: options.workflowId ?? releaseWorkflowId(config.model_name),
    args: [input],
    typedSearchAttributes: [{ key: MODEL_NAME, value: config.model_name }],
    staticSummary: `Release ${config.model_name} from ${config.input_data_path.split('/').pop()} → ${config.target}${flags ? ` (${flags})` : ''}`,
  });
}

/** What a running activity last reported in its heartbeat (e.g. "fit 37/180"), if any. */
export async function activityProgress(handle: WorkflowHandle): Promise<string | undefined> {
  const description = await handle.describe();
  const pending = description.raw.pendingActivities ?? [];
  for (const activity of pending) {
    const payload = activity.heartbeatDetails?.payloads?.[0];
    if (payload) {
      const details = defaultPayloadConverter.fromPayload(payload as never) as { message?: string } | undefined;
      if (details?.message) return `${activity.activityType?.name}: ${details.message}`;
    }
    if (activity.attempt && activity.attempt > 1) return `${activity.activityType?.name}: attempt ${activity.attempt}`;
  }
  return undefined;
}

/**
 * Prints progress until the run ends (returns its result) or waits for approval (returns the status).
 * Each change of step, step summary or heartbeat progress is one line.
 */
export async function watchRelease(
  handle: WorkflowHandle,
  print: (line: string) => void,
  options: { stopAtApproval?: boolean } = {},
): Promise<{ result?: ReleaseResult; status?: ReleaseStatus; error?: Error }> {
  const seen = new Set<string>();
  let lastProgress = '';
  const done = handle.result().then(
    (result: ReleaseResult) => ({ result }),
    (error: Error) => ({ error }),
  );
  for (;;) {
    const finished = await Promise.race([done, new Promise<undefined>((r) => setTimeout(() => r(undefined), 1_000))]);
    let status: ReleaseStatus | undefined;
    try {
      status = await handle.query(statusQuery);
    } catch {
      status = undefined; // not started on a worker yet, or already closed
    }
    if (status) {
      for (const step of status.steps) {
        const key = `${step.name}:${step.status}:${step.summary ?? ''}`;
        if (step.status !== 'pending' && !seen.has(key) && (step.status !== 'running' || !seen.has(`${step.name}:running:`))) {
          seen.add(key);
          print(`${step.status === 'running' ? '…' : step.status === 'succeeded' ? '✔' : step.status === 'skipped' ? '–' : '✖'} ${step.name}${step.summary ? `: ${step.summary}` : ''}`);
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
}

export function summarize(result: ReleaseStatus & { artifactsDir?: string; reportPath?: string }, namespace: string): string {
  const lines = [`outcome: ${result.outcome}${result.error ? ` — ${result.error}` : ''}`];
  if (result.candidate) lines.push(`model:   ${result.candidate.modelUri} (@candidate)`);
  if (result.metrics) {
    const m = result.metrics;
    lines.push(`metrics: ROC AUC ${m.roc_auc.toFixed(4)} · PR AUC ${m.average_precision.toFixed(4)} · F1 ${m.f1.toFixed(4)} · accuracy ${m.accuracy.toFixed(4)} (majority baseline ${m.majority_baseline_accuracy.toFixed(4)}) · ${m.rows} held-out rows`);
  }
  if (result.gates) lines.push(`gates:   ${result.gates.checks.map((c) => `${c.name} ${c.passed ? '✔' : '✖'}`).join(' · ')}`);
  const tests = result.steps.find((s) => s.name === 'local_tests');
  if (tests) lines.push(`tests:   ${tests.status}${tests.summary ? ` — ${tests.summary}` : ''}`);
  if (result.approval) {
    const signed = result.approval.signatures === 'required' ? ' (signed)' : result.approval.signatures === 'not required' && !result.approval.automatic ? ' (names only, not verified)' : '';
    lines.push(`approval: ${result.approval.decision}${result.approval.automatic ? ' (automatic)' : result.approval.by ? ` by ${result.approval.by}${signed}` : ''}`);
  }
  const deploy = result.steps.find((s) => s.name === 'deploy');
  if (deploy) lines.push(`served:  ${deploy.status === 'succeeded' ? deploy.summary : `not deployed (${deploy.summary ?? deploy.status})`}`);
  lines.push(`links:   ${workflowUrl(namespace, result.workflowId)}`);
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
