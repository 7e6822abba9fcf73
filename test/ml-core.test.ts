// The ML core against the real trainer and the test run's MLflow: train → evaluate → register → gates, with
// heartbeats, resume after a retry, cross-language parity, idempotent registration and digest-checked downloads.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createDataActivities } from '../src/activities/data';
import { createEvaluationActivities } from '../src/activities/evaluation';
import { createRegistryActivities } from '../src/activities/registry';
import type { TrainInput, TrainResult } from '../src/workflows/training-api';
import { loadConfig } from '../src/config/load';
import { projectRoot } from '../src/config/environment';
import { sha256File } from '../src/data/csv';
import { generateBankingCsv } from '../src/data/generate';
import { mlflowAccess } from '../src/registry/artifact-store';
import { MlflowClient } from '../src/registry/mlflow';
import { mlflowUri } from './support/temporal';
import { trainWithActivities } from './support/training';

const dir = mkdtempSync(join(tmpdir(), 'modelship-ml-'));
const config = loadConfig({ path: join(projectRoot, 'config/default.yaml') }).config;
const modelName = `test-model-${Date.now()}`;
/** The MLflow client and artifact store a worker would give the activities, caching in `cacheDir`. */
const deps = (cacheDir = join(dir, 'cache')) => mlflowAccess({ mlflowUri: mlflowUri(), cacheDir });
const trainingDeps = () => ({ mlflowUri: mlflowUri(), stateDir: join(dir, 'state') });

async function run<R>(fn: (...args: never[]) => Promise<R>, ...args: unknown[]): Promise<{ result: R; heartbeats: unknown[] }> {
  const env = new MockActivityEnvironment();
  const heartbeats: unknown[] = [];
  env.on('heartbeat', (details: unknown) => heartbeats.push(details));
  const result = await env.run(fn as never, ...(args as never[]));
  return { result: result as R, heartbeats };
}

