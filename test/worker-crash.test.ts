// Durability: the worker is killed with SIGKILL in the middle of training; a new worker takes over and the release
// completes with exactly one model version (and no orphaned trainer left running).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
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
import { LocalTarget } from '../src/targets/local';
import { adminToken } from '../src/serving/admin-token';
import type { ReleaseResult } from '../src/workflows/release-api';
import { connectTestEnvironment, mlflowUri, uniqueQueues } from './support/temporal';
import { trainerProcesses } from './support/processes';
import { PASSING_GATES } from './support/release';
import { workerNodeArgs } from './support/bundles';

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
    // A killed worker's runs wait this long for it before the new worker may take them (the SDK's default is 10 s).
    MODELSHIP_STICKY_QUEUE_TIMEOUT: '1s',
    // The test run's endpoint server keeps its admin token in the run's state dir, not in this worker's.
    MODELSHIP_ENDPOINT_ADMIN_TOKEN: adminToken(join(process.env.MODELSHIP_TEST_STATE_DIR ?? dir, 'serving')),
  };
  let modelName = '';
  const startWorker = () => {
    const worker = spawn(process.execPath, [...workerNodeArgs(), join(projectRoot, 'src/worker.ts')], { env: workerEnv, stdio: 'ignore' });
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
    modelName = `crash-test-${Date.now()}`;
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
    assert.match(progress ?? '', /searchShard: fit \d+\/\d+/, 'training was under way');
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));

    const second = startWorker();
    const result = (await handle.result()) as ReleaseResult;
    assert.equal(result.outcome, 'succeeded', result.error);
    const versions = await new MlflowClient(mlflowUri()).searchVersions(`name='${modelName}'`);
    assert.equal(versions.length, 1, 'exactly one model version');

    const history = await handle.fetchHistory();
    const attempts = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
    assert.ok(
      attempts.some((a) => (a ?? 1) > 1),
      'the training activity (a search shard) was retried after the crash',
    );
    // The second worker's own trainer fork server is its child; anything else with this home is the first one's.
    const orphans = trainerProcesses(join(dir, 'state')).filter((p) => p.ppid !== second.pid);
    assert.deepEqual(orphans, [], 'no trainer of the killed worker is still running');
  });

  it('ends consistent when the worker is killed during the traffic shift', async () => {
    assert.ok(modelName, 'runs after the training crash test, which registered version 1');
    const endpoint = `crash-${Date.now().toString(36)}`;
    const configFor = (overrides: Record<string, unknown>) =>
      loadConfig({
        path: join(projectRoot, 'config/default.yaml'),
        overrides: {
          input_data_path: join(dir, 'bank.csv'),
          model_name: modelName,
          endpoint_name: endpoint,
          skip_training: true,
          auto_approve_deployment: true,
          termination_wait: '0s',
          ...PASSING_GATES,
          ...overrides,
        },
      }).config;
    let worker = startWorker();
    const first = await startRelease(env.client, env.namespace ?? 'default', configFor({ bake_time: '0s' }), { queues, modelUri: `models:/${modelName}/1` });
    assert.equal(((await first.result()) as ReleaseResult).deployment?.colour, 'blue');

    const target = new LocalTarget(process.env.MODELSHIP_ENDPOINT_URL!, join(process.env.MODELSHIP_TEST_STATE_DIR!, 'serving'));
    const second = await startRelease(env.client, env.namespace ?? 'default', configFor({ traffic_plan: [10, 50, 100], bake_time: '3s' }), {
      queues,
      modelUri: `models:/${modelName}/1`,
    });
    for (let i = 0; i < 400 && (await target.describeEndpoint(endpoint)).traffic.green !== 10; i++) await sleep(100);
    assert.deepEqual((await target.describeEndpoint(endpoint)).traffic, { green: 10, blue: 90 }, 'killed in the middle of the shift');
    worker.kill('SIGKILL');
    await new Promise((resolve) => worker.once('exit', resolve));
    worker = startWorker();

    const result = (await second.result()) as ReleaseResult;
    const state = await target.describeEndpoint(endpoint);
    // Finished: green takes everything and blue is gone. (A rollback would leave blue at 100 % and no green.)
    assert.equal(result.outcome, 'succeeded', result.error);
    assert.deepEqual(state.traffic, { green: 100 });
    assert.deepEqual(
      state.deployments.map((d) => d.name),
      ['green'],
    );
  });
});
