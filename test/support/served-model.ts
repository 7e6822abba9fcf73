// A small trained model to serve in endpoint tests (logistic regression on 800 generated rows: seconds), and a
// record of its test rows in the raw form a client sends.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load';
import { projectRoot } from '../../src/config/environment';
import { sha256File } from '../../src/data/csv';
import { generateBankingCsv } from '../../src/data/generate';
import type { ModelToDeploy } from '../../src/targets/target';
import type { TrainInput, TrainResult } from '../../src/workflows/training-api';
import { mlflowUri } from './temporal';
import { trainWithActivities } from './training';

export interface ServedModel {
  trained: TrainResult;
  /** The model as a deployment target takes it (name m, version 1). */
  model: ModelToDeploy;
  /** Test rows without the target column, as strings. */
  records: Record<string, string>[];
}

export async function trainServedModel(dir: string): Promise<ServedModel> {
  const config = loadConfig({ path: join(projectRoot, 'config/default.yaml') }).config;
  await generateBankingCsv({ rows: 800, seed: 2, out: join(dir, 'bank.csv') });
  const input: TrainInput = {
    workflowId: `served-${Date.now()}`,
    dataPath: join(dir, 'bank.csv'),
    dataSha256: await sha256File(join(dir, 'bank.csv')),
    artifactsDir: dir,
    config: { ...config, data: config.data!, n_iter: 1, cv_folds: 2, model_families: ['logistic_regression'] },
  };
  const trained = (await trainWithActivities({ mlflowUri: mlflowUri(), stateDir: join(dir, 'state') }, input)).result;
  const lines = readFileSync(trained.files['data/test_rows.csv']!.path, 'utf8').trim().split('\n');
  const header = lines[0]!.split(',');
  const records = lines.slice(1).map((line) => {
    const fields = line.split(',');
    return Object.fromEntries(header.map((h, i) => [h, fields[i]!]).filter(([h]) => h !== config.data!.target));
  });
  const model = {
    name: 'm',
    version: '1',
    modelPath: trained.files['model/model.onnx']!.path,
    contractPath: trained.files['model/input_contract.json']!.path,
    sha256: trained.files['model/model.onnx']!.sha256,
  };
  return { trained, model, records };
}
