// Durability: the worker is killed with SIGKILL in the middle of training; a new worker takes over and the release
// completes with exactly one model version (and no orphaned trainer left running).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { activityProgress, startRelease } from '../src/client/release';
import { loadConfig } from '../src/config/load';
import { projectRoot } from '../src/config/environment';
import { generateBankingCsv } from '../src/data/generate';
import { MlflowClient } from '../src/registry/mlflow';
import type { ReleaseResult } from '../src/workflows/release-api';
import { connectTestEnvironment, mlflowUri, uniqueQueues } from './support/temporal';

describe('worker killed during training', () => {
  let env: TestWorkflowEnvironment;
  const workers: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'modelship-crash-'));
  const queues = uniqueQueues();
  const workerEnv = {
    ...process.env,
    MODELSHIP_TASK_QUEUE: queues.orchestration,
    MODELSHIP_TRAINING_TASK_QUEUE: queues.training,
    MODELSHIP_HOME: join(dir, 'state'),
    MODELSHIP_SHUTDOWN_GRACE: '1s',
  };
  const startWorker = () => {
    const worker = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'src/worker.ts')], { env: workerEnv, stdio: 'ignore' });
    workers.push(worker);
    return worker;
  };

  before(async () => {
    env = await connectTestEnvironment();
    process.env.MODELSHIP_ARTIFACTS_DIR = join(dir, 'workflow_artifacts');
  });
  after(async () => {
    for (const worker of workers) worker.kill('SIGKILL');
    await env?.teardown();
  });

  it('completes on a new worker with exactly one model version', async () => {
    const dataPath = join(dir, 'bank.csv');
    await generateBankingCsv({ rows: 2000, seed: 9, out: dataPath });
    const modelName = `crash-test-${Date.now()}`;
    const config = loadConfig({
      path: join(projectRoot, 'config/default.yaml'),
      overrides: { input_data_path: dataPath, model_name: modelName, n_iter: 4, cv_folds: 2, skip_deployment: true, auto_approve_deployment: true },
    }).config;

    const first = startWorker();
    const handle = await startRelease(env.client, env.namespace ?? 'default', config, { queues });
    let progress: string | undefined;
    for (let i = 0; i < 240 && !/fit \d+\//.test(progress ?? ''); i++) {
      await sleep(250);
      progress = await activityProgress(handle).catch(() => undefined);
    }
    assert.match(progress ?? '', /trainModel: fit \d+\/24/, 'training was under way');
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));

    startWorker();
    const result = (await handle.result()) as ReleaseResult;
    assert.equal(result.outcome, 'succeeded', result.error);
    const versions = await new MlflowClient(mlflowUri()).searchVersions(`name='${modelName}'`);
    assert.equal(versions.length, 1, 'exactly one model version');

    const history = await handle.fetchHistory();
    const attempts = (history.events ?? [])
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
    assert.ok(attempts.some((a) => (a ?? 1) > 1), 'the training activity was retried after the crash');
    const orphans = spawnSync('pgrep', ['-f', `${join(dir, 'workflow_artifacts')}.*request.json`], { encoding: 'utf8' }).stdout.trim();
    assert.equal(orphans, '', 'no trainer of the killed worker is still running');
  });
});
