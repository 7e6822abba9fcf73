// The training activities: they run the Python trainer (python/modelship_trainer) as a subprocess on the training
// task queue (forked from the worker's trainer fork server on Linux: trainer-process.ts). Progress lines become
// heartbeats ("fit 37/60"); cancellation kills the subprocess; a crash fails with the tail of stderr; finished work
// is reused on retry, so a retried activity never trains twice.
//
// The search is three kinds of activity: prepareTrainingSearch (split, search sample, candidates in shards),
// searchShard (one batch of candidates with their folds, on any training worker) and finishTraining (refit the
// winner, export, parity, MLflow). Workers share nothing but Temporal and MLflow: the search sample and each shard's
// scores travel as artifacts of the release's MLflow training run, named by path and sha256. What the trainer
// writes is typed and checked in trainer-protocol.ts.
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';
import { projectRoot, pythonChildEnv, stateDir, venvExecutable } from '../config/environment';
import { sha256File } from '../data/csv';
import type { MlflowAccess } from '../registry/artifact-store';
import type { ArtifactRef } from '../shared/artifacts';
import { durationMs } from '../shared/duration';
import type { FinishInput, PreparedSearch, ShardInput, ShardResult, TrainInput, TrainResult } from '../workflows/training-api';
import {
  preparedFile,
  readTrainerFile,
  resultFile,
  shardFile,
  TRAINER_CONTRACT_VERSION,
  trainerEvent,
  type CandidateRungScore,
  type PreparedFile,
  type ResultFile,
  type ShardFile,
  type TrainerEvent,
} from './trainer-protocol';
import { startTrainer, type TrainerEnvironment } from './trainer-process';

export { TRAINER_CONTRACT_VERSION } from './trainer-protocol';

export interface TrainingDeps extends MlflowAccess {
  /** The worker's own state directory (default MODELSHIP_HOME or .modelship): distributed-search work lives below it. */
  stateDir?: string;
}

/** A training activity's heartbeat: the trainer's last progress line. */
export interface TrainerProgress {
  phase: string;
  message: string;
  done?: number;
  total?: number;
  /** searchShard: scores of the candidates finished so far, so a retry on any worker does not refit them. */
  completed?: Record<string, CandidateRungScore>;
}

const STDERR_TAIL_LINES = 40;

/** The budget as the trainer reads it: a preset, or a duration (the default preset with that time limit). */
export function trainerBudget(budget: TrainInput['config']['training_budget'] | undefined): { preset: string; time_limit_s?: number } {
  if (budget === undefined) return { preset: 'default' };
  if (budget === 'fast' || budget === 'default' || budget === 'thorough') return { preset: budget };
  return { preset: 'default', time_limit_s: durationMs(budget) / 1000 };
}

/** The MLflow run a file names; the activities always give the trainer a tracking server, so it has one. */
function mlflowRun(file: PreparedFile | ResultFile): TrainResult['mlflow'] {
  if (!file.mlflow) throw ApplicationFailure.nonRetryable('the trainer wrote no MLflow run although it was given a tracking server', 'TrainerContractMismatch');
  return { runId: file.mlflow.run_id, experimentId: file.mlflow.experiment_id, artifactUri: file.mlflow.artifact_uri };
}

/** A finished result, if every file it names is still there with the same digest. */
async function reusableResult(resultPath: string): Promise<ResultFile | undefined> {
  const result = readTrainerFile(resultFile, resultPath);
  if (!result?.mlflow) return undefined;
  for (const file of Object.values(result.files)) {
    if (!existsSync(file.path) || (await sha256File(file.path)) !== file.sha256) return undefined;
  }
  return result;
}

function toTrainResult(result: ResultFile, resumed: boolean): TrainResult {
  return {
    bestFamily: result.best_family,
    bestParams: result.best_params,
    cv: result.cv,
    scoring: result.scoring,
    threshold: result.threshold,
    parityMaxAbsDiff: result.parity_max_abs_diff,
    trainRows: result.train_rows,
    testRows: result.test_rows,
    fits: result.fits,
    seconds: result.seconds,
    files: result.files,
    mlflow: mlflowRun(result),
    resumed,
  };
}

/** The request fields every trainer mode reads. */
function baseRequest(input: Pick<TrainInput, 'workflowId' | 'config'>, deps: TrainingDeps, outputDir: string) {
  return {
    contract_version: TRAINER_CONTRACT_VERSION,
    output_dir: outputDir,
    data: input.config.data,
    test_data_split: input.config.test_data_split,
    n_iter: input.config.n_iter,
    cv_folds: input.config.cv_folds,
    random_state: input.config.random_state,
    scoring: input.config.scoring,
    model_families: input.config.model_families,
    training_budget: trainerBudget(input.config.training_budget),
    mlflow: {
      tracking_uri: deps.mlflow.baseUri,
      experiment: `modelship/${input.config.model_name}`,
      run_name: `${input.workflowId} train`,
      tags: { 'modelship.workflow_id': input.workflowId, 'modelship.step': 'train' } as Record<string, string>,
    },
  };
}

