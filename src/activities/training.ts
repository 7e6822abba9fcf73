// The training activities: they run the Python trainer (python/modelship_trainer) as a subprocess on the training
// task queue. Progress lines become heartbeats ("fit 37/60"); cancellation kills the subprocess; a crash fails with
// the tail of stderr; finished work is reused on retry, so a retried activity never trains twice.
//
// trainModel runs all of training in one activity (releases started before the distributed search). The
// distributed search is three kinds of activity: prepareTrainingSearch (split, search sample, candidates in
// shards), searchShard (one batch of candidates with their folds, on any training worker) and finishTraining
// (refit the winner, export, parity, MLflow). Workers share nothing but Temporal and MLflow: the search sample and
// each shard's scores travel as artifacts of the release's MLflow training run, named by path and sha256.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import { projectRoot, pythonChildEnv, stateDir, venvExecutable } from '../config/environment';
import type { DataContract, ReleaseConfig } from '../config/schema';
import { sha256File } from '../data/csv';
import { localArtifact, MlflowClient, MlflowError } from '../registry/mlflow';
import type { ArtifactRef, FileRef } from '../shared/artifacts';
import type { FinishInput, PreparedSearch, ShardInput, ShardResult, ShardSpec, TrainInput, TrainResult } from '../workflows/training-api';

// 2: shard files from successive halving (candidates `eliminated` on a smaller rung); a version-1 shard file in MLflow is scored again.
export const TRAINER_CONTRACT_VERSION = 2;

interface TrainerResultFile {
  contract_version: number;
  best_family: string;
  best_params: Record<string, unknown>;
  cv: Record<string, number>;
  scoring: string;
  threshold: number;
  parity_max_abs_diff: number;
  train_rows: number;
  test_rows: number;
  fits: number;
  seconds: number;
  files: Record<string, FileRef>;
  mlflow: { run_id: string; experiment_id: string; artifact_uri: string };
}

interface PreparedFile {
  contract_version: number;
  split_digest: string;
  train_rows: number;
  test_rows: number;
  sample_rows: number;
  budget: { preset: string; time_limit_s: number | null };
  sample: FileRef;
  shards: ShardSpec[];
  mlflow: { run_id: string; experiment_id: string; artifact_uri: string };
}

interface ShardFile {
  contract_version: number;
  id: string;
  family: string;
  fits: number;
  /** mean_score: on the last rung the candidate reached; only candidates not `eliminated` reached the whole sample. */
  candidates: { index: number; mean_score?: number; skipped?: string; eliminated?: string }[];
}

export interface TrainingDeps {
  mlflowUri: string;
  /** The worker's own state directory (default MODELSHIP_HOME or .modelship): distributed-search work and
   * fetched artifacts live below it. */
  stateDir?: string;
}

export interface TrainerProgress {
  phase: string;
  message: string;
  done?: number;
  total?: number;
  /** searchShard: scores of the candidates finished so far, so a retry on any worker does not refit them. */
  completed?: Record<string, unknown>;
}

const STDERR_TAIL_LINES = 40;

/** The budget as the trainer reads it: a preset, or a duration (the default preset with that time limit). */
export function trainerBudget(budget: TrainInput['config']['training_budget'] | undefined): { preset: string; time_limit_s?: number } {
  if (budget === undefined) return { preset: 'default' };
  if (budget === 'fast' || budget === 'default' || budget === 'thorough') return { preset: budget };
  return { preset: 'default', time_limit_s: msToNumber(budget as Parameters<typeof msToNumber>[0]) / 1000 };
}

/** Reads a finished result if every file it names is still there with the same digest. */
async function reusableResult(resultPath: string): Promise<TrainerResultFile | undefined> {
  if (!existsSync(resultPath)) return undefined;
  try {
    const result = JSON.parse(readFileSync(resultPath, 'utf8')) as TrainerResultFile;
    if (result.contract_version !== TRAINER_CONTRACT_VERSION || !result.mlflow?.run_id) return undefined;
    for (const file of Object.values(result.files)) {
      if (!existsSync(file.path) || (await sha256File(file.path)) !== file.sha256) return undefined;
    }
    return result;
  } catch {
    return undefined;
  }
}

function toTrainResult(result: TrainerResultFile, resumed: boolean): TrainResult {
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
    mlflow: { runId: result.mlflow.run_id, experimentId: result.mlflow.experiment_id, artifactUri: result.mlflow.artifact_uri },
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
      tracking_uri: deps.mlflowUri,
      experiment: `modelship/${input.config.model_name}`,
      run_name: `${input.workflowId} train`,
      tags: { 'modelship.workflow_id': input.workflowId, 'modelship.step': 'train' } as Record<string, string>,
    },
  };
}

/**
 * Runs `python -m modelship_trainer` on a request written to outputDir/request.json, heartbeating its progress
 * (and `extra()`'s fields) until it exits; returns the path of the result file it wrote.
 */
