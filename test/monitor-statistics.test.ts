// The monitor's statistics and window analysis, without servers: bins, PSI and its window-size-aware threshold,
// intervals, quality rates, alarm rules, the streaming window (torn lines, hour folders, refusals, the outcome
// join), and agreement with an independent numpy/scipy computation to 1e-9.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { venvExecutable } from '../src/config/environment';
import { DEFAULT_MONITOR_SETTINGS } from '../src/monitoring/defaults';
import {
  alarmsOf,
  binOf,
  chiSquaredQuantile,
  countBins,
  f1Interval,
  featureDrift,
  MISSING_BIN,
  OTHER_BIN,
  performance,
  psi,
  psiThreshold,
  referenceBins,
  rocAucInterval,
  scoreBins,
  wilsonInterval,
  type MonitorReference,
  type Value,
} from '../src/monitoring/statistics';
import { analyzeWindow, isPositive } from '../src/monitoring/window';
import type { DataSketch } from '../src/review/drift';
import { capturePartition, type CaptureRecord, type OutcomeRecord, type RefusedRequest } from '../src/shared/capture';
import type { FeatureDriftResult, MonitorWindow } from '../src/workflows/monitor-api';

/** mulberry32: deterministic test data. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    let t = (state = (state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(next(), 1e-12))) * Math.cos(2 * Math.PI * next());
  return { next, normal };
}

const close = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected} (difference ${Math.abs(actual - expected)})`);

describe('monitor statistics', () => {
  it('numeric bins: nearest-rank deciles of the reference, equal edges merged, v on an edge in the lower bin', () => {
    const values: Value[] = Array.from({ length: 100 }, (_, i) => i + 1);
    const bins = referenceBins('numeric', [...values, null]);
    assert.ok(bins.kind === 'numeric');
    assert.deepEqual(bins.edges, [10, 20, 30, 40, 50, 60, 70, 80, 90]);
    assert.deepEqual(bins.reference, [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 1]);
    assert.equal(bins.labels.at(-1), MISSING_BIN);
    assert.deepEqual([binOf(bins, 10), binOf(bins, 10.5), binOf(bins, -5), binOf(bins, 1e9), binOf(bins, null)], [0, 1, 0, 9, 10]);
    assert.deepEqual([bins.min, bins.max], [1, 100]);
    const terms = referenceBins(
      'numeric',
      Array.from({ length: 500 }, (_, i) => [12, 24, 36, 48, 60][i % 5]!),
    );
    assert.ok(terms.kind === 'numeric');
    assert.deepEqual(terms.edges, [12, 24, 36, 48, 60], 'five distinct values: five edges, no empty duplicates');
  });

  it('categorical bins: the reference categories by frequency, then (other) and (missing)', () => {
    const bins = referenceBins('categorical', ['b', 'a', 'b', null, 'c', 'b', 'a']);
    assert.deepEqual(bins.labels, ['b', 'a', 'c', OTHER_BIN, MISSING_BIN]);
    assert.deepEqual(bins.reference, [3, 2, 1, 0, 1]);
    assert.deepEqual(countBins(bins, ['a', 'z', null, 'b']), [1, 1, 0, 1, 1]);
    const many = referenceBins(
      'categorical',
      Array.from({ length: 30 }, (_, i) => `c${String(i).padStart(2, '0')}`),
    );
    assert.equal(many.labels.length, 22, '20 categories kept, the rest in (other)');
    assert.ok(many.kind === 'categorical' && many.seen.has('c29'), 'a category past the 20 kept is still seen (not unseen)');
  });

  it('PSI: zero for equal shares, bins empty on both sides left out, an empty bin smoothed by +0.5 counts', () => {
    assert.equal(psi([10, 20, 30, 0], [10, 20, 30, 0]), 0);
    // +0.5 counts pull a small window's shares a little further towards uniform than the reference's: a bias far below any threshold
    assert.ok(psi([500, 1000, 1500, 2000, 0], [10, 20, 30, 40, 0]) < 0.001 * psiThreshold(100, 5000, 4, 0.05, 21));
    assert.equal(psi([10, 20, 30], [1, 2, 3]), psi([10, 20, 30, 0, 0], [1, 2, 3, 0, 0]));
    const e = [50.5 / 101, 50.5 / 101];
    const a = [100.5 / 101, 0.5 / 101];
    close(psi([50, 50], [100, 0]), (a[0]! - e[0]!) * Math.log(a[0]! / e[0]!) + (a[1]! - e[1]!) * Math.log(a[1]! / e[1]!), 1e-15, 'hand computed');
    assert.ok(Number.isFinite(psi([100, 0], [0, 100])));
    assert.ok(psi([25, 25, 25, 25], [40, 20, 20, 20]) > psi([25, 25, 25, 25], [30, 24, 23, 23]));
  });

  it('the threshold scales with 1/N + 1/M and holds its false alarm rate on unchanged data', () => {
    const small = psiThreshold(100, 5000, 10, 0.05, 1);
    const large = psiThreshold(10_000, 5000, 10, 0.05, 1);
    close(small, (1 / 100 + 1 / 5000) * chiSquaredQuantile(0.95, 9), 1e-15, 'formula');
    close(small / large, (1 / 100 + 1 / 5000) / (1 / 10_000 + 1 / 5000), 1e-12, 'scale');
    assert.ok(psiThreshold(1000, 5000, 10, 0.05, 20) > psiThreshold(1000, 5000, 10, 0.05, 1), 'Bonferroni over 20 features is stricter');
    // 400 windows of 1,000 records against a 5,000-row reference of the same distribution: about 5 % alarm.
    const rng = random(7);
    const reference = referenceBins(
      'numeric',
      Array.from({ length: 5000 }, () => rng.normal()),
    );
    let alarms = 0;
    for (let w = 0; w < 400; w++) {
      const drift = featureDrift(
        'x',
        reference,
        countBins(
          reference,
          Array.from({ length: 1000 }, () => rng.normal()),
        ),
        0.05,
        1,
      );
      if (drift.drifted) alarms++;
    }
    assert.ok(alarms / 400 >= 0.01 && alarms / 400 <= 0.1, `false alarm rate ${alarms / 400}`);
  });

  it('score bins add the decision threshold as an edge', () => {
    const bins = scoreBins(
      Array.from({ length: 100 }, (_, i) => i / 100),
      0.905,
    );
    assert.ok(bins.kind === 'numeric' && bins.edges.includes(0.905));
    assert.equal(bins.edges.length, 10);
  });

  it('Wilson, DeLong and F1 intervals', () => {
    const wilson = wilsonInterval(8, 10);
    close(wilson.low, 0.49016, 1e-5, 'Wilson low of 8/10');
    close(wilson.high, 0.94332, 1e-5, 'Wilson high of 8/10');
    assert.deepEqual(wilsonInterval(0, 0), { value: 0, low: 0, high: 1 });
    const perfect = rocAucInterval([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]);
    assert.deepEqual([perfect.value, perfect.high], [1, 1]);
    const rng = random(3);
    const labels = Array.from({ length: 400 }, (_, i) => (i % 4 === 0 ? 1 : 0));
    const scores = labels.map((l) => l + rng.normal());
    const narrow = rocAucInterval(labels, scores);
    const wide = rocAucInterval(labels.slice(0, 40), scores.slice(0, 40));
    assert.ok(narrow.low < narrow.value && narrow.value < narrow.high);
    assert.ok(wide.high - wide.low > narrow.high - narrow.low, 'fewer rows, wider interval');
    const f1 = f1Interval(40, 10, 30);
    close(f1.value, 80 / 120, 1e-15, 'F1');
    close((f1.high - f1.low) / 2, 1.959963984540054 * Math.sqrt((4 * 40 * 40 * 80) / 120 ** 4), 1e-12, 'delta-method half width');
    const none = f1Interval(0, 5, 5);
    assert.ok(none.value === 0 && none.low === 0 && none.high > 0, 'TP = 0: an interval, not a point');
  });

  it('performance is not reported below minLabelled or with one class, and says why', () => {
    const few = performance([1, 0, 1], [0.9, 0.2, 0.7], 0.5, 0.8, 200);
    assert.ok(!few.reported && few.labelled === 3 && few.minimum === 200 && /fewer than the 200/.test(few.why));
    const oneClass = performance(Array(300).fill(0), Array(300).fill(0.1), 0.5, 0.8, 200);
    assert.ok(!oneClass.reported && /both classes/.test(oneClass.why));
    const labels = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const scores = labels.map((l, i) => (l ? 0.6 : 0.3) + ((i * 37) % 10) / 40);
    const result = performance(labels, scores, 0.5, 0.8, 200);
    assert.ok(result.reported);
    const tp = labels.filter((l, i) => l === 1 && scores[i]! >= 0.5).length;
    const fp = labels.filter((l, i) => l === 0 && scores[i]! >= 0.5).length;
    assert.equal(result.precision.value, tp / (tp + fp));
    assert.equal(result.recall.value, tp / 100);
  });

  it("alarms: drifted features ranked by PSI/threshold, decay by the upper bound, quality above training's own missing rate", () => {
    const drift = (feature: string, value: number, threshold: number): FeatureDriftResult => ({
      feature,
      kind: 'numeric',
      psi: value,
      threshold,
      drifted: value > threshold,
      bins: [],
    });
    const settings = DEFAULT_MONITOR_SETTINGS;
    const reported = (high: number) => ({
      reported: true as const,
      labelled: 300,
      threshold: 0.5,
      rocAuc: { value: high - 0.05, low: high - 0.1, high },
      precision: { value: 0, low: 0, high: 1 },
      recall: { value: 0, low: 0, high: 1 },
      f1: { value: 0, low: 0, high: 1 },
      reference: { rocAuc: 0.9 },
    });
    const alarms = alarmsOf(
      {
        drift: [drift('a', 0.1, 0.05), drift('b', 0.09, 0.03), drift('c', 0.01, 0.05)],
        performance: reported(0.87),
        quality: [
          { feature: 'a', missing: 0.12 },
          { feature: 'g', missing: 0, unseen: 0.06 },
          { feature: 'h', missing: 0.3 },
        ],
        records: 1000,
        refused: 100,
        referenceMissing: { a: 0.1, h: 0.2 },
      },
      settings,
    );
    assert.deepEqual(
      alarms.map((a) => a.kind),
      ['drift', 'decay', 'data_quality'],
    );
    assert.deepEqual(alarms[0]!.features, ['b', 'a'], 'b is 3× its threshold, a 2×');
    assert.deepEqual(alarms[2]!.features, ['h', 'refused', 'g'], 'a is within 5 points of training, h is 10 points above');
    assert.match(alarms[2]!.detail, /refused 9.09 %/);
    const quiet = alarmsOf({ drift: [drift('c', 0.01, 0.05)], performance: reported(0.885), quality: [], records: 1000, refused: 0, referenceMissing: {} }, settings);
    assert.deepEqual(quiet, [], '0.885 ≥ 0.9 − 0.02: no decay');
  });

  it('outcomes: numbers compare as numbers, labels as text', () => {
    assert.deepEqual([isPositive(1, '1'), isPositive('1.0', 1), isPositive(0, 1), isPositive('yes', 'yes'), isPositive(' no', 'yes')], [true, true, false, true, false]);
  });
});

/** A small deployed version: Age (numeric), Gender (categorical), Opened (date, M/D/YYYY). */
function fixtureReference(): MonitorReference {
  const rng = random(11);
  const rows = 2000;
  const sketch: DataSketch = {
    sketch_version: 1,
    data_sha256: 'x',
    rows,
    sample_rows: rows,
    features: [
      { column: 'Age', kind: 'numeric' },
      { column: 'Gender', kind: 'categorical' },
      { column: 'Opened', kind: 'date' },
    ],
    values: [
      Array.from({ length: rows }, (_, i) => (i % 50 === 0 ? null : 18 + Math.floor(rng.next() * 53))),
      Array.from({ length: rows }, () => ['Female', 'Male', 'Other'][Math.floor(rng.next() * 3)]!),
      Array.from({ length: rows }, () => 15_000 + Math.floor(rng.next() * 1000)),
    ],
  };
  return { sketch, dateFormat: 'M/D/YYYY', scores: Array.from({ length: 1000 }, () => rng.next()), threshold: 0.8, positiveClass: 1, rocAuc: 0.9 };
}

