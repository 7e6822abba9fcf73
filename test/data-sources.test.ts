// Fresh data: a folder of CSV partitions narrowed by a window (newest N files, or a period ending at the newest
// file's date), joined with the header once and every file recorded with its sha256 and rows; a differing header
// and an empty selection refused with the file, the folder and the window named; an endpoint's captured records
// with outcomes added as rows, a bad one refused with its inference id and field. No Temporal: the activity runs
// in MockActivityEnvironment.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { parse } from 'csv-parse/sync';
import { createDataActivities, type ValidateDataInput, type ValidateDataResult } from '../src/activities/data';
import { localEndpointStateDir } from '../src/activities/monitoring';
import { dataContractSchema } from '../src/config/schema';
import { sha256File } from '../src/data/csv';
import { FeedbackDataError, writeFeedbackRows } from '../src/data/feedback-rows';
import { dateInName, DataSourceError, joinCsvFiles, selectInput } from '../src/data/sources';
import { capturePartition, CAPTURE_DIR, CAPTURE_FORMAT, FEEDBACK_DIR, type CaptureRecord, type OutcomeRecord } from '../src/shared/capture';
import { seededRandom } from './support/random';

const HEADER = ['id', 'age', 'kind', 'day', 'y'];
const contract = dataContractSchema.parse({
  target: 'y',
  numeric_features: ['age'],
  categorical_features: ['kind'],
  date_features: ['day'],
  date_format: 'YYYY-MM-DD',
  id_columns: ['id'],
  ranges: { age: { min: 18, max: 120 } },
});

/** Rows of a partition: ids unique across partitions, a target unrelated to the features. */
function rows(partition: number, count: number): string[][] {
  const next = seededRandom(partition + 7);
  return Array.from({ length: count }, (_, i) => [
    `p${partition}-${i}`,
    String(18 + Math.floor(next() * 60)),
    ['a', 'b', 'c'][Math.floor(next() * 3)]!,
    '2026-01-15',
    next() < 0.3 ? '1' : '0',
  ]);
}

const csvText = (header: string[], body: string[][]) => [header, ...body].map((r) => r.join(',')).join('\n') + '\n';

