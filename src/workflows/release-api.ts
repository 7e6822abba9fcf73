// The release workflow's messages and result types: shared by the workflow and its clients (CLI, tests).
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ReleaseConfig } from '../config/schema';
import type { GateResult } from '../evaluation/gates';
import type { ClassificationMetrics } from '../evaluation/metrics';
import type { ArtifactRef } from '../shared/artifacts';
import type { ReviewRef } from './review-api';
import type { RolloutResult } from './rollout-api';
import type { HoldProgress } from './endpoint-lock-api';
import type { ApprovalRecord, ApprovalVote } from '../shared/approval';
import type { EnvironmentStatus } from './environment-api';
import type { ReleaseTrigger } from './trigger-api';

export type { EnvironmentStatus } from './environment-api';
export type { AlarmTrigger, ReleaseTrigger } from './trigger-api';

export type { ApprovalRecord, ApprovalSignature, ApprovalVote } from '../shared/approval';

export const STEP_NAMES = ['validate_data', 'train', 'evaluate', 'gates', 'register', 'local_tests', 'approval', 'deploy', 'report'] as const;
export type StepName = (typeof STEP_NAMES)[number];

export interface StepRecord {
  name: StepName;
  status: 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';
  startedAt?: string;
  endedAt?: string;
  seconds?: number;
  summary?: string;
}

/** With allowed_signers set: the canonical statement (src/approval/statement.ts) and its armored SSH signature. */
export interface SignedMessage {
  statement?: string;
  signature?: string;
}

export interface ApproveRequest extends SignedMessage {
  by: string;
  /** The candidate version being approved: refused unless it is the one waiting. */
  modelVersion: string;
  comment?: string;
}

export interface RejectRequest extends SignedMessage {
  by: string;
  reason: string;
  modelVersion?: string;
}

/** The approval rules of a release and how far it got: in the status while it waits, and in the report. */
export interface ApprovalGateStatus {
  /** With environments: the one this decision lets the candidate into. */
  environment?: string;
  /** What a signed statement's workflow_id must say: the release id, or `<release id>@<environment>` with environments. */
  statementId?: string;
  signatures: 'required' | 'not required';
  allowedSigners?: string;
  requiredApprovals: number;
  forbidSelfApproval: boolean;
  /** Who started the release (modelship start --by NAME, default the OS user). */
  startedBy?: string;
  /** When the release began waiting for a decision. */
  waitingSince?: string;
  approvals: ApprovalVote[];
  /** Said plainly in reports when names are not verified. */
  note?: string;
}

export type ReleaseOutcome = 'succeeded' | 'failed' | 'cancelled' | 'rejected' | 'approval_expired' | 'running';

export interface CandidateRef {
  name: string;
  version: string;
  modelUri: string;
  /** sha256 of the ONNX model file: what an approval statement names. */
  modelSha256?: string;
  /** sha256 of the data this release validated (and trained on, unless skip_training). */
  dataSha256?: string;
}

/** The current @production version, scored on the candidate's held-out rows (champion/challenger). */
export interface ChampionResult {
  version: string;
  metrics: ClassificationMetrics;
  /** Its scores on those rows, for the review's curves. */
  scores?: ArtifactRef;
}

/** The one workflow id of a model's release: every start (a person, a schedule, an alarm, a promotion) uses it, so at most one release per model runs. */
export const releaseWorkflowIdOf = (modelName: string) => `release-${modelName}`;

