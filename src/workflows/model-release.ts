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
import type { DataContract } from '../config/schema';
import { MODEL_NAME, RELEASE_OUTCOME, RELEASE_STAGE } from '../shared/search-attributes';
import { HEAVY, QUICK } from './activity-profiles';
import { approvalCommand } from './approval-rules';
import { createApprovalGate } from './approval-gate';
import { blueGreenRollout } from './blue-green-rollout';
import { trainDistributed } from './distributed-training';
import { holdEndpoint } from './endpoint-lock';
import type { HoldProgress } from './endpoint-lock-api';
import { innermostFailure } from './failures';
import { rolloutSettingsOf } from './operator-api';
import { RETIRED_PATCHES } from './patches';
import { statusQuery, STEP_NAMES, type CandidateRef, type ChampionResult, type ReleaseInput, type ReleaseResult, type ReleaseStatus } from './release-api';
import { finalReviewSection, releaseReport, reviewContent, type ReportBasis, type ReviewContent } from './release-report';
import { writeReleaseReview } from './release-review';
import * as summary from './release-summaries';
import type { RolloutResult } from './rollout-api';
import type { TrainResult } from './training-api';
import { createStepRecorder, type StepRecorder } from './step-recorder';

const quick = proxyActivities<OrchestrationActivities>(QUICK);
const heavy = proxyActivities<OrchestrationActivities>(HEAVY);

type Trained = Pick<TrainResult, 'files' | 'mlflow' | 'bestFamily'>;

export async function modelRelease(input: ReleaseInput): Promise<ReleaseResult> {
  const { config } = input;
  const { workflowId } = workflowInfo();
  const artifactsDir = `${input.artifactsRoot.replace(/\/+$/, '')}/${workflowId}`;
  const state: ReleaseStatus = { workflowId, stage: 'validate_data', outcome: 'running', steps: STEP_NAMES.map((name) => ({ name, status: 'pending' })), refused: [] };
  setHandler(statusQuery, () => state);
  const steps = createStepRecorder(state);
  const { step, skip, show } = steps;
  const gate = createApprovalGate({ config, workflowId, startedBy: input.startedBy, state, show });
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
    if (!config.skip_deployment) await quick.checkDeploymentTarget({ target: config.target });

    const validated = await step(
      'validate_data',
      () => heavy.validateData({ dataPath: config.input_data_path, contract, cvFolds: config.cv_folds, testSplit: config.test_data_split, artifactsDir }),
      summary.validatedSummary,
    );
    const { trained, preregistered } = await trainOrReuse(input, steps, { workflowId, artifactsDir, dataSha256: validated.sha256, contract });
    train = trained;
    const evaluation = await step('evaluate', () => heavy.evaluateCandidate({ train: trained, artifactsDir }), summary.evaluatedSummary);
    state.metrics = evaluation.metrics;

    deprecatePatch(RETIRED_PATCHES.reviewReport);
    let champion: ChampionResult | undefined;
    let championNote: string | undefined;
    state.gates = await step(
      'gates',
      async () => {
        champion = await heavy.evaluateChampion({ modelName: config.model_name, train: trained, artifactsDir });
        if (champion && preregistered && champion.version === preregistered.version) {
          championNote = `the candidate is @production itself (version ${champion.version})`;
          champion = undefined;
        }
        return heavy.checkGates({ settings: config, candidate: evaluation.metrics, champion });
      },
      summary.gatesSummary,
    );

    const registered = await step(
      'register',
      async () => {
        if (!preregistered) {
          const { model_name: modelName } = config;
          return quick.registerModel({
            modelName,
            workflowId,
            dataSha256: validated.sha256,
            codeVersion: input.codeVersion,
            train: trained,
            metrics: evaluation.metrics,
            alias: 'candidate',
          });
        }
        await quick.setModelAlias({ modelName: config.model_name, alias: 'candidate', version: preregistered.version });
        return { ...preregistered, created: false };
      },
      (r) => summary.registeredSummary(config.model_name, r),
    );
    const candidate: CandidateRef = (state.candidate = {
      name: config.model_name,
      version: registered.version,
      modelUri: registered.modelUri,
      modelSha256: trained.files['model/model.onnx']?.sha256,
      dataSha256: validated.sha256,
    });

    let latencySamplesPath: string | undefined;
    if (config.skip_local_testing) skip('local_tests', 'skip_local_testing is set');
    else {
      const tested = await step('local_tests', () => heavy.runLocalTests({ train: trained, artifactsDir, maxLatencyMs: config.max_latency_ms }), summary.localTestsSummary);
      latencySamplesPath = tested.latencySamplesPath;
    }

    review = reviewContent({
      workflowId,
      artifactsDir,
      config,
      links: input.links,
      candidate: registered,
      train: trained,
      data: validated,
      evaluation,
      champion,
      championNote,
      gates: state.gates.checks,
      latencySamplesPath,
    });
    const waitingFor = config.auto_approve_deployment
      ? undefined
      : `a decision on ${config.model_name} version ${registered.version}: ${approvalCommand(workflowId, signedApprovals)}`;
    state.review = await writeReleaseReview({ ...review, phase: 'awaiting_approval', signedApprovals, waitingFor });
    show();

    const decision = await step(
      'approval',
      () => gate.decide(candidate, trained.mlflow.runId, summary.reviewEvidence(state.review, workflowId)),
      (d) => summary.decisionSummary(config, d),
    );
    if (decision.decision !== 'approved') {
      state.outcome = decision.decision === 'rejected' ? 'rejected' : 'approval_expired';
      skip('deploy', `not deployed: ${state.outcome === 'rejected' ? 'rejected' : 'approval expired'}`);
    } else if (config.skip_deployment) {
      skip('deploy', 'skip_deployment is set');
      state.outcome = 'succeeded';
    } else {
      state.deployment = await step(
        'deploy',
        () => deployCandidate(input, state, steps, trained),
        (r) => summary.deployedSummary(config.model_name, candidate.version, r, state.endpointHold),
      );
      state.outcome = 'succeeded';
    }
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
  const reportPath = await CancellationScope.nonCancellable(() => writeReport({ input, state, failedDetails, train, artifactsDir }, steps));

  if (failure) {
    const at = state.steps.find((s) => s.status === 'failed')?.name ?? 'start';
    // Temporal keeps no message or details for a cancellation: the report and the `status` query hold them.
    if (state.outcome === 'cancelled') throw new CancelledFailure(`release cancelled at ${at}: ${state.error}`);
    throw ApplicationFailure.nonRetryable(`release failed at ${at}: ${state.error}`, 'ReleaseFailed', state);
  }
  return { ...state, artifactsDir, reportPath };
}

