// The Open Inference Protocol V2 over HTTP (KServe, Seldon MLServer, Triton): one named input tensor per column
// (shape [N] or [N, 1]; BYTES for text, a number type or BYTES for numbers), answered with the output tensors
// label, probability and inference_id. Tensors come as JSON data or, as tritonclient sends them by default, in the
// binary tensor data extension (a JSON header of Inference-Header-Content-Length bytes, then the raw tensors).
import { predictionLabels, type InputContract, type RawColumns, type RawValue } from '../../model/input-contract';
import { rowsOfColumns } from '../../model/scoring';
import { INFERENCE_ID_FIELD } from '../../shared/capture';
import { jsonNumber } from '../../shared/json-number';
import { columnsOf, FormatError, WrittenBody, type Door, type ScoredRows } from './door';
import type { ParsedRequest, RequestShapes } from './request-shapes';

export const BINARY_HEADER = 'inference-header-content-length';
export const OUTPUTS = ['label', 'probability', INFERENCE_ID_FIELD] as const;
type OutputName = (typeof OUTPUTS)[number];

export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

interface RequestTensor {
  name?: unknown;
  shape?: unknown;
  datatype?: unknown;
  parameters?: { binary_data_size?: unknown };
  data?: unknown;
}

/** An inference request as received: its JSON header (and data lists read apart), and the binary tensors after it (when any). */
export interface InferRequest extends ParsedRequest {
  binary?: Buffer;
}

/**
 * The request from a body and its Inference-Header-Content-Length header (absent: the whole body is JSON); `shapes`,
 * the endpoint's known request shapes, spare most of the parsing of a request like an earlier one.
 */
export function inferRequestOf(body: Buffer, headerLength: string | undefined, shapes?: RequestShapes): InferRequest {
  if (headerLength === undefined) return parseJson(body, body.length, shapes);
  const length = Number(headerLength);
  if (!Number.isInteger(length) || length < 0 || length > body.length) {
    throw new FormatError(
      `header ${BINARY_HEADER} is ${JSON.stringify(headerLength)}; it must be the JSON header's length in bytes (0 to ${body.length})`,
      'bad_format',
      BINARY_HEADER,
    );
  }
  const { header, data } = parseJson(body, length, shapes);
  return { header, data, binary: body.subarray(length) };
}

function parseJson(body: Buffer, length: number, shapes: RequestShapes | undefined): ParsedRequest {
  try {
    return shapes ? shapes.parse(body, length) : { header: JSON.parse(body.toString('utf8', 0, length)) };
  } catch {
    throw new FormatError('the inference request is not valid JSON', 'bad_format');
  }
}

const labelDatatype = (contract: InputContract): string => {
  const labels = predictionLabels(contract);
  if (typeof labels[0] === 'string') return 'BYTES';
  return labels.every((label) => Number.isInteger(label)) ? 'INT64' : 'FP64';
};

/** What every request to a model reads from its contract, worked out once per loaded contract. */
interface ContractInputs {
  columns: string[];
  /**
   * The columns, and the inference id, each to the contract's own string: the request's columns are keyed by those,
   * so every later lookup (checks, feeds, capture) finds a key it has seen before.
   */
  known: Map<string, string>;
  /** Whether the inference id is a column of the contract (then it is data, not an extra input). */
  idIsColumn: boolean;
  /** The columns as messages list them. */
  list: string;
  /** Each output's datatype, as the model metadata lists it and the answer writes it. */
  outputTypes: Record<OutputName, string>;
}

const inputsByContract = new WeakMap<InputContract, ContractInputs>();

function contractInputs(contract: InputContract): ContractInputs {
  let inputs = inputsByContract.get(contract);
  if (!inputs) {
    const columns = columnsOf(contract);
    const known = new Map([...columns, INFERENCE_ID_FIELD].map((column) => [column, column]));
    const outputTypes = { label: labelDatatype(contract), probability: 'FP64', [INFERENCE_ID_FIELD]: 'BYTES' };
    inputs = { columns, known, idIsColumn: columns.includes(INFERENCE_ID_FIELD), list: columns.join(', '), outputTypes };
    inputsByContract.set(contract, inputs);
  }
  return inputs;
}