interface TrainerRun<T> {
  /** The file the trainer wrote, as its last line names it. */
  path: string;
  file: T;
}

/**
 * Runs `python -m modelship_trainer` on a request written to outputDir/request.json, heartbeating its progress
 * (and `extra()`'s fields) until it exits; returns the file its `done` line names, read as `schema`.
 */
async function runTrainer<T>(
  outputDir: string,
  request: Record<string, unknown>,
  schema: z.ZodType<T>,
  onEvent: (event: TrainerEvent) => void = () => {},
  extra: () => Partial<TrainerProgress> = () => ({}),
): Promise<TrainerRun<T>> {
  const context = Context.current();
  const requestPath = join(outputDir, 'request.json');
  writeFileSync(requestPath, JSON.stringify(request, null, 2));

  let environment: TrainerEnvironment;
  try {
    environment = trainerEnvironment();
  } catch (error) {
    throw ApplicationFailure.nonRetryable((error as Error).message, 'TrainerEnvironmentMissing');
  }
  const child = startTrainer(environment, requestPath);
  const log = createWriteStream(join(outputDir, 'trainer.log'), { flags: 'a' });
  const stderrTail: string[] = [];
  let lastProgress: TrainerProgress = { phase: 'start', message: 'starting the trainer' };
  let trainerError: { message: string; kind: string } | undefined;
  let resultPath: string | undefined;
  const beat = () => context.heartbeat({ ...lastProgress, ...extra() });

  // A heartbeat also while a single long fit reports nothing, so the heartbeat timeout (10–15 s, see
  // workflows/activity-profiles.ts) means "worker gone".
  const ticker = setInterval(beat, 2_000);
  const onCancel = () => {
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
  };
  context.cancellationSignal.addEventListener('abort', onCancel);

  child.onLine((stream, line) => {
    if (stream === 'stderr') {
      log.write(`[stderr] ${line}\n`);
      stderrTail.push(line);
      if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
      return;
    }
    log.write(`${line}\n`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return; // not a protocol line (a library printing): kept in the log only
    }
    const event = trainerEvent.safeParse(parsed);
    if (!event.success) return; // JSON of no trainer event: kept in the log only
    const { data } = event;
    if (data.event === 'progress') {
      lastProgress = { phase: data.phase, message: data.message, done: data.done, total: data.total };
      beat();
    } else if (data.event === 'error') {
      trainerError = { message: data.message, kind: data.kind };
    } else if (data.event === 'done') {
      resultPath = data.result;
    } else {
      onEvent(data);
    }
  });

  const exit = await child.closed;
  clearInterval(ticker);
  context.cancellationSignal.removeEventListener('abort', onCancel);
  log.end();

  if (context.cancellationSignal.aborted) {
    throw ApplicationFailure.nonRetryable('training was cancelled; the trainer subprocess was stopped', 'TrainingCancelled');
  }
  if (exit.code === 0) {
    const file = resultPath === undefined ? undefined : readTrainerFile(schema, resultPath);
    if (resultPath === undefined || file === undefined) {
      const what = resultPath === undefined ? 'named no result file' : `wrote ${resultPath}, which is missing or not what the trainer protocol says`;
      throw ApplicationFailure.retryable(`the trainer exited 0 but ${what} (log: ${join(outputDir, 'trainer.log')})`, 'TrainerResultMissing');
    }
    return { path: resultPath, file };
  }
  if (trainerError?.kind === 'parity') {
    throw ApplicationFailure.nonRetryable(`ONNX export refused: ${trainerError.message}`, 'OnnxParityFailed');
  }
  if (trainerError?.kind === 'contract') {
    throw ApplicationFailure.nonRetryable(`trainer contract mismatch: ${trainerError.message}`, 'TrainerContractMismatch');
  }
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  throw ApplicationFailure.retryable(`the trainer ${how} (log: ${join(outputDir, 'trainer.log')}). Last stderr lines:\n${stderrTail.slice(-15).join('\n')}`, 'TrainerCrashed', {
    stderrTail,
  });
}

/** How the trainer runs: the project's venv, with the trainer package on its path. */
export function trainerEnvironment(): TrainerEnvironment {
  return { python: venvExecutable('python'), cwd: join(projectRoot, 'python'), env: { ...pythonChildEnv(), PYTHONPATH: join(projectRoot, 'python') } };
}

