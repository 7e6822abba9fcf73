// One rollout per endpoint, on the test run's real Temporal, MLflow and local endpoint server: two deploys and two
// releases racing to one endpoint take turns (the end state is one deployment at 100 %, no orphan), each command
// says whether it waited and behind whom, a holder that is terminated does not keep the endpoint, and cancelled
// runs leave. The queue's order (first come first served) is tested with a stand-in target in
// test/endpoint-lock-queue.test.ts. The cases run side by side: each has its endpoint, its workers and its models
// (the run's shared model, test/support/shared-model.ts, registered again under each name), so they share nothing
// but the servers.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { projectRoot } from '../src/config/environment';
import { loadConfig } from '../src/config/load';
import { generateBankingCsv } from '../src/data/generate';
import { LocalTarget } from '../src/targets/local';
import { endpointLockId, type HoldProgress } from '../src/workflows/endpoint-lock-api';
import { operatorProgressQuery, rolloutSettingsOf } from '../src/workflows/operator-api';
import type { ReleaseResult } from '../src/workflows/release-api';
import { runCli } from './support/cli';
import { registerAgain } from './support/registered-copy';
import { sharedModel } from './support/shared-model';
import { connectTestEnvironment, requireEnv, withWorkers } from './support/temporal';

const dir = mkdtempSync(join(tmpdir(), 'modelship-endpoint-lock-'));
const dataPath = join(dir, 'bank.csv');
const modelName = `lock-test-${Date.now()}`;
const stamp = Date.now().toString(36);
process.env.MODELSHIP_ARTIFACTS_DIR = join(dir, 'workflow_artifacts');

const target = () => new LocalTarget(requireEnv('MODELSHIP_ENDPOINT_URL'), join(requireEnv('MODELSHIP_TEST_STATE_DIR'), 'serving'));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The end state every race must leave: one deployment, serving `version` at 100 %. */
async function assertOneDeployment(endpoint: string, version: string) {
  const state = await target().describeEndpoint(endpoint);
  assert.equal(state.deployments.length, 1, `one deployment, no orphan: ${JSON.stringify(state.deployments)}`);
  const [only] = state.deployments;
  assert.deepEqual(state.traffic, { [only!.name]: 100 });
  assert.equal(only!.modelVersion, version, 'the rollout that went last is the one serving');
}

