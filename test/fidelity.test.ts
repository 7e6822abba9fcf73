// Fidelity at real-world magnitudes: a release whose features include balances in the thousands to millions and a
// ledger balance from 100.xx to 1e9 whose signal lies in the cents passes the trainer's parity check (ONNX vs scikit-learn on
// the held-out rows, limit 1e-4) and the local golden-prediction test. With scaling and float32 tree thresholds
// (before issue 12) the same training failed: "ONNX and scikit-learn probabilities differ by 0.409".
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startRelease } from '../src/client/release';
import { projectRoot } from '../src/config/environment';
import { loadConfig } from '../src/config/load';
import { generateBankingCsv } from '../src/data/generate';
import type { LocalTestResult } from '../src/activities/local-tests';
import type { ReleaseResult } from '../src/workflows/release-api';
import { rewriteCsv } from './support/rewrite-csv';
import { connectTestEnvironment, withWorkers } from './support/temporal';

const dir = mkdtempSync(join(tmpdir(), 'modelship-fidelity-'));
process.env.MODELSHIP_ARTIFACTS_DIR = join(dir, 'workflow_artifacts');

describe('ONNX fidelity in a release', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await connectTestEnvironment();
    await generateBankingCsv({ rows: 1500, seed: 5, out: join(dir, 'generated.csv') });
    // A ledger balance: big accounts at 1e9, small ones at 100.xx whose cents carry signal (mostly above .50 for
    // high amounts). Standardised in float32, every small account became one value; in double they stay apart.
    await rewriteCsv(join(dir, 'generated.csv'), join(dir, 'bank.csv'), (row, i) => {
      const upper = (row.HighAmount === '1') === ((i * 7919) % 100) / 100 < 0.8;
      const cents = upper ? 50 + ((i * 31) % 50) : (i * 17) % 50;
      return { ...row, 'Ledger Balance': i % 2 === 0 ? `${1_000_000_000 + ((i * 7) % 1000)}.00` : `100.${String(cents).padStart(2, '0')}` };
    });
  });
  after(async () => {
    await env?.teardown();
  });

  it('releases a model trained on large-magnitude features: parity within 1e-4, golden predictions match, 0/1 labels stay numbers', async () => {
    const base = loadConfig({ path: join(projectRoot, 'config/default.yaml') }).config;
    const config = loadConfig({
      path: join(projectRoot, 'config/default.yaml'),
      overrides: {
        input_data_path: join(dir, 'bank.csv'),
        model_name: `fidelity-${Date.now()}`,
        n_iter: 2,
        cv_folds: 2,
        test_data_split: 0.25,
        model_families: ['hist_gradient_boosting'],
        skip_deployment: true,
        auto_approve_deployment: true,
        // Parity is what is tested here, not model quality: the gates stay out of the way.
        min_f1: 0,
        min_accuracy: 0,
        min_roc_auc: 0.5,
        data: {
          ...base.data!,
          numeric_features: [...base.data!.numeric_features, 'Account Balance After Transaction', 'Ledger Balance'],
          forbidden_features: base.data!.forbidden_features.filter((c) => c !== 'Account Balance After Transaction'),
        },
      },
    }).config;
    const result = await withWorkers(env, async (queues) => {
      const handle = await startRelease(env.client, env.namespace ?? 'default', config, { queues });
      return (await handle.result()) as ReleaseResult;
    });
    assert.equal(result.outcome, 'succeeded', result.error);
    const local = JSON.parse(readFileSync(join(result.artifactsDir, 'local_tests.json'), 'utf8')) as LocalTestResult;
    const golden = local.cases.find((c) => c.name === 'golden_predictions')!;
    assert.ok(golden.passed, golden.observed);
    const labels = local.cases.find((c) => c.name === 'class_labels')!;
    assert.match(labels.observed, /^\[[01](,[01])*\]$/, 'a 0/1 target answers numbers');
    const metrics = JSON.parse(readFileSync(join(result.artifactsDir, 'metrics.json'), 'utf8')) as { classes: unknown };
    assert.deepEqual(metrics.classes, { negative: 0, positive: 1 }, 'the evaluation report names the classes');
  });
});
