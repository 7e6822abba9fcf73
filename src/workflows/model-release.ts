// modelRelease: the whole release of a model, durably. Deterministic code only: every side effect is an activity,
// time comes from Temporal, and payloads carry paths, URIs and digests, never data or model bytes.
import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { OrchestrationActivities, TrainingActivities } from '../activities';
import type { TrainResult } from '../activities/training';
import type { ChampionResult } from '../activities/evaluation';
import {
  approveSignal,
  approveUpdate,
  rejectSignal,
  rejectUpdate,
  statusQuery,
  STEP_NAMES,
  type ApprovalRecord,
  type ApproveRequest,
  type RejectRequest,
  type ReleaseInput,
  type ReleaseResult,
  type ReleaseStatus,
  type StepName,
} from './release-api';
import { blueGreenRollout } from './blue-green-rollout';
import { trainDistributed } from './distributed-training';
import { innermostFailure } from './failures';
import { rolloutSettingsOf } from './operator';
import { MODEL_NAME, RELEASE_OUTCOME, RELEASE_STAGE } from './search-attributes';

const quick = proxyActivities<OrchestrationActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 5, initialInterval: '1 second' },
});
const heavy = proxyActivities<OrchestrationActivities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '5 minutes',
  retry: { maximumAttempts: 3, initialInterval: '2 seconds' },
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
  let decision: ApprovalRecord | undefined;
  let waitingForApproval = false;

  // --- approval messages: Updates answer with a verdict; Signals of the same names do the same silently.
  const checkApprover = (by: string | undefined) => {
    if (!by || !by.trim()) throw new Error('refused: the approver is required (--by NAME)');
    if (config.approvers.length > 0 && !config.approvers.includes(by)) {
      throw new Error(`refused: ${by} is not an approver (approvers: ${config.approvers.join(', ')})`);
    }
  };
  const checkWaiting = () => {
    if (!waitingForApproval || decision) {
      throw new Error(decision ? `refused: already ${decision.decision}` : `refused: not waiting for approval (current step: ${state.stage})`);
    }
  };
  const validateApprove = (request: ApproveRequest) => {
    checkWaiting();
    checkApprover(request?.by);
    if (String(request.modelVersion) !== state.candidate!.version) {
      throw new Error(`refused: version ${request.modelVersion} is not the candidate waiting for approval (version ${state.candidate!.version})`);
    }
  };
  const validateReject = (request: RejectRequest) => {
    checkWaiting();
    checkApprover(request?.by);
    if (!request.reason || !request.reason.trim()) throw new Error('refused: a rejection needs a reason (--reason TEXT)');
    if (request.modelVersion !== undefined && String(request.modelVersion) !== state.candidate!.version) {
      throw new Error(`refused: version ${request.modelVersion} is not the candidate waiting for approval (version ${state.candidate!.version})`);
    }
  };
  const approve = (request: ApproveRequest) => {
    decision = { decision: 'approved', automatic: false, by: request.by, at: new Date().toISOString(), modelVersion: state.candidate!.version, comment: request.comment };
    return `approved version ${decision.modelVersion} of ${state.candidate!.name} by ${request.by}`;
  };
  const reject = (request: RejectRequest) => {
    decision = { decision: 'rejected', automatic: false, by: request.by, at: new Date().toISOString(), modelVersion: state.candidate!.version, reason: request.reason };
    return `rejected version ${decision.modelVersion} of ${state.candidate!.name} by ${request.by}: ${request.reason}`;
  };
  setHandler(statusQuery, () => state);
  setHandler(approveUpdate, approve, { validator: validateApprove });
  setHandler(rejectUpdate, reject, { validator: validateReject });
  const viaSignal = <T>(validate: (r: T) => void, apply: (r: T) => string) => (request: T) => {
    try {
      validate(request);
      apply(request);
    } catch (error) {
      state.refused.push(`signal from ${(request as { by?: string })?.by ?? 'unknown'}: ${(error as Error).message}`);
    }
  };
  setHandler(approveSignal, viaSignal(validateApprove, approve));
  setHandler(rejectSignal, viaSignal(validateReject, reject));

  // --- steps, each recorded with its times and a one-line summary.
  const record = (name: StepName) => state.steps.find((s) => s.name === name)!;
  const show = () =>
    setCurrentDetails(
      `**${state.stage}** · ${state.outcome}${state.candidate ? ` · candidate ${state.candidate.name} v${state.candidate.version}` : ''}` +
        `${state.waitingFor ? `\n\nwaiting for: ${state.waitingFor}` : ''}`,
    );
  async function step<T>(name: StepName, run: () => Promise<T>, summarize: (result: T) => string): Promise<T> {
    const entry = record(name);
    state.stage = name;
    entry.status = 'running';
    entry.startedAt = new Date().toISOString();
    upsertSearchAttributes([{ key: RELEASE_STAGE, value: name }]);
    show();
    const started = Date.now();
    try {
      const result = await run();
      entry.status = 'succeeded';
      entry.summary = summarize(result);
      return result;
    } catch (error) {
      entry.status = 'failed';
      entry.summary = errorMessage(error);
      throw error;
    } finally {
      entry.endedAt = new Date().toISOString();
      entry.seconds = (Date.now() - started) / 1000;
    }
  }
  const skip = (name: StepName, why: string) => {
    const entry = record(name);
    entry.status = 'skipped';
    entry.summary = why;
  };

  upsertSearchAttributes([{ key: MODEL_NAME, value: config.model_name }, { key: RELEASE_OUTCOME, value: 'running' }]);
  let failure: unknown;
  let failedDetails: unknown;
  let train: Pick<TrainResult, 'files' | 'mlflow' | 'bestFamily'> | undefined;
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
        () => (patched('distributed-training-search') ? trainDistributed(trainInput, input.trainingTaskQueue) : training.trainModel(trainInput)),
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

    state.gates = await step(
      'gates',
      async () => {
        let champion: ChampionResult | undefined = await heavy.evaluateChampion({ modelName: config.model_name, train: trained });
        if (champion && preregistered && champion.version === preregistered.version) champion = undefined; // releasing @production itself
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
    state.candidate = { name: config.model_name, version: registered.version, modelUri: registered.modelUri };

    if (config.skip_local_testing) skip('local_tests', 'skip_local_testing is set');
    else {
      await step(
        'local_tests',
        () => heavy.runLocalTests({ train: trained, artifactsDir, maxLatencyMs: config.max_latency_ms }),
        (r) => `${r.cases.length} cases passed; single-record p50 ${r.latency.single.p50_ms.toFixed(2)} ms, p95 ${r.latency.single.p95_ms.toFixed(2)} ms, p99 ${r.latency.single.p99_ms.toFixed(2)} ms`,
      );
    }

    await step(
      'approval',
      async () => {
        if (config.auto_approve_deployment) {
          decision = { decision: 'approved', automatic: true, by: 'auto_approve_deployment', at: new Date().toISOString(), modelVersion: registered.version };
        } else {
          waitingForApproval = true;
          state.waitingFor = `approval of ${config.model_name} version ${registered.version}: modelship approve ${workflowId} --by NAME (or reject --reason TEXT)`;
          show();
          const answered = await condition(() => decision !== undefined, config.approval_timeout as Duration);
          waitingForApproval = false;
          state.waitingFor = undefined;
          if (!answered) decision = { decision: 'expired', automatic: false, at: new Date().toISOString(), modelVersion: registered.version };
        }
        state.approval = decision;
        upsertMemo({ approval: decision });
        const tags: Record<string, string> = {
          'modelship.approval.decision': decision!.decision,
          'modelship.approval.automatic': String(decision!.automatic),
          'modelship.approval.at': decision!.at,
          'modelship.approval.workflow_id': workflowId,
        };
        if (decision!.by) tags['modelship.approval.by'] = decision!.by;
        if (decision!.comment) tags['modelship.approval.comment'] = decision!.comment;
        if (decision!.reason) tags['modelship.approval.reason'] = decision!.reason;
        await quick.tagApproval({ modelName: config.model_name, version: registered.version, runId: trained.mlflow.runId, tags });
        return decision!;
      },
      (d) =>
        d.decision === 'expired'
          ? `no decision within ${config.approval_timeout}: approval expired`
          : `${d.decision}${d.automatic ? ' automatically (auto_approve_deployment)' : ` by ${d.by}`}${d.reason ? `: ${d.reason}` : d.comment ? `: ${d.comment}` : ''}`,
    );

    if (decision!.decision !== 'approved') {
      state.outcome = decision!.decision === 'rejected' ? 'rejected' : 'approval_expired';
      skip('deploy', `not deployed: ${state.outcome === 'rejected' ? 'rejected' : 'approval expired'}`);
    } else if (config.skip_deployment) {
      skip('deploy', 'skip_deployment is set');
      state.outcome = 'succeeded';
    } else {
      state.deployment = await step(
        'deploy',
        () =>
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
          }),
        (r) => `${r.colour} serves ${config.model_name} v${registered.version} at ${r.scoringUri} (traffic ${JSON.stringify(r.traffic)}); ${r.cleanup}`,
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
      deployment: state.deployment,
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