export function createTrainingActivities(deps: TrainingDeps) {
  const { artifacts } = deps;
  const home = deps.stateDir ?? stateDir();
  const workDir = (workflowId: string, ...parts: string[]) => {
    const dir = join(home, 'training', workflowId, ...parts);
    mkdirSync(dir, { recursive: true });
    return dir;
  };

  return {
    /** Split, search sample and candidates; opens the release's MLflow training run and uploads the sample. */
    async prepareTrainingSearch(input: TrainInput): Promise<PreparedSearch> {
      const outputDir = workDir(input.workflowId, 'prepare');
      let prepared = readTrainerFile(preparedFile, join(outputDir, 'prepared.json'));
      const resumed = prepared !== undefined && existsSync(prepared.sample.path) && (await sha256File(prepared.sample.path)) === prepared.sample.sha256;
      if (!prepared || !resumed) {
        const request = baseRequest(input, deps, outputDir);
        request.mlflow.tags['modelship.data_sha256'] = input.dataSha256;
        ({ file: prepared } = await runTrainer(outputDir, { ...request, mode: 'prepare', data_path: input.dataPath, data_sha256: input.dataSha256 }, preparedFile));
      }
      const mlflow = mlflowRun(prepared);
      return {
        splitDigest: prepared.split_digest,
        trainRows: prepared.train_rows,
        testRows: prepared.test_rows,
        sampleRows: prepared.sample_rows,
        budget: prepared.budget.preset,
        timeLimitSeconds: prepared.budget.time_limit_s,
        sample: await artifacts.upload(mlflow.artifactUri, 'search/sample.parquet', prepared.sample.path),
        shards: prepared.shards,
        mlflow,
        resumed,
      };
    },

    /** Scores one shard on the search sample; its scores become search/shards/<id>.json in the training run. */
    async searchShard(input: ShardInput): Promise<ShardResult> {
      const context = Context.current();
      const { artifactUri } = input.prepared.mlflow;
      const artifactPath = `search/shards/${input.shard.id}.json`;
      const outputDir = workDir(input.workflowId, 'shards', input.shard.id);
      const summarize = (file: ShardFile, scores: ArtifactRef, resumed: boolean): ShardResult => {
        const scored = file.candidates
          .filter((c) => !c.eliminated)
          .map((c) => c.mean_score)
          .filter((s): s is number => typeof s === 'number');
        return { id: file.id, family: file.family, scores, fits: file.fits, best: scored.length ? Math.max(...scored) : null, resumed };
      };

      // Finished by an earlier attempt (on any worker) and uploaded: reuse it.
      const uploaded = await artifacts.fetchLatest(artifactUri, artifactPath);
      const uploadedFile = uploaded && readTrainerFile(shardFile, uploaded.path);
      if (uploaded && uploadedFile?.id === input.shard.id) {
        context.heartbeat({ phase: 'resumed', message: `shard ${input.shard.id} was finished by an earlier attempt` });
        return summarize(uploadedFile, { ...uploaded, artifactUri, artifactPath }, true);
      }

      // Candidates an earlier attempt finished travel in its last heartbeat: never refitted.
      const earlier = (context.info.heartbeatDetails as TrainerProgress | undefined)?.completed ?? {};
      const completed: Record<string, CandidateRungScore> = { ...earlier };
      const samplePath = await artifacts.fetch(input.prepared.sample);
      const scored = await runTrainer(
        outputDir,
        {
          ...baseRequest(input, deps, outputDir),
          mode: 'shard',
          sample: { path: samplePath, sha256: input.prepared.sample.sha256 },
          shard: input.shard,
          deadline: input.deadline,
          completed,
        },
        shardFile,
        (event) => {
          // One candidate scored on one rung of the shard's successive halving (its key names both).
          if (event.event === 'candidate_done') completed[event.key] = event.candidate;
        },
        () => ({ completed }),
      );
      const scores = await artifacts.upload(artifactUri, artifactPath, scored.path);
      return summarize(scored.file, scores, Object.keys(earlier).length > 0);
    },

    /** Gathers the shards, refits the winner on every training row, exports it and logs the training run. */
    async finishTraining(input: FinishInput): Promise<TrainResult> {
      const context = Context.current();
      const outputDir = workDir(input.workflowId, 'finish');
      const earlier = await reusableResult(join(outputDir, 'result.json'));
      if (earlier) {
        context.heartbeat({ phase: 'resumed', message: 'reusing the training finished by an earlier attempt' });
        return toTrainResult(earlier, true);
      }
      const shardPaths = await Promise.all(input.shards.map((shard) => artifacts.fetch(shard.scores)));
      const request = baseRequest(input, deps, outputDir);
      const finished = await runTrainer(
        outputDir,
        {
          ...request,
          mode: 'finish',
          data_path: input.dataPath,
          data_sha256: input.dataSha256,
          split_digest: input.prepared.splitDigest,
          shard_paths: shardPaths,
          mlflow: { ...request.mlflow, run_id: input.prepared.mlflow.runId },
        },
        resultFile,
      );
      return toTrainResult(finished.file, false);
    },
  };
}
