// The azure target through the release workflow, against the emulated Azure ML workspace (test/support/
// azure-emulator.ts: HTTPS, real paths and long-running operations, Azurite storage, deployments that really score):
// releases alternate colours, a failed provisioning rolls back with the container logs in the report, 409 and 429
// are waited out, a missing login fails before any change, and no secret reaches workflow history. The releases
// deploy the run's shared model (test/support/shared-model.ts) registered again as this file's versions.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TokenCredential } from '@azure/core-auth';
import { CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startRelease } from '../src/client/release';
import { failureMessage } from '../src/client/temporal';
import { projectRoot } from '../src/config/environment';
import { loadConfig } from '../src/config/load';
import type { ReleaseConfigInput } from '../src/config/schema';
import { generateBankingCsv } from '../src/data/generate';
import { readRecords } from '../src/evaluation/evaluate';
import type { InputContract } from '../src/model/input-contract';
import { MlflowClient } from '../src/registry/mlflow';
import { azureTargetFromEnv } from '../src/targets/azure/target';
import { azureSettingsFromEnv } from '../src/targets/azure/workspace';
import { rolloutSettingsOf, type RollbackResult } from '../src/workflows/operator-api';
import type { ReleaseResult } from '../src/workflows/release-api';
import { AzureMlEmulator } from './support/azure-emulator';
import { runCli } from './support/cli';
import { startScoringScript } from './support/scoring-script';
import { connectTestEnvironment, mlflowUri, withWorkers } from './support/temporal';
import { PASSING_GATES } from './support/release';
import { startFileWorkers, type FileWorkers } from './support/file-workers';
import { registerAgain } from './support/registered-copy';
import { sharedModel } from './support/shared-model';

