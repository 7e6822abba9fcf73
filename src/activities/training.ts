// The training activity: runs the Python trainer (python/modelship_trainer) as a subprocess on the training task
// queue. Progress lines become heartbeats ("fit 37/60"); cancellation kills the subprocess; a crash fails with the
// tail of stderr; a finished result on disk is reused on retry, so a retried activity never trains twice.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { projectRoot, pythonChildEnv, venvExecutable } from '../config/environment';
import type { DataContract, ReleaseConfig } from '../config/schema';
import { sha256File } from '../data/csv';

export const TRAINER_CONTRACT_VERSION = 1;

export interface FileRef {
  /** Path on the machine that wrote it (reused when it is this machine and the digest matches). */
  path: string;
  sha256: string;
}

export interface TrainInput {
  /** The release's workflow id: names the MLflow run and keys the retry-safe output folder. */
  workflowId: string;
  dataPath: string;
  dataSha256: string;
  /** workflow_artifacts/<workflow id>: the trainer writes into training/ below it. */
  artifactsDir: string;
  config: Pick<ReleaseConfig, 'model_name' | 'test_data_split' | 'n_iter' | 'cv_folds' | 'random_state' | 'scoring' | 'model_families'> & {
    data: DataContract;
  };
}

export interface TrainResult {
  bestFamily: string;
  bestParams: Record<string, unknown>;
  cv: Record<string, number>;
  scoring: string;
  threshold: number;
  parityMaxAbsDiff: number;
  trainRows: number;
  testRows: number;
  fits: number;
  seconds: number;
  /** Keyed by MLflow artifact path: model/model.onnx, model/input_contract.json, data/test_rows.csv, … */
  files: Record<string, FileRef>;
  mlflow: { runId: string; experimentId: string; artifactUri: string };
  /** True when a finished result from an earlier attempt was reused. */
  resumed: boolean;
}

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

export interface TrainingDeps {
  mlflowUri: string;
}

export interface TrainerProgress {
  phase: string;
  message: string;
  done?: number;
  total?: number;
}

const STDERR_TAIL_LINES = 40;

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

export function createTrainingActivities(deps: TrainingDeps) {
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

      const request = {
        contract_version: TRAINER_CONTRACT_VERSION,
        data_path: input.dataPath,
        data_sha256: input.dataSha256,
        output_dir: outputDir,
        data: input.config.data,
        test_data_split: input.config.test_data_split,
        n_iter: input.config.n_iter,
        cv_folds: input.config.cv_folds,
        random_state: input.config.random_state,
        scoring: input.config.scoring,
        model_families: input.config.model_families,
        mlflow: {
          tracking_uri: deps.mlflowUri,
          experiment: `modelship/${input.config.model_name}`,
          run_name: `${input.workflowId} train`,
          tags: { 'modelship.workflow_id': input.workflowId, 'modelship.data_sha256': input.dataSha256, 'modelship.step': 'train' },
        },
      };
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

      // A heartbeat also while a single long fit reports nothing, so the heartbeat timeout means "worker gone".
      const ticker = setInterval(() => context.heartbeat(lastProgress), 5_000);
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
          context.heartbeat(lastProgress);
        } else if (event.event === 'error') {
          trainerError = { message: String(event.message), kind: event.kind as string | undefined };
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
      if (exit.code === 0) {
        const result = await reusableResult(resultPath);
        if (!result) throw ApplicationFailure.retryable(`the trainer exited 0 but ${resultPath} is missing or does not match its files`, 'TrainerResultMissing');
        return toTrainResult(result, false);
      }
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
    },
  };
}