describe('one rollout per endpoint', { concurrency: true }, () => {
  let env: TestWorkflowEnvironment;
  // A config the CLI reads: quick training, a bake long enough that racing rollouts would overlap without the lock.
  const configPath = join(dir, 'config.yaml');
  const configText = (bake: string, model = modelName) =>
    readFileSync(join(projectRoot, 'config/default.yaml'), 'utf8')
      .replace(/^input_data_path: .*$/m, `input_data_path: ${dataPath}`)
      .replace(/^model_name: .*$/m, `model_name: ${model}`)
      .replace(/^n_iter: .*$/m, 'n_iter: 1')
      .replace(/^cv_folds: .*$/m, 'cv_folds: 2')
      .replace(/^model_families: .*$/m, 'model_families: [logistic_regression]')
      .replace(/^min_roc_auc: .*$/m, 'min_roc_auc: 0.5')
      .replace(/^min_f1: .*$/m, 'min_f1: 0')
      .replace(/^min_accuracy: .*$/m, 'min_accuracy: 0')
      .replace(/^max_regression: .*$/m, 'max_regression: 1')
      .replace(/^bake_time: .*$/m, `bake_time: ${bake}`)
      .replace(/^termination_wait: .*$/m, 'termination_wait: 0s')
      // The lock is under test, not latency: two rollouts and a release share two cores with other test files.
      .replace(/^max_latency_ms: .*$/m, 'max_latency_ms: 2000');

  /** Versions 1 and 2 of a model of the case's own: the shared model registered again, twice. */
  const twoVersions = async (model: string) => {
    const shared = await sharedModel(env);
    assert.deepEqual([await registerAgain(shared.name, shared.version, model), await registerAgain(shared.name, shared.version, model)], ['1', '2']);
    return model;
  };
  /** A deploy workflow as `modelship deploy` starts it, named after its endpoint. */
  const startDeploy = (queues: { orchestration: string }, endpoint: string, model: string, name: string, version: string, bakeTime: string) =>
    env.client.workflow.start('deployRegisteredModel', {
      taskQueue: queues.orchestration,
      workflowId: `deploy-${endpoint}-${name}`,
      args: [{ target: 'local', endpoint, modelUri: `models:/${model}/${version}`, settings: { ...rolloutSettingsOf(loadConfig({ path: configPath }).config), bakeTime } }],
    });
  const untilHold = async (handle: WorkflowHandle, state: HoldProgress['state']) => {
    while ((await handle.query(operatorProgressQuery).catch(() => undefined))?.state !== state) await sleep(200);
  };

  before(async () => {
    env = await connectTestEnvironment();
    await generateBankingCsv({ rows: 1000, seed: 11, out: dataPath });
    writeFileSync(configPath, configText('4s'));
    await sharedModel(env);
  });
  after(async () => {
    await env?.teardown();
  });

  it('two `modelship deploy --wait` at the same moment: one rolls out, the other waits its turn and says behind whom', async () => {
    const endpoint = `lock-deploy-${stamp}`;
    const model = await twoVersions(`${modelName}-deploy`);
    await withWorkers(env, async (queues) => {
      const cliEnv = { MODELSHIP_TASK_QUEUE: queues.orchestration };
      const deploy = (version: string) => runCli(['deploy', '--model-uri', `models:/${model}/${version}`, '--endpoint-name', endpoint, '--config', configPath, '--wait'], cliEnv);
      const results = await Promise.all([deploy('1'), deploy('2')]);
      for (const r of results) assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const outputs = results.map((r) => r.stdout);
      const waitedIndex = outputs.findIndex((o) => /waiting for endpoint lock-deploy-\S+, held by deploy-lock-deploy-\S+ \(deploy models:\//.test(o));
      assert.ok(waitedIndex >= 0, `one deploy waited:\n${outputs.join('\n---\n')}`);
      assert.match(outputs[waitedIndex]!, /holds endpoint \S+ after waiting \d+ s behind deploy-lock-deploy-/);
      assert.match(outputs[waitedIndex]!, /deployed to (blue|green) of/);
      assert.match(outputs[1 - waitedIndex]!, /holds endpoint \S+ \(it was free\): rolling out/);
      assert.doesNotMatch(outputs[1 - waitedIndex]!, /waiting for endpoint/);
      await assertOneDeployment(endpoint, waitedIndex === 0 ? '1' : '2');

      const shown = await runCli(['endpoint', 'show', endpoint], cliEnv);
      assert.match(shown.stdout, /rollouts: free/);
    });
  });

  it('two releases racing to deploy: their rollouts never overlap, one waits and says so in its output and status', async () => {
    const endpoint = `lock-release-${stamp}`;
    // Two models (one release of a model runs at a time): the first releases its version 1, the second its version 2.
    const models = [await twoVersions(`${modelName}-a`), await twoVersions(`${modelName}-b`)];
    const configs = models.map((model) => {
      const config = join(dir, `release-${model}.yaml`);
      writeFileSync(config, configText('4s', model).replace(/^endpoint_name: .*$/m, `endpoint_name: ${endpoint}`));
      return config;
    });
    await withWorkers(env, async (queues) => {
      const cliEnv = { MODELSHIP_TASK_QUEUE: queues.orchestration, MODELSHIP_TRAINING_TASK_QUEUE: queues.training };
      const release = (index: number) =>
        runCli(
          ['start', '--config', configs[index]!, '--skip-training', '--model-uri', `models:/${models[index]}/${index + 1}`, '--skip-local-testing', '--auto-approve', '--wait'],
          cliEnv,
        );
      const results = await Promise.all([release(0), release(1)]);
      for (const r of results) assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const outputs = results.map((r) => r.stdout);
      const waitedIndex = outputs.findIndex((o) => /… deploy: waiting for endpoint \S+, held by release-\S+ \(release of \S+ v\d/.test(o));
      assert.ok(waitedIndex >= 0, `one release waited for the endpoint:\n${outputs.join('\n---\n')}`);
      assert.match(outputs[waitedIndex]!, /… deploy: holds endpoint \S+ after waiting \d+ s behind release-/);
      assert.match(outputs[waitedIndex]!, /served: +\S+ serves .*; waited \d+ s for the endpoint behind release-/);
      assert.match(outputs[1 - waitedIndex]!, /… deploy: holds endpoint \S+ \(it was free\)/);

      // The invariant itself: the two rollout child workflows (found in each release's history) ran one after the other.
      const ids = outputs.map((o) => /started (\S+)/.exec(o)![1]!);
      const spans = await Promise.all(
        ids.map(async (id) => {
          const { events } = await env.client.workflow.getHandle(id).fetchHistory();
          const rollout = events?.find((e) => e.childWorkflowExecutionStartedEventAttributes?.workflowType?.name === 'blueGreenRollout')
            ?.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
          assert.ok(rollout?.workflowId, `${id} started no rollout`);
          const d = await env.client.workflow.getHandle(rollout.workflowId, rollout.runId ?? undefined).describe();
          return [d.startTime.getTime(), d.closeTime!.getTime()] as const;
        }),
      );
      const [a, b] = spans.sort((x, y) => x[0] - y[0]);
      assert.ok(a![1] <= b![0], `rollouts overlapped: ${JSON.stringify(spans)}`);

      const waiter = (await env.client.workflow.getHandle(ids[waitedIndex]!).result()) as ReleaseResult;
      assert.equal(waiter.endpointHold?.state, 'released');
      assert.equal(waiter.endpointHold?.waitedBehind, ids[1 - waitedIndex]);
      await assertOneDeployment(endpoint, waitedIndex === 0 ? '1' : '2');
    });
  });

  it('endpoint show and status name the holder and the waiter; a terminated holder does not keep the endpoint', async () => {
    const endpoint = `lock-dead-${stamp}`;
    const model = await twoVersions(`${modelName}-dead`);
    await withWorkers(env, async (queues) => {
      const stuck = await startDeploy(queues, endpoint, model, 'v1', '1', '10m');
      await untilHold(stuck, 'holding');
      const next = await startDeploy(queues, endpoint, model, 'v2', '2', '1s');
      await untilHold(next, 'waiting');
      while (!(await target().describeEndpoint(endpoint)).exists) await sleep(200);
      const shown = await runCli(['endpoint', 'show', endpoint], { MODELSHIP_TASK_QUEUE: queues.orchestration });
      assert.match(
        shown.stdout,
        new RegExp(`rollouts: held by ${stuck.workflowId} \\(deploy models:/${model}/1, since [\\d:]+ UTC\\)\n +waiting 1: ${next.workflowId} \\(deploy models:/${model}/2\\)`),
        shown.stdout,
      );
      const status = await runCli(['status', next.workflowId], { MODELSHIP_TASK_QUEUE: queues.orchestration });
      assert.match(status.stdout, new RegExp(`waiting for endpoint ${endpoint}, held by ${stuck.workflowId}`), status.stdout);
      await stuck.terminate('test: a holder that dies without releasing');
      const result = await next.result();
      assert.equal(result.outcome, 'succeeded');
      const hold = await next.query(operatorProgressQuery);
      assert.equal(hold?.waitedBehind, stuck.workflowId);
      const lock = await env.client.workflow.getHandle(endpointLockId('local', endpoint)).result();
      assert.ok(
        lock.recent.some((e: string) => /deploy-\S+-v1 ended without releasing it \(TERMINATED\); released/.test(e)),
        lock.recent.join('\n'),
      );
      await assertOneDeployment(endpoint, '2');
    });
  });

  it('a cancelled waiter stops waiting and a cancelled holder undoes its rollout, then leaves: the lock ends free', async () => {
    const endpoint = `lock-cancel-${stamp}`;
    const model = await twoVersions(`${modelName}-cancel`);
    await withWorkers(env, async (queues) => {
      const holder = await startDeploy(queues, endpoint, model, 'v1', '1', '10m');
      await untilHold(holder, 'holding');
      const waiter = await startDeploy(queues, endpoint, model, 'v2', '2', '10m');
      await untilHold(waiter, 'waiting');
      while ((await target().describeEndpoint(endpoint)).traffic.blue !== 100) await sleep(200); // baking at 100 %

      await waiter.cancel();
      await assert.rejects(waiter.result());
      await holder.cancel();
      await assert.rejects(holder.result());
      const lock = await env.client.workflow.getHandle(endpointLockId('local', endpoint)).result();
      assert.equal(lock.holder, undefined);
      assert.deepEqual(lock.waiting, []);
      const events = lock.recent.join('\n');
      assert.match(events, new RegExp(`${waiter.workflowId} stopped waiting: stopped waiting \\(ended: .*cancel`, 'i'));
      assert.match(events, new RegExp(`${holder.workflowId} released it: ended: rollout cancelled at .*Rolled back: .*deleted endpoint`));
      assert.equal((await target().describeEndpoint(endpoint)).exists, false, 'the cancelled rollout deleted the endpoint it had created');
    });
  });
});
