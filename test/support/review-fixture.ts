// A review document from synthetic but realistic inputs (seeded), built with the same functions the review
// activity uses: for browser tests and the README screenshot without running a release.
import { applyGates } from '../../src/evaluation/gates';
import { classificationMetrics } from '../../src/evaluation/metrics';
import { approvalViews, curvePanels, driftPanel, gatesPanel, latencyPanel, metricRows, REVIEW_VERSION, type ReviewDocument } from '../../src/review/document';
import { compareSketches, type DataSketch } from '../../src/review/drift';
import { rolloutView } from '../../src/review/rollout';
import type { RolloutFailureDetails, RolloutResult, RolloutStep } from '../../src/workflows/rollout-api';

function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function scores(n: number, separation: number, seed: number) {
  const next = random(seed);
  const labels: number[] = [];
  const probabilities: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = next() < 0.1 ? 1 : 0;
    const z = (label ? separation : -separation) + 1.6 * (next() + next() + next() - 1.5);
    labels.push(label);
    probabilities.push(1 / (1 + Math.exp(-(z - 1.8))));
  }
  return { labels, probabilities };
}

function sketch(seed: number, shift: number): DataSketch {
  const next = random(seed);
  const rows = 2000;
  const features = [
    { column: 'Age', kind: 'numeric' as const },
    { column: 'Account Balance', kind: 'numeric' as const },
    { column: 'Loan Amount', kind: 'numeric' as const },
    { column: 'Account Type', kind: 'categorical' as const },
    { column: 'Card Type', kind: 'categorical' as const },
  ];
  const values = [
    Array.from({ length: rows }, () => Math.round(20 + 50 * next() + shift * 10)),
    Array.from({ length: rows }, () => 1000 + 90000 * next() * (1 + shift)),
    Array.from({ length: rows }, () => (next() < 0.02 ? null : 5000 + 40000 * next())),
    Array.from({ length: rows }, () => (next() < 0.5 + shift / 3 ? 'Savings' : 'Current')),
    Array.from({ length: rows }, () => ['Visa', 'MasterCard', 'AMEX'][Math.floor(next() * 3)]!),
  ];
  return { sketch_version: 1, data_sha256: `${seed}`.padEnd(64, '0'), rows, sample_rows: rows, features, values };
}

