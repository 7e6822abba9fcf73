// Labels as the data has them: a model trained on a target written malignant/benign answers with those labels at
// the local endpoint, in the local test suite and in the Azure scoring script (score.py), keeping the positive
// class's probability; a contract without class labels (or with numeric ones) answers numbers.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createLocalTestActivities, type LocalTestInput, type LocalTestResult } from '../src/activities/local-tests';
import type { TrainInput, TrainResult } from '../src/workflows/training-api';
import { projectRoot } from '../src/config/environment';
import { startScoringScript } from './support/scoring-script';
import { loadConfig } from '../src/config/load';
import { generateBankingCsv } from '../src/data/generate';
import { readRecords } from '../src/evaluation/evaluate';
import { predictionLabels, type InputContract, type RawRecord } from '../src/model/input-contract';
import { EndpointServer } from '../src/serving/endpoint-server';
import { mlflowAccess } from '../src/registry/artifact-store';
import { LocalTarget } from '../src/targets/local';
import { rewriteCsv } from './support/rewrite-csv';
import { mlflowUri } from './support/temporal';
import { trainWithActivities } from './support/training';
import { sha256File } from '../src/data/csv';

describe('class labels as the training data writes them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-labels-'));
  let trained: TrainResult;
  let contract: InputContract;
  let records: RawRecord[];
  let server: EndpointServer;

  before(async () => {
    await generateBankingCsv({ rows: 800, seed: 3, out: join(dir, 'bank.csv') });
    await rewriteCsv(join(dir, 'bank.csv'), join(dir, 'tumours.csv'), (row) => ({ ...row, HighAmount: row.HighAmount === '1' ? 'malignant' : 'benign' }));
    const config = loadConfig({ path: join(projectRoot, 'config/default.yaml') }).config;
    const input: TrainInput = {
      workflowId: `labels-${Date.now()}`,
      dataPath: join(dir, 'tumours.csv'),
      dataSha256: await sha256File(join(dir, 'tumours.csv')),
      artifactsDir: dir,
      config: { ...config, data: { ...config.data!, positive_class: 'malignant' }, n_iter: 1, cv_folds: 2, model_families: ['logistic_regression'] },
    };
    trained = (await trainWithActivities({ mlflowUri: mlflowUri(), stateDir: join(dir, 'state') }, input)).result;
    contract = JSON.parse(readFileSync(trained.files['model/input_contract.json']!.path, 'utf8')) as InputContract;
    records = await readRecords(trained.files['data/test_rows.csv']!.path, contract, 1000);
    server = new EndpointServer({ stateDir: join(dir, 'serving'), port: 0 });
    await server.start();
  });
  after(async () => {
    await server?.stop();
  });

  const expected = (probabilities: number[]) => probabilities.map((p) => (p >= contract.threshold ? 'malignant' : 'benign'));

  it('records the class labels in the input contract', () => {
    assert.deepEqual(contract.classes, ['benign', 'malignant']);
    assert.deepEqual(predictionLabels(contract), ['benign', 'malignant']);
    assert.deepEqual(predictionLabels({ classes: ['0', '1'] }), [0, 1]);
    assert.deepEqual(predictionLabels({}), [0, 1], 'a contract from before class labels answers 0/1');
  });

  it('answers with the labels at the local endpoint, with the positive class probability', async () => {
    const target = new LocalTarget(server.url, join(dir, 'serving'));
    await target.ensureEndpoint('tumours');
    const files = trained.files;
    await target.createDeployment('tumours', 'blue', {
      name: 'm',
      version: '1',
      modelPath: files['model/model.onnx']!.path,
      contractPath: files['model/input_contract.json']!.path,
      sha256: files['model/model.onnx']!.sha256,
    });
    const probe = await target.probe('tumours', 'blue', records);
    assert.equal(probe.status, 200, JSON.stringify(probe.body));
    const body = probe.body as { predictions: unknown[]; probabilities: number[] };
    assert.deepEqual(body.predictions, expected(body.probabilities));
    assert.ok(body.predictions.includes('malignant') && body.predictions.includes('benign'), `both classes among ${JSON.stringify(body.predictions)}`);
    const golden = (JSON.parse(readFileSync(files['data/test_predictions.json']!.path, 'utf8')) as { probabilities: number[] }).probabilities;
    body.probabilities.forEach((p, i) => assert.ok(Math.abs(p - golden[i]!) <= 1e-4, `row ${i}: the positive class's probability`));
  });

  it('passes the local test suite, which reports the labels', async () => {
    const input: LocalTestInput = { train: trained, artifactsDir: join(dir, 'local-tests'), maxLatencyMs: 1000 };
    const result: LocalTestResult = await new MockActivityEnvironment().run(
      createLocalTestActivities(mlflowAccess({ mlflowUri: mlflowUri(), cacheDir: join(dir, 'cache') })).runLocalTests,
      input,
    );
    assert.ok(result.passed, JSON.stringify(result.failed));
    const labels = result.cases.find((c) => c.name === 'class_labels')!;
    assert.match(labels.expected, /"benign" or "malignant"/);
    assert.match(labels.observed, /"(benign|malignant)"/);
  });

  it('answers with the labels in the Azure scoring script, as the local endpoint does', async () => {
    const modelDir = join(dir, 'azure-model');
    mkdirSync(join(modelDir, 'model'), { recursive: true });
    copyFileSync(trained.files['model/model.onnx']!.path, join(modelDir, 'model', 'model.onnx'));
    copyFileSync(trained.files['model/input_contract.json']!.path, join(modelDir, 'model', 'input_contract.json'));
    const scoring = await startScoringScript(modelDir, { name: 'm', version: '1', deployment: 'green' });
    const { port } = scoring;
    try {
      const response = await fetch(`http://127.0.0.1:${port}/score`, { method: 'POST', body: JSON.stringify(records) });
      assert.equal(response.status, 200);
      const body = (await response.json()) as { predictions: unknown[]; probabilities: number[] };
      assert.deepEqual(body.predictions, expected(body.probabilities));
      const local = (await new LocalTarget(server.url, join(dir, 'serving')).probe('tumours', 'blue', records)).body as { predictions: unknown[] };
      assert.deepEqual(body.predictions, local.predictions);
    } finally {
      scoring.stop();
    }
  });
});
