// Restart anything, at any moment: each part of a running stack is stopped and started again in the middle of a
// release (MLflow during registration, the endpoint server during a bake, the Temporal server during a rollout
// watched by `modelship start --wait`). Each release finishes correctly, says what it waits for, and loses nothing.
// The file runs its own stack (persisted Temporal, so a restart keeps history) on free ports.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { parse, stringify } from 'yaml';
import { EmbeddedStack, freePort } from '../src/client/embedded-stack';
import { pendingWork, startRelease } from '../src/client/release';
import { projectRoot } from '../src/config/environment';
import { loadConfig } from '../src/config/load';
import type { ReleaseConfigInput } from '../src/config/schema';
import { generateBankingCsv } from '../src/data/generate';
import { MlflowClient } from '../src/registry/mlflow';
import { LocalTarget } from '../src/targets/local';
import { statusQuery, type ReleaseResult } from '../src/workflows/release-api';
import { runCli } from './support/cli';
import { PASSING_GATES } from './support/release';
import { workerNodeArgs } from './support/bundles';

describe('restarting one part of the stack mid-release', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-restarts-'));
  const modelName = `restarts-${Date.now().toString(36)}`;
  const endpoint = `restarts-${Date.now().toString(36)}`;
  let stack: EmbeddedStack;
  let connection: Connection | undefined;
  let client: Client;
  let target: LocalTarget;
  let cliEnv: Record<string, string>;

  const settings = {
    input_data_path: join(dir, 'bank.csv'),
    model_name: modelName,
    endpoint_name: endpoint,
    // The least training there is: the outages come after it.
    n_iter: 1,
    cv_folds: 2,
    model_families: ['logistic_regression'],
    auto_approve_deployment: true,
    skip_local_testing: true,
    termination_wait: '0s',
    bake_time: '0s',
    ...PASSING_GATES,
  } satisfies Partial<ReleaseConfigInput>;
  const configFor = (overrides: Partial<ReleaseConfigInput>) => loadConfig({ path: join(projectRoot, 'config/default.yaml'), overrides: { ...settings, ...overrides } }).config;
  const stepStatus = async (id: string, step: string) =>
    (
      await client.workflow
        .getHandle(id)
        .query(statusQuery)
        .catch(() => undefined)
    )?.steps.find((s) => s.name === step)?.status;
  const waitFor = async (what: string, test: () => Promise<boolean>, seconds = 120) => {
    for (let i = 0; i < seconds * 4; i++) {
      if (await test().catch(() => false)) return;
      await sleep(250);
    }
    assert.fail(`timed out waiting for ${what}`);
  };

  before(async () => {
    stack = await EmbeddedStack.start({
      stateDir: join(dir, 'state'),
      ports: { temporal: await freePort(), mlflow: await freePort(), endpoint: await freePort() },
      persistTemporal: true,
      modelship: { command: process.execPath, args: [...workerNodeArgs(), join(projectRoot, 'src/client/cli.ts')] },
      readyTimeoutMs: 180_000,
    });
    connection = await Connection.connect({ address: stack.temporalAddress });
    client = new Client({ connection, namespace: stack.namespace });
    process.env.MODELSHIP_ARTIFACTS_DIR = join(dir, 'workflow_artifacts');
    cliEnv = { ...(stack.env as Record<string, string>), MODELSHIP_ARTIFACTS_DIR: process.env.MODELSHIP_ARTIFACTS_DIR };
    target = new LocalTarget(stack.endpointUrl!, join(dir, 'state', 'serving'));
    await generateBankingCsv({ rows: 1500, seed: 11, out: join(dir, 'bank.csv') });
  });
  after(async () => {
    await connection?.close();
    await stack?.stop();
  });

  it('MLflow down during registration: the release says it retries, waits, and registers exactly one version', async () => {
    const handle = await startRelease(client, stack.namespace, configFor({}), { queues: stack.queues });
    await waitFor('training to finish', async () => (await stepStatus(handle.workflowId, 'train')) === 'succeeded', 240);
    await stack.stopPart('mlflow');
    const downSince = Date.now();
    // The old retry policy (5 attempts from 1 s) gave up after about 15 s: stay down longer than that.
    const saysRetrying = /MLflow at http:\/\/127\.0\.0\.1:\d+ is unreachable.*retrying \(attempt [2-9]\)/;
    // Watched from here (a query), then asked of `modelship status` (a process of its own each time).
    await waitFor('a retry after the MLflow outage', async () => (await pendingWork(handle)).some((line) => saysRetrying.test(line)), 60);
    let status = '';
    await waitFor(
      'status to name the MLflow outage',
      async () => {
        status = (await runCli(['status', handle.workflowId], cliEnv)).stdout;
        return saysRetrying.test(status);
      },
      60,
    );
    const remaining = 20_000 - (Date.now() - downSince);
    if (remaining > 0) await sleep(remaining);
    await stack.startPart('mlflow');

    const result = (await handle.result()) as ReleaseResult;
    assert.equal(result.outcome, 'succeeded', result.error);
    // Evaluation keeps its scores in MLflow too: whichever step met the outage says it retries.
    assert.match(status, /^(evaluate|gates|register): \w+: MLflow at .* is unreachable/m, status);
    const versions = await new MlflowClient(stack.mlflowUri).searchVersions(`name='${modelName}'`);
    assert.equal(versions.length, 1, 'exactly one model version');
    assert.deepEqual((await target.describeEndpoint(endpoint)).traffic, { blue: 100 });
  });

  it('the endpoint server restarted during a bake: the rollout finishes, traffic and deployments as planned', async () => {
    const handle = await startRelease(client, stack.namespace, configFor({ skip_training: true, traffic_plan: [50, 100], bake_time: '8s' }), {
      queues: stack.queues,
      modelUri: `models:/${modelName}/1`,
    });
    await waitFor('the 50 % bake', async () => (await target.describeEndpoint(endpoint)).traffic.green === 50);
    await stack.stopPart('endpoints');
    await sleep(2_000);
    await stack.startPart('endpoints');
    assert.deepEqual((await target.describeEndpoint(endpoint)).traffic, { green: 50, blue: 50 }, 'the restart kept the traffic split');

    const result = (await handle.result()) as ReleaseResult;
    assert.equal(result.outcome, 'succeeded', result.error);
    const state = await target.describeEndpoint(endpoint);
    assert.deepEqual(state.traffic, { green: 100 });
    assert.deepEqual(
      state.deployments.map((d) => d.name),
      ['green'],
    );
  });

  it('the Temporal server restarted mid-rollout: `start --wait` rides it out and the release finishes', async () => {
    // The CLI reads a config file: the default one with this test's settings.
    const config = join(dir, 'release.yaml');
    const defaults = parse(readFileSync(join(projectRoot, 'config/default.yaml'), 'utf8')) as Record<string, unknown>;
    // The bakes only have to outlast stopping Temporal: the restart lands in the rollout whenever the 50 % step is seen.
    writeFileSync(config, stringify({ ...defaults, ...settings, traffic_plan: [50, 100], bake_time: '4s' }));
    const watcher = runCli(['start', '--config', config, '--skip-training', '--model-uri', `models:/${modelName}/1`, '--wait'], cliEnv);
    await waitFor('the 50 % bake', async () => (await target.describeEndpoint(endpoint)).traffic.blue === 50);
    await stack.stopPart('temporal');
    await sleep(3_000);
    await stack.startPart('temporal');

    const { code, stdout, stderr } = await watcher;
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    assert.match(stdout, /outcome: succeeded/, stdout);
    // (A short outage is retried inside the client itself; a longer one is said: see test/watcher.test.ts.)
    const state = await target.describeEndpoint(endpoint);
    assert.deepEqual(state.traffic, { blue: 100 });
    assert.deepEqual(
      state.deployments.map((d) => d.name),
      ['blue'],
    );
  });
});
