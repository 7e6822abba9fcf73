// The local test suite: the candidate ONNX file under onnxruntime-node, each case with its expected behaviour.
// A failed case blocks the release and names the case; the results are written to local_tests.json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { readRecords } from '../evaluation/evaluate';
import { OnnxModel, predictionLabels, type InputContract } from '../model/input-contract';
import { MAX_BATCH_RECORDS, ScoringError, scoreRecords } from '../model/scoring';
import { mlflowAccess, type MlflowDeps } from '../registry/artifact-store';
import type { TrainedModelRef } from '../workflows/training-api';
import { percentile } from '../shared/percentile';

export interface LocalTestInput {
  train: TrainedModelRef;
  artifactsDir: string;
  maxLatencyMs: number;
  /** Golden rows compared with the trainer's predictions. */
  goldenRows?: number;
}

export interface TestCase {
  name: string;
  passed: boolean;
  expected: string;
  observed: string;
}

export interface LatencyStats {
  calls: number;
  mean_ms: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
}

export interface LocalTestResult {
  passed: boolean;
  cases: TestCase[];
  failed: string[];
  latency: { single: LatencyStats; batch100: LatencyStats };
  resultsPath: string;
  /** Every timed single-record call (ms), for the review's latency histogram. */
  latencySamplesPath?: string;
}

async function timeCalls(calls: number, fn: () => Promise<unknown>, samples?: number[]): Promise<LatencyStats> {
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  samples?.push(...times);
  times.sort((a, b) => a - b);
  return {
    calls,
    mean_ms: times.reduce((a, b) => a + b, 0) / calls,
    p50_ms: percentile(times, 0.5),
    p95_ms: percentile(times, 0.95),
    p99_ms: percentile(times, 0.99),
  };
}

export function createLocalTestActivities(deps: MlflowDeps) {
  const { artifacts } = mlflowAccess(deps);
  return {
    async runLocalTests(input: LocalTestInput): Promise<LocalTestResult> {
      const context = Context.current();
      const fetch = (name: string) => artifacts.fetchFile(input.train.mlflow.artifactUri, name, input.train.files[name]!);
      const cases: TestCase[] = [];
      const record = (name: string, passed: boolean, expected: string, observed: string) => {
        cases.push({ name, passed, expected, observed });
        context.heartbeat({ message: `local test ${cases.length}: ${name} ${passed ? 'passed' : 'FAILED'}` });
      };

      const contract = JSON.parse(readFileSync(await fetch('model/input_contract.json'), 'utf8')) as InputContract;
      let model: OnnxModel;
      try {
        model = await OnnxModel.load(await fetch('model/model.onnx'), contract);
        record('loading', true, 'the ONNX file loads and its inputs match the input contract', `${model.session.inputNames.length} inputs`);
      } catch (error) {
        record('loading', false, 'the ONNX file loads and its inputs match the input contract', (error as Error).message);
        return finish(input, cases, undefined);
      }

      try {
        const goldenCount = input.goldenRows ?? 200;
        const rows = await readRecords(await fetch('data/test_rows.csv'), contract, goldenCount);
        const golden = (JSON.parse(readFileSync(await fetch('data/test_predictions.json'), 'utf8')) as { probabilities: number[] }).probabilities;
        const scored = await model.probabilities(rows);
        let worst = 0;
        let labelMismatches = 0;
        scored.forEach((p, i) => {
          worst = Math.max(worst, Math.abs(p - golden[i]!));
          if (model.label(p) !== model.label(golden[i]!)) labelMismatches++;
        });
        record(
          'golden_predictions',
          worst <= 1e-4 && labelMismatches === 0,
          `${rows.length} held-out rows match the evaluated predictions within 1e-4`,
          `max |Δp| ${worst.toExponential(2)}, ${labelMismatches} label mismatch(es)`,
        );

        const base = rows[0]!;
        const single = await scoreRecords(model, base);
        record(
          'single_record',
          single.labels.length === 1 && validProbability(single.probabilities[0]),
          'one record → one label and a probability in [0, 1]',
          JSON.stringify(single),
        );
        const five = await scoreRecords(model, rows.slice(0, 5));
        record('five_records', five.labels.length === 5 && five.probabilities.every(validProbability), 'five records → five predictions', `${five.labels.length} predictions`);
        const classes = predictionLabels(contract);
        record(
          'class_labels',
          five.predictions.every((p) => classes.includes(p)),
          `predictions answer with the data's labels (${classes.map((c) => JSON.stringify(c)).join(' or ')})`,
          JSON.stringify(five.predictions),
        );

        const numeric = contract.features.find((f) => f.kind === 'numeric');
        const categorical = contract.features.find((f) => f.kind === 'categorical');
        const someField = contract.features[0]!.column;
        const { [someField]: _dropped, ...missing } = base;
        await expectRejected(record, 'missing_field', () => scoreRecords(model, missing), someField);
        if (numeric) await expectRejected(record, 'wrong_type', () => scoreRecords(model, { ...base, [numeric.column]: 'not-a-number' }), numeric.column);
        await expectRejected(record, 'unknown_field', () => scoreRecords(model, { ...base, surprise_field: 1 }), 'surprise_field');

        const allNull = Object.fromEntries(contract.features.map((f) => [f.column, null]));
        const nulls = await scoreRecords(model, allNull);
        record('null_values', validProbability(nulls.probabilities[0]), 'a record of nulls gets a defined prediction (imputed)', JSON.stringify(nulls));
        if (numeric) {
          const extremes = await scoreRecords(
            model,
            [1e10, -1e10].map((v) => ({ ...base, ...Object.fromEntries(contract.features.filter((f) => f.kind === 'numeric').map((f) => [f.column, v])) })),
          );
          record('extreme_values', extremes.probabilities.every(validProbability), '±1e10 in every numeric field get defined predictions', JSON.stringify(extremes));
        }
        if (categorical) {
          const unseen = await scoreRecords(model, { ...base, [categorical.column]: 'a-value-never-seen-in-training' });
          record('unseen_category', validProbability(unseen.probabilities[0]), `an unseen "${categorical.column}" value gets a prediction`, JSON.stringify(unseen));
        }
        await expectRejected(record, 'empty_batch', () => scoreRecords(model, []), undefined);
        await expectRejected(
          record,
          'oversized_batch',
          () =>
            scoreRecords(
              model,
              Array.from({ length: MAX_BATCH_RECORDS + 1 }, () => base),
            ),
          undefined,
        );

        // Latency: warm up, then single-record and 100-record calls through the same path an endpoint uses.
        for (let i = 0; i < 5; i++) await scoreRecords(model, base);
        const samples: number[] = [];
        const singleStats = await timeCalls(100, () => scoreRecords(model, base), samples);
        const batch = Array.from({ length: 100 }, (_, i) => rows[i % rows.length]!);
        const batchStats = await timeCalls(20, () => scoreRecords(model, batch));
        record(
          'latency',
          singleStats.p95_ms <= input.maxLatencyMs,
          `single-record p95 ≤ max_latency_ms (${input.maxLatencyMs} ms)`,
          `p50 ${singleStats.p50_ms.toFixed(2)} ms, p95 ${singleStats.p95_ms.toFixed(2)} ms, p99 ${singleStats.p99_ms.toFixed(2)} ms; 100-record p95 ${batchStats.p95_ms.toFixed(2)} ms`,
        );
        return finish(input, cases, { single: singleStats, batch100: batchStats }, samples);
      } finally {
        await model.release();
      }
    },
  };
}