/** Model metadata (GET /v2/models/{name}): one input per column, the three outputs. */
export function modelMetadata(name: string, version: string, contract: InputContract) {
  return {
    name,
    versions: [version],
    platform: 'onnxruntime_onnx',
    inputs: contract.features.map((feature): TensorMetadata => ({ name: feature.column, datatype: feature.kind === 'numeric' ? 'FP64' : 'BYTES', shape: [-1] })),
    outputs: OUTPUTS.map((output): TensorMetadata => ({ name: output, datatype: contractInputs(contract).outputTypes[output], shape: [-1] })),
  };
}

/** How each number datatype's values are read (a Map: a datatype named like an Object method, "constructor", is none). */
const NUMBER_TYPES = new Map<string, { bytes: number; read: (buffer: Buffer, offset: number) => number }>([
  ['BOOL', { bytes: 1, read: (b, o) => b.readUInt8(o) }],
  ['UINT8', { bytes: 1, read: (b, o) => b.readUInt8(o) }],
  ['INT8', { bytes: 1, read: (b, o) => b.readInt8(o) }],
  ['UINT16', { bytes: 2, read: (b, o) => b.readUInt16LE(o) }],
  ['INT16', { bytes: 2, read: (b, o) => b.readInt16LE(o) }],
  ['UINT32', { bytes: 4, read: (b, o) => b.readUInt32LE(o) }],
  ['INT32', { bytes: 4, read: (b, o) => b.readInt32LE(o) }],
  ['UINT64', { bytes: 8, read: (b, o) => Number(b.readBigUInt64LE(o)) }],
  ['INT64', { bytes: 8, read: (b, o) => Number(b.readBigInt64LE(o)) }],
  ['FP32', { bytes: 4, read: (b, o) => b.readFloatLE(o) }],
  ['FP64', { bytes: 8, read: (b, o) => b.readDoubleLE(o) }],
]);

/** An output a request asks for, and whether in binary (the binary tensor data extension). */
interface RequestedOutput {
  name: OutputName;
  binary: boolean;
}

/**
 * The door for POST /v2/models/{name}[/versions/{version}]/infer, one per request: it keeps the request's id and
 * the outputs asked for (and which of them in binary), which its answer follows.
 */
export class OpenInferenceDoor implements Door {
  readonly name = 'open_inference';
  private readonly inputs: ContractInputs;
  requestId?: string;
  wanted?: RequestedOutput[];
  /** The request's binary_data_output: every output not asked for otherwise comes in binary. */
  binaryOutputs = false;

  constructor(
    contract: InputContract,
    private readonly modelName: string,
  ) {
    this.inputs = contractInputs(contract);
  }

  rows(body: unknown): RawColumns {
    const { header, data, binary } = body as InferRequest;
    const { columns: contractColumns, known, idIsColumn, list } = this.inputs;
    if (header === null || typeof header !== 'object' || Array.isArray(header)) {
      throw new FormatError('the inference request must be an object with "inputs": [{"name", "shape", "datatype", "data"}, …]', 'bad_format');
    }
    const request = header as { id?: unknown; inputs?: unknown; outputs?: unknown; parameters?: { binary_data_output?: unknown } };
    if (typeof request.id === 'string') this.requestId = request.id;
    this.binaryOutputs = request.parameters?.binary_data_output === true;
    this.wanted = requestedOutputs(request.outputs, this.binaryOutputs);
    if (!Array.isArray(request.inputs) || request.inputs.length === 0) {
      throw new FormatError(`"inputs" must be a list of tensors, one per column (${list})`, 'bad_format', 'inputs');
    }
    let offset = 0;
    let rows: number | undefined;
    let first = '';
    // An input sent twice keeps its last values, as a record with a field written twice would.
    const columns = new Map<string, RawValue[]>();
    const tensors = request.inputs as RequestTensor[];
    for (let i = 0; i < tensors.length; i++) {
      const tensor = tensors[i]!;
      const sentName = typeof tensor?.name === 'string' ? tensor.name : '';
      const name = known.get(sentName);
      if (name === undefined) {
        throw new FormatError(
          `input "${sentName}" is not a column of this model: send one input per column (${list}) and optionally "${INFERENCE_ID_FIELD}"`,
          'unknown_input',
          sentName,
        );
      }
      const count = rowsOf(tensor, name);
      if (rows !== undefined && count !== rows) {
        throw new FormatError(`input "${name}" has ${count} rows, "${first}" ${rows}: every input needs one value per row`, 'bad_tensor', name);
      }
      if (rows === undefined) [rows, first] = [count, name];
      const size = tensor.parameters?.binary_data_size;
      if (size !== undefined) {
        if (!binary || typeof size !== 'number' || offset + size > binary.length) {
          throw new FormatError(`input "${name}": binary_data_size ${JSON.stringify(size)} runs past the ${binary?.length ?? 0} binary bytes sent`, 'bad_tensor', name);
        }
        columns.set(name, binaryValues(binary, offset, size, tensor.datatype, count, name));
        offset += size;
      } else {
        columns.set(name, jsonValues(data?.[i] ?? tensor.data, count, name));
      }
    }
    // Every key is a known name, so as many keys as the contract has columns (and the id, when sent) means none is missing.
    const missing =
      columns.size === contractColumns.length + (!idIsColumn && columns.has(INFERENCE_ID_FIELD) ? 1 : 0) ? undefined : contractColumns.find((column) => !columns.has(column));
    if (missing !== undefined) {
      throw new FormatError(`input "${missing}" is missing: send one input per column (${list}); its values may be null where unknown`, 'missing_input', missing);
    }
    return rowsOfColumns(rows!, columns);
  }

