// Blue-green rollouts through the release workflow, on the real Temporal server, MLflow and the local endpoint
// server of the test run: colours alternate, health checks refuse a faulty deployment, a deployment that crashes
// rolls back to exactly the previous state, and continuous traffic during a successful rollout sees no failed
// request. The undo of a failure at each step is tested with a stand-in target in test/rollout-undo.test.ts. The
// releases deploy the run's shared model (test/support/shared-model.ts) registered again as this file's versions:
// training in a release is test/release-workflow.test.ts's.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import { createOrchestrationActivities } from '../src/activities';
import { startRelease } from '../src/client/release';
import { failureMessage } from '../src/client/temporal';
import { projectRoot } from '../src/config/environment';
import { loadConfig } from '../src/config/load';
import type { ReleaseConfigInput } from '../src/config/schema';
import { generateBankingCsv } from '../src/data/generate';
import { MlflowClient } from '../src/registry/mlflow';
import { adminToken } from '../src/serving/admin-token';
import type { Faults } from '../src/serving/endpoint-server';
import { LocalTarget } from '../src/targets/local';
import type { ReleaseResult } from '../src/workflows/release-api';
import { rolloutSettingsOf, type RollbackResult } from '../src/workflows/operator-api';
import { runCli } from './support/cli';
import { lenientGates, releaseConfig } from './support/release';
import { startFileWorkers, type FileWorkers } from './support/file-workers';
import { registerAgain } from './support/registered-copy';
import { sharedModel } from './support/shared-model';
import { connectTestEnvironment, mlflowUri, requireEnv } from './support/temporal';

const dir = mkdtempSync(join(tmpdir(), 'modelship-rollout-'));
const dataPath = join(dir, 'bank.csv');
const modelName = `rollout-test-${Date.now()}`;
const endpoint = `ep-${Date.now().toString(36)}`;
process.env.MODELSHIP_ARTIFACTS_DIR = join(dir, 'workflow_artifacts');

