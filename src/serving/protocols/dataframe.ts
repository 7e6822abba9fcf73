// The tabular doors: the MLflow scoring server's JSON (dataframe_split, dataframe_records, instances, inputs) and
// Azure ML's input_data (split orientation, as its studio "Test" tab and its MLflow deployments send). Both answer
// what an MLflow scoring server answers for a model whose pyfunc returns a label and a probability column:
// {"predictions": [{"label", "probability"}, …]}, with modelship's inference ids, model and deployment beside it.
import type { InputContract, RawColumns, RawRecord, RawRows, RawValue } from '../../model/input-contract';
import { recordsOf, rowsOfColumns } from '../../model/scoring';
import { columnsOf, FormatError, recordsDoor, type Door, type ScoredRows } from './door';

export const MLFLOW_KEYS = ['dataframe_split', 'dataframe_records', 'instances', 'inputs'] as const;
export const AZUREML_KEY = 'input_data';
/** Sent beside the data by MLflow clients; this model takes no parameters, so they are ignored. */
const PARAMS_KEY = 'params';
const DOOR_KEYS: readonly string[] = [...MLFLOW_KEYS, AZUREML_KEY];

const isPlainObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The door a JSON body came in by: a tabular door when the body is an object keyed by one of their names (and the
 * contract has no column of that name: then it is one of modelship's records), else modelship's records.
 */
export function jsonDoor(body: unknown, contract: InputContract): Door {
  if (!isPlainObject(body)) return recordsDoor;
  const key = DOOR_KEYS.find((name) => name in body);
  if (key === undefined || contract.features.some((feature) => feature.column === key)) return recordsDoor;
  return key === AZUREML_KEY ? azuremlDoor : mlflowDoor;
}

function answer({ predictions, probabilities, ids, model, deployment }: ScoredRows) {
  return {
    predictions: predictions.map((label, i) => ({ label, probability: probabilities[i]! })),
    ...(ids.length ? { inference_ids: ids } : {}),
    model,
    deployment,
  };
}

const mlflowDoor: Door = {
  name: 'mlflow',
  rows: (body) => {
    const { key, value } = theOneKey(body as Record<string, unknown>);
    if (key === 'dataframe_split') return splitColumns(value, key);
    if (key === 'dataframe_records') {
      if (!Array.isArray(value)) throw new FormatError(`"dataframe_records" must be a list of records ({"column": value, …})`, 'bad_format', key);
      return recordsOf(value);
    }
    return tensorRows(value, key);
  },
  recordsText: (text) => listText(text, 'dataframe_records') ?? listText(text, 'instances'),
  answer,
};

const azuremlDoor: Door = {
  name: 'azureml',
  rows: (body) => {
    const { key, value } = theOneKey(body as Record<string, unknown>);
    if (Array.isArray(value) && value.every(isPlainObject)) return recordsOf(value);
    return splitColumns(value, key);
  },
  recordsText: (text) => listText(text, AZUREML_KEY),
  answer,
};

/** The list in a body that is exactly `{"<key>":[…]}` (no space, no other key), else undefined. */
function listText(text: string, key: string): string | undefined {
  const prefix = `{"${key}":[`;
  if (!text.startsWith(prefix) || !text.endsWith(']}')) return undefined;
  return text.slice(prefix.length - 1, -1);
}

function theOneKey(body: Record<string, unknown>): { key: string; value: unknown } {
  const keys = Object.keys(body).filter((key) => key !== PARAMS_KEY);
  const doors = keys.filter((key) => DOOR_KEYS.includes(key));
  if (doors.length !== 1 || keys.length !== 1) {
    const extra = keys.find((key) => key !== doors[0]) ?? doors[1]!;
    throw new FormatError(`unexpected key "${extra}": send exactly one of ${DOOR_KEYS.map((name) => `"${name}"`).join(', ')} (and optionally "params")`, 'bad_format', extra);
  }
  return { key: doors[0]!, value: body[doors[0]!] };
}

/** pandas' split orientation: {"columns": [...], "data": [[...], ...], "index": [...] (ignored)}. */
function splitColumns(value: unknown, key: string): RawColumns {
  const shape = `{"${key}": {"columns": ["Age", …], "data": [[41, …], …]}}`;
  if (!isPlainObject(value)) throw new FormatError(`"${key}" must be an object of columns and data, e.g. ${shape}`, 'bad_format', key);
  const { columns, data } = value;
  if (!Array.isArray(columns) || !columns.every((column) => typeof column === 'string')) {
    throw new FormatError(`"${key}.columns" must be a list of column names, e.g. ${shape}`, 'bad_format', `${key}.columns`);
  }
  if (!Array.isArray(data)) throw new FormatError(`"${key}.data" must be a list of rows, e.g. ${shape}`, 'bad_format', `${key}.data`);
  const names = columns as string[];
  const bad = data.findIndex((row) => !Array.isArray(row) || row.length !== names.length);
  if (bad >= 0) {
    const row: unknown = data[bad];
    throw new FormatError(
      `"${key}.data[${bad}]" must be a list of ${names.length} values, one per column of "${key}.columns"; got ${Array.isArray(row) ? `${row.length} values` : JSON.stringify(row)}`,
      'bad_format',
      `${key}.data`,
    );
  }
  const rows = data as RawValue[][];
  // A column named twice keeps its last values, as a record with a field written twice would.
  const byName = new Map(names.map((name, j) => [name, rows.map((row) => row[j])]));
  return rowsOfColumns(rows.length, byName);
}

/** MLflow's instances/inputs: a list of records, or columns of equal length ({"Age": [41, 52], …}), or one record. */
function tensorRows(value: unknown, key: string): RawRows {
  const fix = `name the columns: {"${key}": [{"Age": 41, …}, …]} or {"${key}": {"Age": [41, …], …}}`;
  if (Array.isArray(value)) {
    const unnamed = value.findIndex((row) => !isPlainObject(row));
    if (unnamed >= 0) throw new FormatError(`"${key}[${unnamed}]" is not a record of named columns: ${fix}`, 'bad_format', key);
    return recordsOf(value);
  }
  if (!isPlainObject(value)) throw new FormatError(`"${key}" must be a list of records or an object of columns: ${fix}`, 'bad_format', key);
  const columns = Object.keys(value);
  const lists = columns.filter((column) => Array.isArray(value[column]));
  if (lists.length === 0) return recordsOf([value as RawRecord]);
  if (lists.length !== columns.length) {
    const scalar = columns.find((column) => !Array.isArray(value[column]))!;
    throw new FormatError(`"${key}.${scalar}" must be a list like the other columns (one value per row)`, 'bad_format', `${key}.${scalar}`);
  }
  const rows = (value[columns[0]!] as unknown[]).length;
  const uneven = columns.find((column) => (value[column] as unknown[]).length !== rows);
  if (uneven) {
    throw new FormatError(
      `"${key}.${uneven}" has ${(value[uneven] as unknown[]).length} values, "${key}.${columns[0]}" ${rows}: every column needs one value per row`,
      'bad_format',
      `${key}.${uneven}`,
    );
  }
  return rowsOfColumns(rows, new Map(columns.map((column) => [column, value[column] as RawValue[]])));
}

/** An MLflow request body for records (the doors' tests and the benchmark send these). */
export function dataframeSplitOf(records: RawRecord[], contract: InputContract, key: 'dataframe_split' | 'input_data' = 'dataframe_split') {
  const columns = columnsOf(contract);
  return { [key]: { columns, data: records.map((record) => columns.map((column) => record[column] ?? null)) } };
}