export function fixtureReview(options: { phase: ReviewDocument['phase']; rolledBack?: boolean } = { phase: 'final' }): ReviewDocument {
  const candidate = scores(1250, 1.3, 1);
  const champion = scores(1250, 1.0, 2);
  const candidateMetrics = classificationMetrics(candidate.labels, candidate.probabilities, 0.42);
  const championMetrics = classificationMetrics(champion.labels, champion.probabilities, 0.45);
  const settings = { min_accuracy: 0.7, min_roc_auc: 0.6, min_f1: 0.2, max_regression: 0.01, scoring: 'roc_auc' as const };
  const gates = applyGates(settings, candidateMetrics, { version: '2', metrics: championMetrics });
  const latencyNext = random(3);
  const latency = Array.from({ length: 100 }, () => 0.18 + 0.05 * latencyNext() + (latencyNext() < 0.05 ? 0.2 * latencyNext() : 0));
  const t0 = Date.parse('2026-11-26T10:00:00Z');
  const at = (s: number) => new Date(t0 + s * 1000).toISOString();
  const steps: RolloutStep[] = [
    { at: at(0), action: 'read endpoint', detail: 'traffic {"blue":100}; deploying to green', data: { exists: true, traffic: { blue: 100 }, idle: 'green' } },
    { at: at(9), action: 'deployed', detail: 'bank-high-amount v3 to green at 0 % traffic', data: { colour: 'green', modelName: 'bank-high-amount', modelVersion: '3' } },
    { at: at(10), action: 'health checks passed', detail: 'golden: 20 predictions match' },
    { at: at(11), action: 'traffic', detail: '{"green":10,"blue":90}', data: { traffic: { green: 10, blue: 90 } } },
    { at: at(21), action: 'bake passed', detail: '10 %: 41 requests, error rate 0.00 %, p95 1.90 ms', data: { percent: 10, requests: 41, errorRate: 0, p95Ms: 1.9 } },
    { at: at(22), action: 'traffic', detail: '{"green":50,"blue":50}', data: { traffic: { green: 50, blue: 50 } } },
    { at: at(32), action: 'bake passed', detail: '50 %: 198 requests, error rate 0.51 %, p95 2.40 ms', data: { percent: 50, requests: 198, errorRate: 0.0051, p95Ms: 2.4 } },
    { at: at(33), action: 'traffic', detail: '{"green":100}', data: { traffic: { green: 100 } } },
  ];
  const result: RolloutResult = {
    outcome: 'succeeded',
    endpoint: 'bank-high-amount',
    colour: 'green',
    previousColour: 'blue',
    previousVersion: '2',
    traffic: { green: 100 },
    cleanup: 'deleted blue after 0s',
    steps: [
      ...steps,
      { at: at(43), action: 'bake passed', detail: '100 %: 402 requests, error rate 0.00 %, p95 2.10 ms', data: { percent: 100, requests: 402, errorRate: 0, p95Ms: 2.1 } },
      { at: at(44), action: 'aliases', detail: '@production → v3, @previous → v2', data: { production: '3', previous: '2' } },
      { at: at(45), action: 'cleanup', detail: 'deleted blue after 0s' },
    ],
  };
  const failure: RolloutFailureDetails = {
    failed: 'bake analysis at 100 %',
    undone: ['restored traffic to {"blue":100}', 'deleted deployment green'],
    undoFailures: [],
    steps: [
      ...steps,
      {
        at: at(44),
        action: 'rolled back',
        detail: 'restored traffic to {"blue":100}; deleted deployment green',
        data: { undone: ['restored traffic to {"blue":100}', 'deleted deployment green'], undoFailures: [] },
      },
    ],
  };
  const curves = curvePanels(
    { label: 'candidate v3', version: '3', metrics: candidateMetrics, ...candidate },
    { label: '@production v2', version: '2', metrics: championMetrics, ...champion },
  );
  return {
    review_version: REVIEW_VERSION,
    generated_at: '2026-11-26T10:05:00.000Z',
    phase: options.phase,
    workflow_id: 'release-bank-high-amount-20261126-100000-ab12',
    model: {
      name: 'bank-high-amount',
      version: '3',
      uri: 'models:/bank-high-amount/3',
      family: 'hist_gradient_boosting',
      data_sha256: 'a'.repeat(64),
      model_sha256: 'b'.repeat(64),
    },
    champion: { version: '2' },
    outcome: options.phase === 'final' ? (options.rolledBack ? 'failed' : 'succeeded') : undefined,
    links: {
      mlflow_run: 'http://127.0.0.1:5000/#/experiments/1/runs/abc',
      review_in_mlflow: 'http://127.0.0.1:5000/#/experiments/1/runs/abc/artifacts/review.html',
      temporal: 'http://127.0.0.1:8233/namespaces/default/workflows/x',
    },
    metrics: metricRows(candidateMetrics, championMetrics),
    ...curves,
    gates: gatesPanel(gates.checks),
    importance: {
      available: true,
      metric: 'roc_auc',
      rows: [
        ['Account Balance', 0.081, 0.006],
        ['Loan Amount', 0.043, 0.004],
        ['Age', 0.021, 0.003],
        ['Account Type', 0.009, 0.002],
        ['Card Type', 0.001, 0.001],
      ].map(([feature, m, s]) => ({ feature: feature as string, importance_mean: m as number, importance_std: s as number })),
    },
    drift: driftPanel(compareSketches(sketch(10, 0), sketch(11, 0.4)), "@production v2's training data", ''),
    latency: latencyPanel(latency, 50, ''),
    approvals:
      options.phase === 'final'
        ? {
            signed_setup: false,
            records: approvalViews({ decision: 'approved', automatic: false, by: 'alice', at: at(-60), modelVersion: '3', comment: 'better on recall, drift understood' }),
          }
        : { signed_setup: false, records: [], waiting: 'modelship approve release-… --by NAME' },
    ...(options.phase === 'final' && { rollout: { available: true as const, ...(options.rolledBack ? rolloutView(undefined, failure) : rolloutView(result, undefined)) } }),
  };
}