async function runTrainer(
  outputDir: string,
  request: Record<string, unknown>,
  onEvent: (event: Record<string, unknown>) => void = () => {},
  extra: () => Partial<TrainerProgress> = () => ({}),
): Promise<void> {
  const context = Context.current();
  const requestPath = join(outputDir, 'request.json');
  writeFileSync(requestPath, JSON.stringify(request, null, 2));

  let python: string;
  try {
    python = venvExecutable('python');
  } catch (error) {
    throw ApplicationFailure.nonRetryable((error as Error).message, 'TrainerEnvironmentMissing');
  }
  const child = spawn(python, ['-m', 'modelship_trainer', requestPath], {
    cwd: join(projectRoot, 'python'),
    env: { ...pythonChildEnv(), PYTHONPATH: join(projectRoot, 'python') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(join(outputDir, 'trainer.log'), { flags: 'a' });
  const stderrTail: string[] = [];
  let lastProgress: TrainerProgress = { phase: 'start', message: 'starting the trainer' };
  let trainerError: { message: string; kind?: string } | undefined;
  const beat = () => context.heartbeat({ ...lastProgress, ...extra() });

  // A heartbeat also while a single long fit reports nothing, so the heartbeat timeout means "worker gone".
  const ticker = setInterval(beat, 5_000);
  const onCancel = () => {
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
  };
  context.cancellationSignal.addEventListener('abort', onCancel);

  createInterface({ input: child.stdout }).on('line', (line) => {
    log.write(`${line}\n`);
    let event: { event?: string } & Record<string, unknown>;
    try {
      event = JSON.parse(line);
    } catch {
      return; // not a protocol line (a library printing): kept in the log only
    }
    if (event.event === 'progress') {
      lastProgress = { phase: String(event.phase), message: String(event.message), done: event.done as number, total: event.total as number };
      beat();
    } else if (event.event === 'error') {
      trainerError = { message: String(event.message), kind: event.kind as string | undefined };
    } else {
      onEvent(event);
    }
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    log.write(`[stderr] ${line}\n`);
    stderrTail.push(line);
    if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
  });

  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  clearInterval(ticker);
  context.cancellationSignal.removeEventListener('abort', onCancel);
  log.end();

  if (context.cancellationSignal.aborted) {
    throw ApplicationFailure.nonRetryable('training was cancelled; the trainer subprocess was stopped', 'TrainingCancelled');
  }
  if (exit.code === 0) return;
  if (trainerError?.kind === 'parity') {
    throw ApplicationFailure.nonRetryable(`ONNX export refused: ${trainerError.message}`, 'OnnxParityFailed');
  }
  if (trainerError?.kind === 'contract') {
    throw ApplicationFailure.nonRetryable(`trainer contract mismatch: ${trainerError.message}`, 'TrainerContractMismatch');
  }
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  throw ApplicationFailure.retryable(
    `the trainer ${how} (log: ${join(outputDir, 'trainer.log')}). Last stderr lines:\n${stderrTail.slice(-15).join('\n')}`,
    'TrainerCrashed',
    { stderrTail },
  );
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export function createTrainingActivities(deps: TrainingDeps) {
  const client = new MlflowClient(deps.mlflowUri);
  const home = deps.stateDir ?? stateDir();
  const cacheDir = join(home, 'cache', 'artifacts');
  const workDir = (workflowId: string, ...parts: string[]) => {
    const dir = join(home, 'training', workflowId, ...parts);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  const upload = async (artifactUri: string, artifactPath: string, file: FileRef): Promise<ArtifactRef> => {
    await client.uploadArtifact(artifactUri, artifactPath, readFileSync(file.path));
    return { ...file, artifactUri, artifactPath };
  };
  const fetch = (ref: ArtifactRef) => localArtifact(client, ref, { artifactUri: ref.artifactUri, path: ref.artifactPath }, cacheDir);

  return {
    async trainModel(input: TrainInput): Promise<TrainResult> {
      const context = Context.current();
      const outputDir = join(input.artifactsDir, 'training');
      mkdirSync(outputDir, { recursive: true });
      const resultPath = join(outputDir, 'result.json');

      const earlier = await reusableResult(resultPath);
      if (earlier) {
        context.heartbeat({ phase: 'resumed', message: 'reusing the training finished by an earlier attempt' });
        return toTrainResult(earlier, true);
      }
      const request = baseRequest(input, deps, outputDir);
      request.mlflow.tags['modelship.data_sha256'] = input.dataSha256;
      await runTrainer(outputDir, { ...request, mode: 'train', data_path: input.dataPath, data_sha256: input.dataSha256 });
      const result = await reusableResult(resultPath);
      if (!result) throw ApplicationFailure.retryable(`the trainer exited 0 but ${resultPath} is missing or does not match its files`, 'TrainerResultMissing');
      return toTrainResult(result, false);
    },

    /** Split, search sample and candidates; opens the release's MLflow training run and uploads the sample. */
    async prepareTrainingSearch(input: TrainInput): Promise<PreparedSearch> {
      const outputDir = workDir(input.workflowId, 'prepare');
      const resultPath = join(outputDir, 'prepared.json');
      let prepared = readJson<PreparedFile>(resultPath);
      const resumed =
        prepared?.contract_version === TRAINER_CONTRACT_VERSION && existsSync(prepared.sample.path) && (await sha256File(prepared.sample.path)) === prepared.sample.sha256;
      if (!resumed) {
        const request = baseRequest(input, deps, outputDir);
        request.mlflow.tags['modelship.data_sha256'] = input.dataSha256;
        await runTrainer(outputDir, { ...request, mode: 'prepare', data_path: input.dataPath, data_sha256: input.dataSha256 });
        prepared = readJson<PreparedFile>(resultPath);
        if (!prepared) throw ApplicationFailure.retryable(`the trainer exited 0 but ${resultPath} is missing`, 'TrainerResultMissing');
      }
      const mlflow = { runId: prepared!.mlflow.run_id, experimentId: prepared!.mlflow.experiment_id, artifactUri: prepared!.mlflow.artifact_uri };
      return {
        splitDigest: prepared!.split_digest,
        trainRows: prepared!.train_rows,
        testRows: prepared!.test_rows,
        sampleRows: prepared!.sample_rows,
        budget: prepared!.budget.preset,
        timeLimitSeconds: prepared!.budget.time_limit_s,
        sample: await upload(mlflow.artifactUri, 'search/sample.parquet', prepared!.sample),
        shards: prepared!.shards,
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
        const scored = file.candidates.filter((c) => !c.eliminated).map((c) => c.mean_score).filter((s): s is number => typeof s === 'number');
        return { id: file.id, family: file.family, scores, fits: file.fits, best: scored.length ? Math.max(...scored) : null, resumed };
      };

      // Finished by an earlier attempt (on any worker) and uploaded: reuse it.
      const existing = join(outputDir, 'uploaded.json');
      try {
        const sha256 = await client.downloadArtifact(artifactUri, artifactPath, existing);
        const file = readJson<ShardFile>(existing);
        if (file?.contract_version === TRAINER_CONTRACT_VERSION && file.id === input.shard.id) {
          context.heartbeat({ phase: 'resumed', message: `shard ${input.shard.id} was finished by an earlier attempt` });
          return summarize(file, { path: existing, sha256, artifactUri, artifactPath }, true);
        }
      } catch (error) {
        if (!(error instanceof MlflowError && error.status === 404)) throw error;
      }

      // Candidates an earlier attempt finished travel in its last heartbeat: never refitted.
      const earlier = (context.info.heartbeatDetails as TrainerProgress | undefined)?.completed ?? {};
      const completed: Record<string, unknown> = { ...earlier };
      const samplePath = await fetch(input.prepared.sample);
      await runTrainer(
        outputDir,
        { ...baseRequest(input, deps, outputDir), mode: 'shard', sample: { path: samplePath, sha256: input.prepared.sample.sha256 }, shard: input.shard, deadline: input.deadline, completed },
        (event) => {
          if (event.event === 'candidate_done') {
            // One candidate scored on one rung of the shard's successive halving (its key names both).
            completed[String(event.key)] = event.candidate;
          }
        },
        () => ({ completed }),
      );
      const resultPath = join(outputDir, 'shard.json');
      const file = readJson<ShardFile>(resultPath);
      if (!file) throw ApplicationFailure.retryable(`the trainer exited 0 but ${resultPath} is missing`, 'TrainerResultMissing');
      const scores = await upload(artifactUri, artifactPath, { path: resultPath, sha256: await sha256File(resultPath) });
      return summarize(file, scores, Object.keys(earlier).length > 0);
    },

    /** Gathers the shards, refits the winner on every training row, exports it and logs the training run. */
    async finishTraining(input: FinishInput): Promise<TrainResult> {
      const context = Context.current();
      const outputDir = workDir(input.workflowId, 'finish');
      const resultPath = join(outputDir, 'result.json');
      const earlier = await reusableResult(resultPath);
      if (earlier) {
        context.heartbeat({ phase: 'resumed', message: 'reusing the training finished by an earlier attempt' });
        return toTrainResult(earlier, true);
      }
      const shardPaths = await Promise.all(input.shards.map((shard) => fetch(shard.scores)));
      const request = baseRequest(input, deps, outputDir);
      await runTrainer(outputDir, {
        ...request,
        mode: 'finish',
        data_path: input.dataPath,
        data_sha256: input.dataSha256,
        split_digest: input.prepared.splitDigest,
        shard_paths: shardPaths,
        mlflow: { ...request.mlflow, run_id: input.prepared.mlflow.runId },
      });
      const result = await reusableResult(resultPath);
      if (!result) throw ApplicationFailure.retryable(`the trainer exited 0 but ${resultPath} is missing or does not match its files`, 'TrainerResultMissing');
      return toTrainResult(result, false);
    },
  };
}