describe('blue-green rollout', () => {
  let env: TestWorkflowEnvironment;
  let workers: FileWorkers;
  const servingDir = () => join(requireEnv('MODELSHIP_TEST_STATE_DIR'), 'serving');
  const target = () => new LocalTarget(requireEnv('MODELSHIP_ENDPOINT_URL'), servingDir());
  const registry = () => new MlflowClient(mlflowUri());
  const injectFaults = async (deployment: string, faults: Faults) => {
    const response = await fetch(`${requireEnv('MODELSHIP_ENDPOINT_URL')}/admin/endpoints/${endpoint}/deployments/${deployment}/faults`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminToken(servingDir())}` },
      body: JSON.stringify(faults),
    });
    assert.equal(response.status, 200);
  };

  const release = async (overrides: Partial<ReleaseConfigInput>, modelUri: string) => {
    // A latency limit no loaded test machine misses: these releases are about colours, aliases and rollbacks; the
    // latency check itself is the health-check test's, and the local test suite is test/release-workflow.test.ts's.
    const config = releaseConfig({
      input_data_path: dataPath,
      model_name: modelName,
      endpoint_name: endpoint,
      skip_training: true,
      auto_approve_deployment: true,
      skip_local_testing: true,
      max_latency_ms: 2000,
      bake_time: '1s',
      termination_wait: '0s',
      ...lenientGates,
      ...overrides,
    });
    const handle = await startRelease(env.client, env.namespace ?? 'default', config, { queues: workers.queues, modelUri });
    return (await handle.result()) as ReleaseResult;
  };

  before(async () => {
    env = await connectTestEnvironment();
    workers = await startFileWorkers(env);
    await generateBankingCsv({ rows: 1000, seed: 21, out: dataPath });
    const shared = await sharedModel(env);
    assert.equal(await registerAgain(shared.name, shared.version, modelName), '1');
  });
  after(async () => {
    await workers?.stop();
    await env?.teardown();
  });

  it('goes blue → green → blue over three releases, moving @production and @previous and cleaning up', async () => {
    const first = await release({}, `models:/${modelName}/1`);
    assert.equal(first.outcome, 'succeeded', first.error);
    assert.equal(first.deployment?.colour, 'blue');
    assert.deepEqual((await target().describeEndpoint(endpoint)).traffic, { blue: 100 });

    // Version 2 is the same model again: colours and aliases tell versions apart, not models.
    assert.equal(await registerAgain(modelName, '1'), '2');
    const second = await release({}, `models:/${modelName}/2`);
    assert.equal(second.deployment?.colour, 'green');
    assert.equal(second.deployment?.previousColour, 'blue');
    let state = await target().describeEndpoint(endpoint);
    assert.deepEqual(state.traffic, { green: 100 });
    assert.deepEqual(
      state.deployments.map((d) => d.name),
      ['green'],
      'the old colour was deleted',
    );
    assert.equal((await registry().resolve(`models:/${modelName}@production`)).version, '2');
    assert.equal((await registry().resolve(`models:/${modelName}@previous`)).version, '1');

    const third = await release({}, `models:/${modelName}/1`);
    assert.equal(third.deployment?.colour, 'blue');
    state = await target().describeEndpoint(endpoint);
    assert.deepEqual(state.traffic, { blue: 100 });
    assert.equal(state.deployments[0]!.modelVersion, '1');
    assert.equal((await registry().resolve(`models:/${modelName}@production`)).version, '1');
    assert.equal((await registry().resolve(`models:/${modelName}@previous`)).version, '2');
  });

  const rolledBack = async (faults: Faults, pattern: RegExp, evidence?: RegExp) => {
    const before = await target().describeEndpoint(endpoint);
    const production = (await registry().resolve(`models:/${modelName}@production`)).version;
    await injectFaults('green', faults);
    await assert.rejects(release({ traffic_plan: [50, 100] }, `models:/${modelName}/2`), (error: unknown) => {
      assert.ok(error instanceof WorkflowFailedError);
      assert.match(failureMessage(error), pattern);
      assert.match(failureMessage(error), /Rolled back: .*deleted deployment green/);
      return true;
    });
    await injectFaults('green', {});
    if (evidence) {
      const { readdirSync, readFileSync, statSync } = await import('node:fs');
      const root = process.env.MODELSHIP_ARTIFACTS_DIR!;
      const latest = readdirSync(root)
        .map((d) => join(root, d))
        .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]!;
      const report = JSON.parse(readFileSync(join(latest, 'workflow_report.json'), 'utf8'));
      assert.match(JSON.stringify(report.failure_details), evidence);
      assert.deepEqual(report.failure_details.undone, ['deleted deployment green']);
    }
    const after = await target().describeEndpoint(endpoint);
    assert.deepEqual(after.traffic, before.traffic, 'traffic is back exactly as it was');
    assert.deepEqual(
      after.deployments.map((d) => `${d.name}:${d.modelVersion}`),
      before.deployments.map((d) => `${d.name}:${d.modelVersion}`),
    );
    assert.equal((await registry().resolve(`models:/${modelName}@production`)).version, production, '@production unchanged');
  };

  it('health checks refuse a deployment that answers errors, is too slow, or gives wrong predictions', async () => {
    // The checks themselves, on a real green deployment with injected faults; what a release undoes when they fail is
    // shown by the crash-on-load rollback below and, step by step, by test/rollout-undo.test.ts.
    const before = await target().describeEndpoint(endpoint);
    const activities = createOrchestrationActivities({
      mlflowUri: mlflowUri(),
      stateDir: requireEnv('MODELSHIP_TEST_STATE_DIR'),
      endpointUrl: requireEnv('MODELSHIP_ENDPOINT_URL'),
    });
    const settings = rolloutSettingsOf(loadConfig({ path: join(projectRoot, 'config/default.yaml') }).config);
    const registered = await activities.resolveRegisteredModel(`models:/${modelName}/2`); // no activity context needed
    const green = { target: 'local' as const, endpoint, deployment: 'green', model: { name: registered.name, version: registered.version, train: registered.train } };
    await new MockActivityEnvironment().run(activities.deployModel, green);
    const refused = async (faults: Faults, pattern: RegExp) => {
      await injectFaults('green', faults);
      await assert.rejects(
        new MockActivityEnvironment().run(activities.healthCheck, { ...green, maxLatencyMs: settings.maxLatencyMs, maxErrorRate: settings.maxErrorRate }),
        (error: unknown) => {
          assert.match((error as Error).message, pattern);
          return true;
        },
      );
    };
    try {
      await refused({ errorRate: 1 }, /health checks failed on green: golden_predictions .*error_rate \(50\/50 failed/);
      await refused({ latencyMs: 150 }, /health checks failed on green: latency_p95 \(p95 1\d\d\.\d\d ms over HTTP \(limit 100 ms\)\)/);
      await refused({ flipPredictions: true }, /health checks failed on green: golden_predictions \(50 answers, max \|Δp\| /);
    } finally {
      await injectFaults('green', {});
      await new MockActivityEnvironment().run(activities.deleteDeployment, green);
    }
    const after = await target().describeEndpoint(endpoint);
    assert.deepEqual(
      after.deployments.map((d) => `${d.name}:${d.modelVersion}`),
      before.deployments.map((d) => `${d.name}:${d.modelVersion}`),
    );
  });

  it('rolls back a deployment that crashes on load, with its logs in the report', async () => {
    await rolledBack({ crashOnLoad: true }, /rollout failed at deploying to green: deployment green did not start \(Failed: injected fault/, /FAILED to load: injected fault/);
  });

  it('serves continuous traffic through a stepped rollout with zero failed requests', async () => {
    const key = await target().endpointKey(endpoint);
    const record = {
      Age: 40,
      'Account Balance': 5000,
      'Loan Amount': 20000,
      'Interest Rate': 5,
      'Loan Term': 36,
      'Credit Limit': 5000,
      'Credit Card Balance': 1000,
      'Minimum Payment Due': 30,
      'Rewards Points': 100,
      'Date Of Account Opening': '1/2/2015',
      'Transaction Date': '3/4/2020',
      Gender: 'Male',
      City: 'Boston',
      'Account Type': 'Savings',
      'Transaction Type': 'Deposit',
      'Loan Type': 'Auto',
      'Loan Status': 'Approved',
      'Card Type': 'Visa',
      'Feedback Type': 'Compliment',
      'Resolution Status': 'Resolved',
    };
    const counts = { ok: 0, failed: 0, byDeployment: {} as Record<string, number> };
    let running = true;
    const load = (async () => {
      while (running) {
        const response = await fetch(`${requireEnv('MODELSHIP_ENDPOINT_URL')}/endpoints/${endpoint}/score`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify(record),
        }).catch(() => undefined);
        if (response?.status === 200) {
          counts.ok++;
          const deployment = response.headers.get('azureml-model-deployment')!;
          counts.byDeployment[deployment] = (counts.byDeployment[deployment] ?? 0) + 1;
        } else counts.failed++;
        await response?.arrayBuffer();
      }
    })();
    const result = await release({ traffic_plan: [10, 50, 100], shadow_percent: 50, shadow_time: '2s' }, `models:/${modelName}/2`).finally(() => (running = false));
    running = false;
    await load;
    assert.equal(result.outcome, 'succeeded', result.error);
    assert.equal(counts.failed, 0, `failed requests during the rollout: ${JSON.stringify(counts)}`);
    assert.ok(counts.ok > 100, `enough traffic was sent: ${JSON.stringify(counts)}`);
    assert.ok((counts.byDeployment.green ?? 0) > 0 && (counts.byDeployment.blue ?? 0) > 0, 'both colours served during the shift');
    const steps = result.deployment!.steps.filter((s) => s.action === 'bake passed').map((s) => s.detail!.split(':')[0]);
    assert.deepEqual(steps, ['10 %', '50 %', '100 %']);
    const shadow = result.deployment!.shadow!;
    assert.equal(shadow.percent, 50);
    assert.ok(shadow.compared > 0, 'mirrored requests were compared');
    assert.ok(shadow.agreementRate !== null && shadow.agreementRate >= 0 && shadow.agreementRate <= 1);
  });

  it('rolls back by redeploying @previous when the old colour is gone, and by traffic when it was kept', async () => {
    const config = loadConfig({ path: join(projectRoot, 'config/default.yaml'), overrides: { bake_time: '1s', termination_wait: '0s' } }).config;
    const settings = rolloutSettingsOf(config);
    const run = <R>(type: string, args: unknown[]) =>
      env.client.workflow.execute(type, { taskQueue: workers.queues.orchestration, workflowId: `${type}-${Date.now()}`, args }) as Promise<R>;
    const redeployed = await run<RollbackResult>('rollbackEndpoint', [{ target: 'local', endpoint, settings }]);
    assert.equal(redeployed.how, 'redeploy');
    assert.deepEqual((await target().describeEndpoint(endpoint)).traffic, { blue: 100 });
    assert.equal((await registry().resolve(`models:/${modelName}@production`)).version, '1');
    assert.equal((await registry().resolve(`models:/${modelName}@previous`)).version, '2');

    const deployed = await run<{ colour: string; cleanup: string }>('deployRegisteredModel', [
      { target: 'local', endpoint, modelUri: `models:/${modelName}/2`, settings: { ...settings, noCleanup: true } },
    ]);
    assert.equal(deployed.colour, 'green');
    assert.match(deployed.cleanup, /kept blue at 0 %/);

    const byTraffic = await run<RollbackResult>('rollbackEndpoint', [{ target: 'local', endpoint, settings }]);
    assert.equal(byTraffic.how, 'traffic');
    const state = await target().describeEndpoint(endpoint);
    assert.deepEqual(state.traffic, { blue: 100 });
    assert.deepEqual(state.deployments.map((d) => d.name).sort(), ['blue', 'green']);
    assert.equal((await registry().resolve(`models:/${modelName}@production`)).version, '1');
    assert.equal((await registry().resolve(`models:/${modelName}@previous`)).version, '2');
  });

  it('operator commands: endpoint show and key for scripts, rollback --wait', async () => {
    // Three read-only commands at once: each is a process of its own.
    const [shown, key, missing] = await Promise.all([
      runCli(['endpoint', 'show', endpoint, '--json']),
      runCli(['endpoint', 'key', endpoint]),
      runCli(['endpoint', 'show', 'no-such-endpoint']),
    ]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.deepEqual((JSON.parse(shown.stdout) as { traffic: Record<string, number> }).traffic, { blue: 100 });
    assert.equal(key.stdout.trim(), await target().endpointKey(endpoint), 'the key alone on stdout');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no endpoint named no-such-endpoint/);

    const config = join(dir, 'fast.yaml');
    const { readFileSync, writeFileSync } = await import('node:fs');
    writeFileSync(config, readFileSync(join(projectRoot, 'config/default.yaml'), 'utf8').replace(/^bake_time: .*$/m, 'bake_time: 0s'));
    const rolled = await runCli(['rollback', '--endpoint-name', endpoint, '--config', config, '--wait'], { MODELSHIP_TASK_QUEUE: workers.queues.orchestration });
    assert.equal(rolled.code, 0, rolled.stderr);
    assert.match(rolled.stdout, /rolled back .* by traffic: traffic moved back to green \(v2\)/);
    assert.deepEqual((await target().describeEndpoint(endpoint)).traffic, { green: 100 });
  });
});
