// Helpers for tests that run workflows on the test run's Temporal server (started by run-tests.ts).
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { createWorkers, runWorkers, type ModelshipWorkerOptions, type QueueRole } from '../../src/worker';
import type { TaskQueues } from '../../src/config/environment';
import { workflowBundle } from './bundles';

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with 'npm test', which starts the test servers.`);
  return value;
}

export const mlflowUri = () => requireEnv('MLFLOW_TRACKING_URI');

let runtimeInstalled = false;

/** Connects to the run's Temporal server. Worker logs below WARN are dropped to keep test output readable. */
export async function connectTestEnvironment(): Promise<TestWorkflowEnvironment> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  return TestWorkflowEnvironment.createFromExistingServer({
    address: requireEnv('TEMPORAL_ADDRESS'),
    namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
  });
}

/** Task queues unique to one test, so tests running side by side never take each other's tasks. */
export function uniqueQueues(): TaskQueues {
  const id = randomUUID().slice(0, 8);
  return { orchestration: `test-${id}`, training: `test-${id}-training` };
}

/** Runs modelship workers on fresh queues while `fn` runs, then shuts them down. The workflows are bundled once per
 * test file, not once per worker: bundling takes seconds. */
export async function withWorkers<T>(
  env: TestWorkflowEnvironment,
  fn: (queues: TaskQueues, workers: Worker[]) => Promise<T>,
  roles?: QueueRole[],
  extra: Pick<ModelshipWorkerOptions, 'azureCredential'> = {},
): Promise<T> {
  const queues = uniqueQueues();
  const workers = await createWorkers({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    queues,
    roles,
    mlflowUri: mlflowUri(),
    stateDir: process.env.MODELSHIP_TEST_STATE_DIR,
    shutdownGraceTime: '1s',
    workflowBundle: await workflowBundle('current'),
    ...extra,
  });
  const running = runWorkers(workers);
  try {
    return await fn(queues, workers);
  } finally {
    for (const worker of workers) worker.shutdown();
    await running;
  }
}
