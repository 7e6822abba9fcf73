// modelRelease: the whole release of a model, durably. Deterministic code only: every side effect is an activity,
// time comes from Temporal, and payloads carry paths, URIs and digests, never data or model bytes. The function
// below is the plan; summaries (release-summaries.ts), the review's and the report's shapes (release-report.ts)
// and the approval rules (approval-rules.ts) live beside it as pure functions.
import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  deprecatePatch,
  executeChild,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { OrchestrationActivities } from '../activities';
import type { DataContract, EnvironmentConfig, ReleaseConfig } from '../config/schema';
import type { GateResult } from '../evaluation/gates';
import type { ClassificationMetrics } from '../evaluation/metrics';
import { MODEL_NAME, RELEASE_OUTCOME, RELEASE_STAGE } from '../shared/search-attributes';
import { HEAVY, QUICK } from './activity-profiles';
import { approvalCommand, automaticApproval } from './approval-rules';
import { createApprovalGate, type ApprovalGate } from './approval-gate';
import type { EnvironmentStatus } from './environment-api';
import { environmentConfig, feedbackEndpoint, targetsOf } from './environments';
import { blueGreenRollout } from './blue-green-rollout';
import { trainDistributed } from './distributed-training';
import { holdEndpoint } from './endpoint-lock';
import type { HoldProgress } from './endpoint-lock-api';
import { innermostFailure } from './failures';
import { rolloutSettingsOf } from './operator-api';
import { RETIRED_PATCHES } from './patches';
import { statusQuery, type CandidateRef, type ChampionResult, type ReleaseInput, type ReleaseResult, type ReleaseStatus } from './release-api';
import { finalReviewSection, initialStatus, releaseReport, reviewContent, type ReportBasis, type ReviewContent } from './release-report';
import { writeReleaseReview } from './release-review';
import * as summary from './release-summaries';
import type { ReviewRef } from './review-api';
import type { RolloutResult } from './rollout-api';
import type { TrainResult } from './training-api';
import type { ReleaseTrigger } from './trigger-api';
import { createStepRecorder, type StepRecorder } from './step-recorder';

const quick = proxyActivities<OrchestrationActivities>(QUICK);
const heavy = proxyActivities<OrchestrationActivities>(HEAVY);

type Trained = Pick<TrainResult, 'files' | 'mlflow' | 'bestFamily'>;

