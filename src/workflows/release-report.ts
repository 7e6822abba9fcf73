// What a release hands the review and writes as its report, assembled from its status: pure functions, so the
// release reads as its plan and the shapes are tested without a workflow.
import type { ReleaseConfig } from '../config/schema';
import type { DataSource } from '../shared/data-sources';
import type { EnvironmentStatus } from './environment-api';
import { STEP_NAMES, type ChampionResult, type ReleaseInput, type ReleaseReport, type ReleaseStatus, type ReleaseTrigger } from './release-api';
import { plannedEnvironments } from './environments';
import type { ReviewInput } from './review-api';
import type { RolloutFailureDetails } from './rollout-api';
import type { TrainResult } from './training-api';
import type { OrchestrationActivities } from '../activities';

type Trained = Pick<TrainResult, 'files' | 'mlflow' | 'bestFamily'>;

/** The status a release starts with: its identity, its trigger, every step pending, its environments pending. */
export function initialStatus(input: ReleaseInput, workflowId: string, handleId: string): ReleaseStatus {
  const environments = plannedEnvironments(input.config);
  return {
    workflowId,
    ...(handleId !== workflowId ? { handleId } : {}),
    trigger: input.trigger ?? { kind: 'person', by: input.startedBy },
    ...(environments ? { environments } : {}),
    stage: 'validate_data',
    outcome: 'running',
    steps: STEP_NAMES.map((name) => ({ name, status: 'pending' })),
    refused: [],
  };
}

/** The review's inputs once the candidate is registered and tested: references only (paths, digests, MLflow runs). */
export interface ReviewBasis {
  workflowId: string;
  artifactsDir: string;
  config: ReleaseConfig;
  links: ReleaseInput['links'];
  candidate: { version: string; modelUri: string };
  train: Trained;
  data: { sha256: string; dataPath?: string; sources?: DataSource[]; sketchPath?: string };
  trigger?: ReleaseTrigger;
  environments?: EnvironmentStatus[];
  evaluation: Awaited<ReturnType<OrchestrationActivities['evaluateCandidate']>>;
  champion?: ChampionResult;
  championNote?: string;
  gates: ReviewInput['gates'];
  latencySamplesPath?: string;
}

export type ReviewContent = Omit<ReviewInput, 'phase' | 'signedApprovals'>;

export function reviewContent(b: ReviewBasis): ReviewContent {
  const { config } = b;
  return {
    workflowId: b.workflowId,
    artifactsDir: b.artifactsDir,
    modelName: config.model_name,
    candidate: b.candidate,
    train: b.train,
    data: {
      path: b.data.dataPath ?? config.input_data_path,
      sha256: b.data.sha256,
      contract: config.data!,
      ...(b.data.sources ? { sources: b.data.sources } : {}),
      ...(b.data.sketchPath ? { sketchPath: b.data.sketchPath } : {}),
    },
    ...(b.trigger ? { trigger: b.trigger } : {}),
    ...(b.environments ? { environments: b.environments } : {}),
    evaluation: { metrics: b.evaluation.metrics, scores: b.evaluation.scores },
    champion: b.champion,
    championNote: b.championNote,
    gates: b.gates,
    latency: { samplesPath: b.latencySamplesPath, maxLatencyMs: config.max_latency_ms, skipped: config.skip_local_testing ? 'skip_local_testing is set' : undefined },
    links: b.links,
  };
}

/** The final review's second section: the decision and the rollout (or why there was none). */
export function finalReviewSection(state: ReleaseStatus, failedDetails: unknown): Pick<ReviewInput, 'approvals' | 'outcome' | 'rollout'> {
  const deploy = state.steps.find((s) => s.name === 'deploy')!;
  return {
    // Each accepted vote (with its verified signature) when the gate kept them, else the one decision.
    approvals: state.approval?.approvals?.length ? state.approval.approvals : state.approval,
    outcome: state.outcome,
    rollout: {
      result: state.deployment,
      failure: deploy.status === 'failed' ? (failedDetails as RolloutFailureDetails | undefined) : undefined,
      notDeployed: deploy.summary ?? `not deployed (${state.outcome})`,
    },
  };
}

export interface ReportBasis {
  input: ReleaseInput;
  state: ReleaseStatus;
  failedDetails: unknown;
  train?: Pick<TrainResult, 'mlflow'>;
  artifactsDir: string;
  /** The Temporal run of the release (its workflow id is shared by every release of the model). */
  runId?: string;
}

export function releaseReport({ input, state, failedDetails, train, artifactsDir, runId }: ReportBasis): ReleaseReport {
  const { config, links } = input;
  const { workflowId } = state;
  const gate = state.gate && (({ approvals: _votes, ...rules }) => rules)(state.gate);
  // Releases addressed by their model's workflow id link to their own run of it.
  const run = state.handleId && runId ? `${encodeURIComponent(state.handleId)}/${runId}` : workflowId;
  return {
    workflow_id: workflowId,
    temporal: { workflow_id: state.handleId ?? workflowId, ...(runId ? { run_id: runId } : {}) },
    ...(state.trigger ? { trigger: state.trigger } : {}),
    ...(state.environments ? { environments: state.environments } : {}),
    model_name: config.model_name,
    outcome: state.outcome,
    error: state.error,
    failure_details: failedDetails,
    candidate: state.candidate,
    metrics: state.metrics,
    gates: state.gates,
    approval: state.approval,
    approval_gate: gate,
    deployment: state.deployment,
    review: state.review,
    refused_messages: state.refused,
    steps: state.steps,
    config,
    code_version: input.codeVersion,
    links: {
      temporal_ui: `${links.temporalUi}/namespaces/${links.namespace}/workflows/${run}`,
      mlflow_run: train?.mlflow.experimentId
        ? `${links.mlflow}/#/experiments/${train.mlflow.experimentId}/runs/${train.mlflow.runId}`
        : train
          ? `${links.mlflow}/#/models/${config.model_name}`
          : undefined,
    },
    artifacts_dir: artifactsDir,
  };
}