function requireContract(contract: DataContract | undefined): DataContract {
  if (contract) return contract;
  throw ApplicationFailure.nonRetryable("the config has no data contract (data:). Fix: add one; 'modelship data infer-schema FILE' proposes it.", 'ConfigInvalid');
}

/** Trains a candidate, or with skip_training takes a registered version (default @production) as it is. */
async function trainOrReuse(
  input: ReleaseInput,
  { step, record }: StepRecorder,
  release: { workflowId: string; artifactsDir: string; dataSha256: string; contract: DataContract },
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
  const { workflowId, artifactsDir, dataSha256, contract } = release;
  const trainInput = { workflowId, dataPath: config.input_data_path, dataSha256, artifactsDir, config: { ...config, data: contract } };
  const search = () => {
    deprecatePatch(RETIRED_PATCHES.distributedTraining);
    return trainDistributed(trainInput, input.trainingTaskQueue, (line) => (record('train').summary = line));
  };
  const trained = await step('train', search, summary.trainedSummary);
  return { trained };
}

/** The blue-green rollout of the approved candidate, holding the endpoint (one rollout per endpoint) through it and its undo. */
function deployCandidate(input: ReleaseInput, state: ReleaseStatus, { record }: StepRecorder, trained: Trained): Promise<RolloutResult> {
  const { config } = input;
  const { version } = state.candidate!;
  const claim = { target: config.target, endpoint: config.endpoint_name, kind: 'release' as const, description: `release of ${config.model_name} v${version}` };
  const onHold = (hold: HoldProgress) => {
    state.endpointHold = hold;
    record('deploy').summary = hold.line;
  };
  // Set before the first await, so a watcher's first look at the running step already says it.
  record('deploy').summary = `asking for endpoint ${config.endpoint_name} (one rollout per endpoint)`;
  return holdEndpoint(claim, onHold, () =>
    executeChild(blueGreenRollout, {
      workflowId: `${state.workflowId}-rollout`,
      args: [
        {
          ...rolloutSettingsOf(config),
          target: config.target,
          endpoint: config.endpoint_name,
          model: { name: config.model_name, version, train: trained },
          modelName: config.model_name,
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
