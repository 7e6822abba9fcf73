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
      if (value !== null && typeof value === 'object') {
        throw new RecordError(
          `record ${index}: field "${feature.column}" must be a ${feature.kind === 'numeric' ? 'number' : 'string'}, not ${Array.isArray(value) ? 'a list' : 'an object'}`,
          feature.column,
          index,
          'wrong_type',
        );
      }
      if (feature.kind === 'numeric' && value !== null && typeof value !== 'number') {
        const parsed = parseNumber(asText(value));
        if (parsed !== null && Number.isNaN(parsed)) {
          throw new RecordError(`record ${index}: field "${feature.column}" must be a number, got ${JSON.stringify(value)}`, feature.column, index, 'bad_number');
        }
      }
      if (feature.kind === 'date' && value !== null && value !== undefined) {
        const parsed = parseDate(asText(value), feature.format!);
        if (parsed !== null && Number.isNaN(parsed)) {
          throw new RecordError(
            `record ${index}: field "${feature.column}" must be a date written ${feature.format}, got ${JSON.stringify(value)}`,
            feature.column,
            index,
            'bad_date',
          );
        }
      }
    }
    for (const field of Object.keys(record)) {
      if (!known.has(field)) throw new RecordError(`record ${index}: unknown field "${field}"`, field, index, 'unknown_field');
    }
  });
}

/** ONNX feeds for a batch of records (already checked). Missing numbers are NaN: the model imputes them. */
export function toFeeds(contract: InputContract, records: RawRecord[]): Record<string, ort.Tensor> {
  const n = records.length;
  const feeds: Record<string, ort.Tensor> = {};
  for (const feature of contract.features) {
    if (feature.kind === 'categorical') {
      const values = records.map((r) => categoryValue(asText(r[feature.column])));
      feeds[feature.inputs[0]!.name] = new ort.Tensor('string', values, [n, 1]);
    } else if (feature.kind === 'numeric') {
      const values = new Float64Array(n);
      records.forEach((r, i) => {
        const value = r[feature.column];
        const parsed = typeof value === 'number' ? value : parseNumber(asText(value));
        values[i] = parsed === null || !Number.isFinite(parsed) ? Number.NaN : parsed;
      });
      feeds[feature.inputs[0]!.name] = new ort.Tensor('float64', values, [n, 1]);
    } else {
      const columns = feature.inputs.map(() => new Float64Array(n));
      records.forEach((r, i) => {
        const parts = dateParts(parseDate(asText(r[feature.column]), feature.format!));
        feature.inputs.forEach((spec, k) => (columns[k]![i] = parts[spec.part!]));
      });
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

  async probabilities(records: RawRecord[]): Promise<Float64Array> {
    if (records.length === 0) return new Float64Array(0);
    const output = await this.session.run(toFeeds(this.contract, records));
    const tensor = output.probabilities ?? output[this.session.outputNames[1]!];
    // float64 from double-precision graphs (trees cast, linear models compute in double), float32 from older ones.
    if (!tensor || (tensor.type !== 'float32' && tensor.type !== 'float64') || tensor.data.length !== records.length * 2) {
      throw new Error(
        `the model's probabilities output is ${tensor ? `${tensor.type} [${tensor.dims.join(', ')}]` : 'missing'}; expected float32 or float64 [${records.length}, 2]`,
      );
    }
    const data = tensor.data as Float32Array | Float64Array;
    const result = new Float64Array(records.length);
    for (let i = 0; i < records.length; i++) result[i] = data[i * 2 + 1]!;
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
