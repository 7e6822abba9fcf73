// The review's numbers, pure: curves agree with the metrics they picture, PSI is zero for the same data and flags
// a real shift, approval records of any shape are read, and the rollout timeline is rebuilt from its steps.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { calibrationCurve, histogram, precisionRecallCurve, rocCurve } from '../src/evaluation/curves';
import { averagePrecision, rocAuc } from '../src/evaluation/metrics';
import { approvalViews } from '../src/review/document';
import { compareSketches, psi, sketchCsv, type DataSketch } from '../src/review/drift';
import { rolloutView } from '../src/review/rollout';
import { fixtureReview } from './support/review-fixture';

const labels = [0, 0, 1, 1, 0, 1, 0, 0, 1, 0];
const scores = [0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.05, 0.6, 0.7, 0.3];

describe('review numbers', () => {
  it('ROC and precision–recall curves integrate to the ROC AUC and average precision', () => {
    const roc = rocCurve(labels, scores);
    let area = 0;
    for (let i = 1; i < roc.length; i++) area += ((roc[i]!.fpr - roc[i - 1]!.fpr) * (roc[i]!.tpr + roc[i - 1]!.tpr)) / 2;
    assert.ok(Math.abs(area - rocAuc(labels, scores)) < 1e-12);
    assert.deepEqual(
      [roc[0], roc.at(-1)].map((p) => [p!.fpr, p!.tpr]),
      [
        [0, 0],
        [1, 1],
      ],
    );
    const pr = precisionRecallCurve(labels, scores);
    let ap = 0;
    for (let i = 1; i < pr.length; i++) ap += (pr[i]!.recall - pr[i - 1]!.recall) * pr[i]!.precision;
    assert.ok(Math.abs(ap - averagePrecision(labels, scores)) < 1e-12);
    assert.equal(
      rocCurve(
        Array(500)
          .fill(0)
          .map((_, i) => i % 2),
        Array(500)
          .fill(0)
          .map((_, i) => i / 500),
        50,
      ).length,
      50,
      'thinned',
    );
  });

  it('calibration bins and histograms count every row once', () => {
    const bins = calibrationCurve(labels, scores, 5);
    assert.equal(
      bins.reduce((n, b) => n + b.count, 0),
      labels.length,
    );
    const top = bins.find((b) => b.bin === 4)!;
    assert.deepEqual([top.count, top.observed, top.predicted.toFixed(6)], [2, 1, '0.850000'], 'scores 0.8 and 0.9, both positive');
    assert.equal(
      histogram([0, 1, 1, 0.5], 4, [0, 1]).reduce((n, b) => n + b.count, 0),
      4,
    );
  });

  it('PSI: zero for the same data, flagged above 0.2 for a shifted numeric and a changed category mix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'modelship-drift-'));
    const write = (name: string, rows: string[]) => (writeFileSync(join(dir, name), ['amount,kind,y', ...rows].join('\n')), join(dir, name));
    const base = Array.from({ length: 2000 }, (_, i) => `${i % 100},${i % 4 === 0 ? 'a' : 'b'},${i % 2}`);
    const shifted = Array.from({ length: 2000 }, (_, i) => `${(i % 100) + 40},${i % 4 === 0 ? 'b' : 'a'},${i % 2}`);
    const contract = { target: 'y', numeric_features: ['amount'], categorical_features: ['kind'], date_features: [], date_format: 'M/D/YYYY' } as never;
    const reference = await sketchCsv(write('base.csv', base), contract, 'x');
    const same = compareSketches(reference, await sketchCsv(write('same.csv', base), contract, 'x'));
    assert.deepEqual(
      same.map((f) => [f.feature, f.psi, f.flagged]),
      [
        ['amount', 0, false],
        ['kind', 0, false],
      ],
    );
    const drift = compareSketches(reference, await sketchCsv(write('shifted.csv', shifted), contract, 'x'));
    assert.deepEqual(
      drift.map((f) => [f.feature, f.flagged]),
      [
        ['amount', true],
        ['kind', true],
      ],
    );
    // The textbook value: 25 % → 75 % and back, PSI = 2 · 0.5 · ln 3.
    assert.ok(Math.abs(drift[1]!.psi - Math.log(3)) < 1e-9);
    assert.ok(Math.abs(psi([0.5, 0.5], [0.5, 0.5])) < 1e-15);
  });

  it('ignores features one sketch lacks', () => {
    const sketch = (columns: string[]): DataSketch => ({
      sketch_version: 1,
      data_sha256: '',
      rows: 1,
      sample_rows: 1,
      features: columns.map((column) => ({ column, kind: 'numeric' })),
      values: columns.map(() => [1]),
    });
    assert.deepEqual(
      compareSketches(sketch(['a']), sketch(['a', 'b'])).map((f) => f.feature),
      ['a'],
    );
  });

  it('shows the approval as recorded: one decision, the votes with their signatures, an automatic one, nothing', () => {
    assert.deepEqual(approvalViews({ decision: 'approved', automatic: false, by: 'alice', at: 't', modelVersion: '3', comment: 'ok' }), [
      { by: 'alice', decision: 'approved', at: 't', automatic: false, signed: false, signature: undefined, note: 'ok' },
    ]);
    const signature = {
      statement: 's',
      signature: '-----BEGIN SSH SIGNATURE-----',
      keyFingerprint: 'SHA256:abc',
      allowedSigners: '/etc/modelship/allowed_signers',
      allowedSignersSha256: 'f'.repeat(64),
    };
    const votes = approvalViews([
      { decision: 'approved', by: 'bob@bank', at: 't2', comment: 'fine', signed: signature },
      { decision: 'rejected', by: 'carol@bank', at: 't3', reason: 'drift', signed: signature },
    ]);
    assert.deepEqual(
      votes.map((v) => [v.by, v.decision, v.signed, v.note]),
      [
        ['bob@bank', 'approved', true, 'fine'],
        ['carol@bank', 'rejected', true, 'drift'],
      ],
    );
    assert.equal(votes[0]!.signature, 'key SHA256:abc, verified against /etc/modelship/allowed_signers (sha256 ffffffffffff…)');
    assert.deepEqual(
      approvalViews({ decision: 'approved', automatic: true, at: 't4', modelVersion: '3' }).map((v) => [v.by, v.automatic, v.signed]),
      [['automatic', true, false]],
    );
    assert.deepEqual(approvalViews(undefined), []);
  });

  it('rebuilds the rollout timeline: traffic per colour at each change, bakes, compensations', () => {
    const fixture = fixtureReview({ phase: 'final', rolledBack: true });
    assert.ok(fixture.rollout?.available);
    const view = fixture.rollout;
    assert.equal(view.outcome, 'rolled back');
    assert.deepEqual(
      view.traffic.filter((t) => t.colour === 'green').map((t) => [t.seconds, t.percent]),
      [
        [0, 0],
        [11, 10],
        [22, 50],
        [33, 100],
        [44, 0],
      ],
    );
    assert.deepEqual(
      view.bakes.map((b) => [b.step, b.error_rate]),
      [
        ['10 %', 0],
        ['50 %', 0.0051],
      ],
    );
    assert.deepEqual(
      view.compensations.map((c) => c.undone),
      [['restored traffic to {"blue":100}', 'deleted deployment green']],
    );
    // The timeline comes from the steps' numbers, never from their text: a step without numbers adds no bake.
    const textOnly = rolloutView(
      {
        outcome: 'succeeded',
        endpoint: 'e',
        colour: 'blue',
        traffic: { blue: 100 },
        cleanup: '',
        steps: [{ at: '2026-01-01T00:00:00Z', action: 'bake passed', detail: '100 %: 12 requests, error rate 8.33 %, p95 3.50 ms' }],
      },
      undefined,
    );
    assert.deepEqual(textOnly.bakes, []);
  });
});
