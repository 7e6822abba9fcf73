// modelRelease: the whole release of a model, durably. Deterministic code only: every side effect is an activity,
// time comes from Temporal, and payloads carry paths, URIs and digests, never data or model bytes.
import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { OrchestrationActivities, TrainingActivities } from '../activities';
import { approvalCommand, createApprovalGate } from './approval-gate';
import {
  statusQuery,
  STEP_NAMES,
  type ChampionResult,
  type ReleaseInput,
  type ReleaseResult,
  type ReleaseStatus,
} from './release-api';
import type { ReviewInput } from './review-api';
import type { RolloutFailureDetails } from './rollout-api';
import type { TrainResult } from './training-api';
import { blueGreenRollout } from './blue-green-rollout';
import { holdEndpoint } from './endpoint-lock';
import type { HoldProgress } from './endpoint-lock-api';
import { trainDistributed } from './distributed-training';
import { innermostFailure } from './failures';
import { REVIEW_PATCH, writeReleaseReview } from './release-review';
import { createStepRecorder } from './step-recorder';
import { rolloutSettingsOf } from './operator-api';
import { MODEL_NAME, RELEASE_OUTCOME, RELEASE_STAGE } from '../shared/search-attributes';

// Retries ride out a service that restarts or is down for minutes (MLflow, the endpoint server): quick calls for
// about 7 minutes, heavy ones for about 3. Business failures are non-retryable and end the step at once; while a
// call is retried, `modelship status` shows its last error from the pending activity.
const quick = proxyActivities<OrchestrationActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 30, initialInterval: '1 second', maximumInterval: '15 seconds' },
});
const heavy = proxyActivities<OrchestrationActivities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '5 minutes',
  retry: { maximumAttempts: 8, initialInterval: '2 seconds', maximumInterval: '30 seconds' },
});

const errorMessage = (error: unknown) => innermostFailure(error).message;
const failureDetails = (error: unknown) => innermostFailure(error).details;

