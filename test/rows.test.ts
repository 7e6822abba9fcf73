// A columnar body (dataframe_split, `inputs` as columns, Open Inference tensors) is never turned into records: its
// columns are checked, fed to ONNX and captured as they are. Each step must do exactly what it does for the same rows
// sent as records: the same refusal, the same tensors, the same captured text.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkColumns, checkRecords, recordsOfColumns, toFeeds, type InputContract, type RawColumns, type RawValue } from '../src/model/input-contract';
import { rowsOfColumns, ScoringError } from '../src/model/scoring';
import { CaptureWriter } from '../src/serving/capture';
import { takeInferenceIds } from '../src/serving/endpoint-server';
import { FormatError, WrittenBody } from '../src/serving/protocols/door';
import { inferRequestOf, OpenInferenceDoor } from '../src/serving/protocols/open-inference';

const contract: InputContract = {
  version: 1,
  target: 'HighAmount',
  positive_class: '1',
  threshold: 0.5,
  features: [
    { column: 'Age', kind: 'numeric', inputs: [{ name: 'Age', type: 'double' }] },
    { column: 'City', kind: 'categorical', inputs: [{ name: 'City', type: 'string' }] },
    {
      column: 'Opened',
      kind: 'date',
      format: 'YYYY-MM-DD',
      inputs: [
        { name: 'Opened_year', type: 'double', part: 'year' },
        { name: 'Opened_day_number', type: 'double', part: 'day_number' },
      ],
    },
  ],
};

/** An Open Inference door that has read a JSON request of `rows` unknown values per column, plus `extra` fields. */
function doorAfter(model: InputContract, name: string, rows: number, extra: object): OpenInferenceDoor {
  const door = new OpenInferenceDoor(model, name);
  const inputs = ['Age', 'City', 'Opened'].map((column) => ({ name: column, datatype: 'BYTES', shape: [rows], data: Array<null>(rows).fill(null) }));
  door.rows(inferRequestOf(Buffer.from(JSON.stringify({ inputs, ...extra })), undefined));
  return door;
}

const columnsOf = (columns: Record<string, RawValue[]>): RawColumns => ({ count: Object.values(columns)[0]!.length, columns: new Map(Object.entries(columns)) });

const good = { Age: [41, '52', null, ' 7 '], City: ['Lyon', null, '', 'Zürich'], Opened: ['2020-02-29', null, '2021-1-5', 'n/a'] };

/** What a check throws, as [class, message, field, reason], or undefined when it passes. */
function thrown(check: () => void): unknown[] | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    const { name, message, field, reason } = error as Error & { field?: string; reason?: string };
    return [name, message, field, reason];
  }
}