export interface ReleaseStatus {
  /** The release's identity: its artifacts folder, its MLflow tags, what an approval statement names. Unique per release. */
  workflowId: string;
  /** The Temporal workflow id to address (approve, reject, status): release-<model> for every release started since one release per model holds. */
  handleId?: string;
  trigger?: ReleaseTrigger;
  /** With environments: each, in order. */
  environments?: EnvironmentStatus[];
  stage: StepName | 'done';
  outcome: ReleaseOutcome;
  steps: StepRecord[];
  candidate?: CandidateRef;
  metrics?: ClassificationMetrics;
  gates?: GateResult;
  waitingFor?: string;
  approval?: ApprovalRecord;
  /** The approval rules and the approvals so far, once the approval step began. */
  gate?: ApprovalGateStatus;
  deployment?: RolloutResult;
  /** One rollout per endpoint: waiting for the endpoint, holding it, or done with it (deploy step). */
  endpointHold?: HoldProgress;
  /** Approve/reject messages that were refused, with the reason (signals cannot answer, so they are listed). */
  refused: string[];
  error?: string;
  /** The review report (review.html + review.json), once written: before approval, updated after the rollout. */
  review?: ReviewRef;
}

export interface ReleaseInput {
  config: ReleaseConfig;
  /** The release's unique identity (release-<model>-<UTC stamp>-<4 hex>); absent in releases whose workflow id was it. */
  releaseId?: string;
  /** Why it started (absent: a person, startedBy). */
  trigger?: ReleaseTrigger;
  /** Absolute folder where workflow_artifacts/<workflow id>/ is written. */
  artifactsRoot: string;
  /** For skip_training: the model to release (default models:/<model_name>@production). */
  modelUri?: string;
  codeVersion: string;
  /** Who started the release (modelship start --by NAME, default the OS user): forbid_self_approval refuses them. */
  startedBy?: string;
  /** Where training activities run (served apart from orchestration in production). */
  trainingTaskQueue: string;
  links: { temporalUi: string; mlflow: string; namespace: string };
}

/**
 * workflow_report.json (and report/workflow_report.json in the MLflow run): what the release did, on every path.
 * Each vote is stored once, in `approval.approvals`; `approval_gate` holds the rules.
 */
export interface ReleaseReport {
  /** The release's own id (unique). */
  workflow_id: string;
  /** Its Temporal run: the workflow id approvers and `audit` address (release-<model>) and the run. */
  temporal?: { workflow_id: string; run_id?: string };
  trigger?: ReleaseTrigger;
  environments?: EnvironmentStatus[];
  model_name: string;
  outcome: ReleaseOutcome;
  error?: string;
  /** Evidence of a failure (probe results, deployment logs) and what was undone. */
  failure_details?: unknown;
  candidate?: CandidateRef;
  metrics?: ClassificationMetrics;
  gates?: GateResult;
  approval?: ApprovalRecord;
  approval_gate?: Omit<ApprovalGateStatus, 'approvals'>;
  deployment?: RolloutResult;
  review?: ReviewRef;
  refused_messages: string[];
  steps: StepRecord[];
  config: ReleaseConfig;
  code_version: string;
  links: { temporal_ui: string; mlflow_run?: string };
  artifacts_dir: string;
}

export interface ReleaseResult extends ReleaseStatus {
  artifactsDir: string;
  reportPath?: string;
}

/** A release's unique identity: release-<model>-<UTC stamp to the second>-<4 hex>, e.g. release-fbm-20261203-101500-ab12. */
export function releaseIdOf(modelName: string, at: Date, random: string): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `release-${modelName}-${stamp}-${random.replace(/-/g, '').slice(0, 4)}`;
}

/** What a schedule or a monitor keeps to start a release later: the input without the identity and the trigger. */
export type ReleaseTemplate = Omit<ReleaseInput, 'releaseId' | 'trigger' | 'startedBy'>;

/** How a start that found its model's release running ended: started, or that release's ids. */
export type ReleaseStart = { started: true; workflowId: string; releaseId: string } | { started: false; workflowId: string; running: string };

export const approveUpdate = defineUpdate<string, [ApproveRequest]>('approve');
export const rejectUpdate = defineUpdate<string, [RejectRequest]>('reject');
export const approveSignal = defineSignal<[ApproveRequest]>('approve');
export const rejectSignal = defineSignal<[RejectRequest]>('reject');
export const statusQuery = defineQuery<ReleaseStatus>('status');