export async function modelRelease(input: ReleaseInput): Promise<ReleaseResult> {
  const { config } = input;
  // The workflow id approvers address (release-<model>) and the release's own identity, unique per release.
  const { workflowId: handleId, runId } = workflowInfo();
  const workflowId = input.releaseId ?? handleId;
  const artifactsDir = `${input.artifactsRoot.replace(/\/+$/, '')}/${workflowId}`;
  const state = initialStatus(input, workflowId, handleId);
  const trigger = state.trigger!;
  setHandler(statusQuery, () => state);
  const steps = createStepRecorder(state);
  const { step, skip, show } = steps;
  const gateFor = (environment?: EnvironmentConfig) =>
    createApprovalGate({
      config: environment ? environmentConfig(config, environment) : config,
      subject: { workflowId: handleId, releaseId: workflowId, environment: environment?.name },
      startedBy: input.startedBy,
      automatic: automaticApproval(config, trigger, environment),
      state,
      show,
    });
  // Registered at once, so an early approve or reject is refused with a reason instead of being lost.
  const firstGate = gateFor(config.environments?.[0]);
  const signedApprovals = Boolean(config.allowed_signers);
  upsertSearchAttributes([
    { key: MODEL_NAME, value: config.model_name },
    { key: RELEASE_OUTCOME, value: 'running' },
  ]);

  let failure: unknown;
  let failedDetails: unknown;
  let train: Trained | undefined;
  let review: ReviewContent | undefined;
  try {
    const contract = requireContract(config.data);
    // Fail before any work rather than after an hour of training: the target reachable, its credentials accepted.
    if (!config.skip_deployment) for (const target of targetsOf(config)) await quick.checkDeploymentTarget({ target });

    const validated = await step('validate_data', () => validateInput(config, contract, artifactsDir), summary.validatedSummary);
    const dataPath = validated.dataPath ?? config.input_data_path;
    const { trained, preregistered } = await trainOrReuse(input, steps, { workflowId, artifactsDir, dataPath, dataSha256: validated.sha256, contract });
    train = trained;
    const evaluation = await step('evaluate', () => heavy.evaluateCandidate({ train: trained, artifactsDir }), summary.evaluatedSummary);
    state.metrics = evaluation.metrics;

    deprecatePatch(RETIRED_PATCHES.reviewReport);
    const { gates, champion, championNote } = await step(
      'gates',
      () => checkGates(config, trained, evaluation.metrics, artifactsDir, preregistered),
      (r) => summary.gatesSummary(r.gates),
    );
    state.gates = gates;

    const registered = await step(
      'register',
      () => registerCandidate(input, { workflowId, dataSha256: validated.sha256, trained, metrics: evaluation.metrics, preregistered }),
      (r) => summary.registeredSummary(config.model_name, r),
    );
    const candidate = (state.candidate = candidateRefOf(config, registered, trained, validated.sha256));

    let latencySamplesPath: string | undefined;
    if (config.skip_local_testing) skip('local_tests', 'skip_local_testing is set');
    else {
      const tested = await step('local_tests', () => heavy.runLocalTests({ train: trained, artifactsDir, maxLatencyMs: config.max_latency_ms }), summary.localTestsSummary);
      latencySamplesPath = tested.latencySamplesPath;
    }

    review = await writeFirstReview(input, state, {
      workflowId,
      handleId,
      artifactsDir,
      config,
      links: input.links,
      candidate: registered,
      train: trained,
      data: validated,
      trigger,
      environments: state.environments,
      evaluation,
      champion,
      championNote,
      gates: gates.checks,
      latencySamplesPath,
    });
    show();

    const release: Entry = { input, state, steps, trained, candidate, reviewLink: () => summary.reviewEvidence(state.review, workflowId) };
    if (!config.environments) await enter(release, { config, gate: firstGate });
    else
      await enterEnvironments(
        release,
        config.environments,
        (index) => (index === 0 ? firstGate : gateFor(config.environments![index])),
        (environments) => writeReleaseReview({ ...review!, environments, phase: 'awaiting_approval', signedApprovals }),
      );
  } catch (error) {
    failure = error;
    // Cancelled: by a CancelledFailure here, or a child that failed because this run was cancelled.
    state.outcome = isCancellation(error) || CancellationScope.current().consideredCancelled ? 'cancelled' : 'failed';
    state.error = innermostFailure(error).message;
    failedDetails = innermostFailure(error).details;
  }

  // The review's second section (the decision and the rollout), on every path once the first was written.
  const written = review;
  if (written) {
    await CancellationScope.nonCancellable(async () => {
      state.review = await writeReleaseReview({ ...written, phase: 'final', signedApprovals, ...finalReviewSection(state, failedDetails) });
    });
  }
  // The report, on every path; not cancellable, so a cancelled run still leaves its record.
  const reportPath = await CancellationScope.nonCancellable(() => writeReport({ input, state, failedDetails, train, artifactsDir, runId }, steps));

  if (failure) {
    const at = state.steps.find((s) => s.status === 'failed')?.name ?? 'start';
    // Temporal keeps no message or details for a cancellation: the report and the `status` query hold them.
    if (state.outcome === 'cancelled') throw new CancelledFailure(`release cancelled at ${at}: ${state.error}`);
    throw ApplicationFailure.nonRetryable(`release failed at ${at}: ${state.error}`, 'ReleaseFailed', state);
  }
  return { ...state, artifactsDir, reportPath };
}

function candidateRefOf(config: ReleaseConfig, registered: { version: string; modelUri: string }, trained: Trained, dataSha256: string): CandidateRef {
  return { name: config.model_name, version: registered.version, modelUri: registered.modelUri, modelSha256: trained.files['model/model.onnx']?.sha256, dataSha256 };
}

/** The review's first section, written once the candidate is tested: what approvers look at before deciding. */
async function writeFirstReview(
  { config }: ReleaseInput,
  state: ReleaseStatus,
  { handleId, trigger, ...parts }: Parameters<typeof reviewContent>[0] & { handleId: string; trigger: ReleaseTrigger },
): Promise<ReviewContent> {
  const review = reviewContent({ ...parts, trigger });
  const signedApprovals = Boolean(config.allowed_signers);
  const first = config.environments?.[0];
  const waitingFor = automaticApproval(config, trigger, first)
    ? undefined
    : `a decision on ${config.model_name} version ${parts.candidate.version}${first ? ` for ${first.name}` : ''}: ${approvalCommand(handleId, signedApprovals)}`;
  state.review = await writeReleaseReview({ ...review, phase: 'awaiting_approval', signedApprovals, waitingFor });
  return review;
}

function requireContract(contract: DataContract | undefined): DataContract {
  if (contract) return contract;
  throw ApplicationFailure.nonRetryable("the config has no data contract (data:). Fix: add one; 'modelship data infer-schema FILE' proposes it.", 'ConfigInvalid');
}

