// The blue-green rollout's saga, through the real blueGreenRollout workflow with a stand-in target (in memory): a
// failure at each step undoes exactly what was done, in reverse order, and the failure says where it failed and
// what was undone; an undo that fails is reported, never swallowed; a cancelled rollout undoes too. End-to-end
// rollouts on the local endpoint server (test/rollout.test.ts) keep what needs real deployments.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { rolloutSettingsOf } from '../src/workflows/operator-api';
import type { RolloutFailureDetails, RolloutInput, RolloutResult } from '../src/workflows/rollout-api';
import { releaseConfig } from './support/release';
import { standInEndpoint, withStandIns } from './support/stand-ins';
import { connectTestEnvironment } from './support/temporal';

const modelName = 'undo-test';
const endpoint = 'ep-undo';

function rolloutInput(overrides: Partial<RolloutInput> = {}): RolloutInput {
  const settings = rolloutSettingsOf(releaseConfig({ bake_time: '0s', termination_wait: '0s', traffic_plan: [50, 100] }));
  return {
    ...settings,
    target: 'local',
    endpoint,
    model: { name: modelName, version: '2', train: { files: {}, mlflow: { runId: 'run-2', experimentId: '', artifactUri: '' } } },
    modelName,
    ...overrides,
  };
}

describe('blue-green rollout undo (stand-in target)', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await connectTestEnvironment();
  });
  after(async () => {
    await env?.teardown();
  });

  /** Runs one rollout against `endpointStandIn`; returns its result or its failure's message and details. */
  const rollout = (endpointStandIn: ReturnType<typeof standInEndpoint>, input = rolloutInput()) =>
    withStandIns(env, endpointStandIn.activities, async (taskQueue) => {
      try {
        return {
          result: (await env.client.workflow.execute('blueGreenRollout', {
            taskQueue,
            workflowId: `undo-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`,
            args: [input],
          })) as RolloutResult,
        };
      } catch (error) {
        assert.ok(error instanceof WorkflowFailedError, String(error));
        const cause = error.cause as ApplicationFailure;
        return { failure: { message: cause.message, type: cause.type, details: cause.details?.[0] as RolloutFailureDetails } };
      }
    });
  /** Blue serves v1 at 100 %; @production is v1. */
  const liveBlue = (failWhen?: (call: string) => boolean, failUndo?: (call: string) => boolean) =>
    standInEndpoint({ live: { colour: 'blue', version: '1' }, modelName, failWhen, failUndo });
  const callsAfter = (calls: string[], call: string) => calls.slice(calls.indexOf(call) + 1);

  it('a successful rollout: green by plan, aliases moved, blue removed', async () => {
    const target = liveBlue();
    const { result } = await rollout(target);
    assert.equal(result?.colour, 'green');
    assert.equal(result?.previousColour, 'blue');
    assert.equal(result?.previousVersion, '1');
    assert.deepEqual(
      target.calls.filter((c) => c !== 'describeEndpoint'),
      [
        'ensureEndpoint',
        'deployModel green',
        'healthCheck green',
        'setTraffic {"green":50,"blue":50}',
        'analyzeBake green',
        'setTraffic {"green":100}',
        'analyzeBake green',
        'setModelAlias production=2',
        'setModelAlias previous=1',
        'deleteDeployment blue',
      ],
    );
    assert.deepEqual(result?.traffic, { green: 100 });
    assert.deepEqual(target.aliases, { production: '2', previous: '1' });
    assert.deepEqual(
      result?.steps.filter((s) => s.action === 'bake passed').map((s) => s.detail!.split(':')[0]),
      ['50 %', '100 %'],
    );
    assert.equal(result?.cleanup, 'deleted blue after 0s');
  });

  const cases: { at: string; fail: (call: string) => boolean; failed: string; undone: string[]; undoCalls: string[] }[] = [
    { at: 'deploy', fail: (c) => c === 'deployModel green', failed: 'deploying to green', undone: ['deleted deployment green'], undoCalls: ['deleteDeployment green'] },
    { at: 'health checks', fail: (c) => c === 'healthCheck green', failed: 'health checks on green', undone: ['deleted deployment green'], undoCalls: ['deleteDeployment green'] },
    {
      at: 'the first traffic step',
      fail: (c) => c === 'setTraffic {"green":50,"blue":50}',
      failed: 'traffic step 50 %',
      undone: ['restored traffic to {"blue":100}', 'deleted deployment green'],
      undoCalls: ['setTraffic {"blue":100}', 'deleteDeployment green'],
    },
    {
      at: 'the last traffic step',
      fail: (c) => c === 'setTraffic {"green":100}',
      failed: 'traffic step 100 %',
      undone: ['restored traffic to {"blue":100}', 'deleted deployment green'],
      undoCalls: ['setTraffic {"blue":100}', 'deleteDeployment green'],
    },
    {
      at: 'a bake analysis',
      fail: (c) => c === 'analyzeBake green',
      failed: 'bake analysis at 50 %',
      undone: ['restored traffic to {"blue":100}', 'deleted deployment green'],
      undoCalls: ['setTraffic {"blue":100}', 'deleteDeployment green'],
    },
    {
      at: 'moving @previous',
      fail: (c) => c === 'setModelAlias previous=1',
      failed: 'moving aliases',
      undone: ['restored @production to 1', 'restored traffic to {"blue":100}', 'deleted deployment green'],
      undoCalls: ['setModelAlias production=1', 'setTraffic {"blue":100}', 'deleteDeployment green'],
    },
  ];
  for (const c of cases) {
    it(`fails at ${c.at}: undoes in reverse order and says what it undid`, async () => {
      const target = liveBlue(c.fail);
      const { failure } = await rollout(target);
      const failedCall = target.calls.find((call) => c.fail(call))!;
      assert.deepEqual(callsAfter(target.calls, failedCall), c.undoCalls, 'the undo calls, newest first, and nothing else');
      assert.equal(failure?.type, 'RolloutFailed');
      assert.equal(failure?.message, `rollout failed at ${c.failed}: injected failure at ${failedCall}. Rolled back: ${c.undone.join('; ')}`);
      assert.deepEqual([failure?.details.failed, failure?.details.undone, failure?.details.undoFailures], [c.failed, c.undone, []]);
      assert.deepEqual(failure?.details.evidence, { evidence: failedCall }, "the failed step's evidence is passed on");
      assert.equal(failure?.details.steps.at(-1)?.action, 'rolled back');
      assert.deepEqual([target.state.traffic, target.state.deployments.map((d) => d.name), target.aliases.production], [{ blue: 100 }, ['blue'], '1'], 'back exactly as before');
    });
  }

  it('a first release that fails deletes the deployment and the endpoint it created', async () => {
    const target = standInEndpoint({ modelName, failWhen: (c) => c === 'healthCheck blue' });
    const { failure } = await rollout(target);
    assert.deepEqual(callsAfter(target.calls, 'healthCheck blue'), ['deleteDeployment blue', 'deleteEndpoint']);
    assert.deepEqual(failure?.details.undone, ['deleted deployment blue', `deleted endpoint ${endpoint} (created by this rollout)`]);
    assert.equal(target.state.exists, false);
  });

  it('an undo that fails is reported with the others still done', async () => {
    const target = liveBlue(
      (c) => c === 'analyzeBake green',
      (c) => c === 'setTraffic {"blue":100}',
    );
    const { failure } = await rollout(target);
    assert.deepEqual(callsAfter(target.calls, 'analyzeBake green'), ['setTraffic {"blue":100}', 'deleteDeployment green']);
    assert.deepEqual(failure?.details.undone, ['deleted deployment green']);
    assert.deepEqual(failure?.details.undoFailures, ['restored traffic to {"blue":100}: FAILED (injected failure at setTraffic {"blue":100})']);
    assert.match(failure!.message, /Rolled back: deleted deployment green\. UNDO FAILURES: restored traffic to \{"blue":100\}: FAILED/);
  });

  it('a rollout cancelled while baking undoes and fails as RolloutCancelled with what it undid', async () => {
    const target = liveBlue();
    const input = rolloutInput({ bakeTime: '1h' });
    await withStandIns(env, target.activities, async (taskQueue) => {
      const handle = await env.client.workflow.start('blueGreenRollout', { taskQueue, workflowId: `undo-cancel-${Date.now()}`, args: [input] });
      while (!target.calls.includes('setTraffic {"green":50,"blue":50}')) await new Promise((resolve) => setTimeout(resolve, 50));
      await handle.cancel();
      await assert.rejects(handle.result(), (error: unknown) => {
        assert.ok(error instanceof WorkflowFailedError);
        const cause = error.cause as ApplicationFailure;
        assert.equal(cause.type, 'RolloutCancelled');
        assert.equal(cause.message, 'rollout cancelled at traffic step 50 %. Rolled back: restored traffic to {"blue":100}; deleted deployment green');
        return true;
      });
    });
    assert.deepEqual(callsAfter(target.calls, 'setTraffic {"green":50,"blue":50}'), ['setTraffic {"blue":100}', 'deleteDeployment green']);
  });
});
