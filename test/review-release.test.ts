// The review report of real releases (Temporal, MLflow, the trainer and the local endpoint of the test run): it
// exists while the release waits for approval, is linked from the status, the workflow's current details, MLflow
// and `modelship report`, compares the candidate with @production on the same rows, and gains the rollout after
// deployment. The page of a real release is then checked in headless Chromium.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Browser } from 'playwright-core';
import { startRelease } from '../src/client/release';
import { projectRoot } from '../src/config/environment';
import { loadConfig } from '../src/config/load';
import type { ReleaseConfigInput } from '../src/config/schema';
import { generateBankingCsv } from '../src/data/generate';
import type { ReviewDocument } from '../src/review/document';
import { approveUpdate, statusQuery, type ReleaseResult, type ReleaseStatus } from '../src/workflows/release-api';
import { launchChromium, visitReview } from './support/browser';
import { runCli } from './support/cli';
import { connectTestEnvironment, mlflowUri, withWorkers } from './support/temporal';
import { PASSING_GATES } from './support/release';

const dir = mkdtempSync(join(tmpdir(), 'modelship-review-'));
const modelName = `review-test-${Date.now()}`;
const endpoint = `rv-${Date.now().toString(36)}`;
process.env.MODELSHIP_ARTIFACTS_DIR = join(dir, 'workflow_artifacts');

const readReview = (artifactsDir: string) => JSON.parse(readFileSync(join(artifactsDir, 'review.json'), 'utf8')) as ReviewDocument;

async function artifactNames(runId: string, path = ''): Promise<string[]> {
  const response = await fetch(`${mlflowUri()}/api/2.0/mlflow/artifacts/list?${new URLSearchParams({ run_id: runId, path })}`);
  return ((await response.json()) as { files?: { path: string }[] }).files?.map((f) => f.path) ?? [];
}