  /**
   * The inference response, written directly rather than built for JSON.stringify (half the cost on the one-row
   * requests where a door's fixed costs show): `{model_name, model_version, id?, parameters: {deployment},
   * outputs: [{name, datatype, shape, data}, …]}` as JSON.stringify writes it (test/rows.test.ts holds it to that).
   * Outputs asked for in binary carry `parameters: {binary_data_size}` instead of data, and their bytes follow the
   * JSON in the order of the outputs, the JSON's length in Inference-Header-Content-Length.
   */
  answer(scored: ScoredRows): WrittenBody {
    const n = scored.predictions.length;
    const names = this.wanted ?? (scored.ids.length ? OUTPUTS : OUTPUTS.filter((name) => name !== INFERENCE_ID_FIELD)).map((name) => ({ name, binary: this.binaryOutputs }));
    let outputs = '';
    let binaryBytes = 0;
    const tensors: { datatype: string; data: readonly (string | number)[] }[] = [];
    for (const { name, binary } of names) {
      const datatype = this.inputs.outputTypes[name];
      const data = name === 'label' ? scored.predictions : name === 'probability' ? scored.probabilities : scored.ids;
      const start = `${outputs ? ',' : ''}{"name":"${name}","datatype":"${datatype}","shape":[${n}],`;
      if (binary) {
        const size = tensorSize(datatype, data);
        tensors.push({ datatype, data });
        binaryBytes += size;
        outputs += `${start}"parameters":{"binary_data_size":${size}}}`;
      } else {
        outputs += `${start}"data":[${jsonList(data)}]}`;
      }
    }
    const id = this.requestId !== undefined ? `,"id":${JSON.stringify(this.requestId)}` : '';
    const json = `{"model_name":${JSON.stringify(this.modelName)},"model_version":${JSON.stringify(scored.model.version)}${id},"parameters":{"deployment":${JSON.stringify(scored.deployment)}},"outputs":[${outputs}]}`;
    if (tensors.length === 0) return new WrittenBody(json);
    const headerLength = Buffer.byteLength(json);
    const body = Buffer.allocUnsafe(headerLength + binaryBytes);
    let at = body.write(json, 0);
    for (const { datatype, data } of tensors) at = writeTensor(body, at, datatype, data);
    return new WrittenBody(body, 'application/octet-stream', { [BINARY_HEADER]: String(headerLength) });
  }
}

/** The values of a list as JSON.stringify writes them between its brackets. */
function jsonList(values: readonly (string | number)[]): string {
  let text = '';
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    text += (i === 0 ? '' : ',') + (typeof value === 'number' ? jsonNumber(value) : JSON.stringify(value));
  }
  return text;
}

/** The outputs a request lists (each in binary if its binary_data says so, else as binary_data_output says), or undefined. */
function requestedOutputs(outputs: unknown, binaryOutputs: boolean): RequestedOutput[] | undefined {
  if (outputs === undefined) return undefined;
  if (!Array.isArray(outputs)) throw new FormatError(`"outputs" must be a list like [{"name": "probability"}]`, 'bad_format', 'outputs');
  return outputs.map((output: { name?: unknown; parameters?: { binary_data?: unknown } }): RequestedOutput => {
    const name = typeof output?.name === 'string' ? output.name : '';
    if (!(OUTPUTS as readonly string[]).includes(name)) {
      throw new FormatError(`output "${name}" does not exist: ask for ${OUTPUTS.map((known) => `"${known}"`).join(', ')}`, 'bad_format', 'outputs');
    }
    const binary = output.parameters?.binary_data;
    return { name: name as OutputName, binary: typeof binary === 'boolean' ? binary : binaryOutputs };
  });
}

