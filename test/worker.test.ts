import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { runStackCheck } from '../src/client/stack-check';
import { connectTestEnvironment, mlflowUri, withWorkers } from './support/temporal';

describe('worker on a real Temporal server', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await connectTestEnvironment();
  });
  after(async () => {
    await env?.teardown();
  });

  it('runs a workflow whose activities reach both task queues and report a working set-up', async () => {
    const result = await withWorkers(env, (queues) => runStackCheck(env.client, queues, '2 minutes'));
    assert.equal(result.orchestration.pid, process.pid);
    assert.equal(result.orchestration.mlflow.uri, mlflowUri());
    assert.equal(result.orchestration.mlflow.healthy, true, result.orchestration.mlflow.detail);
    assert.match(result.training.python, /^3\.\d+\.\d+$/);
    for (const name of ['sklearn', 'skl2onnx', 'onnx', 'onnxruntime', 'mlflow']) {
      assert.match(result.training.packages[name] ?? '', /^\d+\.\d+/, `${name} should import in the trainer's venv`);
    }
  });

  it('serves one task queue per process when the roles are split', async () => {
    await withWorkers(
      env,
      async (queues, workers) => {
        assert.deepEqual(
          workers.map((w) => w.options.taskQueue),
          [queues.orchestration],
        );
      },
      ['orchestration'],
    );
    await withWorkers(
      env,
      async (queues, workers) => {
        assert.deepEqual(
          workers.map((w) => w.options.taskQueue),
          [queues.training],
        );
        const slots = workers[0]!.options.tuner.activityTaskSlotSupplier;
        assert.deepEqual(slots, { type: 'fixed-size', numSlots: 1 }, 'training runs one activity at a time by default');
      },
      ['training'],
    );
  });

  it('reports an MLflow server it cannot reach instead of failing silently', async () => {
    const { createEnvironmentActivities } = await import('../src/activities/environment');
    const report = await createEnvironmentActivities({ mlflowUri: 'http://127.0.0.1:1' }).inspectWorker();
    assert.equal(report.mlflow.healthy, false);
    assert.match(report.mlflow.detail, /fetch failed|ECONNREFUSED/);
  });
});