/** Trains a candidate, or with skip_training takes a registered version (default @production) as it is. */
async function trainOrReuse(
  input: ReleaseInput,
  { step, record }: StepRecorder,
  release: { workflowId: string; artifactsDir: string; dataPath: string; dataSha256: string; contract: DataContract },
): Promise<{ trained: Trained; preregistered?: { version: string; modelUri: string } }> {
  const { config } = input;
  if (config.skip_training) {
    const uri = input.modelUri ?? `models:/${config.model_name}@production`;
    const existing = await step(
      'train',
      () => quick.resolveRegisteredModel(uri),
      (r) => summary.reusedModelSummary(uri, r.version),
    );
    record('train').status = 'skipped';
    return { trained: existing.train, preregistered: existing };
  }
  const { workflowId, artifactsDir, dataPath, dataSha256, contract } = release;
  const trainInput = { workflowId, dataPath, dataSha256, artifactsDir, config: { ...config, data: contract } };
  const search = () => {
    deprecatePatch(RETIRED_PATCHES.distributedTraining);
    return trainDistributed(trainInput, input.trainingTaskQueue, (line) => (record('train').summary = line));
  };
  const trained = await step('train', search, summary.trainedSummary);
  return { trained };
}

/** Data validation: the file (or the folder's window, with the feedback when asked), checked against the contract. */
function validateInput(config: ReleaseConfig, contract: DataContract, artifactsDir: string) {
  return heavy.validateData({
    dataPath: config.input_data_path,
    ...(config.input_window !== undefined ? { inputWindow: config.input_window } : {}),
    ...(config.include_feedback ? { feedback: { endpoint: feedbackEndpoint(config) } } : {}),
    contract,
    cvFolds: config.cv_folds,
    testSplit: config.test_data_split,
    artifactsDir,
  });
}

/** The champion (@production scored on the candidate's held-out rows, unless it is the candidate) and the gates. */
async function checkGates(
  config: ReleaseConfig,
  trained: Trained,
  metrics: ClassificationMetrics,
  artifactsDir: string,
  preregistered: { version: string } | undefined,
): Promise<{ gates: GateResult; champion?: ChampionResult; championNote?: string }> {
  const scored = await heavy.evaluateChampion({ modelName: config.model_name, train: trained, artifactsDir });
  const itself = scored && preregistered && scored.version === preregistered.version;
  const champion = itself ? undefined : scored;
  const gates = await heavy.checkGates({ settings: config, candidate: metrics, champion });
  return { gates, champion, ...(itself ? { championNote: `the candidate is @production itself (version ${scored.version})` } : {}) };
}

/** Registers the trained candidate (alias @candidate), or puts @candidate on the reused version. */
async function registerCandidate(
  input: ReleaseInput,
  release: { workflowId: string; dataSha256: string; trained: Trained; metrics: ClassificationMetrics; preregistered?: { version: string; modelUri: string } },
): Promise<{ version: string; modelUri: string; created: boolean }> {
  const { model_name: modelName } = input.config;
  const { preregistered } = release;
  if (preregistered) {
    await quick.setModelAlias({ modelName, alias: 'candidate', version: preregistered.version });
    return { ...preregistered, created: false };
  }
  return quick.registerModel({
    modelName,
    workflowId: release.workflowId,
    dataSha256: release.dataSha256,
    codeVersion: input.codeVersion,
    train: release.trained,
    metrics: release.metrics,
    alias: 'candidate',
  });
}

/** Each environment in turn, each through its own gate; the review is written again before every gate after the first. */
async function enterEnvironments(
  release: Entry,
  environments: EnvironmentConfig[],
  gateOf: (index: number) => ApprovalGate,
  rewriteReview: (environments: EnvironmentStatus[]) => Promise<ReviewRef>,
): Promise<void> {
  const { state } = release;
  try {
    for (const [index, environment] of environments.entries()) {
      if (index > 0) state.review = await rewriteReview(state.environments!);
      const config = environmentConfig(release.input.config, environment);
      const entered = await enter(release, { config, gate: gateOf(index), environment, status: state.environments![index] });
      if (!entered) break;
    }
  } finally {
    // Environments the release never reached, whether it stopped at a gate or failed before them.
    for (const status of state.environments!) if (status.stage === 'pending') status.stage = 'skipped';
  }
}

/** What entering an environment needs from the release. */
interface Entry {
  input: ReleaseInput;
  state: ReleaseStatus;
  steps: StepRecorder;
  trained: Trained;
  candidate: CandidateRef;
  /** Where the review is, appended to what the gate waits for. */
  reviewLink: () => string | undefined;
}