/** The bytes of an output's values in the binary tensor data extension (`writeTensor`). */
function tensorSize(datatype: string, values: readonly (string | number)[]): number {
  if (datatype !== 'BYTES') return values.length * NUMBER_TYPES.get(datatype)!.bytes;
  let size = 0;
  for (const value of values) size += 4 + Buffer.byteLength(String(value));
  return size;
}

/** An integer as a little-endian INT64 (labels are small: they skip the BigInt). */
function writeInt64(bytes: Buffer, value: number, at: number): number {
  if (value >= -0x80000000 && value <= 0x7fffffff) return bytes.writeInt32LE(value < 0 ? -1 : 0, bytes.writeInt32LE(value, at));
  return bytes.writeBigInt64LE(BigInt(value), at);
}

/** Writes an output's values at `at` (little-endian numbers; BYTES as a 4-byte length, then UTF-8); returns where it ends. */
function writeTensor(bytes: Buffer, at: number, datatype: string, values: readonly (string | number)[]): number {
  for (const value of values) {
    if (datatype === 'BYTES') {
      const length = bytes.write(String(value), at + 4);
      at = bytes.writeUInt32LE(length, at) + length;
    } else {
      at = datatype === 'INT64' ? writeInt64(bytes, Number(value), at) : bytes.writeDoubleLE(Number(value), at);
    }
  }
  return at;
}

function rowsOf(tensor: RequestTensor, name: string): number {
  const shape = tensor.shape;
  const fits = Array.isArray(shape) && (shape.length === 1 || (shape.length === 2 && shape[1] === 1)) && Number.isInteger(shape[0]) && shape[0] >= 0;
  if (!fits) {
    throw new FormatError(`input "${name}" has shape ${JSON.stringify(shape)}; send [N] or [N, 1], one value per row`, 'bad_tensor', name);
  }
  return shape[0] as number;
}

function jsonValues(data: unknown, count: number, name: string): RawValue[] {
  if (!Array.isArray(data)) throw new FormatError(`input "${name}" has no "data" list (or binary_data_size)`, 'bad_tensor', name);
  // Row-major data may come nested ([[41], [52]] for shape [N, 1]).
  const flat = data.length > 0 && Array.isArray(data[0]) ? (data as unknown[][]).flat() : data;
  if (flat.length !== count) throw new FormatError(`input "${name}" has ${flat.length} values for shape [${count}]`, 'bad_tensor', name);
  return flat as RawValue[];
}

/** The `count` values of one input, from its `size` bytes at `start` of the binary part. */
function binaryValues(bytes: Buffer, start: number, size: number, datatype: unknown, count: number, name: string): RawValue[] {
  const values: RawValue[] = new Array<RawValue>(count);
  const end = start + size;
  if (datatype === 'BYTES') {
    let at = start;
    for (let i = 0; i < count; i++) {
      if (at + 4 > end) throw new FormatError(`input "${name}": BYTES data ends after ${i} of ${count} values`, 'bad_tensor', name);
      const length = bytes.readUInt32LE(at);
      if (at + 4 + length > end) throw new FormatError(`input "${name}": BYTES data ends inside value ${i} of ${count}`, 'bad_tensor', name);
      values[i] = bytes.toString('utf8', at + 4, at + 4 + length);
      at += 4 + length;
    }
    return values;
  }
  const type = typeof datatype === 'string' ? NUMBER_TYPES.get(datatype) : undefined;
  if (!type) {
    throw new FormatError(`input "${name}" has datatype ${JSON.stringify(datatype)}; send BYTES, BOOL, INT8…INT64, UINT8…UINT64, FP32 or FP64`, 'bad_tensor', name);
  }
  if (size !== count * type.bytes) {
    throw new FormatError(`input "${name}": ${size} binary bytes for ${count} ${datatype} values (${count * type.bytes} expected)`, 'bad_tensor', name);
  }
  for (let i = 0; i < count; i++) {
    const value = type.read(bytes, start + i * type.bytes);
    // NaN is how a float tensor says "unknown" (JSON has no NaN: null there).
    values[i] = datatype === 'BOOL' ? value !== 0 : Number.isNaN(value) ? null : value;
  }
  return values;
}