function folderOf(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-sources-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Four daily partitions with dates in their names (two spellings), a README that is not data. */
function dailyFolder() {
  return folderOf({
    'tx_2026-01-01.csv': csvText(HEADER, rows(1, 30)),
    'tx_2026-03-01.csv': csvText(HEADER, rows(2, 30)),
    'tx_20260330.csv': csvText(HEADER, rows(3, 30)),
    'tx_2026-03-31.csv': csvText(HEADER, rows(4, 30)),
    'README.txt': 'not data',
  });
}

const names = (files: { path: string }[]) => files.map((f) => basename(f.path));

describe('data sources: folders and windows', () => {
  it('reads dates from file names, not from longer numbers or impossible dates', () => {
    assert.equal(dateInName('tx_2026-03-31.csv'), Date.UTC(2026, 2, 31));
    assert.equal(dateInName('part-20260330-a.csv'), Date.UTC(2026, 2, 30));
    assert.equal(dateInName('export_20260330123000.csv'), undefined);
    assert.equal(dateInName('tx_2026-02-30.csv'), undefined);
  });

  it('a folder without a window: every CSV file, oldest first, joined with the header once and each file recorded', async () => {
    const dir = dailyFolder();
    const selection = await selectInput(dir, undefined);
    assert.deepEqual(names(selection.files), ['tx_2026-01-01.csv', 'tx_2026-03-01.csv', 'tx_20260330.csv', 'tx_2026-03-31.csv']);
    assert.equal(selection.since, undefined);
    const out = join(dir, 'joined.out');
    const joined = await joinCsvFiles(selection.files, out);
    const written = parse(readFileSync(out)) as string[][];
    assert.deepEqual(written[0], HEADER);
    assert.equal(written.length, 1 + 4 * 30);
    assert.equal(written.filter((r) => r[0] === 'id').length, 1, 'the header once');
    assert.deepEqual(written[1], rows(1, 30)[0]);
    assert.deepEqual(
      joined.sources.map((s) => [s.kind, basename(s.path), s.rows, s.date]),
      [
        ['file', 'tx_2026-01-01.csv', 30, '2026-01-01'],
        ['file', 'tx_2026-03-01.csv', 30, '2026-03-01'],
        ['file', 'tx_20260330.csv', 30, '2026-03-30'],
        ['file', 'tx_2026-03-31.csv', 30, '2026-03-31'],
      ],
    );
    for (const source of joined.sources) assert.equal(source.sha256, await sha256File(source.path));
  });

  it('newest N files', async () => {
    const selection = await selectInput(dailyFolder(), 2);
    assert.deepEqual(names(selection.files), ['tx_20260330.csv', 'tx_2026-03-31.csv']);
    assert.equal(selection.since, Date.UTC(2026, 2, 30));
  });

  it("a period ends with the newest file's day: 30d keeps 2026-03-02 to 2026-03-31; an undated file goes by its modification time", async () => {
    const dir = dailyFolder();
    assert.deepEqual(names((await selectInput(dir, '30d')).files), ['tx_20260330.csv', 'tx_2026-03-31.csv']);
    assert.equal((await selectInput(dir, '30d')).since, Date.UTC(2026, 2, 2));
    assert.deepEqual(names((await selectInput(dir, '31d')).files), ['tx_2026-03-01.csv', 'tx_20260330.csv', 'tx_2026-03-31.csv']);
    const undated = join(dir, 'late.csv');
    writeFileSync(undated, csvText(HEADER, rows(5, 10)));
    const modified = new Date('2026-04-10T12:00:00Z');
    utimesSync(undated, modified, modified);
    // The period now ends at late.csv's modification time: 2026-03-31 is 10.5 days before it.
    assert.deepEqual(names((await selectInput(dir, '11d')).files), ['tx_2026-03-31.csv', 'late.csv']);
    const joined = await joinCsvFiles((await selectInput(dir, '11d')).files, join(dir, 'joined.out'));
    assert.equal(joined.sources[1]!.date, '2026-04-10T12:00:00.000Z');
  });

  it('refuses a file whose header differs, naming the file and the columns', async () => {
    const dir = folderOf({
      'a_2026-01-01.csv': csvText(HEADER, rows(1, 5)),
      'b_2026-01-02.csv': csvText(['id', 'age', 'kind', 'day', 'target'], rows(2, 5)),
      'c_2026-01-03.csv': csvText(['id', 'kind', 'age', 'day', 'y'], rows(3, 5)),
    });
    const selection = await selectInput(dir, undefined);
    await assert.rejects(
      joinCsvFiles(selection.files, join(dir, 'joined.out')),
      (error: Error) => error instanceof DataSourceError && /b_2026-01-02\.csv: its header differs from a_2026-01-01\.csv's \(it lacks "y"; it adds "target"\)/.test(error.message),
    );
    await assert.rejects(
      joinCsvFiles([selection.files[0]!, selection.files[2]!], join(dir, 'joined.out')),
      /c_2026-01-03\.csv: its header differs .*another order: column 2 is "kind" where the first file has "age"/,
    );
    assert.deepEqual((await selectInput(dir, undefined)).files.length, 3, 'no joined file or partial file was left among the partitions');
  });

  it('refuses an empty selection naming the folder and the window, and a window on a single file', async () => {
    const empty = folderOf({ 'notes.txt': 'x' });
    await assert.rejects(
      selectInput(empty, '90d'),
      (error: Error) => error instanceof DataSourceError && error.message.includes(empty) && error.message.includes('input_window 90d'),
    );
    await assert.rejects(selectInput(empty, undefined), /holds no CSV files .*no input_window/);
    const file = join(dailyFolder(), 'tx_2026-01-01.csv');
    await assert.rejects(selectInput(file, 3), /input_window 3 \(the newest 3 files\) needs input_data_path to be a folder/);
    await assert.rejects(selectInput(dailyFolder(), 'soon'), /input_window "soon" is neither a whole number of files nor a duration/);
  });
});

/** An endpoint's state dir with captured records (one hour in January, one in April) and outcomes for some. */
function endpointState(options: { records: { id: string; input: Record<string, unknown>; time: string }[]; outcomes: [string, string | number][] }) {
  const workerState = mkdtempSync(join(tmpdir(), 'modelship-feedback-rows-'));
  const state = localEndpointStateDir(workerState);
  for (const record of options.records) {
    const dir = join(state, CAPTURE_DIR, capturePartition('credit', 'blue', new Date(record.time)));
    mkdirSync(dir, { recursive: true });
    const line: CaptureRecord = {
      format: CAPTURE_FORMAT,
      inference_id: record.id,
      time: record.time,
      endpoint: 'credit',
      deployment: 'blue',
      model: { name: 'm', version: '1', sha256: 'a' },
      input: record.input,
      prediction: { label: 0, probability: 0.2 },
      latency_ms: 1,
    };
    writeFileSync(join(dir, 'part.jsonl'), `${JSON.stringify(line)}\n`, { flag: 'a' });
  }
  mkdirSync(join(state, FEEDBACK_DIR, 'credit'), { recursive: true });
  const outcomes = options.outcomes.map(([id, actual]): OutcomeRecord => ({ format: CAPTURE_FORMAT, inference_id: id, actual, received: '2026-04-02T00:00:00Z' }));
  writeFileSync(join(state, FEEDBACK_DIR, 'credit', 'labels.jsonl'), outcomes.map((o) => `${JSON.stringify(o)}\n`).join(''));
  return { workerState, captureRoot: join(state, CAPTURE_DIR), feedbackRoot: join(state, FEEDBACK_DIR) };
}

const input = (age: unknown, day = '2026-03-20') => ({ age, kind: 'b', day });
const records = [
  { id: 'old', input: input(40), time: '2026-01-05T10:00:00.000Z' },
  { id: 'r1', input: input(33), time: '2026-03-20T10:00:00.000Z' },
  { id: 'r2', input: { ...input(51), id: 'cust-9' }, time: '2026-03-20T10:30:00.000Z' },
  { id: 'unlabelled', input: input(60), time: '2026-03-21T08:00:00.000Z' },
];

describe('data sources: feedback rows', () => {
  it('captured records with an outcome become rows under the files’ header, the outcome as the class it equals', async () => {
    const state = endpointState({
      records,
      outcomes: [
        ['old', 0],
        ['r1', 1],
        ['r2', '0.0'],
        ['never-captured', 1],
      ],
    });
    const out = join(state.workerState, 'feedback.csv');
    const written = await writeFeedbackRows({ ...state, endpoint: 'credit', header: HEADER, contract, classes: new Set(['0', '1']), since: Date.UTC(2026, 2, 1), out });
    assert.deepEqual(
      parse(readFileSync(out)) as string[][],
      [HEADER, ['', '33', 'b', '2026-03-20', '1'], ['cust-9', '51', 'b', '2026-03-20', '0']],
      'old is before the window, unlabelled has no outcome',
    );
    assert.deepEqual([written.rows, written.notJoined], [2, 2], 'old (outside the window) and never-captured did not join');
  });

  it('refuses the release on a bad record, naming its inference id and field, and writes nothing', async () => {
    const state = endpointState({
      records: [...records, { id: 'r3', input: input('forty'), time: '2026-03-22T09:00:00.000Z' }, { id: 'r4', input: input(9), time: '2026-03-22T09:01:00.000Z' }],
      outcomes: [
        ['r1', 'maybe'],
        ['r3', 1],
        ['r4', 0],
      ],
    });
    const out = join(state.workerState, 'feedback.csv');
    await assert.rejects(writeFeedbackRows({ ...state, endpoint: 'credit', header: HEADER, contract, classes: new Set(['0', '1']), out }), (error: Error) => {
      assert.ok(error instanceof FeedbackDataError);
      assert.deepEqual(error.problems.sort(), [
        'feedback of endpoint credit: field "age" is not a number in 1 record(s): inference id "r3" (captured 2026-03-22T09:00:00.000Z): "forty"',
        'feedback of endpoint credit: field "age" is outside [18, 120] (data.ranges) in 1 record(s): inference id "r4" (captured 2026-03-22T09:01:00.000Z): 9',
        'feedback of endpoint credit: field "y" is not one of the target\'s classes ("0", "1") in 1 record(s): inference id "r1" (captured 2026-03-20T10:00:00.000Z): "maybe"',
      ]);
      return true;
    });
    assert.throws(() => readFileSync(out), /ENOENT/);
  });
});

async function validateData(input: ValidateDataInput, stateDir: string) {
  const env = new MockActivityEnvironment();
  const heartbeats: string[] = [];
  env.on('heartbeat', (details: { message?: string }) => heartbeats.push(details.message ?? ''));
  const result = (await env.run(createDataActivities({ stateDir }).validateData, input)) as ValidateDataResult;
  return { result, heartbeats };
}

describe('data sources: the validateData activity', () => {
  const settings = { contract, cvFolds: 2, testSplit: 0.25 };

  it('a folder in a window with feedback: validated joined data, every source with its sha256 and rows; a retry writes the same file', async () => {
    const dir = dailyFolder();
    const state = endpointState({ records, outcomes: [['r1', 1]] });
    const artifactsDir = join(dir, 'artifacts');
    const call = { ...settings, dataPath: dir, inputWindow: '31d', feedback: { endpoint: 'credit' }, artifactsDir };
    const { result, heartbeats } = await validateData(call, state.workerState);
    assert.equal(result.dataPath, join(artifactsDir, 'training_data.csv'));
    assert.deepEqual(
      result.sources!.map((s) => [s.kind, basename(s.path), s.rows, s.date, s.endpoint]),
      [
        ['file', 'tx_2026-03-01.csv', 30, '2026-03-01', undefined],
        ['file', 'tx_20260330.csv', 30, '2026-03-30', undefined],
        ['file', 'tx_2026-03-31.csv', 30, '2026-03-31', undefined],
        ['feedback', 'feedback_data.csv', 1, undefined, 'credit'],
      ],
    );
    assert.equal(result.rows, 91);
    assert.equal(result.sha256, await sha256File(result.dataPath!));
    for (const source of result.sources!) assert.equal(source.sha256, await sha256File(source.path));
    assert.ok(heartbeats.includes('joined 3/3 file(s) and the feedback rows: 91 rows'), heartbeats.join(' | '));
    const again = await validateData(call, state.workerState);
    assert.deepEqual(again.result, result, 'the same files give the same joined data');
  });

  it('one file: training reads it as it is, recorded as the one source', async () => {
    const dir = dailyFolder();
    const dataPath = join(dir, 'tx_2026-03-01.csv');
    const { result } = await validateData({ ...settings, dataPath, artifactsDir: join(dir, 'artifacts') }, dir);
    assert.equal(result.dataPath, dataPath);
    assert.deepEqual(result.sources, [{ kind: 'file', path: dataPath, sha256: await sha256File(dataPath), rows: 30, date: '2026-03-01' }]);
  });

  it('a bad feedback record fails the release without retries, naming the record and the field', async () => {
    const dir = dailyFolder();
    const state = endpointState({ records: [{ id: 'r9', input: input(30, '20/03/2026'), time: '2026-03-22T09:00:00.000Z' }], outcomes: [['r9', 1]] });
    await assert.rejects(
      validateData({ ...settings, dataPath: dir, feedback: { endpoint: 'credit' }, artifactsDir: join(dir, 'artifacts') }, state.workerState),
      (error: Error) =>
        error instanceof ApplicationFailure &&
        error.nonRetryable &&
        error.type === 'DataValidationFailed' &&
        /in the feedback of endpoint credit:\n {2}- feedback of endpoint credit: field "day" is not a date in the YYYY-MM-DD format in 1 record\(s\): inference id "r9"/.test(
          error.message,
        ),
    );
  });
});