describe('ML core: trainer, evaluation, registry', () => {
  const dataPath = join(dir, 'bank.csv');
  let trainInput: TrainInput;
  let trained: TrainResult;
  let heartbeats: unknown[];

  before(async () => {
    await generateBankingCsv({ rows: 1200, seed: 11, out: dataPath });
    const validated = await run(createDataActivities().validateData, {
      dataPath,
      contract: config.data!,
      cvFolds: 2,
      testSplit: 0.25,
      artifactsDir: join(dir, 'run1'),
    });
    trainInput = {
      workflowId: `wf-${Date.now()}`,
      dataPath,
      dataSha256: (validated.result as { sha256: string }).sha256,
      artifactsDir: join(dir, 'run1'),
      config: { ...config, data: config.data!, model_name: modelName, n_iter: 2, cv_folds: 2, test_data_split: 0.25 },
    };
    ({ result: trained, heartbeats } = await trainWithActivities(trainingDeps(), trainInput));
  });

  it('trains all three families, reports fits as heartbeats and logs an MLflow run', async () => {
    assert.equal(trained.resumed, false);
    assert.deepEqual(Object.keys(trained.cv).sort(), ['hist_gradient_boosting', 'logistic_regression', 'random_forest']);
    assert.equal(trained.fits, 3 * 2 * 2);
    assert.equal(trained.testRows, 300);
    assert.equal(trained.trainRows, 900);
    // One shard per family on this small sample, each heartbeating its own fits (2 candidates x 2 folds).
    const messages = heartbeats.map((h) => (h as { message?: string }).message ?? '');
    for (const family of ['hist_gradient_boosting', 'logistic_regression', 'random_forest']) {
      assert.ok(messages.includes(`fit 4/4 (${family})`), messages.join(' | '));
      assert.ok(messages.includes(`fit 1/4 (${family})`), messages.join(' | '));
    }
    assert.ok(trained.parityMaxAbsDiff <= 1e-4);
    assert.match(trained.mlflow.runId, /^[0-9a-f]{32}$/);
    const run = (await (await fetch(`${mlflowUri()}/api/2.0/mlflow/runs/get?run_id=${trained.mlflow.runId}`)).json()) as {
      run: { data: { params: { key: string; value: string }[]; tags: { key: string; value: string }[] }; info: { status: string } };
    };
    assert.equal(run.run.info.status, 'FINISHED');
    assert.ok(run.run.data.params.some((p) => p.key === 'data_sha256' && p.value === trainInput.dataSha256));
    assert.ok(run.run.data.tags.some((t) => t.key === 'modelship.workflow_id' && t.value === trainInput.workflowId));
  });

  it('records one stratified split, never used for fitting, with the held-out rows in raw form', () => {
    const split = JSON.parse(readFileSync(trained.files['data/split.json']!.path, 'utf8')) as { test_indices: number[]; stratified: boolean };
    assert.equal(split.stratified, true);
    assert.equal(new Set(split.test_indices).size, 300);
    const testRows = readFileSync(trained.files['data/test_rows.csv']!.path, 'utf8').trimEnd().split('\n');
    assert.equal(testRows.length, 301);
    assert.ok(testRows[0]!.includes('Transaction Date') && !testRows[0]!.includes('Transaction Amount'), 'raw features, no forbidden column');
  });

  it('reuses the finished training when the activities are retried', async () => {
    const started = Date.now();
    const { prepared, shards, result } = await trainWithActivities(trainingDeps(), trainInput);
    assert.equal(prepared.resumed, true);
    assert.deepEqual(
      shards.map((s) => s.resumed),
      [true, true, true],
    );
    assert.equal(result.resumed, true);
    assert.equal(result.mlflow.runId, trained.mlflow.runId);
    assert.ok(Date.now() - started < 5_000);
  });

  it('turns a trainer crash into a retryable failure carrying the tail of stderr', async () => {
    const broken = join(dir, 'broken.csv');
    writeFileSync(broken, readFileSync(dataPath, 'utf8').replace('Credit Limit', 'Credit Ceiling'));
    const input = { ...trainInput, workflowId: `${trainInput.workflowId}-broken`, dataPath: broken, dataSha256: await sha256File(broken) };
    await assert.rejects(trainWithActivities(trainingDeps(), input), (error: unknown) => {
      assert.ok(error instanceof ApplicationFailure);
      assert.equal(error.type, 'TrainerCrashed');
      assert.equal(error.nonRetryable, false);
      assert.match(error.message, /KeyError: 'Credit Limit'/);
      return true;
    });
  });

  it('stops the trainer subprocess when the activity is cancelled', async () => {
    const workflowId = `${trainInput.workflowId}-cancelled`;
    const cancelling = () => {
      const env = new MockActivityEnvironment();
      env.on('heartbeat', (details: { phase?: string }) => {
        if (details.phase === 'split') env.cancel();
      });
      return env;
    };
    await assert.rejects(
      trainWithActivities(trainingDeps(), { ...trainInput, workflowId }, cancelling),
      (error: unknown) => error instanceof ApplicationFailure && error.type === 'TrainingCancelled',
    );
    const log = readFileSync(join(dir, 'state', 'training', workflowId, 'prepare', 'trainer.log'), 'utf8');
    assert.doesNotMatch(log, /"event": "done"/, 'the trainer did not run to the end');
  });

  it('evaluates with onnxruntime-node on the held-out rows, matching scikit-learn within 1e-4', async () => {
    const { result } = await run(createEvaluationActivities(deps()).evaluateCandidate, { train: trained, artifactsDir: join(dir, 'run1') });
    assert.ok(result.parityMaxAbsDiff <= 1e-4, `parity ${result.parityMaxAbsDiff}`);
    assert.equal(result.metrics.rows, 300);
    assert.ok(result.metrics.roc_auc > 0.7 && result.metrics.roc_auc < 1, `roc auc ${result.metrics.roc_auc}`);
    assert.equal(result.metrics.majority_baseline_accuracy, 1 - result.metrics.positives / 300);
    const { tp, fp, tn, fn } = result.metrics.confusion_matrix;
    assert.equal(tp + fp + tn + fn, 300);
    assert.deepEqual(JSON.parse(readFileSync(result.metricsPath, 'utf8')).confusion_matrix, result.metrics.confusion_matrix);
  });

  it('fetches artifacts from MLflow when the training worker was another machine, checking digests', async () => {
    const elsewhere = { ...trained, files: Object.fromEntries(Object.entries(trained.files).map(([k, v]) => [k, { ...v, path: join(dir, 'gone', k) }])) };
    const { result } = await run(createEvaluationActivities(deps()).evaluateCandidate, { train: elsewhere, artifactsDir: join(dir, 'remote') });
    assert.ok(result.parityMaxAbsDiff <= 1e-4);
    const tampered = { ...elsewhere, files: { ...elsewhere.files, 'model/model.onnx': { path: join(dir, 'gone2'), sha256: '0'.repeat(64) } } };
    await assert.rejects(
      run(createEvaluationActivities(deps(join(dir, 'cache2'))).evaluateCandidate, { train: tampered, artifactsDir: join(dir, 'remote2') }),
      /has sha256 [0-9a-f]{64}, expected 0{64}/,
    );
  });

  it('registers one version per run (a retry finds it), with lineage tags and the candidate alias', async () => {
    const registry = createRegistryActivities(deps());
    const input = {
      modelName,
      workflowId: trainInput.workflowId,
      dataSha256: trainInput.dataSha256,
      codeVersion: 'test',
      train: trained,
      metrics: { roc_auc: 0.9, average_precision: 0.5, f1: 0.4, accuracy: 0.9 },
      alias: 'candidate',
    };
    const first = (await run(registry.registerModel, input)).result;
    const second = (await run(registry.registerModel, input)).result;
    assert.equal(first.created, true);
    assert.equal(second.created, false);
    assert.equal(second.version, first.version);
    const client = new MlflowClient(mlflowUri());
    const candidate = await client.resolve(`models:/${modelName}@candidate`);
    assert.equal(candidate.version, first.version);
    assert.equal(candidate.tags?.find((t) => t.key === 'modelship.workflow_id')?.value, trainInput.workflowId);
    assert.equal(candidate.tags?.find((t) => t.key === 'modelship.data_sha256')?.value, trainInput.dataSha256);
    assert.equal((await client.searchVersions(`name='${modelName}'`)).length, 1);
  });

  it('compares with @production on the same rows once there is one, and gates on it', async () => {
    const evaluation = createEvaluationActivities(deps());
    assert.equal((await run(evaluation.evaluateChampion, { modelName, train: trained })).result, undefined);
    const registry = createRegistryActivities(deps());
    const change = (await run(registry.setModelAlias, { modelName, alias: 'production', version: '1' })).result;
    assert.deepEqual(change, { alias: 'production', previousVersion: undefined, version: '1' });
    const champion = (await run(evaluation.evaluateChampion, { modelName, train: trained })).result!;
    assert.equal(champion.version, '1');
    const candidate = (await run(evaluation.evaluateCandidate, { train: trained, artifactsDir: join(dir, 'run1') })).result.metrics;
    assert.equal(champion.metrics.roc_auc, candidate.roc_auc, 'the same model scores the same on the same rows');
    const settings = { ...config, min_accuracy: 0, min_f1: 0, min_roc_auc: 0.5 };
    const gates = (await run(evaluation.checkGates, { settings, candidate, champion })).result;
    assert.deepEqual(
      gates.checks.map((c) => c.name),
      ['min_accuracy', 'min_roc_auc', 'min_f1', 'beats_majority_baseline', 'champion_challenger'],
    );
    const worse = { ...champion, metrics: { ...champion.metrics, roc_auc: candidate.roc_auc + 0.05 } };
    await assert.rejects(run(evaluation.checkGates, { settings, candidate, champion: worse }), (error: unknown) => {
      assert.ok(error instanceof ApplicationFailure && error.nonRetryable && error.type === 'GatesFailed');
      assert.match(error.message, /champion_challenger: .* is not >= /);
      return true;
    });
  });

  it('fails the gates with every failed check listed, never only the first', async () => {
    const evaluation = createEvaluationActivities(deps());
    const candidate = (await run(evaluation.evaluateCandidate, { train: trained, artifactsDir: join(dir, 'run1') })).result.metrics;
    await assert.rejects(run(evaluation.checkGates, { settings: { ...config, min_accuracy: 0.999, min_roc_auc: 0.999, min_f1: 0.999 }, candidate }), (error: unknown) => {
      assert.ok(error instanceof ApplicationFailure);
      assert.match(error.message, /failed 3 gate\(s\)/);
      assert.match(error.message, /min_accuracy: .*\n.*min_roc_auc: .*\n.*min_f1: /);
      return true;
    });
  });
});

// Keep the scratch folder small across runs.
process.on('exit', () => {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    /* ignore */
  }
});