const dateText = (day: number) => {
  const d = new Date(day * 86_400_000);
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()}`;
};

function captureRecord(id: string, time: Date, rng: ReturnType<typeof random>, ageShift = 0): CaptureRecord {
  return {
    format: 1,
    inference_id: id,
    time: time.toISOString(),
    endpoint: 'ep',
    deployment: 'blue',
    model: { name: 'm', version: '3', sha256: 'abc' },
    input: {
      Age: 18 + Math.floor(rng.next() * 53) + ageShift,
      Gender: ['Female', 'Male', 'Other'][Math.floor(rng.next() * 3)],
      Opened: dateText(15_000 + Math.floor(rng.next() * 1000)),
    },
    prediction: { label: 0, probability: rng.next() },
    latency_ms: 1 + rng.next() * 9,
  };
}

const lines = (values: object[]) => values.map((v) => JSON.stringify(v) + '\n').join('');

describe('monitor window', () => {
  const window: MonitorWindow = { id: '2025-03-01T10:00:00.000Z_2025-03-01T12:00:00.000Z', index: 0, start: '2025-03-01T10:00:00.000Z', end: '2025-03-01T12:00:00.000Z' };
  const settings = { ...DEFAULT_MONITOR_SETTINGS, minLabelled: 50 };

  it('streams only the window, skips torn and unknown lines, counts refusals, joins outcomes', async () => {
    const root = mkdtempSync(join(tmpdir(), 'monitor-window-'));
    const captureRoot = join(root, 'capture');
    const feedbackRoot = join(root, 'feedback');
    const rng = random(5);
    const write = (time: Date, name: string, text: string) => {
      const dir = join(captureRoot, capturePartition('ep', 'blue', time));
      mkdirSync(dir, { recursive: true });
      appendFileSync(join(dir, name), text);
    };
    const inside = Array.from({ length: 300 }, (_, i) => captureRecord(`r${i}`, new Date(Date.UTC(2025, 2, 1, 10 + (i % 2), i % 60)), rng));
    write(new Date(Date.UTC(2025, 2, 1, 10)), 'a.jsonl', lines(inside.filter((_, i) => i % 2 === 0)) + '{"format":1,"inference_id":"torn"');
    write(new Date(Date.UTC(2025, 2, 1, 11)), 'b.jsonl', lines(inside.filter((_, i) => i % 2 === 1)) + '{not json\n' + lines([{ ...inside[1]!, format: 2 }]));
    // the hour before and the hour at the end: outside [10:00, 12:00)
    write(new Date(Date.UTC(2025, 2, 1, 9)), 'c.jsonl', lines([captureRecord('early', new Date(Date.UTC(2025, 2, 1, 9, 59, 59)), rng)]));
    write(new Date(Date.UTC(2025, 2, 1, 12)), 'd.jsonl', lines([captureRecord('late', new Date(Date.UTC(2025, 2, 1, 12)), rng)]));
    const refusal = (reason: string): RefusedRequest => ({ format: 1, time: '2025-03-01T10:30:00.000Z', endpoint: 'ep', status: 400, reason });
    write(new Date(Date.UTC(2025, 2, 1, 10)), 'refused-a.jsonl', lines([refusal('bad_number'), refusal('bad_number'), refusal('missing_field')]));
    mkdirSync(join(feedbackRoot, 'ep'), { recursive: true });
    const outcomes: OutcomeRecord[] = inside
      .slice(0, 120)
      .map((r, i) => ({ format: 1, inference_id: r.inference_id, actual: r.prediction.probability > 0.5 !== (i % 10 === 0) ? 1 : 0, received: '2025-03-02T00:00:00.000Z' }));
    writeFileSync(join(feedbackRoot, 'ep', 'f.jsonl'), lines([...outcomes, { format: 1, inference_id: 'early', actual: 1, received: 'x' }]));

    const result = await analyzeWindow(captureRoot, feedbackRoot, 'ep', window, fixtureReference(), settings);
    assert.equal(result.records, 300, 'the torn line, the bad line, the unknown format and the two outside records are not data');
    assert.deepEqual(result.skippedLines, { torn: 1, invalid: 1, unknownFormat: 1 });
    assert.deepEqual([result.refused, result.refusedByReason], [3, { bad_number: 2, missing_field: 1 }]);
    assert.deepEqual(result.model, { name: 'm', version: '3', sha256: 'abc' });
    assert.ok(result.latencyMs && result.latencyMs.p50 > 1 && result.latencyMs.p99 <= 10);
    assert.equal(result.performance.labelled, 120, '"early" has an outcome but lies outside the window');
    assert.ok(result.performance.reported && result.performance.rocAuc.value > 0.7);
    assert.equal(result.drift.length, 3);
    assert.ok(result.prediction && Math.abs(result.prediction.referencePositiveRate - 0.2) < 0.05);
    const age = result.quality.find((q) => q.feature === 'Age')!;
    assert.deepEqual([age.missing, age.outOfRange], [0, 0]);
    assert.equal(result.verdict, result.alarms.length ? 'alarm' : 'ok');
    assert.ok(!result.alarms.some((a) => a.kind === 'drift'), `unchanged data: ${JSON.stringify(result.alarms)}`);

    // The label delay moves the join: outcomes of 10:00–12:00 records are judged in the window two hours later.
    const later: MonitorWindow = { id: 'later', index: 1, start: '2025-03-01T12:00:00.000Z', end: '2025-03-01T14:00:00.000Z' };
    const delayed = await analyzeWindow(captureRoot, feedbackRoot, 'ep', later, fixtureReference(), { ...settings, labelDelay: '2h' });
    assert.deepEqual([delayed.records, delayed.performance.labelled, delayed.verdict], [1, 120, 'too few']);
  });

  it('a shifted feature and an unseen category drift; unseen categories and out-of-range values are quality rates', async () => {
    const root = mkdtempSync(join(tmpdir(), 'monitor-window-'));
    const rng = random(9);
    const time = new Date(Date.UTC(2025, 2, 1, 10, 30));
    const records = Array.from({ length: 1000 }, (_, i) => {
      const record = captureRecord(`s${i}`, time, rng, 8);
      if (i % 10 === 0) record.input.Gender = 'Unknown';
      return record;
    });
    const dir = join(root, 'capture', capturePartition('ep', 'green', time));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'x.jsonl'), lines(records));
    const result = await analyzeWindow(join(root, 'capture'), join(root, 'feedback'), 'ep', window, fixtureReference(), DEFAULT_MONITOR_SETTINGS);
    assert.deepEqual(
      result.drift
        .filter((d) => d.drifted)
        .map((d) => d.feature)
        .sort(),
      ['Age', 'Gender'],
      'Opened is unchanged',
    );
    assert.deepEqual(
      result.alarms.find((a) => a.kind === 'drift')!.features,
      result.drift.filter((d) => d.drifted).map((d) => d.feature),
      'worst first',
    );
    const age = result.quality.find((q) => q.feature === 'Age')!;
    const gender = result.quality.find((q) => q.feature === 'Gender')!;
    assert.ok(Math.abs(age.outOfRange! - 8 / 53) < 0.04, `out of range ${age.outOfRange}`);
    assert.equal(gender.unseen, 0.1);
    assert.ok(result.alarms.some((a) => a.kind === 'data_quality' && a.features.includes('Gender') && a.features.includes('Age')));
    assert.equal(result.performance.reported, false);
  });

  it('an endpoint with no traffic gives an empty window', async () => {
    const root = mkdtempSync(join(tmpdir(), 'monitor-window-'));
    const result = await analyzeWindow(join(root, 'capture'), join(root, 'feedback'), 'ep', window, fixtureReference(), DEFAULT_MONITOR_SETTINGS);
    assert.deepEqual([result.records, result.verdict, result.drift, result.quality, result.alarms], [0, 'empty', [], [], []]);
  });
});

describe('agreement with numpy/scipy', () => {
  it('bins, PSI, thresholds, chi-squared quantiles, ROC AUC with DeLong interval and Wilson bounds agree to 1e-9', () => {
    const rng = random(21);
    const numeric = (n: number, shift: number, missingEvery: number) =>
      Array.from({ length: n }, (_, i) => (missingEvery && i % missingEvery === 0 ? null : Math.exp(0.5 * rng.normal() + shift)));
    const discrete = (n: number) => Array.from({ length: n }, () => [12, 24, 36, 48, 60][Math.floor(rng.next() * 5)]!);
    const categories = (n: number, weights: number[], extra = '') =>
      Array.from({ length: n }, (_, i) => {
        if (i % 37 === 0) return null;
        if (extra && i % 11 === 0) return extra;
        let u = rng.next() * weights.reduce((a, b) => a + b, 0);
        return `k${weights.findIndex((w) => (u -= w) < 0)}`;
      });
    const featureCases: { kind: 'numeric' | 'categorical'; reference: Value[]; window: Value[]; alpha: number; tests: number; extraEdges?: number[] }[] = [
      { kind: 'numeric', reference: numeric(5000, 0, 0), window: numeric(1000, 0, 0), alpha: 0.05, tests: 21 },
      { kind: 'numeric', reference: numeric(5000, 0, 50), window: numeric(100, 0.3, 7), alpha: 0.05, tests: 21 },
      { kind: 'numeric', reference: discrete(5000), window: discrete(1000), alpha: 0.01, tests: 1 },
      { kind: 'categorical', reference: categories(5000, [5, 3, 1, 1]), window: categories(1000, [3, 3, 1, 1], 'new'), alpha: 0.05, tests: 21 },
      {
        kind: 'categorical',
        reference: categories(
          5000,
          Array.from({ length: 25 }, (_, i) => 25 - i),
        ),
        window: categories(
          500,
          Array.from({ length: 25 }, () => 1),
        ),
        alpha: 0.05,
        tests: 21,
      },
      {
        kind: 'numeric',
        reference: Array.from({ length: 3000 }, () => rng.next()),
        window: Array.from({ length: 800 }, () => rng.next() ** 0.8),
        alpha: 0.05,
        tests: 21,
        extraEdges: [0.37],
      },
    ];
    const performanceCases = [200, 1000, 3000].map((n, k) => {
      const labels = Array.from({ length: n }, () => (rng.next() < 0.1 + 0.1 * k ? 1 : 0));
      // rounded scores: ties between and within classes
      return { labels, scores: labels.map((l) => Math.round((0.3 * l + 0.7 * rng.next()) * 100) / 100) };
    });
    const wilson: [number, number][] = [
      [0, 10],
      [8, 10],
      [10, 10],
      [37, 200],
      [1, 3000],
      [1234, 5678],
    ];
    const chiSquared: [number, number][] = [
      [0.95, 9],
      [1 - 0.05 / 21, 9],
      [1 - 0.05 / 21, 1],
      [0.99, 20],
      [1 - 1e-6, 3],
    ];

    const dir = mkdtempSync(join(tmpdir(), 'monitor-agreement-'));
    const casesFile = join(dir, 'cases.json');
    writeFileSync(casesFile, JSON.stringify({ features: featureCases, performance: performanceCases, wilson, chiSquared }));
    const python = JSON.parse(execFileSync(venvExecutable('python'), [join(__dirname, 'support', 'monitor_agreement.py'), casesFile], { encoding: 'utf8' })) as {
      features: { reference: number[]; current: number[]; psi: number; threshold: number }[];
      performance: { value: number; low: number; high: number }[];
      wilson: [number, number][];
      chiSquared: number[];
    };

    featureCases.forEach((c, i) => {
      const bins = c.extraEdges ? scoreBins(c.reference as number[], c.extraEdges[0]!) : referenceBins(c.kind, c.reference);
      const current = countBins(bins, c.window);
      const expected = python.features[i]!;
      assert.deepEqual(bins.reference, expected.reference, `case ${i}: reference counts`);
      assert.deepEqual(current, expected.current, `case ${i}: window counts`);
      const drift = featureDrift('f', bins, current, c.alpha, c.tests);
      close(drift.psi, expected.psi, 1e-9, `case ${i}: PSI`);
      close(drift.threshold, expected.threshold, 1e-9, `case ${i}: threshold`);
    });
    performanceCases.forEach((c, i) => {
      const ours = rocAucInterval(c.labels, c.scores);
      for (const key of ['value', 'low', 'high'] as const) close(ours[key], python.performance[i]![key], 1e-9, `ROC AUC case ${i} ${key}`);
    });
    wilson.forEach(([k, n], i) => {
      const ours = wilsonInterval(k, n);
      close(ours.low, python.wilson[i]![0], 1e-9, `Wilson ${k}/${n} low`);
      close(ours.high, python.wilson[i]![1], 1e-9, `Wilson ${k}/${n} high`);
    });
    chiSquared.forEach(([p, dof], i) => close(chiSquaredQuantile(p, dof), python.chiSquared[i]!, 1e-9, `chi-squared quantile ${p}, ${dof}`));
  });
});