const dir = mkdtempSync(join(tmpdir(), 'modelship-azure-'));
const dataPath = join(dir, 'bank.csv');
const modelName = `azure-test-${Date.now()}`;
const endpoint = `az-${Date.now().toString(36)}`;
process.env.MODELSHIP_ARTIFACTS_DIR = join(dir, 'workflow_artifacts');
const TOKEN = `emulator-token-${Date.now().toString(36)}`;
const staticCredential: TokenCredential = { getToken: async () => ({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };

describe('azure target (emulated workspace)', () => {
  let env: TestWorkflowEnvironment;
  let workers: FileWorkers;
  const emulator = new AzureMlEmulator();
  /** Every run started here, by run id: releases of one model may share a workflow id. */
  const runs: { workflowId: string; runId?: string }[] = [];
  const registry = () => new MlflowClient(mlflowUri());
  const target = () => azureTargetFromEnv(staticCredential);

  const releaseConfig = (overrides: Partial<ReleaseConfigInput>) =>
    loadConfig({
      path: join(projectRoot, 'config/default.yaml'),
      overrides: {
        input_data_path: dataPath,
        model_name: modelName,
        endpoint_name: endpoint,
        target: 'azure',
        n_iter: 1,
        cv_folds: 2,
        model_families: ['logistic_regression'],
        auto_approve_deployment: true,
        // The local test suite runs on the worker, whatever the target: test/release-workflow.test.ts has it.
        skip_local_testing: true,
        bake_time: '1s',
        termination_wait: '0s',
        ...PASSING_GATES,
        deployment_timeout: '2m',
        ...overrides,
      },
    }).config;
  /** Records of the sample data with the fields the model deployed to green takes. */
  const sampleRecords = (count: number) =>
    readRecords(dataPath, JSON.parse(readFileSync(join(emulator.modelDir(endpoint, 'green'), 'input_contract.json'), 'utf8')) as InputContract, count);

  const startRecorded = async (queues: FileWorkers['queues'], overrides: Partial<ReleaseConfigInput>, modelUri?: string) => {
    const handle = await startRelease(env.client, env.namespace ?? 'default', releaseConfig(overrides), { queues, modelUri });
    runs.push({ workflowId: handle.workflowId, runId: (await handle.describe()).runId });
    return handle;
  };
  /** A release on the file's workers (signed in with the static token), or on workers of its own with `credential`. */
  const release = async (overrides: Partial<ReleaseConfigInput>, options: { modelUri?: string; credential?: TokenCredential } = {}) => {
    const { credential } = options;
    if (!credential) return (await (await startRecorded(workers.queues, overrides, options.modelUri)).result()) as ReleaseResult;
    return withWorkers(env, async (queues) => (await (await startRecorded(queues, overrides, options.modelUri)).result()) as ReleaseResult, undefined, {
      azureCredential: credential,
    });
  };
  const latestReport = () => {
    const root = process.env.MODELSHIP_ARTIFACTS_DIR!;
    const latest = readdirSync(root)
      .map((d) => join(root, d))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]!;
    return JSON.parse(readFileSync(join(latest, 'workflow_report.json'), 'utf8'));
  };
  /** Green alone is deployed and takes all traffic: the state every rolled-back release here must leave. */
  const assertGreenAlone = async (why: string) => {
    const state = await target().describeEndpoint(endpoint);
    assert.deepEqual(state.traffic, { green: 100 });
    assert.deepEqual(
      state.deployments.map((d) => d.name),
      ['green'],
      why,
    );
  };
  /** Runs fn while every long-running operation of the emulator takes `ms`. */
  const withSlowOperations = async (ms: number, fn: () => Promise<void>) => {
    emulator.faults.operationMs = ms;
    try {
      await fn();
    } finally {
      emulator.faults.operationMs = undefined;
    }
  };
  const writes = () => emulator.requests.filter((r) => r.method !== 'GET' && !r.path.endsWith('/listSecrets') && !r.path.endsWith('/listKeys'));

  before(async () => {
    await emulator.start();
    Object.assign(process.env, emulator.env());
    env = await connectTestEnvironment();
    workers = await startFileWorkers(env, { azureCredential: staticCredential });
    // Trained (or awaited from another file) while the first test runs; the second awaits it.
    sharedModel(env).catch(() => undefined);
    await generateBankingCsv({ rows: 1000, seed: 33, out: dataPath });
  });
  after(async () => {
    await workers?.stop();
    await env?.teardown();
    await emulator.stop();
  });

  it('fails before any change when the worker has no Azure credentials, naming the fix', async () => {
    const noLogin: TokenCredential = {
      getToken: async () => Promise.reject(new Error('ChainedTokenCredential authentication failed.\nCredentialUnavailableError: EnvironmentCredential is unavailable.')),
    };
    await assert.rejects(release({}, { credential: noLogin }), (error: unknown) => {
      assert.ok(error instanceof WorkflowFailedError);
      assert.match(failureMessage(error), /no Azure credentials for workspace modelship-ws: .*tried EnvironmentCredential.*Fix: sign in with `az login`/);
      return true;
    });
    assert.deepEqual(writes(), [], 'nothing was changed in the workspace');
    await assert.rejects(registry().resolve(`models:/${modelName}/1`), 'no training was spent and no model registered');

    const unset = { ...process.env };
    delete unset.AZURE_WORKSPACE_NAME;
    assert.throws(() => azureSettingsFromEnv(unset), /target azure needs AZURE_WORKSPACE_NAME in the worker's environment.*Fix: export/);

    // The CLI with DefaultAzureCredential and no login anywhere: the same clear error, nothing changed.
    const shown = await runCli(['endpoint', 'show', endpoint, '--target', 'azure'], {
      AZURE_CLIENT_ID: '',
      AZURE_TENANT_ID: '',
      AZURE_CLIENT_SECRET: '',
      AZURE_FEDERATED_TOKEN_FILE: '',
    });
    assert.equal(shown.code, 1);
    assert.match(shown.stderr, /no Azure credentials for workspace modelship-ws: .*Fix: sign in with `az login`/);
    assert.deepEqual(writes(), []);
  });

  it('releases to the emulated workspace, and a second release flips colour through 409s and 429s', async () => {
    // Registered after the first test, which shows that nothing is registered when the login is missing.
    const shared = await sharedModel(env);
    assert.equal(await registerAgain(shared.name, shared.version, modelName), '1');
    const first = await release({ skip_training: true }, { modelUri: `models:/${modelName}/1` });
    assert.equal(first.outcome, 'succeeded', first.error);
    assert.equal(first.deployment?.colour, 'blue');
    let state = await target().describeEndpoint(endpoint);
    assert.deepEqual(state.traffic, { blue: 100 });
    assert.equal(state.deployments[0]!.modelVersion, '1');
    assert.deepEqual(
      (await target().listEndpoints()).map((e) => [e.endpoint, e.traffic]),
      [[endpoint, { blue: 100 }]],
    );
    const uploads = await emulator.blobs('LocalUpload/modelship/');
    assert.equal(uploads.filter((b) => b.endsWith('/model.onnx')).length, 1);
    assert.ok(uploads.some((b) => b.endsWith('/score.py')) && uploads.some((b) => b.endsWith('/records.py')), `code uploaded: ${uploads.join(', ')}`);

    // Scoring through the endpoint's URI with its key, as a client would.
    const probe = await target().probe(endpoint, 'blue', [{ Age: 40 }]);
    assert.equal(probe.status, 422);
    assert.match(JSON.stringify(probe.body), /missing field/);

    // Version 2 is the same model again: what follows is about the target, not about training.
    assert.equal(await registerAgain(modelName, '1'), '2');
    emulator.faults.conflicts = 2;
    emulator.faults.throttle = 2;
    const requestsBefore = emulator.requests.length;
    const second = await release({ skip_training: true }, { modelUri: `models:/${modelName}/2` });
    assert.equal(second.outcome, 'succeeded', second.error);
    assert.equal(second.deployment?.colour, 'green');
    state = await target().describeEndpoint(endpoint);
    assert.deepEqual(state.traffic, { green: 100 });
    assert.deepEqual(
      state.deployments.map((d) => `${d.name}:${d.modelVersion}`),
      ['green:2'],
      'blue was deleted after the shift',
    );
    const during = emulator.requests.slice(requestsBefore);
    assert.equal(during.filter((r) => r.status === 409 && r.method === 'PUT' && r.path.endsWith(`/onlineEndpoints/${endpoint}`)).length, 2, '409s were waited out');
    assert.equal(during.filter((r) => r.status === 429).length, 2, '429s were retried after Retry-After');
    assert.equal((await registry().resolve(`models:/${modelName}@production`)).version, '2');
    assert.equal((await registry().resolve(`models:/${modelName}@previous`)).version, '1');
    assert.ok(
      during.some((r) => r.path.endsWith('/providers/Microsoft.Insights/metrics')),
      'the bake read Azure Monitor metrics',
    );
  });

  it('rolls back a deployment whose provisioning fails, with the container logs in the report', async () => {
    const production = (await registry().resolve(`models:/${modelName}@production`)).version;
    emulator.faults.failProvisioning = { deployment: 'blue', logs: ['Traceback (most recent call last):', 'ModuleNotFoundError: No module named onnxruntime'] };
    await assert.rejects(release({ skip_training: true, skip_local_testing: true }, { modelUri: `models:/${modelName}/1` }), (error: unknown) => {
      assert.ok(error instanceof WorkflowFailedError);
      assert.match(failureMessage(error), /rollout failed at deploying to blue: deployment blue did not start \(Failed: .*ResourceNotReady/);
      assert.match(failureMessage(error), /Rolled back: deleted deployment blue/);
      return true;
    });
    const report = latestReport();
    assert.match(JSON.stringify(report.failure_details), /\[InferenceServer\] ModuleNotFoundError: No module named onnxruntime/);
    assert.match(JSON.stringify(report.failure_details), /\[StorageInitializer\] downloaded 2 files/);
    await assertGreenAlone('the failed deployment was deleted');
    assert.equal((await registry().resolve(`models:/${modelName}@production`)).version, production, '@production unchanged');
  });

  it('rolls back a deployment that answers 5xx, and a retried release uploads nothing twice', async () => {
    const blobsBefore = await emulator.blobs('LocalUpload/');
    emulator.faults.scoreErrors = { deployment: 'blue', status: 502 };
    await assert.rejects(release({ skip_training: true, skip_local_testing: true }, { modelUri: `models:/${modelName}/1` }), (error: unknown) => {
      assert.match(failureMessage(error), /health checks failed on blue: .*error_rate \(50\/50 failed.*Rolled back: deleted deployment blue/);
      return true;
    });
    emulator.faults.scoreErrors = undefined;
    assert.deepEqual(await emulator.blobs('LocalUpload/'), blobsBefore, 'content-addressed: the same model and code were not uploaded again');
    assert.deepEqual((await target().describeEndpoint(endpoint)).traffic, { green: 100 });
  });

  it('abandons a provisioning slower than deployment_timeout and rolls it back', async () => {
    await withSlowOperations(5_000, () =>
      assert.rejects(release({ skip_training: true, skip_local_testing: true, deployment_timeout: '2s' }, { modelUri: `models:/${modelName}/1` }), (error: unknown) => {
        const message = failureMessage(error);
        assert.match(message, /rollout failed at deploying to blue: .*took longer than deployment_timeout \(2s\)/);
        assert.match(message, /Rolled back: deleted deployment blue/);
        assert.doesNotMatch(message, /UNDO FAILURES/);
        return true;
      }),
    );
    await assertGreenAlone('the slow deployment was deleted once its operation ended');
  });

  it('stops waiting on a provisioning when the release is cancelled, and rolls it back', async () => {
    await withSlowOperations(10_000, async () => {
      const putAt = emulator.requests.length;
      const handle = await startRecorded(workers.queues, { skip_training: true, skip_local_testing: true }, `models:/${modelName}/1`);
      while (!emulator.requests.slice(putAt).some((r) => r.method === 'PUT' && r.path.endsWith('/deployments/blue'))) await new Promise((r) => setTimeout(r, 100));
      const cancelledAt = Date.now();
      await handle.cancel();
      await assert.rejects(handle.result(), (error: unknown) => error instanceof WorkflowFailedError && error.cause instanceof CancelledFailure);
      // A cancelled run keeps no message: its status query and report say what happened.
      const state = await handle.query<ReleaseResult>('status');
      assert.equal(state.outcome, 'cancelled');
      assert.equal(state.error, 'rollout cancelled at deploying to blue. Rolled back: deleted deployment blue');
      const report = latestReport();
      assert.equal(report.outcome, 'cancelled');
      assert.deepEqual(report.failure_details.undone, ['deleted deployment blue'], 'the rollback is in the report');
      assert.equal((await handle.describe()).status.name, 'CANCELLED');
      assert.ok(Date.now() - cancelledAt < 60_000);
    });
    await assertGreenAlone('the cancelled deployment was deleted');
  });

  it('serves continuous traffic through a stepped shift with zero failed requests', async () => {
    const { scoringUri } = await target().describeEndpoint(endpoint);
    const key = await target().endpointKey(endpoint);
    const [record] = await sampleRecords(1);
    const counts = { ok: 0, failed: 0, byDeployment: {} as Record<string, number> };
    const scoreOnce = () =>
      new Promise<void>((resolve) => {
        const req = httpsRequest(scoringUri!, { method: 'POST', ca: emulator.caPem, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) {
              counts.ok++;
              const deployment = String(res.headers['azureml-model-deployment']);
              counts.byDeployment[deployment] = (counts.byDeployment[deployment] ?? 0) + 1;
            } else counts.failed++;
            resolve();
          });
        });
        req.on('error', () => {
          counts.failed++;
          resolve();
        });
        req.end(JSON.stringify(record));
      });
    let running = true;
    const load = (async () => {
      while (running) await scoreOnce();
    })();
    const result = await release({ skip_training: true, skip_local_testing: true, traffic_plan: [50, 100], bake_time: '2s' }, { modelUri: `models:/${modelName}/1` }).finally(
      () => (running = false),
    );
    await load;
    assert.equal(result.outcome, 'succeeded', result.error);
    assert.equal(result.deployment?.colour, 'blue');
    assert.equal(counts.failed, 0, `failed requests during the rollout: ${JSON.stringify(counts)}`);
    assert.ok((counts.byDeployment.green ?? 0) > 0 && (counts.byDeployment.blue ?? 0) > 0, `both colours served: ${JSON.stringify(counts)}`);
    const bakes = result.deployment!.steps.filter((step) => step.action === 'bake passed').map((step) => step.detail!);
    assert.equal(bakes.length, 2);
    // Bakes of seconds see Azure Monitor's whole minutes only when they cross one; either way the report says which.
    for (const bake of bakes) assert.match(bake, /^(50|100) %: \d+ requests, .*\(Azure Monitor/);
  });

  it('rolls back by redeploying @previous through the operator workflow', async () => {
    const config = loadConfig({ path: join(projectRoot, 'config/default.yaml'), overrides: { bake_time: '1s', termination_wait: '0s', deployment_timeout: '2m' } }).config;
    const rollback = await env.client.workflow.start('rollbackEndpoint', {
      taskQueue: workers.queues.orchestration,
      workflowId: `rollback-${endpoint}-${Date.now()}`,
      args: [{ target: 'azure', endpoint, settings: rolloutSettingsOf(config) }],
    });
    runs.push({ workflowId: rollback.workflowId, runId: rollback.firstExecutionRunId });
    const rolledBack = (await rollback.result()) as RollbackResult;
    assert.equal(rolledBack.how, 'redeploy');
    const state = await target().describeEndpoint(endpoint);
    assert.deepEqual(state.traffic, { green: 100 });
    assert.deepEqual(
      state.deployments.map((d) => `${d.name}:${d.modelVersion}`),
      ['green:2'],
    );
    assert.equal((await registry().resolve(`models:/${modelName}@production`)).version, '2');
    assert.equal((await registry().resolve(`models:/${modelName}@previous`)).version, '1');
  });

  it('reads requests, server errors and latency of one deployment from Azure Monitor metrics', async () => {
    const since = Date.now() - 120_000;
    const before = await target().metrics(endpoint, 'green', since);
    const body = Object.fromEntries(Object.keys((await sampleRecords(1))[0]!).map((column) => [column, null]));
    emulator.faults.scoreErrors = { deployment: 'green', status: 503 };
    for (let i = 0; i < 5; i++) assert.equal((await target().probe(endpoint, 'green', body)).status, 503);
    emulator.faults.scoreErrors = undefined;
    for (let i = 0; i < 15; i++) assert.equal((await target().probe(endpoint, 'green', body)).status, 200);
    await target().probe(endpoint, 'green', []); // a 400 is the client's fault: counted, never an error of the deployment
    const after = await target().metrics(endpoint, 'green', since);
    assert.equal(after.requests - before.requests, 21);
    assert.equal(after.errors - before.errors, 5);
    assert.ok(after.p95Ms > 0 && after.p99Ms >= after.p95Ms && after.p95Ms >= after.p50Ms, JSON.stringify(after));
    assert.match(after.note ?? '', /^Azure Monitor, [12] whole minutes?$/);
  });

  it('keeps the scoring script on the local endpoint contract (python/modelship_scoring/score.py)', async () => {
    // The model folder as the emulated storage initializer downloaded it for green from the datastore.
    const modelDir = emulator.modelDir(endpoint, 'green');
    const scoring = await startScoringScript(modelDir, { name: modelName, version: '2', deployment: 'green' });
    const { port } = scoring;
    try {
      const records = await sampleRecords(5);
      const { Age: _age, ...missing } = records[0]!;
      const cases: [string, unknown][] = [
        ['one record', records[0]],
        ['a batch', records],
        ['a missing field', missing],
        ['an unknown field', { ...records[0], Colour: 'red' }],
        ['a number that is not', { ...records[0], Age: 'forty' }],
        ['an empty batch', []],
        ['too many records', Array.from({ length: 1001 }, () => records[0])],
        ['malformed JSON', '{not json'],
      ];
      const python = async (body: unknown) => {
        const response = await fetch(`http://127.0.0.1:${port}/score`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      // The reference: the emulated deployment green, which scores with the local endpoint's code.
      const azure = async (body: unknown) => {
        const result = await target().probe(endpoint, 'green', typeof body === 'string' ? undefined : body);
        return { status: result.status, body: result.body as Record<string, unknown> };
      };
      for (const [name, body] of cases) {
        const got = await python(body);
        const reference = typeof body === 'string' ? { status: 400, body: { error: { message: 'the request body is not valid JSON' } } } : await azure(body);
        assert.equal(got.status, reference.status, `${name}: status`);
        if (got.status === 200) {
          assert.deepEqual(got.body.predictions, reference.body.predictions, `${name}: labels`);
          (got.body.probabilities as number[]).forEach((p, i) => assert.ok(Math.abs(p - (reference.body.probabilities as number[])[i]!) < 1e-9, `${name}: probability ${i}`));
          assert.deepEqual(got.body.model, { name: modelName, version: '2' });
          assert.equal(typeof got.body, 'object', 'an object, not a JSON string encoded twice');
        } else {
          assert.deepEqual(got.body, reference.body, `${name}: the same error body`);
        }
      }
    } finally {
      scoring.stop();
    }
  });

  it('collects what score.py serves as Azure ML data collection lines in the datastore, and never fails a request for it', async () => {
    // blue: green's model, served by the score.py the deployment downloads, with the data collector agent beside it.
    const modelDir = emulator.modelDir(endpoint, 'green');
    const modelPath = join(modelDir, 'model.onnx');
    const model = {
      name: modelName,
      version: '2',
      modelPath,
      contractPath: join(modelDir, 'input_contract.json'),
      sha256: createHash('sha256').update(readFileSync(modelPath)).digest('hex'),
    };
    emulator.inferenceServer = 'score.py';
    try {
      assert.equal((await target().createDeployment(endpoint, 'blue', model, { instanceType: 'Standard_F4s_v2', instanceCount: 1 })).state, 'Succeeded');
    } finally {
      emulator.inferenceServer = 'onnxruntime-node';
    }
    try {
      const records = await sampleRecords(3);
      type Scored = { predictions: unknown[]; probabilities: number[]; inference_ids: string[] };
      const score = async (body: unknown) => {
        const result = await target().probe(endpoint, 'blue', body);
        assert.equal(result.status, 200, JSON.stringify(result.body));
        return result.body as Scored;
      };
      const answers = [await score({ ...records[0], inference_id: 'caller-7' }), await score(records)];
      assert.deepEqual(answers[0]!.inference_ids, ['caller-7'], "the caller's id is kept");
      assert.equal(new Set(answers[1]!.inference_ids).size, 3);
      for (const id of answers[1]!.inference_ids) assert.match(id, /^[0-9a-f-]{36}$/, 'the others are generated');
      const refused = await target().probe(endpoint, 'blue', { ...records[0], inference_id: 42 });
      assert.equal(refused.status, 422);
      assert.equal((refused.body as { error: { field: string } }).error.field, 'inference_id');

      // Delivered by the agent to modelDataCollector/{endpoint}/{deployment}/{collection}/yyyy/MM/dd/HH/{instance}.jsonl
      const prefix = `modelDataCollector/${endpoint}/blue/`;
      type Line = Record<string, unknown> & { data: Record<string, unknown>[]; correlationid: string };
      const read = async () => {
        const lines = new Map<string, Line[]>();
        for (const name of await emulator.blobs(prefix)) {
          assert.match(name.slice(prefix.length), /^(model_inputs|model_outputs)\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/[0-9a-f]+\.jsonl$/);
          const collection = name.slice(prefix.length).split('/')[0]!;
          const text = await emulator.blobText(name);
          lines.set(collection, [
            ...(lines.get(collection) ?? []),
            ...text
              .split('\n')
              .filter(Boolean)
              .map((line) => JSON.parse(line) as Line),
          ]);
        }
        return lines;
      };
      const rows = (lines: Line[] = []) => lines.flatMap((line) => line.data);
      let lines = await read();
      for (let wait = 0; (rows(lines.get('model_inputs')).length < 4 || rows(lines.get('model_outputs')).length < 4) && wait < 100; wait++) {
        await new Promise((r) => setTimeout(r, 100));
        lines = await read();
      }
      const hour = new Date().toISOString().slice(0, 13).replace(/-/g, '/').replace('T', '/');
      assert.ok(
        (await emulator.blobs(prefix)).some((name) => name.includes(`/${hour}/`)),
        'partitioned by the hour (UTC)',
      );
      for (const collection of ['model_inputs', 'model_outputs']) {
        const collected = lines.get(collection) ?? [];
        assert.equal(collected.length, 2, `one ${collection} line per request`);
        for (const line of collected) {
          assert.equal(line.specversion, '1.0');
          assert.equal(line.type, `azureml.inference.${collection}`);
          assert.equal(line.datacontenttype, 'application/json');
          assert.match(String(line.source), new RegExp(`/workspaces/modelship-ws/onlineEndpoints/${endpoint}/deployments/blue$`));
          assert.match(String(line.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
          assert.match(String(line.id), /^[0-9a-f-]{36}$/);
          assert.equal(line.xrequestid, line.correlationid);
          assert.equal(line.collectdatatype, 'pandas.core.frame.DataFrame');
          assert.match(String(line.agent), /^azureml-ai-monitoring\/1\.0\.0$/);
          assert.match(String(line.contentrange), /^bytes 0-\d+\/\d+$/);
        }
      }
      // The same ids as the responses; the inputs as sent, the outputs as answered; a request's lines share a correlation id.
      const inputs = lines.get('model_inputs')!;
      const outputs = lines.get('model_outputs')!;
      assert.deepEqual(rows(inputs), [{ inference_id: 'caller-7', ...records[0] }, ...records.map((record, i) => ({ inference_id: answers[1]!.inference_ids[i], ...record }))]);
      answers.forEach((answer, request) => {
        assert.equal(outputs[request]!.correlationid, inputs[request]!.correlationid);
        const collected = outputs[request]!.data as { inference_id: string; prediction: unknown; probability: number }[];
        assert.deepEqual(
          collected.map((row) => row.inference_id),
          answer.inference_ids,
        );
        assert.deepEqual(
          collected.map((row) => row.prediction),
          answer.predictions,
        );
        collected.forEach((row, i) => assert.ok(Math.abs(row.probability - answer.probabilities[i]!) < 1e-9, `probability ${i}`));
      });
      assert.notEqual(inputs[0]!.correlationid, inputs[1]!.correlationid);

      // The agent failing: the request is answered, the failure counted and logged in the container log.
      emulator.faults.collectorDown = true;
      try {
        assert.deepEqual((await score({ ...records[0], inference_id: 'while-down' })).inference_ids, ['while-down']);
        let logs: string[] = [];
        for (let wait = 0; !logs.some((line) => /capture failures so far: 1\)/.test(line)) && wait < 100; wait++) {
          await new Promise((r) => setTimeout(r, 100));
          logs = await target().logs(endpoint, 'blue');
        }
        assert.ok(
          logs.some((line) => /\[InferenceServer\].*503.*\(capture failures so far: 1\)/.test(line)),
          logs.join('\n'),
        );
      } finally {
        emulator.faults.collectorDown = false;
      }
      assert.ok(!JSON.stringify([...(await read()).values()]).includes('while-down'), 'nothing half-delivered');
    } finally {
      await target().deleteDeployment(endpoint, 'blue');
    }
  });

  it('keeps credentials, keys and account secrets out of workflow history', async () => {
    const keys = await target().endpointKey(endpoint);
    const secrets = [TOKEN, keys, 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq'];
    assert.ok(emulator.tokensSeen.has(TOKEN), 'the static token was used');
    assert.ok(runs.length >= 7);
    const pending = [...runs];
    let inspected = 0;
    while (pending.length > 0) {
      const { workflowId, runId } = pending.pop()!;
      const history = await env.client.workflow.getHandle(workflowId, runId).fetchHistory();
      // The rollouts are child workflows: their histories are inspected too.
      for (const event of history.events ?? []) {
        const child = event.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
        if (child?.workflowId) pending.push({ workflowId: child.workflowId, runId: child.runId ?? undefined });
      }
      const text = JSON.stringify(history, (_key, value) => (value instanceof Uint8Array ? Buffer.from(value).toString('utf8') : value));
      for (const secret of secrets) assert.ok(!text.includes(secret), `a secret reached the history of ${workflowId}`);
      inspected++;
    }
    assert.ok(inspected > runs.length, 'child rollout histories were inspected');
    const reports = readdirSync(process.env.MODELSHIP_ARTIFACTS_DIR!).map((d) => readFileSync(join(process.env.MODELSHIP_ARTIFACTS_DIR!, d, 'workflow_report.json'), 'utf8'));
    for (const report of reports) for (const secret of secrets) assert.ok(!report.includes(secret), 'a secret reached a report');
  });
});