export async function modelRelease(input: ReleaseInput): Promise<ReleaseResult> {
  const { config } = input;
  const { workflowId } = workflowInfo();
  const artifactsDir = `${input.artifactsRoot.replace(/\/+$/, '')}/${workflowId}`;
  const training = proxyActivities<TrainingActivities>({
    taskQueue: input.trainingTaskQueue,
    startToCloseTimeout: '6 hours',
    heartbeatTimeout: '30 seconds',
    retry: { maximumAttempts: 3, initialInterval: '5 seconds' },
  });

  const state: ReleaseStatus = {
    workflowId,
    stage: 'validate_data',
    outcome: 'running',
    steps: STEP_NAMES.map((name) => ({ name, status: 'pending' })),
    refused: [],
  };
  setHandler(statusQuery, () => state);

  // --- steps, each recorded with its times and a one-line summary.
  const { record, show, step, skip } = createStepRecorder(state);
  const gate = createApprovalGate({ config, workflowId, startedBy: input.startedBy, state, show });

  upsertSearchAttributes([{ key: MODEL_NAME, value: config.model_name }, { key: RELEASE_OUTCOME, value: 'running' }]);
  let failure: unknown;
  let failedDetails: unknown;
  let train: Pick<TrainResult, 'files' | 'mlflow' | 'bestFamily'> | undefined;
  // The review report: its inputs once the candidate is registered and tested, written again after the rollout.
  let review: Omit<ReviewInput, 'phase' | 'signedApprovals'> | undefined;
  const signedApprovals = Boolean(config.allowed_signers);
  try {
    const contract = config.data;
    if (!contract) {
      throw ApplicationFailure.nonRetryable("the config has no data contract (data:). Fix: add one; 'modelship data infer-schema FILE' proposes it.", 'ConfigInvalid');
    }
    if (!config.skip_deployment) {
      // Fail before any work rather than after an hour of training: the target reachable, its credentials accepted.
      await quick.checkDeploymentTarget({ target: config.target });
    }

    const validated = await step(
      'validate_data',
      () => heavy.validateData({ dataPath: config.input_data_path, contract, cvFolds: config.cv_folds, testSplit: config.test_data_split, artifactsDir }),
      (r) => `${r.rows} rows, ${r.positives} positive (${(100 * r.positiveRate).toFixed(2)} %), sha256 ${r.sha256.slice(0, 12)}…`,
    );

    let preregistered: { version: string; modelUri: string } | undefined;
    if (config.skip_training) {
      const uri = input.modelUri ?? `models:/${config.model_name}@production`;
      const existing = await step('train', () => quick.resolveRegisteredModel(uri), (r) => `skipped training: using ${uri} (version ${r.version})`);
      record('train').status = 'skipped';
      train = existing.train;
      preregistered = existing;
    } else {
      const trainInput = { workflowId, dataPath: config.input_data_path, dataSha256: validated.sha256, artifactsDir, config: { ...config, data: contract } };
      train = await step(
        'train',
        // Releases started before the distributed search keep training in one activity.
        () =>
          patched('distributed-training-search')
            ? trainDistributed(trainInput, input.trainingTaskQueue, (line) => (record('train').summary = line))
            : training.trainModel(trainInput),
        (r) => `${r.bestFamily} won (CV ${r.scoring} ${r.cv[r.bestFamily]!.toFixed(4)}), ${r.fits} fits in ${r.seconds.toFixed(0)} s${r.resumed ? ', reused after a retry' : ''}; ONNX parity ${r.parityMaxAbsDiff.toExponential(1)}`,
      );
    }
    const trained = train;

    const evaluation = await step(
      'evaluate',
      () => heavy.evaluateCandidate({ train: trained, artifactsDir }),
      (r) => `ROC AUC ${r.metrics.roc_auc.toFixed(4)}, PR AUC ${r.metrics.average_precision.toFixed(4)}, F1 ${r.metrics.f1.toFixed(4)}, accuracy ${r.metrics.accuracy.toFixed(4)} (majority ${r.metrics.majority_baseline_accuracy.toFixed(4)}) on ${r.metrics.rows} held-out rows`,
    );
    state.metrics = evaluation.metrics;

    const reviewing = patched(REVIEW_PATCH);
    let champion: ChampionResult | undefined;
    let championNote: string | undefined;
    state.gates = await step(
      'gates',
      async () => {
        champion = await heavy.evaluateChampion({ modelName: config.model_name, train: trained, ...(reviewing && { artifactsDir }) });
        if (champion && preregistered && champion.version === preregistered.version) {
          championNote = `the candidate is @production itself (version ${champion.version})`;
          champion = undefined; // releasing @production itself
        }
        return heavy.checkGates({ settings: config, candidate: evaluation.metrics, champion });
      },
      (r) => `${r.checks.length} checks passed${r.checks.some((c) => c.name === 'champion_challenger') ? ' (incl. champion/challenger)' : ''}`,
    );

    const registered = await step(
      'register',
      async () => {
        if (preregistered) {
          await quick.setModelAlias({ modelName: config.model_name, alias: 'candidate', version: preregistered.version });
          return { ...preregistered, created: false };
        }
        return quick.registerModel({
          modelName: config.model_name,
          workflowId,
          dataSha256: validated.sha256,
          codeVersion: input.codeVersion,
          train: trained,
          metrics: evaluation.metrics,
          alias: 'candidate',
        });
      },
      (r) => `${config.model_name} version ${r.version} @candidate${r.created ? '' : ' (existing version)'}`,
    );
    state.candidate = {
      name: config.model_name,
      version: registered.version,
      modelUri: registered.modelUri,
      modelSha256: trained.files['model/model.onnx']?.sha256,
      dataSha256: validated.sha256,
    };
    const candidate = state.candidate;

    let latencySamplesPath: string | undefined;
    if (config.skip_local_testing) skip('local_tests', 'skip_local_testing is set');
    else {
      ({ latencySamplesPath } = await step(
        'local_tests',
        () => heavy.runLocalTests({ train: trained, artifactsDir, maxLatencyMs: config.max_latency_ms }),
        (r) => `${r.cases.length} cases passed; single-record p50 ${r.latency.single.p50_ms.toFixed(2)} ms, p95 ${r.latency.single.p95_ms.toFixed(2)} ms, p99 ${r.latency.single.p99_ms.toFixed(2)} ms`,
      ));
    }

    if (reviewing) {
      review = {
        workflowId,
        artifactsDir,
        modelName: config.model_name,
        candidate: { version: registered.version, modelUri: registered.modelUri },
        train: trained,
        data: { path: config.input_data_path, sha256: validated.sha256, contract },
        evaluation: { metrics: evaluation.metrics, scores: evaluation.scores },
        champion,
        championNote,
        gates: state.gates.checks,
        latency: { samplesPath: latencySamplesPath, maxLatencyMs: config.max_latency_ms, skipped: config.skip_local_testing ? 'skip_local_testing is set' : undefined },
        links: input.links,
      };
      state.review = await writeReleaseReview({
        ...review,
        phase: 'awaiting_approval',
        signedApprovals,
        waitingFor: config.auto_approve_deployment ? undefined : `a decision on ${config.model_name} version ${registered.version}: ${approvalCommand(workflowId, signedApprovals)}`,
      });
      show();
    }

    const decision = await step(
      'approval',
      () => {
        // The approver reads the review before deciding: where it is goes into what the release waits for.
        const where = state.review?.mlflowUrl ?? state.review?.path;
        return gate.decide(candidate, trained.mlflow.runId, where ? `review: ${where} (modelship report ${workflowId})` : undefined);
      },
      (d) =>
        d.decision === 'expired'
          ? `no decision within ${config.approval_timeout}: approval expired`
          : `${d.decision}${d.automatic ? ' automatically (auto_approve_deployment)' : ` by ${d.by}`}${d.reason ? `: ${d.reason}` : d.comment ? `: ${d.comment}` : ''}${d.signatures === 'required' ? ' (signed)' : ''}`,
    );

    if (decision.decision !== 'approved') {
      state.outcome = decision.decision === 'rejected' ? 'rejected' : 'approval_expired';
      skip('deploy', `not deployed: ${state.outcome === 'rejected' ? 'rejected' : 'approval expired'}`);
    } else if (config.skip_deployment) {
      skip('deploy', 'skip_deployment is set');
      state.outcome = 'succeeded';
    } else {
      const rollout = () =>
        executeChild(blueGreenRollout, {
          workflowId: `${workflowId}-rollout`,
          args: [
            {
              ...rolloutSettingsOf(config),
              target: config.target,
              endpoint: config.endpoint_name,
              model: { name: config.model_name, version: registered.version, train: trained },
              modelName: config.model_name,
            },
          ],
        });
      // One rollout per endpoint: wait for the endpoint in order, hold it through the rollout and its undo.
      const claim = { target: config.target, endpoint: config.endpoint_name, kind: 'release' as const, description: `release of ${config.model_name} v${registered.version}` };
      const onHold = (hold: HoldProgress) => {
        state.endpointHold = hold;
        record('deploy').summary = hold.line;
      };
      state.deployment = await step(
        'deploy',
        () => {
          // Set before the first await, so a watcher's first look at the running step already says it.
          record('deploy').summary = `asking for endpoint ${config.endpoint_name} (one rollout per endpoint)`;
          return holdEndpoint(claim, onHold, rollout);
        },
        (r) =>
          `${r.colour} serves ${config.model_name} v${registered.version} at ${r.scoringUri} (traffic ${JSON.stringify(r.traffic)}); ${r.cleanup}` +
          (state.endpointHold?.waitedBehind ? `; waited ${state.endpointHold.waitedSeconds} s for the endpoint behind ${state.endpointHold.waitedBehind}` : ''),
      );
      state.outcome = 'succeeded';
    }
  } catch (error) {
    failure = error;
    // Cancelled: by a CancelledFailure here, or a child that failed because this run was cancelled.
    state.outcome = isCancellation(error) || CancellationScope.current().consideredCancelled ? 'cancelled' : 'failed';
    state.error = errorMessage(error);
    failedDetails = failureDetails(error);
  }

  // --- the review's second section (the approval and the rollout), on every path once the first was written.
  if (review) {
    const deploy = record('deploy');
    const reviewInput = review;
    await CancellationScope.nonCancellable(async () => {
      state.review = await writeReleaseReview({
        ...reviewInput,
        phase: 'final',
        signedApprovals,
        // Each accepted vote (with its verified signature) when the gate kept them, else the one decision.
        approvals: state.approval?.approvals?.length ? state.approval.approvals : state.approval,
        outcome: state.outcome,
        rollout: {
          result: state.deployment,
          failure: deploy.status === 'failed' ? (failedDetails as RolloutFailureDetails | undefined) : undefined,
          notDeployed: deploy.summary ?? `not deployed (${state.outcome})`,
        },
      });
    });
  }

  // --- the report, on every path; not cancellable, so a cancelled run still leaves its record.
  let reportPath: string | undefined;
  await CancellationScope.nonCancellable(async () => {
    const reportStep = record('report');
    reportStep.status = 'running';
    state.stage = 'report';
    const report = {
      workflow_id: workflowId,
      model_name: config.model_name,
      outcome: state.outcome,
      error: state.error,
      // Evidence of a failure (probe results, deployment logs) and what was undone.
      failure_details: failedDetails,
      candidate: state.candidate,
      metrics: state.metrics,
      gates: state.gates,
      approval: state.approval,
      approvals: state.approval?.approvals,
      approval_gate: state.gate,
      deployment: state.deployment,
      review: state.review,
      refused_messages: state.refused,
      steps: state.steps,
      config,
      code_version: input.codeVersion,
      links: {
        temporal_ui: `${input.links.temporalUi}/namespaces/${input.links.namespace}/workflows/${workflowId}`,
        mlflow_run: train?.mlflow.experimentId
          ? `${input.links.mlflow}/#/experiments/${train.mlflow.experimentId}/runs/${train.mlflow.runId}`
          : train ? `${input.links.mlflow}/#/models/${config.model_name}` : undefined,
      },
      artifacts_dir: artifactsDir,
    };
    try {
      const written = await quick.writeReport({ artifactsDir, report, mlflowArtifactUri: train?.mlflow.artifactUri });
      reportPath = written.reportPath;
      reportStep.status = 'succeeded';
      reportStep.summary = written.reportPath;
    } catch (error) {
      reportStep.status = 'failed';
      reportStep.summary = errorMessage(error);
    }
    state.stage = 'done';
    upsertSearchAttributes([{ key: RELEASE_STAGE, value: 'done' }, { key: RELEASE_OUTCOME, value: state.outcome }]);
    show();
  });

  if (failure) {
    const at = state.steps.find((s) => s.status === 'failed')?.name ?? 'start';
    // A cancelled release ends cancelled, its record written and any rollout undone. Temporal keeps no message or
    // details for a cancellation: the report and the `status` query hold them.
    if (state.outcome === 'cancelled') throw new CancelledFailure(`release cancelled at ${at}: ${state.error}`);
    throw ApplicationFailure.nonRetryable(`release failed at ${at}: ${state.error}`, 'ReleaseFailed', state);
  }
  return { ...state, artifactsDir, reportPath };
}
