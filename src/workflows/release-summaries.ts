// The one-line summaries of a release's steps, as `modelship status`, the Web UI and the report show them. Pure
// functions of a step's result: presentation only, never read back by code.
import type { ReleaseConfig } from '../config/schema';
import type { ApprovalRecord } from '../shared/approval';
import type { HoldProgress } from './endpoint-lock-api';
import type { RolloutResult } from './rollout-api';
import type { TrainResult } from './training-api';
import type { OrchestrationActivities } from '../activities';

type Result<K extends keyof OrchestrationActivities> = Awaited<ReturnType<OrchestrationActivities[K]>>;

const fixed4 = (value: number) => value.toFixed(4);

export function validatedSummary(r: Result<'validateData'>): string {
  return `${r.rows} rows, ${r.positives} positive (${(100 * r.positiveRate).toFixed(2)} %), sha256 ${r.sha256.slice(0, 12)}…`;
}

export function reusedModelSummary(uri: string, version: string): string {
  return `skipped training: using ${uri} (version ${version})`;
}

export function trainedSummary(r: TrainResult): string {
  return (
    `${r.bestFamily} won (CV ${r.scoring} ${fixed4(r.cv[r.bestFamily]!)}), ${r.fits} fits in ${r.seconds.toFixed(0)} s` +
    `${r.resumed ? ', reused after a retry' : ''}; ONNX parity ${r.parityMaxAbsDiff.toExponential(1)}`
  );
}

export function evaluatedSummary({ metrics: m }: Result<'evaluateCandidate'>): string {
  return (
    `ROC AUC ${fixed4(m.roc_auc)}, PR AUC ${fixed4(m.average_precision)}, F1 ${fixed4(m.f1)}, ` +
    `accuracy ${fixed4(m.accuracy)} (majority ${fixed4(m.majority_baseline_accuracy)}) on ${m.rows} held-out rows`
  );
}

export function gatesSummary(r: Result<'checkGates'>): string {
  return `${r.checks.length} checks passed${r.checks.some((c) => c.name === 'champion_challenger') ? ' (incl. champion/challenger)' : ''}`;
}

export function registeredSummary(modelName: string, r: { version: string; created: boolean }): string {
  return `${modelName} version ${r.version} @candidate${r.created ? '' : ' (existing version)'}`;
}

export function localTestsSummary(r: Result<'runLocalTests'>): string {
  const { p50_ms, p95_ms, p99_ms } = r.latency.single;
  return `${r.cases.length} cases passed; single-record p50 ${p50_ms.toFixed(2)} ms, p95 ${p95_ms.toFixed(2)} ms, p99 ${p99_ms.toFixed(2)} ms`;
}

export function decisionSummary(config: Pick<ReleaseConfig, 'approval_timeout'>, d: ApprovalRecord): string {
  if (d.decision === 'expired') return `no decision within ${config.approval_timeout}: approval expired`;
  const who = d.automatic ? ' automatically (auto_approve_deployment)' : ` by ${d.by}`;
  const why = d.reason ? `: ${d.reason}` : d.comment ? `: ${d.comment}` : '';
  return `${d.decision}${who}${why}${d.signatures === 'required' ? ' (signed)' : ''}`;
}

export function deployedSummary(modelName: string, version: string, r: RolloutResult, hold: HoldProgress | undefined): string {
  const waited = hold?.waitedBehind ? `; waited ${hold.waitedSeconds} s for the endpoint behind ${hold.waitedBehind}` : '';
  return `${r.colour} serves ${modelName} v${version} at ${r.scoringUri} (traffic ${JSON.stringify(r.traffic)}); ${r.cleanup}${waited}`;
}

/** Where the approver finds the review, appended to what the release waits for. */
export function reviewEvidence(review: { mlflowUrl?: string; path?: string } | undefined, workflowId: string): string | undefined {
  const where = review?.mlflowUrl ?? review?.path;
  return where ? `review: ${where} (modelship report ${workflowId})` : undefined;
}
