// The endpoint benchmarks' model and rows: the banking data (5,000 rows, seed 42), the 100-tree forest that
// bench/python_reference_server.py trains on it and exports to ONNX, and its first 100 rows as records of the
// contract's columns (values as the CSV writes them).
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot, pythonChildEnv, venvExecutable } from '../src/config/environment';
import { generateBankingCsv } from '../src/data/generate';
import type { InputContract, RawRecord } from '../src/model/input-contract';
import { startChild } from './servers';

export interface BenchForest {
  modelPath: string;
  contractPath: string;
  contract: InputContract;
  records: RawRecord[];
  /** The Python reference server, serving the forest with scikit-learn on `port` (stopChildren stops it). */
  python: ChildProcess;
}

/** Trains the forest in `dir` and leaves its Python reference server running on `port`. */
export async function benchForest(dir: string, port: number): Promise<BenchForest> {
  await generateBankingCsv({ rows: 5_000, seed: 42, out: join(dir, 'bank.csv') });
  const python = await startChild(
    venvExecutable('python'),
    [join(projectRoot, 'bench/python_reference_server.py'), join(dir, 'bank.csv'), join(dir, 'model'), String(port)],
    pythonChildEnv(),
  );
  const modelPath = join(dir, 'model', 'model.onnx');
  const contractPath = join(dir, 'model', 'input_contract.json');
  const contract = JSON.parse(readFileSync(contractPath, 'utf8')) as InputContract;
  const csv = readFileSync(join(dir, 'bank.csv'), 'utf8').trim().split('\n');
  const header = csv[0]!.split(',');
  const records = csv.slice(1, 101).map((line): RawRecord => {
    const fields = line.split(',');
    return Object.fromEntries(contract.features.map((feature) => [feature.column, fields[header.indexOf(feature.column)]]));
  });
  return { modelPath, contractPath, contract, records, python };
}