function validProbability(p: number | undefined): boolean {
  return p !== undefined && Number.isFinite(p) && p >= 0 && p <= 1;
}

async function expectRejected(
  record: (name: string, passed: boolean, expected: string, observed: string) => void,
  name: string,
  call: () => Promise<unknown>,
  field: string | undefined,
): Promise<void> {
  const expected = field ? `rejected with a message naming "${field}"` : 'rejected';
  try {
    const result = await call();
    record(name, false, expected, `accepted: ${JSON.stringify(result).slice(0, 200)}`);
  } catch (error) {
    const named = field === undefined || (error instanceof ScoringError && error.message.includes(field));
    record(name, error instanceof ScoringError && named, expected, `${(error as Error).name}: ${(error as Error).message}`);
  }
}

function finish(input: LocalTestInput, cases: TestCase[], latency: LocalTestResult['latency'] | undefined, samples?: number[]): LocalTestResult {
  const failed = cases.filter((c) => !c.passed).map((c) => c.name);
  mkdirSync(input.artifactsDir, { recursive: true });
  const resultsPath = join(input.artifactsDir, 'local_tests.json');
  let latencySamplesPath: string | undefined;
  if (samples) {
    latencySamplesPath = join(input.artifactsDir, 'local_tests_latency.json');
    writeFileSync(latencySamplesPath, JSON.stringify({ single_record_ms: samples }));
  }
  const result = {
    passed: failed.length === 0,
    cases,
    failed,
    latency: latency ?? { single: emptyStats(), batch100: emptyStats() },
    resultsPath,
    ...(latencySamplesPath && { latencySamplesPath }),
  };
  writeFileSync(resultsPath, JSON.stringify(result, null, 2));
  if (failed.length > 0) {
    const details = cases
      .filter((c) => !c.passed)
      .map((c) => `  - ${c.name}: expected ${c.expected}; observed ${c.observed}`)
      .join('\n');
    throw ApplicationFailure.nonRetryable(`${failed.length} local test case(s) failed:\n${details}`, 'LocalTestsFailed', result);
  }
  return result;
}

function emptyStats(): LatencyStats {
  return { calls: 0, mean_ms: 0, p50_ms: 0, p95_ms: 0, p99_ms: 0 };
}