describe('release review report', () => {
  let env: TestWorkflowEnvironment;
  let browser: Browser;
  const config = (dataPath: string, overrides: Partial<ReleaseConfigInput>) =>
    loadConfig({
      path: join(projectRoot, 'config/default.yaml'),
      overrides: {
        input_data_path: dataPath,
        model_name: modelName,
        endpoint_name: endpoint,
        n_iter: 1,
        cv_folds: 2,
        model_families: ['logistic_regression', 'hist_gradient_boosting'],
        auto_approve_deployment: true,
        traffic_plan: [50, 100],
        bake_time: '1s',
        termination_wait: '0s',
        ...PASSING_GATES,
        ...overrides,
      },
    }).config;

  before(async () => {
    env = await connectTestEnvironment();
    browser = await launchChromium();
    await generateBankingCsv({ rows: 1000, seed: 21, out: join(dir, 'first.csv') });
    await generateBankingCsv({ rows: 1000, seed: 22, out: join(dir, 'second.csv') });
  });
  after(async () => {
    await browser?.close();
    await env?.teardown();
  });

  it('first release: a review with no champion to compare with, then its rollout', async () => {
    const result = await withWorkers(env, async (queues) => {
      const handle = await startRelease(env.client, env.namespace ?? 'default', config(join(dir, 'first.csv'), {}), { queues });
      return (await handle.result()) as ReleaseResult;
    });
    assert.equal(result.outcome, 'succeeded', result.error);
    assert.equal(result.review?.phase, 'final');
    const review = readReview(result.artifactsDir);
    assert.deepEqual(review.champion, { none: 'no @production model: nothing to compare with' });
    assert.equal(review.drift.available, false);
    assert.ok(review.roc.available && review.roc.rows.every((r) => r.model === 'candidate v1'));
    assert.ok(review.importance.available && review.importance.rows.length > 10, 'importance from the trainer');
    assert.ok(review.rollout?.available && review.rollout.outcome === 'succeeded');
  });

  it('second release: the review exists while it waits for approval, compares with @production v1, and gains the rollout', async () => {
    await withWorkers(env, async (queues) => {
      const handle: WorkflowHandle = await startRelease(
        env.client,
        env.namespace ?? 'default',
        config(join(dir, 'second.csv'), { auto_approve_deployment: false, approvers: ['alice'] }),
        { queues },
      );
      let status: ReleaseStatus | undefined;
      for (let i = 0; i < 600 && !status?.waitingFor; i++) {
        status = await handle.query(statusQuery).catch(() => undefined);
        assert.notEqual(status?.outcome, 'failed', status?.error);
        await sleep(250);
      }
      assert.ok(status?.waitingFor, 'the release waits for approval');
      // The folder is named by the release's own id; commands address the model's workflow id.
      const artifactsDir = join(process.env.MODELSHIP_ARTIFACTS_DIR!, status.workflowId);

      // Before anyone decides: the files, their links, the MLflow copies.
      assert.equal(status.review?.phase, 'awaiting_approval');
      assert.equal(status.review?.path, join(artifactsDir, 'review.html'));
      assert.equal(status.review?.error, undefined);
      assert.ok(existsSync(status.review!.path!));
      const waiting = readReview(artifactsDir);
      assert.equal(waiting.phase, 'awaiting_approval');
      assert.deepEqual(waiting.champion, { version: '1' });
      assert.ok(waiting.roc.available);
      assert.deepEqual([...new Set(waiting.roc.rows.map((r) => r.model))], ['candidate v2', '@production v1'], 'both models on the same rows');
      assert.ok(waiting.drift.available && waiting.drift.features.length > 10, "drift against v1's training data");
      assert.ok(waiting.drift.features.every((f) => Number.isFinite(f.psi) && f.flagged === f.psi > 0.2));
      assert.ok(waiting.importance.available && waiting.importance.rows.length > 10);
      assert.ok(waiting.latency.available && waiting.latency.rows.reduce((n, r) => n + r.count, 0) === 100, 'every timed call in the histogram');
      assert.ok(waiting.gates.available && waiting.gates.rows.some((g) => g.name === 'champion_challenger'));
      assert.equal(waiting.rollout, undefined);
      assert.equal(waiting.approvals.signed_setup, false);
      const runId = /\/runs\/([0-9a-f]+)$/.exec(status.review!.runUrl!)![1]!;
      assert.match(status.review!.mlflowUrl!, new RegExp(`/runs/${runId}/artifacts/review\\.html$`));
      const logged = await artifactNames(runId);
      for (const name of ['review.html', 'review.json']) assert.ok(logged.includes(name), `${name} is in the MLflow run`);
      assert.ok((await artifactNames(runId, 'evaluation')).includes('evaluation/feature_importance.json'));
      const details = (await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata')).currentDetails ?? '';
      assert.match(details, /\[review in MLflow\]\(http[^)]+review\.html\)/);
      assert.match(details, /\[MLflow run\]\(http[^)]+\)/);

      const statusCli = await runCli(['status', handle.workflowId]);
      assert.match(statusCli.stdout, new RegExp(`review: +${artifactsDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/review\\.html \\(read it before approving\\)`));
      const report = await runCli(['report', handle.workflowId]);
      assert.equal(report.code, 0, report.stderr);
      assert.equal(report.stdout.split('\n')[0], join(artifactsDir, 'review.html'));

      const visit = await visitReview(browser, status.review!.path!);
      try {
        assert.deepEqual([visit.consoleErrors, visit.foreignRequests, visit.missing], [[], [], {}]);
        for (const chart of ['roc', 'precision_recall', 'calibration', 'confusion', 'score_distribution', 'importance', 'drift', 'latency']) {
          assert.ok(visit.marks[chart]! > 0, `${chart} is drawn with data`);
        }
      } finally {
        await visit.page.close();
      }

      // The final review takes the data sketch back from the run instead of reading the data file again.
      const dataPath = join(dir, 'second.csv');
      renameSync(dataPath, `${dataPath}.away`);
      let result: ReleaseResult;
      try {
        await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', modelVersion: '2', comment: 'reviewed' }] });
        result = (await handle.result()) as ReleaseResult;
      } finally {
        renameSync(`${dataPath}.away`, dataPath);
      }
      assert.equal(result.outcome, 'succeeded', result.error);
      const final = readReview(artifactsDir);
      assert.equal(final.phase, 'final');
      assert.deepEqual(final.drift, waiting.drift);
      assert.deepEqual(
        final.approvals.records.map((a) => [a.by, a.decision, a.signed]),
        [['alice', 'approved', false]],
      );
      assert.ok(final.rollout?.available);
      assert.equal(final.rollout.outcome, 'succeeded');
      assert.deepEqual([...new Set(final.rollout.traffic.map((t) => t.colour))].sort(), ['blue', 'green']);
      assert.deepEqual(
        final.rollout.bakes.map((b) => b.step),
        ['50 %', '100 %'],
      );
      assert.ok(final.rollout.bakes.every((b) => b.requests >= 0 && b.error_rate === 0));
      const finalVisit = await visitReview(browser, result.review!.path!);
      try {
        assert.deepEqual([finalVisit.consoleErrors, finalVisit.foreignRequests], [[], []]);
        assert.ok(finalVisit.marks.traffic! > 0 && finalVisit.marks.bake! > 0);
      } finally {
        await finalVisit.page.close();
      }
    });
  });
});
