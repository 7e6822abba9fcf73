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
  /** The alias the new version takes (default production); the one it replaces moves to previous (production) or <alias>-previous. */
  alias?: string;
  /** An environment's soak: at 100 % the new colour serves this long, then its error rate and latency are analysed. */
  soakTime?: string;
  /** After the soak: the held-out rows scored through the endpoint's new colour and compared with the evaluation. */
  smokeTests?: boolean;
}

/**
 * One thing the rollout did: when, what (for people), and its numbers (for the review and the CLI). Steps recorded by
 * builds before a kind of step had numbers carry no data.
 */
export type RolloutStep = { at: string; detail: string } & (
  | { action: 'read endpoint'; data?: { exists: boolean; traffic: Record<string, number>; idle: string } }
  | { action: 'deployed'; data?: { colour: string; modelName: string; modelVersion: string } }
  | { action: 'shadow'; data?: NonNullable<RolloutResult['shadow']> }
  | { action: 'traffic'; data?: { traffic: Record<string, number> } }
  | { action: 'bake passed'; data?: { percent: number; requests: number; errorRate: number; p95Ms: number } }
  | { action: 'aliases'; data?: { production: string; previous?: string; alias?: string } }
  | { action: 'soak passed'; data?: { soakTime: string; requests: number; errorRate: number; p95Ms: number } }
  | { action: 'smoke tests passed'; data?: { requests: number; errors: number; p95Ms: number } }
  | { action: 'rolled back'; data?: { undone: string[]; undoFailures: string[] } }
  | { action: 'created endpoint' | 'removed idle deployment' | 'health checks passed' | 'cleanup'; data?: undefined }
);

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
