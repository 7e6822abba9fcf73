// The blue-green rollout's contract: its input, the steps it records, its result and the details of a failure.
// Shared by the rollout workflow, the workflows that start it (release, deploy, rollback), the deployment
// activities, the review and the CLI.
import type { ComputeSpec, TargetKind } from '../shared/deployment';
import type { TrainedModelRef } from './training-api';

/** A registered model version and the files of its training run (what a deployment loads). */
export interface ModelFiles {
  name: string;
  version: string;
  train: TrainedModelRef;
}

export interface RolloutInput {
  target: TargetKind;
  endpoint: string;
  /** The colour of a first release; the other colour of the pair is its alternate. */
  firstColour: string;
  model: ModelFiles;
  /** Registered model name whose aliases move (production → candidate, previous → old production). */
  modelName: string;
  trafficPlan: number[];
  /** Mirror this % of live requests to the new colour before it takes traffic (0: no shadow phase). */
  shadowPercent: number;
  shadowTime: string;
  bakeTime: string;
  maxErrorRate: number;
  maxLatencyMs: number;
  noCleanup: boolean;
  terminationWait: string;
  /** How the new colour runs (Azure: VM size and instances). */
  spec: ComputeSpec;
  /** Bound on each long target operation: provisioning, a traffic change, a deletion. */
  deploymentTimeout: string;
}

export interface RolloutStep {
  at: string;
  action: string;
  detail?: string;
  /** The numbers of a traffic change or a bake analysis, for the review's timeline. */
  data?: Record<string, unknown>;
}

export interface RolloutResult {
  outcome: 'succeeded';
  endpoint: string;
  colour: string;
  previousColour?: string;
  previousVersion?: string;
  traffic: Record<string, number>;
  scoringUri?: string;
  /** The shadow phase: mirrored requests and how often the new colour agreed with the live one. */
  shadow?: { percent: number; compared: number; agreementRate: number | null };
  steps: RolloutStep[];
  cleanup: string;
}

export interface RolloutFailureDetails {
  failed: string;
  evidence?: unknown;
  undone: string[];
  undoFailures: string[];
  steps: RolloutStep[];
}
