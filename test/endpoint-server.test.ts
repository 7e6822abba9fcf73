// The local endpoint server: key auth, routing by header and by traffic, request validation, persistence.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TrainInput, TrainResult } from '../src/workflows/training-api';
import { loadConfig } from '../src/config/load';
import { projectRoot } from '../src/config/environment';
import { generateBankingCsv } from '../src/data/generate';
import { EndpointServer } from '../src/serving/endpoint-server';
import { LocalTarget } from '../src/targets/local';
import { mlflowUri } from './support/temporal';
import { trainWithActivities } from './support/training';
import { sha256File } from '../src/data/csv';

describe('local endpoint server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-endpoint-'));
  let server: EndpointServer;
  let target: LocalTarget;
  let trained: TrainResult;
  let record: Record<string, string>;
  const model = () => ({
    name: 'm',
    version: '1',
    modelPath: trained.files['model/model.onnx']!.path,
    contractPath: trained.files['model/input_contract.json']!.path,
    sha256: trained.files['model/model.onnx']!.sha256,
  });
  const score = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/endpoints/e1/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  before(async () => {
    const config = loadConfig({ path: join(projectRoot, 'config/default.yaml') }).config;
    await generateBankingCsv({ rows: 800, seed: 2, out: join(dir, 'bank.csv') });
    const input: TrainInput = {
      workflowId: `endpoint-${Date.now()}`,
      dataPath: join(dir, 'bank.csv'),
      dataSha256: await sha256File(join(dir, 'bank.csv')),
      artifactsDir: dir,
      config: { ...config, data: config.data!, n_iter: 1, cv_folds: 2, model_families: ['logistic_regression'] },
    };
    trained = (await trainWithActivities({ mlflowUri: mlflowUri(), stateDir: join(dir, 'state') }, input)).result;
    server = new EndpointServer({ stateDir: join(dir, 'serving'), port: 0 });
    await server.start();
    target = new LocalTarget(server.url, join(dir, 'serving'));
    const { readFileSync } = await import('node:fs');
    const lines = readFileSync(trained.files['data/test_rows.csv']!.path, 'utf8').trim().split('\n');
    const header = lines[0]!.split(',');
    record = Object.fromEntries(header.map((h, i) => [h, lines[1]!.split(',')[i]!]).filter(([h]) => h !== 'HighAmount'));
  });
  after(async () => {
    await server?.stop();
  });

  it('creates an endpoint and a deployment, and refuses traffic weights that do not sum to 0 or 100', async () => {
    assert.deepEqual(await target.ensureEndpoint('e1'), { created: true });
    assert.deepEqual(await target.ensureEndpoint('e1'), { created: false });
    const state = await target.createDeployment('e1', 'blue', model());
    assert.equal(state.state, 'Succeeded');
    await assert.rejects(target.setTraffic('e1', { blue: 60 }), /must sum to 0 or 100/);
    await target.setTraffic('e1', { blue: 100 });
  });

  it('scores raw records with key auth and says which deployment answered', async () => {
    assert.equal((await score(record)).status, 401);
    assert.equal((await score(record, { authorization: 'Bearer wrong' })).status, 401);
    const key = await target.endpointKey('e1');
    const response = await score([record, record], { authorization: `Bearer ${key}` });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('azureml-model-deployment'), 'blue');
    const body = (await response.json()) as { predictions: number[]; probabilities: number[]; model: { version: string }; deployment: string };
    assert.equal(body.predictions.length, 2);
    assert.ok(body.probabilities.every((p) => p >= 0 && p <= 1));
    assert.deepEqual([body.model.version, body.deployment], ['1', 'blue']);
  });

  it('answers 4xx naming the field for bad records, 400 for malformed JSON, 404 for an unknown deployment', async () => {
    const auth = { authorization: `Bearer ${await target.endpointKey('e1')}` };
    const { Age: _age, ...missing } = record;
    const missingResponse = await score(missing, auth);
    assert.equal(missingResponse.status, 422);
    assert.match(((await missingResponse.json()) as { error: { message: string } }).error.message, /missing field "Age"/);
    assert.equal((await score('{not json', auth)).status, 400);
    assert.equal((await score([], auth)).status, 400);
    assert.equal((await score(record, { ...auth, 'azureml-model-deployment': 'green' })).status, 404);
  });

  it('refuses to delete a deployment that takes traffic, and keeps its state across a restart', async () => {
    await assert.rejects(target.deleteDeployment('e1', 'blue'), /HTTP 409/);
    const port = server.port;
    await server.stop();
    server = new EndpointServer({ stateDir: join(dir, 'serving'), port });
    await server.start();
    const state = await target.describeEndpoint('e1');
    assert.deepEqual(state.traffic, { blue: 100 });
    assert.equal(state.deployments[0]!.state, 'Succeeded');
    const response = await score(record, { authorization: `Bearer ${await target.endpointKey('e1')}` });
    assert.equal(response.status, 200);
    assert.equal((await target.metrics('e1', 'blue', 0)).requests, 1, 'metrics count requests since the restart');
  });
});