describe('columnar rows', () => {
  it('are refused with the very error their records get, naming the first bad row', () => {
    const cases: Record<string, RawValue[]>[] = [
      good,
      { Age: good.Age, City: good.City },
      { ...good, Extra: [1, 2, 3, 4] },
      { ...good, Age: [41, 52, 'forty', 'x'] },
      { ...good, Age: [41, 52, 60, [1] as unknown as RawValue] },
      { ...good, City: [{ a: 1 } as unknown as RawValue, 'x', 'y', 'z'] },
      { ...good, Opened: ['2020-02-29', '2021-02-29', null, null] },
      { ...good, Opened: ['2020-02-29', null, true, null] },
      { ...good, Age: [true, 1, 2, 3] },
      { ...good, Age: [Number.NaN, 1, 2, 3] },
      { ...good, ['__proto__']: [null, null, null, null] },
    ];
    for (const columns of cases) {
      const rows = columnsOf(columns);
      const expected = thrown(() => checkRecords(contract, recordsOfColumns(rows)));
      assert.deepEqual(
        thrown(() => checkColumns(contract, rows)),
        expected,
        JSON.stringify(Object.keys(columns)),
      );
    }
    assert.equal(
      thrown(() => checkColumns(contract, columnsOf(good))),
      undefined,
      'good rows pass',
    );
    assert.deepEqual(thrown(() => checkColumns(contract, columnsOf({ ...good, Age: [41, 52, 'forty', 'x'] })))?.slice(2), ['Age', 'bad_number']);
  });

  it('feed the model the tensors their records feed it', () => {
    const rows = columnsOf(good);
    const fromColumns = toFeeds(contract, rows);
    const fromRecords = toFeeds(contract, recordsOfColumns(rows));
    assert.deepEqual(Object.keys(fromColumns), ['Age', 'City', 'Opened_year', 'Opened_day_number']);
    for (const [name, tensor] of Object.entries(fromRecords)) {
      assert.deepEqual([fromColumns[name]!.type, fromColumns[name]!.dims, [...fromColumns[name]!.data]], [tensor.type, tensor.dims, [...tensor.data]], name);
    }
    assert.deepEqual([...fromColumns.City!.data], ['Lyon', '__missing__', '__missing__', 'Zürich']);
  });

  it('are batches of 1 to 1,000 rows, refused as records would be outside that', () => {
    assert.throws(
      () => rowsOfColumns(0, new Map()),
      (error: ScoringError) => error.status === 400 && error.reason === 'no_records',
    );
    assert.throws(
      () => rowsOfColumns(1_001, new Map()),
      (error: ScoringError) => error.status === 413 && error.reason === 'too_many_records',
    );
  });

  it('give up an inference id column as records give up the field, and fail on a bad id as records do', () => {
    const rows = columnsOf({ ...good, inference_id: ['order-1', null, 42, undefined] });
    const { rows: stripped, ids } = takeInferenceIds(rows, contract);
    assert.deepEqual([...(stripped as RawColumns).columns.keys()], ['Age', 'City', 'Opened']);
    assert.equal(rows.columns.size, 4, 'the sent rows are left as they are');
    assert.deepEqual([ids[0], ids[2]], ['order-1', '42']);
    assert.match(ids[1]!, /^[0-9a-f-]{36}$/);
    const bad = columnsOf({ ...good, inference_id: ['a', 'b', '', 'c'] });
    assert.deepEqual(
      thrown(() => takeInferenceIds(bad, contract)),
      thrown(() => takeInferenceIds(recordsOfColumns(bad), contract)),
    );
    assert.equal(takeInferenceIds(columnsOf(good), contract, false).ids.length, 0, 'a mirrored request makes no ids');
  });

  it('are captured as JSON.stringify writes their records, escapes, odd numbers and left-out fields included', async () => {
    const root = mkdtempSync(join(tmpdir(), 'modelship-rows-'));
    const writer = new CaptureWriter({ root, flushIntervalMs: 60_000 });
    const rows = columnsOf({
      Age: [41, -0, 1e21, 0.1 + 0.2, Number.NaN, Number.POSITIVE_INFINITY, null, undefined],
      'Say "hi"\\': ['plain', 'quote " and \\ backslash', 'tab\tnew\nline\u0001', 'é 🏔', '\ud800 lone', '\u2028', '', true],
      ['__proto__']: [false, true, null, 'x', 1, 2, 3, undefined],
    });
    const ids = Array.from({ length: rows.count }, (_, i) => `row-${i}`);
    writer.served({
      endpoint: 'e1',
      deployment: 'blue',
      model: { name: 'm', version: '1', sha256: 'abc' },
      at: new Date(),
      latencyMs: 1,
      inputs: rows,
      ids,
      labels: ids.map(() => 1),
      probabilities: ids.map(() => 0.5),
      percent: 100,
    });
    await writer.close();
    const lines = readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .flatMap((entry) => readFileSync(join(entry.parentPath, entry.name), 'utf8').split('\n').filter(Boolean));
    const inputs = lines.map((line) => line.slice(line.indexOf('"input":') + 8, line.indexOf(',"prediction":')));
    assert.deepEqual(
      inputs,
      recordsOfColumns(rows).map((record) => JSON.stringify(record)),
    );
    assert.equal(inputs[7], '{"Say \\"hi\\"\\\\":true}', 'undefined values are left out, as JSON.stringify leaves them');
  });

  it('come from Open Inference tensors alike as JSON data and as binary, which may not run past its bytes', () => {
    const door = () => new OpenInferenceDoor(contract, 'm');
    const text = (values: string[]) => Buffer.concat(values.flatMap((value) => [Buffer.from(new Uint32Array([Buffer.byteLength(value)]).buffer), Buffer.from(value)]));
    const tensors = [
      { name: 'Age', datatype: 'FP64', data: Buffer.from(new Float64Array([41, Number.NaN]).buffer) },
      { name: 'City', datatype: 'BYTES', data: text(['Lyon', 'Zürich']) },
      { name: 'Opened', datatype: 'BYTES', data: text(['2020-02-29', '']) },
    ];
    const header = Buffer.from(
      JSON.stringify({ inputs: tensors.map(({ name, datatype, data }) => ({ name, datatype, shape: [2, 1], parameters: { binary_data_size: data.length } })) }),
    );
    const binary = door().rows(inferRequestOf(Buffer.concat([header, ...tensors.map((t) => t.data)]), String(header.length)));
    const json = door().rows(
      inferRequestOf(
        Buffer.from(
          JSON.stringify({
            inputs: [
              { name: 'Age', datatype: 'FP64', shape: [2], data: [41, null] },
              { name: 'City', datatype: 'BYTES', shape: [2], data: ['Lyon', 'Zürich'] },
              { name: 'Opened', datatype: 'BYTES', shape: [2], data: ['2020-02-29', ''] },
            ],
          }),
        ),
        undefined,
      ),
    );
    assert.deepEqual(recordsOfColumns(binary), recordsOfColumns(json));
    assert.deepEqual(recordsOfColumns(json)[1], { Age: null, City: 'Zürich', Opened: '' });
    // The last value says it has 10 bytes; only 0 follow.
    const short = Buffer.concat([tensors[2]!.data.subarray(0, -4), Buffer.from(new Uint32Array([10]).buffer)]);
    const shortHeader = Buffer.from(JSON.stringify({ inputs: [{ name: 'Opened', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: short.length } }] }));
    assert.throws(
      () => door().rows(inferRequestOf(Buffer.concat([shortHeader, short]), String(shortHeader.length))),
      (error: FormatError) => error.reason === 'bad_tensor' && error.field === 'Opened' && /ends inside value 1 of 2/.test(error.message),
    );
    // A datatype named like an Object method is no datatype.
    const oddHeader = Buffer.from(JSON.stringify({ inputs: [{ name: 'Age', datatype: 'constructor', shape: [1], parameters: { binary_data_size: 8 } }] }));
    assert.throws(
      () => door().rows(inferRequestOf(Buffer.concat([oddHeader, Buffer.alloc(8)]), String(oddHeader.length))),
      (error: FormatError) => error.reason === 'bad_tensor' && /has datatype "constructor"; send BYTES/.test(error.message),
    );
  });

  it('answer Open Inference in the very text JSON.stringify writes for the response object', () => {
    const scored = (predictions: (string | number)[], probabilities: number[], ids: string[]) => ({
      predictions,
      probabilities,
      ids,
      model: { name: 'm', version: '7"' },
      deployment: 'blue\u2028',
    });
    // What the door answered before it wrote the text itself, the Open Inference response as an object.
    const expected = (door: { requestId?: string; wanted?: { name: string }[] }, labelType: string, s: ReturnType<typeof scored>, name: string) => {
      const all: Record<string, object> = {
        label: { name: 'label', datatype: labelType, shape: [s.predictions.length], data: s.predictions },
        probability: { name: 'probability', datatype: 'FP64', shape: [s.predictions.length], data: s.probabilities },
        inference_id: { name: 'inference_id', datatype: 'BYTES', shape: [s.predictions.length], data: s.ids },
      };
      const names = door.wanted?.map((output) => output.name) ?? (s.ids.length ? ['label', 'probability', 'inference_id'] : ['label', 'probability']);
      return JSON.stringify({
        model_name: name,
        model_version: s.model.version,
        ...(door.requestId !== undefined ? { id: door.requestId } : {}),
        parameters: { deployment: s.deployment },
        outputs: names.map((output) => all[output]),
      });
    };
    const textLabels = { ...contract, classes: ['no "big"', 'yes\\ü\ud800'] } as InputContract;
    const cases: [InputContract, object, ReturnType<typeof scored>][] = [
      [contract, {}, scored([1, 0], [0.731, -0], ['a', 'b"\n'])],
      [contract, { id: 'req "1"\u0007' }, scored([1], [Number.NaN], ['x'])],
      [contract, { outputs: [{ name: 'probability' }, { name: 'label' }] }, scored([0], [1e21], ['x'])],
      [contract, {}, scored([1, 1], [5e-324, 0.5], [])],
      [textLabels, {}, scored(['yes\\ü\ud800', 'no "big"'], [0.9, 0.1], ['1', '2'])],
    ];
    for (const [model, extra, s] of cases) {
      const door = doorAfter(model, 'model "m"', 1, extra);
      const answer = door.answer(s);
      assert.ok(answer instanceof WrittenBody);
      assert.equal(answer.contentType, 'application/json');
      assert.equal(answer.body, expected(door, model.classes ? 'BYTES' : 'INT64', s, 'model "m"'));
    }
  });

  it('answer Open Inference outputs in binary where asked, holding the values the JSON answer holds', () => {
    const scored = { predictions: [1, 0, 1], probabilities: [0.731, Number.NaN, 1e-300], ids: ['a', 'ü"', ''], model: { name: 'm', version: '7' }, deployment: 'blue' };
    const textScored = { ...scored, predictions: ['yes ü', 'no', 'yes ü'] };
    const textLabels = { ...contract, classes: ['no', 'yes ü'] } as InputContract;
    // Integer labels as INT64, one beyond 32 bits and one negative.
    const bigLabels = { ...contract, classes: ['-3', '5000000000'] } as InputContract;
    const bigScored = { ...scored, predictions: [-3, 5_000_000_000, -3] };
    const answerTo = (model: InputContract, extra: object, s: typeof scored | typeof textScored) => doorAfter(model, 'm', 3, extra).answer(s);
    /** The answer's outputs with their data, binary tensors decoded here (NaN read as the JSON answer's null). */
    const decoded = (answer: WrittenBody) => {
      const body = Buffer.from(answer.body);
      const length = answer.contentType === 'application/json' ? body.length : Number(answer.headers['inference-header-content-length']);
      const header = JSON.parse(body.subarray(0, length).toString()) as {
        outputs: { name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size: number } }[];
      };
      let at = length;
      const binary: string[] = [];
      const outputs = header.outputs.map(({ parameters, ...output }) => {
        if (!parameters) return output;
        binary.push(output.name);
        const end = at + parameters.binary_data_size;
        const data: unknown[] = [];
        while (at < end) {
          if (output.datatype === 'BYTES') {
            const size = body.readUInt32LE(at);
            data.push(body.toString('utf8', at + 4, at + 4 + size));
            at += 4 + size;
          } else {
            const value = output.datatype === 'INT64' ? Number(body.readBigInt64LE(at)) : body.readDoubleLE(at);
            data.push(Number.isNaN(value) ? null : value);
            at += 8;
          }
        }
        return { ...output, data };
      });
      assert.equal(at, body.length, 'every byte belongs to an output');
      return { ...header, outputs, binary };
    };
    const cases: [InputContract, object, typeof scored | typeof textScored, string[]][] = [
      [contract, { parameters: { binary_data_output: true } }, scored, ['label', 'probability', 'inference_id']],
      [contract, { outputs: [{ name: 'label', parameters: { binary_data: true } }, { name: 'probability' }] }, scored, ['label']],
      [
        contract,
        { parameters: { binary_data_output: true }, outputs: [{ name: 'probability', parameters: { binary_data: false } }, { name: 'inference_id' }] },
        scored,
        ['inference_id'],
      ],
      [contract, { parameters: { binary_data_output: true }, outputs: [{ name: 'probability', parameters: { binary_data: false } }] }, scored, []],
      [textLabels, { parameters: { binary_data_output: true } }, textScored, ['label', 'probability', 'inference_id']],
      [bigLabels, { parameters: { binary_data_output: true } }, bigScored, ['label', 'probability', 'inference_id']],
    ];
    for (const [model, extra, s, binary] of cases) {
      const answer = answerTo(model, extra, s);
      assert.equal(answer.contentType, binary.length ? 'application/octet-stream' : 'application/json');
      const { outputs: jsonOutputs } = decoded(
        answerTo(model, { ...extra, parameters: {}, outputs: (extra as { outputs?: { name: string }[] }).outputs?.map(({ name }) => ({ name })) }, s),
      );
      const got = decoded(answer);
      assert.deepEqual(got.binary, binary);
      assert.deepEqual(got.outputs, jsonOutputs);
    }
  });
});