/** One gate and what it opens: the environment's effective config, or the top-level config for the one production. */
interface Stop {
  config: ReleaseConfig;
  gate: ApprovalGate;
  environment?: EnvironmentConfig;
  status?: EnvironmentStatus;
}

/** Through the gate into the environment: the decision, then the rollout. False when the release stops there. */
async function enter({ input, state, steps, trained, candidate, reviewLink }: Entry, { config, gate, environment, status }: Stop): Promise<boolean> {
  const { step, skip } = steps;
  const last = !environment || environment === input.config.environments?.at(-1);
  const where = environment ? `${environment.name}: ` : '';
  const stage = (value: EnvironmentStatus['stage']) => status && (status.stage = value);
  stage('awaiting_approval');
  const decision = await step(
    'approval',
    () => gate.decide(candidate, trained.mlflow.runId, reviewLink()),
    (d) => where + summary.decisionSummary(config, d),
  );
  if (status) status.approval = decision;
  if (decision.decision !== 'approved') {
    state.outcome = decision.decision === 'rejected' ? 'rejected' : 'approval_expired';
    stage(state.outcome);
    skip('deploy', `${where}not deployed: ${state.outcome === 'rejected' ? 'rejected' : 'approval expired'}`);
    return false;
  }
  if (config.skip_deployment) {
    skip('deploy', 'skip_deployment is set');
    stage('skipped');
    if (last) state.outcome = 'succeeded';
    return true;
  }
  stage('deploying');
  try {
    state.deployment = await step(
      'deploy',
      () => deployCandidate(input, config, state, steps, trained, environment),
      (r) => where + summary.deployedSummary(config.model_name, candidate.version, r, state.endpointHold),
    );
  } catch (error) {
    stage('failed');
    throw error;
  }
  if (status) Object.assign(status, { stage: 'live', deployment: state.deployment, alias: `@${environment!.name}` });
  if (last) state.outcome = 'succeeded';
  return true;
}

/**
 * The blue-green rollout of the approved candidate to one endpoint, holding it (one rollout per endpoint) through
 * the rollout and its undo. In an environment: its alias, its soak and its smoke tests.
 */
function deployCandidate(
  input: ReleaseInput,
  config: ReleaseConfig,
  state: ReleaseStatus,
  { record }: StepRecorder,
  trained: Trained,
  environment: EnvironmentConfig | undefined,
): Promise<RolloutResult> {
  const { version } = state.candidate!;
  const claim = {
    target: config.target,
    endpoint: config.endpoint_name,
    kind: 'release' as const,
    description: `release of ${config.model_name} v${version}${environment ? ` to ${environment.name}` : ''}`,
  };
  const onHold = (hold: HoldProgress) => {
    state.endpointHold = hold;
    record('deploy').summary = hold.line;
  };
  // Set before the first await, so a watcher's first look at the running step already says it.
  record('deploy').summary = `asking for endpoint ${config.endpoint_name} (one rollout per endpoint)`;
  return holdEndpoint(claim, onHold, () =>
    executeChild(blueGreenRollout, {
      workflowId: environment ? `${state.workflowId}-${environment.name}-rollout` : `${state.workflowId}-rollout`,
      args: [
        {
          ...rolloutSettingsOf(config),
          target: config.target,
          endpoint: config.endpoint_name,
          model: { name: config.model_name, version, train: trained },
          modelName: config.model_name,
          ...(environment ? { alias: environment.name, soakTime: environment.soak_time, smokeTests: environment.smoke_tests } : {}),
        },
      ],
    }),
  );
}

/** Writes workflow_report.json (and the copy in the MLflow run); a report that cannot be written fails only its step. */
async function writeReport(basis: ReportBasis, { record, show }: StepRecorder): Promise<string | undefined> {
  const { state } = basis;
  const reportStep = record('report');
  reportStep.status = 'running';
  state.stage = 'report';
  let reportPath: string | undefined;
  try {
    const written = await quick.writeReport({ artifactsDir: basis.artifactsDir, report: releaseReport(basis), mlflowArtifactUri: basis.train?.mlflow.artifactUri });
    reportPath = written.reportPath;
    reportStep.status = 'succeeded';
    reportStep.summary = written.reportPath;
  } catch (error) {
    reportStep.status = 'failed';
    reportStep.summary = innermostFailure(error).message;
  }
  state.stage = 'done';
  upsertSearchAttributes([
    { key: RELEASE_STAGE, value: 'done' },
    { key: RELEASE_OUTCOME, value: state.outcome },
  ]);
  show();
  return reportPath;
}
