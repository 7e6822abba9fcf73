// A registered version's model/ folder as an MLflow Model: beside model.onnx and input_contract.json, an MLmodel
// with the ONNX flavour and a python_function flavour (python/modelship_pyfunc, which scores raw columns through
// the contract as the endpoint does), a signature made from the contract, an input example from the held-out rows,
// and the environment pinned as python/requirements.txt pins it. With these, mlflow.pyfunc.load_model,
// mlflow.onnx.load_model, `mlflow models serve|predict` and the MLflow UI's schema all work on the version.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { projectRoot, venvDir } from '../config/environment';
import { openCsv } from '../data/csv';
import { isMissing, parseNumber } from '../data/values';
import { predictionLabels, type InputContract, type RawRecord } from '../model/input-contract';

/** A file of the MLflow Model, by its path inside the model/ folder. */
export interface MlflowModelFile {
  path: string;
  body: string;
}

export const MLMODEL_FILE = 'MLmodel';
const PYFUNC_PACKAGE = 'modelship_pyfunc';
/** What the pyfunc flavour imports: its package, and the value rules it shares with the Azure scoring script. */
const PYFUNC_CODE: { from: string; to: string }[] = [
  { from: 'python/modelship_pyfunc/__init__.py', to: `code/${PYFUNC_PACKAGE}/__init__.py` },
  { from: 'python/modelship_scoring/records.py', to: 'code/records.py' },
];
/** The packages the pyfunc flavour needs, pinned as the project pins them. */
const MODEL_REQUIREMENTS = ['mlflow', 'onnxruntime', 'numpy', 'pandas'];
const EXAMPLE_ROWS = 5;

