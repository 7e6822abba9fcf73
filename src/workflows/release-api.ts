// The release workflow's messages and result types: shared by the workflow and its clients (CLI, tests).
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ReleaseConfig } from '../config/schema';
import type { GateResult } from '../evaluation/gates';
import type { ClassificationMetrics } from '../evaluation/metrics';
import type { RolloutResult } from './blue-green-rollout';

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

export interface ApproveRequest {
  by: string;
  /** The candidate version being approved: refused unless it is the one waiting. */
  modelVersion: string;
  comment?: string;
}

export interface RejectRequest {
  by: string;
  reason: string;
  modelVersion?: string;
}

export interface ApprovalRecord {
  decision: 'approved' | 'rejected' | 'expired';
  automatic: boolean;
  by?: string;
  at: string;
  modelVersion: string;
  comment?: string;
  reason?: string;
}

export type ReleaseOutcome = 'succeeded' | 'failed' | 'cancelled' | 'rejected' | 'approval_expired' | 'running';

export interface CandidateRef {
  name: string;
  version: string;
  modelUri: string;
}

export interface ReleaseStatus {
  workflowId: string;
  stage: StepName | 'done';
  outcome: ReleaseOutcome;
  steps: StepRecord[];
  candidate?: CandidateRef;
  metrics?: ClassificationMetrics;
  gates?: GateResult;
  waitingFor?: string;
  approval?: ApprovalRecord;
  deployment?: RolloutResult;
  /** Approve/reject messages that were refused, with the reason (signals cannot answer, so they are listed). */
  refused: string[];
  error?: string;
  /** The review report (review.html + review.json), once written: before approval, updated after the rollout. */
  review?: ReviewRef;
}

export interface ReviewRef {
  phase: 'awaiting_approval' | 'final';
  /** review.html on the worker that wrote it (absent when writing failed: see error). */
  path?: string;
  jsonPath?: string;
  /** The review in the MLflow UI's artifact viewer, and the run. */
  mlflowUrl?: string;
  runUrl?: string;
  error?: string;
}

export interface ReleaseInput {
  config: ReleaseConfig;
  /** Absolute folder where workflow_artifacts/<workflow id>/ is written. */
  artifactsRoot: string;
  /** For skip_training: the model to release (default models:/<model_name>@production). */
  modelUri?: string;
  codeVersion: string;
  /** Where training activities run (served apart from orchestration in production). */
  trainingTaskQueue: string;
  links: { temporalUi: string; mlflow: string; namespace: string };
}

export interface ReleaseResult extends ReleaseStatus {
  artifactsDir: string;
  reportPath?: string;
}

export const approveUpdate = defineUpdate<string, [ApproveRequest]>('approve');
export const rejectUpdate = defineUpdate<string, [RejectRequest]>('reject');
export const approveSignal = defineSignal<[ApproveRequest]>('approve');
export const rejectSignal = defineSignal<[RejectRequest]>('reject');
export const statusQuery = defineQuery<ReleaseStatus>('status');
