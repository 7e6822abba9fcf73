// The endpoint lock's queue, through the real deployRegisteredModel and endpointLock workflows with a stand-in
// target (in memory) and the real lock activities: waiters are served first come first served, each after the one
// before it. End-to-end races on the local endpoint server stay in test/endpoint-lock.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createEndpointLockActivities } from '../src/activities/endpoint-lock';
import { endpointLockId, type HoldProgress } from '../src/workflows/endpoint-lock-api';
import { operatorProgressQuery, rolloutSettingsOf } from '../src/workflows/operator-api';
import { releaseConfig } from './support/release';
import { standInEndpoint, withStandIns, type StandInActivities } from './support/stand-ins';
import { connectTestEnvironment } from './support/temporal';

const modelName = 'queue-test';
const stamp = Date.now().toString(36);

describe('endpoint lock queue (stand-in target)', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await connectTestEnvironment();
  });
  after(async () => {
    await env?.teardown();
  });

  it('three waiters behind a holder are served in the order they asked, each after the one before it', async () => {
    const endpoint = `lock-queue-${stamp}`;
    const target = standInEndpoint({ modelName });
    const resolveRegisteredModel: StandInActivities['resolveRegisteredModel'] = async (uri) => {
      const version = uri.split('/').pop()!;
      return {
        name: modelName,
        version,
        modelUri: uri,
        train: { files: {}, mlflow: { runId: `run-${version}`, experimentId: '', artifactUri: '' }, bestFamily: 'logistic_regression' },
      };
    };
    const settings = rolloutSettingsOf(releaseConfig({ bake_time: '0s', termination_wait: '0s' }));
    await withStandIns(env, { ...target.activities, ...createEndpointLockActivities(), resolveRegisteredModel }, async (taskQueue) => {
      const startDeploy = (name: string, version: string) =>
        env.client.workflow.start('deployRegisteredModel', {
          taskQueue,
          workflowId: `deploy-${endpoint}-${name}`,
          args: [{ target: 'local', endpoint, modelUri: `models:/${modelName}/${version}`, settings }],
        });
      const untilHold = async (handle: WorkflowHandle, state: HoldProgress['state']) => {
        while ((await handle.query(operatorProgressQuery).catch(() => undefined))?.state !== state) await sleep(100);
      };
      // The holder bakes until every waiter has queued.
      const releaseBakes = target.holdBakes();
      const holder = await startDeploy('holder', '1');
      await untilHold(holder, 'holding');
      const waiters = [];
      for (const [name, version] of [
        ['first', '2'],
        ['second', '1'],
        ['third', '2'],
      ] as const) {
        const waiter = await startDeploy(name, version);
        await untilHold(waiter, 'waiting'); // queued before the next one asks
        waiters.push(waiter);
      }
      releaseBakes();
      const runs = [holder, ...waiters];
      for (const run of runs) assert.equal((await run.result()).outcome, 'succeeded', run.workflowId);
      const behind = await Promise.all(runs.map(async (run) => (await run.query(operatorProgressQuery))?.waitedBehind));
      assert.deepEqual(behind, [undefined, holder.workflowId, waiters[0]!.workflowId, waiters[1]!.workflowId], 'each waited for the one before it');
      const lock = await env.client.workflow.getHandle(endpointLockId('local', endpoint)).result();
      assert.equal(lock.granted, 4);
      assert.equal(lock.holder, undefined);
      const grants = lock.recent.filter((e: string) => / granted to /.test(e)).map((e: string) => e.split(' granted to ')[1]);
      assert.deepEqual(
        grants,
        runs.map((r) => r.workflowId),
        'granted in the order asked',
      );
      // The rollouts never overlapped: each deploy began after the previous one's cleanup.
      const deploys = target.calls.filter((c) => c.startsWith('deployModel') || c.startsWith('deleteDeployment'));
      assert.deepEqual(deploys, [
        'deployModel blue',
        'deployModel green',
        'deleteDeployment blue',
        'deployModel blue',
        'deleteDeployment green',
        'deployModel green',
        'deleteDeployment blue',
      ]);
      // The end state: one deployment, the last one's version, at 100 %.
      assert.deepEqual(
        target.state.deployments.map((d) => [d.name, d.modelVersion]),
        [['green', '2']],
      );
      assert.deepEqual(target.state.traffic, { green: 100 });
    });
  });
});
