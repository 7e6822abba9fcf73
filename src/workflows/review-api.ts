// The review report's contract: what the release hands the review activity (references, never data), what the
// activity wrote, and the reference the release keeps in its status.
import type { DataContract } from '../config/schema';
import type { GateCheck } from '../evaluation/gates';
import type { ClassificationMetrics } from '../evaluation/metrics';
import type { ArtifactRef } from '../shared/artifacts';
import type { ApprovalRecord, ApprovalVote } from '../shared/approval';
import type { DataSource } from '../shared/data-sources';
import type { EnvironmentStatus } from './environment-api';
import type { ReleaseTrigger } from './trigger-api';
import type { RolloutFailureDetails, RolloutResult } from './rollout-api';
import type { TrainResult } from './training-api';

/** Written while the release waits for approval, and again (final) after the rollout. */
export type ReviewPhase = 'awaiting_approval' | 'final';

export interface ReviewInput {
  workflowId: string;
  artifactsDir: string;
  phase: ReviewPhase;
  modelName: string;
  candidate: { version: string; modelUri: string };
  train: Pick<TrainResult, 'files' | 'mlflow' | 'bestFamily'>;
  /** sketchPath: the data sketch validation wrote (data_sketch.json), so the review need not read the data again. */
  data: { path: string; sha256: string; contract: DataContract; sources?: DataSource[]; sketchPath?: string };
  /** Why the release started: shown first. */
  trigger?: ReleaseTrigger;
  /** With environments: where the candidate stands in each. */
  environments?: EnvironmentStatus[];
  evaluation: { metrics: ClassificationMetrics; scores?: ArtifactRef };
  champion?: { version: string; metrics: ClassificationMetrics; scores?: ArtifactRef };
  /** Why there is no champion to compare with. */
  championNote?: string;
  gates?: GateCheck[];
  latency: { samplesPath?: string; maxLatencyMs: number; skipped?: string };
  /** Each accepted vote when the gate kept them, else the one decision. */
  approvals?: ApprovalVote[] | ApprovalRecord;
  /** Whether approvals must be signed (allowed_signers is set). */
  signedApprovals: boolean;
  waitingFor?: string;
  outcome?: string;
  rollout?: { result?: RolloutResult; failure?: RolloutFailureDetails; notDeployed?: string };
  links: { mlflow: string; temporalUi: string; namespace: string };
}

export interface ReviewResult {
  htmlPath: string;
  jsonPath: string;
  /** Where the review is in the MLflow run (absent when the upload failed: the local files still stand). */
  mlflow?: { artifactPath: string; reviewUrl: string; runUrl: string };
  mlflowError?: string;
}

export interface ReviewRef {
  phase: ReviewPhase;
  /** review.html on the worker that wrote it (absent when writing failed: see error). */
  path?: string;
  jsonPath?: string;
  /** The review in the MLflow UI's artifact viewer, and the run. */
  mlflowUrl?: string;
  runUrl?: string;
  error?: string;
}