/** name → exact version, from python/requirements.txt (the one place modelship pins its Python side). */
export function pythonPins(root = projectRoot): Map<string, string> {
  const pins = new Map<string, string>();
  for (const line of readFileSync(join(root, 'python', 'requirements.txt'), 'utf8').split('\n')) {
    const match = /^\s*([A-Za-z0-9_.-]+)==([^\s#]+)/.exec(line);
    if (match) pins.set(match[1]!.toLowerCase(), match[2]!);
  }
  return pins;
}

/** The Python version of the project's venv (its set-up stamp), else the oldest one modelship supports. */
function pythonVersion(): string {
  const stamp = join(venvDir(), '.modelship-stamp.json');
  try {
    if (existsSync(stamp)) return (JSON.parse(readFileSync(stamp, 'utf8')) as { python: string }).python;
  } catch {
    // an unreadable stamp says nothing: fall through
  }
  return '3.11';
}

/**
 * MLflow's column types for the contract's fields: categories and dates are strings; numbers are longs when every
 * held-out value is a whole number and none is missing (what pandas, and so mlflow.models.infer_signature, reads
 * from such a column: MLflow refuses int64 data for a double column), else doubles.
 */
export function signatureOf(contract: InputContract, wholeNumberColumns: ReadonlySet<string>): { inputs: string; outputs: string; params: null } {
  const inputs = contract.features.map((feature) => ({
    type: feature.kind !== 'numeric' ? 'string' : wholeNumberColumns.has(feature.column) ? 'long' : 'double',
    name: feature.column,
    required: true,
  }));
  const labels = predictionLabels(contract);
  const labelType = typeof labels[0] === 'string' ? 'string' : labels.every((label) => Number.isInteger(label)) ? 'long' : 'double';
  const outputs = [
    { type: labelType, name: 'label', required: true },
    { type: 'double', name: 'probability', required: true },
  ];
  return { inputs: JSON.stringify(inputs), outputs: JSON.stringify(outputs), params: null };
}

/** What a held-out CSV says about the columns: its first rows as typed records, and its whole-number columns. */
export interface HeldOutColumns {
  /** Numbers as numbers, missing as null, without the target. */
  examples: RawRecord[];
  wholeNumberColumns: Set<string>;
}

export async function heldOutColumns(contract: InputContract, csvPath: string, count = EXAMPLE_ROWS): Promise<HeldOutColumns> {
  const { header, records } = await openCsv(csvPath);
  const numeric = contract.features.filter((feature) => feature.kind === 'numeric').map((feature) => [feature.column, header.indexOf(feature.column)] as const);
  const wholeNumberColumns = new Set(numeric.map(([column]) => column));
  const examples: RawRecord[] = [];
  for await (const { fields } of records) {
    for (const [column, index] of numeric) {
      const value = parseNumber(fields[index]);
      if (value === null || !Number.isInteger(value)) wholeNumberColumns.delete(column);
    }
    if (examples.length < count) {
      const record: RawRecord = {};
      for (const feature of contract.features) {
        const raw = fields[header.indexOf(feature.column)];
        record[feature.column] = feature.kind === 'numeric' ? parseNumber(raw) : isMissing(raw) ? null : raw!;
      }
      examples.push(record);
    }
  }
  return { examples, wholeNumberColumns };
}

/**
 * The files that make model/ an MLflow Model. `runId` names it (its model_uuid is derived from it, so a retried
 * registration writes the same MLmodel); `columns` come from the held-out rows.
 */
export function mlflowModelFiles(contract: InputContract, { examples, wholeNumberColumns }: HeldOutColumns, runId: string, createdAt: Date, root = projectRoot): MlflowModelFile[] {
  const pins = pythonPins(root);
  const pin = (name: string) => {
    const version = pins.get(name);
    if (!version) throw new Error(`python/requirements.txt does not pin ${name}: the MLflow Model's environment needs it pinned`);
    return `${name}==${version}`;
  };
  const requirements = MODEL_REQUIREMENTS.map(pin);
  const python = pythonVersion();
  const columns = contract.features.map((feature) => feature.column);
  const split = { columns, data: examples.map((record) => columns.map((column) => record[column] ?? null)) };
  const uuid = createHash('sha256').update(`modelship:${runId}`).digest('hex').slice(0, 32);
  const mlmodel = {
    artifact_path: 'model',
    flavors: {
      onnx: { code: null, data: 'model.onnx', onnx_version: pins.get('onnx') ?? null, providers: ['CPUExecutionProvider'] },
      python_function: {
        loader_module: PYFUNC_PACKAGE,
        code: 'code',
        env: { conda: 'conda.yaml', virtualenv: 'python_env.yaml' },
        python_version: python,
      },
    },
    mlflow_version: pins.get('mlflow'),
    model_uuid: uuid,
    run_id: runId,
    saved_input_example_info: { artifact_path: 'input_example.json', pandas_orient: 'split', serving_input_path: 'serving_input_example.json', type: 'dataframe' },
    signature: signatureOf(contract, wholeNumberColumns),
    // MLflow's own layout of the creation time: "YYYY-MM-DD HH:MM:SS.ffffff" in UTC.
    utc_time_created: `${createdAt.toISOString().replace('T', ' ').replace('Z', '')}000`,
  };
  return [
    { path: MLMODEL_FILE, body: stringify(mlmodel) },
    { path: 'requirements.txt', body: `${requirements.join('\n')}\n` },
    { path: 'python_env.yaml', body: stringify({ python, build_dependencies: ['pip', 'setuptools', 'wheel'], dependencies: ['-r requirements.txt'] }) },
    { path: 'conda.yaml', body: stringify({ name: 'mlflow-env', channels: ['conda-forge'], dependencies: [`python=${python}`, 'pip', { pip: requirements }] }) },
    { path: 'input_example.json', body: JSON.stringify(split) },
    { path: 'serving_input_example.json', body: JSON.stringify({ dataframe_split: split }, null, 2) },
    ...PYFUNC_CODE.map(({ from, to }) => ({ path: to, body: readFileSync(join(root, from), 'utf8') })),
  ];
}
