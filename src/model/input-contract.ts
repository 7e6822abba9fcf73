// The model's input contract (written by the trainer as input_contract.json): which raw field feeds which ONNX
// input and how. Records with raw, human-readable fields become ONNX feeds here, for evaluation, local tests and
// serving alike.
import * as ort from 'onnxruntime-node';
import { categoryValue, dateParts, parseDate, parseNumber, type DateFormat, type DatePart } from '../data/values';

export interface InputSpec {
  name: string;
  type: 'double' | 'string';
  part?: DatePart;
}

export interface FeatureSpec {
  column: string;
  kind: 'numeric' | 'categorical' | 'date';
  format?: DateFormat;
  inputs: InputSpec[];
}

export interface InputContract {
  version: number;
  target: string;
  positive_class: string;
  threshold: number;
  /** [negative, positive] as the training data writes them (trainer since issue 12); absent in older contracts. */
  classes?: [string, string];
  features: FeatureSpec[];
}

/** A prediction as a client reads it: the data's own label (a number when the target's labels are numbers). */
export type Prediction = string | number;

/**
 * [negative, positive] predictions: the contract's class labels, as numbers when both are numbers (a 0/1 target
 * keeps answering 0/1), else as written; 0/1 for a contract without class labels.
 */
export function predictionLabels(contract: Pick<InputContract, 'classes'>): [Prediction, Prediction] {
  const classes = contract.classes;
  if (!classes) return [0, 1];
  const numbers = classes.map((label) => parseNumber(label) ?? Number.NaN);
  return numbers.every(Number.isFinite) ? [numbers[0]!, numbers[1]!] : [classes[0], classes[1]];
}

export type RawValue = string | number | boolean | null | undefined;
export type RawRecord = Record<string, RawValue>;

/** Why a record does not fit the contract, as a stable word (counted by the endpoint, never parsed from text). */
export type RecordProblem = 'not_an_object' | 'missing_field' | 'wrong_type' | 'bad_number' | 'bad_date' | 'unknown_field';

/** A record that does not fit the contract; `field` names the offending field. */
export class RecordError extends Error {
  constructor(
    message: string,
    readonly field: string,
    readonly index: number,
    readonly reason: RecordProblem,
  ) {
    super(message);
    this.name = 'RecordError';
  }
}

function asText(value: RawValue): string | undefined {
  return value === null || value === undefined ? undefined : String(value);
}

/** A request's rows by column, as columnar formats carry them: every list holds `count` values, in row order. */
export interface RawColumns {
  readonly count: number;
  /** Each column's values, in the order the columns were sent. */
  readonly columns: ReadonlyMap<string, readonly RawValue[]>;
}

/** A batch of rows: records (one object per row) or columns. */
export type RawRows = RawRecord[] | RawColumns;

export const rowCount = (rows: RawRows): number => (Array.isArray(rows) ? rows.length : rows.count);

/** The rows of columns as records, their fields in the columns' order (a column named "__proto__" too). */
export function recordsOfColumns({ count, columns }: RawColumns): RawRecord[] {
  const entries = [...columns];
  return Array.from({ length: count }, (_, i) => Object.fromEntries(entries.map(([column, values]) => [column, values[i]])) as RawRecord);
}

/** What is wrong with a feature's value, if anything (missing values, null or blank, are fine: the model imputes). */
function valueProblem(feature: FeatureSpec, value: RawValue): RecordProblem | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'object') return 'wrong_type';
  if (feature.kind === 'numeric' && typeof value !== 'number') {
    const parsed = parseNumber(asText(value));
    if (parsed !== null && Number.isNaN(parsed)) return 'bad_number';
  }
  if (feature.kind === 'date') {
    const parsed = parseDate(asText(value), feature.format!);
    if (parsed !== null && Number.isNaN(parsed)) return 'bad_date';
  }
  return undefined;
}

function valueError(feature: FeatureSpec, value: RawValue, index: number, problem: RecordProblem): RecordError {
  const field = `record ${index}: field "${feature.column}"`;
  if (problem === 'wrong_type') {
    const kind = feature.kind === 'numeric' ? 'number' : 'string';
    return new RecordError(`${field} must be a ${kind}, not ${Array.isArray(value) ? 'a list' : 'an object'}`, feature.column, index, problem);
  }
  if (problem === 'bad_number') return new RecordError(`${field} must be a number, got ${JSON.stringify(value)}`, feature.column, index, problem);
  return new RecordError(`${field} must be a date written ${feature.format}, got ${JSON.stringify(value)}`, feature.column, index, problem);
}

/**
 * Checks records against the contract: every feature present (null allowed), numbers are numbers (or numeric
 * strings), no unknown fields (unless `allowExtra`, e.g. the target column in a labelled file).
 */
