// The review's numbers, pure: curves agree with the metrics they picture, PSI is zero for the same data and flags
// a real shift, approval records of any shape are read, and the rollout timeline is rebuilt from its steps. The
// page says first why the release started, lists the training data's sources and where each environment stands.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { calibrationCurve, histogram, precisionRecallCurve, rocCurve } from '../src/evaluation/curves';
import { averagePrecision, rocAuc } from '../src/evaluation/metrics';
import { approvalViews, releaseContext } from '../src/review/document';
import { compareSketches, psi, sketchCsv, type DataSketch } from '../src/review/drift';
import { renderReviewHtml } from '../src/review/page';
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

  const sha = (c: string) => c.repeat(64);
  const alarmTrigger = {
    kind: 'alarm' as const,
    endpoint: 'fraud-prod',
    window: { start: '2026-11-30T00:00:00Z', end: '2026-12-01T00:00:00Z' },
    alarms: [{ kind: 'drift', features: ['Age', 'Account Balance'], detail: '2 features drifted' }],
    drift: [
      { feature: 'Age', psi: 0.412, threshold: 0.1 },
      { feature: 'Account Balance', psi: 0.05, threshold: 0.1 },
    ],
    monitorWorkflowId: 'monitor-fraud-prod',
    at: '2026-12-01T00:05:00Z',
  };
  const sources = [
    { kind: 'file' as const, path: '/data/tx/tx_2026-11-29.csv', sha256: sha('a'), rows: 1000, date: '2026-11-29' },
    { kind: 'file' as const, path: '/data/tx/tx_2026-11-30.csv', sha256: sha('b'), rows: 1200, date: '2026-11-30' },
    { kind: 'feedback' as const, path: '/w/artifacts/feedback_data.csv', sha256: sha('c'), rows: 37, endpoint: 'fraud-prod' },
  ];

  it('the page shows the trigger first: the alarm, its endpoint and each drifted feature’s PSI against its threshold', async () => {
    const context = releaseContext({ trigger: alarmTrigger, data: { sources } });
    assert.deepEqual(Object.keys(context).sort(), ['sources', 'trigger']);
    const html = await renderReviewHtml({ ...fixtureReview({ phase: 'awaiting_approval' }), ...context });
    const main = html.slice(html.indexOf('<main>'));
    assert.ok(main.indexOf('id="trigger"') >= 0 && main.indexOf('id="trigger"') < main.indexOf('data-table="summary"'), 'the trigger comes before everything else');
    assert.match(main, /Started by the monitor's alarm on endpoint <strong>fraud-prod<\/strong>/);
    assert.match(main, /<tr><td>Age<\/td><td class="num fail">0\.412<\/td><td class="num">0\.100<\/td><td class="num">4\.1×<\/td><\/tr>/);
    assert.match(main, /<tr><td>Account Balance<\/td><td class="num">0\.050<\/td>/, 'below its threshold: not flagged');
    assert.match(main, /<td class="fail">drift<\/td><td>Age, Account Balance<\/td>/);
  });

  it('every kind of trigger in one line, escaped', async () => {
    const headline = async (trigger: Parameters<typeof releaseContext>[0]['trigger']) => {
      const html = await renderReviewHtml({ ...fixtureReview({ phase: 'final' }), ...releaseContext({ trigger, data: {} }) });
      return /<p data-trigger="[a-z]+">(.*?)<\/p>/.exec(html)?.[1];
    };
    assert.equal(await headline({ kind: 'person', by: 'alice<script>' }), 'Started by <strong>alice&lt;script&gt;</strong>.');
    assert.equal(await headline({ kind: 'person' }), 'Started by a person (no name recorded).');
    assert.equal(
      await headline({ kind: 'schedule', schedule: 'weekly-fraud', at: '2026-12-07T03:00:00Z' }),
      'Started by the schedule <strong>weekly-fraud</strong> at 2026-12-07T03:00:00Z.',
    );
    assert.equal(
      await headline({ kind: 'promotion', by: 'bob', from: 'staging', to: ['production'], version: '7' }),
      'Promotion of version <strong>7</strong> from staging to production by <strong>bob</strong>.',
    );
    const noTrigger = await renderReviewHtml(fixtureReview({ phase: 'final' }));
    assert.ok(
      !noTrigger.includes('id="trigger"') && !noTrigger.includes('data-table="sources"') && !noTrigger.includes('data-table="environments"'),
      'older reviews render as before',
    );
  });

  it('lists the training data’s sources (date, rows, short sha256) before the PSI comparison, and each environment’s stage', async () => {
    const context = releaseContext({
      data: { sources },
      environments: [
        {
          name: 'staging',
          target: 'local',
          endpoint: 'fraud-staging',
          stage: 'live',
          alias: '@staging',
          approval: { decision: 'approved', automatic: true, at: '2026-12-01T01:00:00Z', modelVersion: '7' },
          summary: 'soaked 10m, smoke tests passed',
        },
        { name: 'production', target: 'azure', endpoint: 'fraud-prod', stage: 'awaiting_approval' },
      ],
    });
    const html = await renderReviewHtml({ ...fixtureReview({ phase: 'awaiting_approval' }), ...context });
    assert.match(html, /3 source\(s\), 2026-11-29 to 2026-11-30: 2237 rows in all\./);
    assert.match(
      html,
      /<tr><td>file<\/td><td><code>\/data\/tx\/tx_2026-11-30\.csv<\/code><\/td><td>2026-11-30<\/td><td class="num">1200<\/td><td><code title="b{64}">b{12}…<\/code><\/td><\/tr>/,
    );
    assert.match(html, /<tr><td>feedback of <code>fraud-prod<\/code><\/td><td><code>\/w\/artifacts\/feedback_data\.csv<\/code><\/td><td>–<\/td><td class="num">37<\/td>/);
    assert.ok(html.indexOf('data-table="sources"') < html.indexOf('id="drift"'), 'the sources come with the comparison of the data');
    assert.match(html, /Population stability index of each feature/, 'the PSI comparison with the champion’s data stays');
    assert.match(
      html,
      /<tr><td><strong>staging<\/strong><\/td><td>local<\/td><td><code>fraud-staging<\/code><\/td><td class="pass">live<\/td><td>approved automatically at 2026-12-01T01:00:00Z<\/td><td><code>@staging<\/code><\/td><td>soaked 10m, smoke tests passed<\/td><\/tr>/,
    );
    assert.match(
      html,
      /<tr><td><strong>production<\/strong><\/td><td>azure<\/td><td><code>fraud-prod<\/code><\/td><td>awaiting approval<\/td><td>–<\/td><td>–<\/td><td><\/td><\/tr>/,
    );
    const many = releaseContext({ data: { sources: Array.from({ length: 30 }, (_, i) => ({ ...sources[0]!, date: `2026-11-${String(i + 1).padStart(2, '0')}` })) } });
    assert.match(
      await renderReviewHtml({ ...fixtureReview({ phase: 'final' }), ...many }),
      /30 source\(s\), 2026-11-01 to 2026-11-30: 30000 rows in all\.<\/p><details><summary>every source<\/summary><table/,
    );
  });
});
