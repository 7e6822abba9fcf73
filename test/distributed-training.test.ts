// The search spread over the training task queue: two training worker processes, each with its own state
// directory (no shared disk), both score shards of one release; one of them is killed in the middle of a shard and
// the release still finishes, with exactly one model version and every shard's scores in MLflow.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startRelease } from '../src/client/release';
import { loadConfig } from '../src/config/load';
import { projectRoot } from '../src/config/environment';
import { generateBankingCsv } from '../src/data/generate';
import { MlflowClient } from '../src/registry/mlflow';
import { statusQuery, type ReleaseResult } from '../src/workflows/release-api';
import { connectTestEnvironment, mlflowUri, uniqueQueues } from './support/temporal';
import { workerNodeArgs } from './support/bundles';

describe('distributed training search', () => {
  let env: TestWorkflowEnvironment;
  const processes: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'modelship-distributed-'));
  const queues = uniqueQueues();
  const startWorker = (name: string, role: 'orchestration' | 'training') => {
    const worker = spawn(process.execPath, [...workerNodeArgs(), join(projectRoot, 'src/worker.ts')], {
      env: {
        ...process.env,
        MODELSHIP_TASK_QUEUE: queues.orchestration,
        MODELSHIP_TRAINING_TASK_QUEUE: queues.training,
        MODELSHIP_WORKER_QUEUES: role,
        MODELSHIP_HOME: join(dir, name), // its own working directory and artifact cache
        MODELSHIP_SHUTDOWN_GRACE: '1s',
        MODELSHIP_TRAINING_CONCURRENCY: '1', // one shard at a time each, so both workers take part
      },
      stdio: 'ignore',
    });
    processes.push(worker);
    return worker;
  };
  /** Shards a training worker started (its own state dir), and those it finished. */
  const shardsOf = (name: string, workflowId: string) => {
    const shards = join(dir, name, 'training', workflowId, 'shards');
    const started = existsSync(shards) ? readdirSync(shards) : [];
    return { started, finished: started.filter((id) => existsSync(join(shards, id, 'shard.json'))) };
  };

  before(async () => {
    env = await connectTestEnvironment();
    process.env.MODELSHIP_ARTIFACTS_DIR = join(dir, 'workflow_artifacts');
  });
  after(async () => {
    for (const worker of processes) worker.kill('SIGKILL');
    await env?.teardown();
  });

  it('two training workers share one release; killing one mid-shard loses nothing', async () => {
    const dataPath = join(dir, 'bank.csv');
    await generateBankingCsv({ rows: 2000, seed: 5, out: dataPath });
    const modelName = `distributed-${Date.now()}`;
    const config = loadConfig({
      path: join(projectRoot, 'config/default.yaml'),
      overrides: { input_data_path: dataPath, model_name: modelName, n_iter: 3, cv_folds: 2, skip_deployment: true, auto_approve_deployment: true },
    }).config;
    startWorker('orchestration', 'orchestration');
    const a = startWorker('a', 'training');
    startWorker('b', 'training');

    const handle = await startRelease(env.client, env.namespace ?? 'default', config, { queues });
    // Wait until both workers are scoring a shard, then kill A in the middle of its shard.
    // Training folders are named by the release's own id (its status's workflowId), not the model's workflow id.
    let releaseId: string | undefined;
    let victim: string[] = [];
    for (let i = 0; i < 1200; i++) {
      releaseId ??= (await handle.query(statusQuery).catch(() => undefined))?.workflowId;
      if (!releaseId) {
        await sleep(100);
        continue;
      }
      const [onA, onB] = [shardsOf('a', releaseId), shardsOf('b', releaseId)];
      victim = onA.started.filter((id) => !onA.finished.includes(id));
      if (victim.length > 0 && onB.started.length > 0) break;
      await sleep(100);
    }
    assert.equal(victim.length, 1, 'worker A was scoring a shard while worker B had one too');
    a.kill('SIGKILL');
    await new Promise((resolve) => a.once('exit', resolve));

    const result = (await handle.result()) as ReleaseResult;
    assert.equal(result.outcome, 'succeeded', result.error);
    const versions = await new MlflowClient(mlflowUri()).searchVersions(`name='${modelName}'`);
    assert.equal(versions.length, 1, 'exactly one model version');

    // The shard A was killed in was finished by B; every shard's scores are artifacts of the one training run.
    assert.ok(shardsOf('b', releaseId!).finished.includes(victim[0]!), `worker B finished ${victim[0]} after A died`);
    const artifactUri = versions[0]!.source.replace(/\/model$/, '');
    const client = new MlflowClient(mlflowUri());
    for (const family of config.model_families) {
      const id = `${family}-1of1`;
      const digest = await client.downloadArtifact(artifactUri, `search/shards/${id}.json`, join(dir, 'check', `${id}.json`));
      assert.match(digest, /^[0-9a-f]{64}$/, `search/shards/${id}.json is in the training run`);
    }
  });
});