export function checkRecords(contract: InputContract, records: RawRecord[], options: { allowExtra?: string[] } = {}): void {
  const known = new Set([...contract.features.map((f) => f.column), ...(options.allowExtra ?? [])]);
  records.forEach((record, index) => {
    if (record === null || typeof record !== 'object' || Array.isArray(record)) {
      throw new RecordError(`record ${index} is not an object of field: value pairs`, '', index, 'not_an_object');
    }
    for (const feature of contract.features) {
      if (!(feature.column in record)) {
        throw new RecordError(`record ${index}: missing field "${feature.column}" (send null for an unknown value)`, feature.column, index, 'missing_field');
      }
      const value = record[feature.column];
      const problem = valueProblem(feature, value);
      if (problem) throw valueError(feature, value, index, problem);
    }
    for (const field of Object.keys(record)) {
      if (!known.has(field)) throw new RecordError(`record ${index}: unknown field "${field}"`, field, index, 'unknown_field');
    }
  });
}

/**
 * Checks columns as checkRecords checks the same rows as records, a column at a time; where something does not
 * fit, the error is the one checkRecords throws for those records (the first bad row's), whatever the format.
 */
export function checkColumns(contract: InputContract, rows: RawColumns): void {
  const fits =
    contract.features.every((feature) => {
      const values = rows.columns.get(feature.column);
      return values !== undefined && values.every((value) => valueProblem(feature, value) === undefined);
    }) && rows.columns.size === contract.features.length;
  if (!fits) checkRecords(contract, recordsOfColumns(rows));
}

/** ONNX feeds for a batch of rows (already checked). Missing numbers are NaN: the model imputes them. */
export function toFeeds(contract: InputContract, rows: RawRows): Record<string, ort.Tensor> {
  const n = rowCount(rows);
  const valuesOf = Array.isArray(rows) ? (column: string) => rows.map((r) => r[column]) : (column: string) => rows.columns.get(column)!;
  const feeds: Record<string, ort.Tensor> = {};
  for (const feature of contract.features) {
    const values = valuesOf(feature.column);
    if (feature.kind === 'categorical') {
      feeds[feature.inputs[0]!.name] = new ort.Tensor(
        'string',
        values.map((value) => categoryValue(asText(value))),
        [n, 1],
      );
    } else if (feature.kind === 'numeric') {
      const numbers = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const value = values[i];
        const parsed = typeof value === 'number' ? value : parseNumber(asText(value));
        numbers[i] = parsed === null || !Number.isFinite(parsed) ? Number.NaN : parsed;
      }
      feeds[feature.inputs[0]!.name] = new ort.Tensor('float64', numbers, [n, 1]);
    } else {
      const columns = feature.inputs.map(() => new Float64Array(n));
      for (let i = 0; i < n; i++) {
        const parts = dateParts(parseDate(asText(values[i]), feature.format!));
        feature.inputs.forEach((spec, k) => (columns[k]![i] = parts[spec.part!]));
      }
      feature.inputs.forEach((spec, k) => (feeds[spec.name] = new ort.Tensor('float64', columns[k]!, [n, 1])));
    }
  }
  return feeds;
}

/** A loaded ONNX model with its contract: positive-class probabilities and labels for raw records. */
export class OnnxModel {
  private readonly predictions: [Prediction, Prediction];

  private constructor(
    readonly session: ort.InferenceSession,
    readonly contract: InputContract,
  ) {
    this.predictions = predictionLabels(contract);
  }

  static async load(modelPath: string, contract: InputContract): Promise<OnnxModel> {
    const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
    const expected = new Set(contract.features.flatMap((f) => f.inputs.map((i) => i.name)));
    const missing = session.inputNames.filter((name) => !expected.has(name));
    if (missing.length > 0) throw new Error(`the model's inputs ${missing.join(', ')} are not in its input contract`);
    return new OnnxModel(session, contract);
  }

  async probabilities(rows: RawRows): Promise<Float64Array> {
    const n = rowCount(rows);
    if (n === 0) return new Float64Array(0);
    const output = await this.session.run(toFeeds(this.contract, rows));
    const tensor = output.probabilities ?? output[this.session.outputNames[1]!];
    // float64 from double-precision graphs (trees cast, linear models compute in double), float32 from older ones.
    if (!tensor || (tensor.type !== 'float32' && tensor.type !== 'float64') || tensor.data.length !== n * 2) {
      throw new Error(`the model's probabilities output is ${tensor ? `${tensor.type} [${tensor.dims.join(', ')}]` : 'missing'}; expected float32 or float64 [${n}, 2]`);
    }
    const data = tensor.data as Float32Array | Float64Array;
    const result = new Float64Array(n);
    for (let i = 0; i < n; i++) result[i] = data[i * 2 + 1]!;
    return result;
  }

  /** 1 for the positive class, else 0 (for metrics). */
  label(probability: number): number {
    return probability >= this.contract.threshold ? 1 : 0;
  }

  /** The class as the training data writes it (what clients read). */
  prediction(probability: number): Prediction {
    return this.predictions[this.label(probability)]!;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
