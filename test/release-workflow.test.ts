// The release workflow on the real Temporal server and MLflow, with the real trainer on small generated data. The
// approval gate's rules (approvers, versions, reasons, Signals, the Temporal CLI, expiry) are tested with stand-in
// activities in test/approval-gate.test.ts; here, what needs the real parts: the decision tagged in MLflow, a
// registered version reused, and failures of the real data checks, gates and local tests.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { startRelease } from '../src/client/release';
import { failureMessage } from '../src/client/temporal';
import { projectRoot, type TaskQueues } from '../src/config/environment';
import type { ReleaseConfigInput } from '../src/config/schema';
import { generateBankingCsv } from '../src/data/generate';
import { MlflowClient } from '../src/registry/mlflow';
import { approveUpdate, statusQuery, type ReleaseResult } from '../src/workflows/release-api';
import { workflowBundle } from './support/bundles';
import { quickTraining, releaseConfig as defaultConfig, waitForApproval } from './support/release';
import { connectTestEnvironment, mlflowUri, withWorkers } from './support/temporal';

const dir = mkdtempSync(join(tmpdir(), 'modelship-release-'));
const dataPath = join(dir, 'bank.csv');
const modelName = `release-test-${Date.now()}`;
process.env.MODELSHIP_ARTIFACTS_DIR = join(dir, 'workflow_artifacts');

const releaseConfig = (overrides: Partial<ReleaseConfigInput> = {}) =>
  defaultConfig({ input_data_path: dataPath, model_name: modelName, ...quickTraining, skip_deployment: true, auto_approve_deployment: true, ...overrides });

describe('modelRelease workflow', () => {
  let env: TestWorkflowEnvironment;
  let firstRun: { workflowId: string; runId: string; result: ReleaseResult };
  const versions = () => new MlflowClient(mlflowUri()).searchVersions(`name='${modelName}'`);

  before(async () => {
    env = await connectTestEnvironment();
    await generateBankingCsv({ rows: 1200, seed: 5, out: dataPath });
  });
  after(async () => {
    await env?.teardown();
  });

  /** Runs `fn` with workers on fresh queues; releases started through `start` go to those queues. */
  const withRelease = <T>(
    fn: (start: (overrides?: Partial<ReleaseConfigInput>, modelUri?: string) => Promise<WorkflowHandle & { firstExecutionRunId?: string }>, queues: TaskQueues) => Promise<T>,
  ) => withWorkers(env, (queues) => fn((overrides, modelUri) => startRelease(env.client, env.namespace ?? 'default', releaseConfig(overrides), { queues, modelUri }), queues));

  it('runs the whole pipeline: data → train → evaluate → gates → register → local tests → approval → report', async () => {
    await withRelease(async (start) => {
      const handle = await start();
      const result = (await handle.result()) as ReleaseResult;
      firstRun = { workflowId: handle.workflowId, runId: handle.firstExecutionRunId!, result };
      assert.equal(result.outcome, 'succeeded', result.error);
      assert.deepEqual(
        result.steps.map((s) => `${s.name}:${s.status}`),
        [
          'validate_data:succeeded',
          'train:succeeded',
          'evaluate:succeeded',
          'gates:succeeded',
          'register:succeeded',
          'local_tests:succeeded',
          'approval:succeeded',
          'deploy:skipped',
          'report:succeeded',
        ],
      );
      assert.equal(result.candidate?.version, '1');
      assert.deepEqual(result.approval && { decision: result.approval.decision, automatic: result.approval.automatic }, { decision: 'approved', automatic: true });
      for (const file of ['model_outputs/model.onnx', 'metrics.json', 'data_profile.json', 'local_tests.json', 'workflow_report.json', 'workflow.log']) {
        assert.ok(existsSync(join(result.artifactsDir, file)), `${file} is written`);
      }
      const report = JSON.parse(readFileSync(join(result.artifactsDir, 'workflow_report.json'), 'utf8'));
      assert.equal(report.outcome, 'succeeded');
      // The model's one workflow id and this release's run of it; the folder is named by the release's own id.
      assert.equal(handle.workflowId, `release-${modelName}`);
      assert.match(report.links.temporal_ui, new RegExp(`/workflows/${handle.workflowId}/${handle.firstExecutionRunId!}$`));
      assert.equal(basename(result.artifactsDir), result.workflowId);
      assert.match(readFileSync(join(result.artifactsDir, 'workflow.log'), 'utf8'), /train +succeeded/);
      const version = (await versions())[0]!;
      assert.equal(version.tags?.find((t) => t.key === 'modelship.approval.automatic')?.value, 'true');
      const description = await handle.describe();
      assert.deepEqual(description.searchAttributes.ReleaseOutcome, ['succeeded']);
      assert.deepEqual(description.searchAttributes.ModelName, [modelName]);
      assert.equal((description.memo?.approval as { decision: string }).decision, 'approved');
    });
  });

  it('replays its recorded history deterministically', async () => {
    const history = await env.client.workflow.getHandle(firstRun.workflowId, firstRun.runId).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle('current') }, history, firstRun.workflowId);
  });

  it('waits for a person and takes the Update of an approver: the decision is tagged on the reused version in MLflow', async () => {
    await withRelease(async (start) => {
      const handle = await start({ skip_training: true, auto_approve_deployment: false, approvers: ['alice'] }, `models:/${modelName}/1`);
      const status = await waitForApproval(handle);
      assert.equal(status.candidate?.version, '1');
      assert.match(status.waitingFor!, /modelship approve/);
      const verdict = await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', modelVersion: '1', comment: 'looks good' }] });
      assert.match(verdict, /approved version 1 of .* by alice/);
      const result = (await handle.result()) as ReleaseResult;
      assert.equal(result.outcome, 'succeeded');
      assert.deepEqual([result.approval?.by, result.approval?.comment, result.approval?.automatic], ['alice', 'looks good', false]);
      const version = (await versions())[0]!;
      assert.equal(version.tags?.find((t) => t.key === 'modelship.approval.by')?.value, 'alice');
      assert.equal((await versions()).length, 1, 'skip_training reuses the registered version');
    });
  });

  const failedRelease = async (overrides: Partial<ReleaseConfigInput>, expectedStep: string, pattern: RegExp, modelUri?: string) =>
    withRelease(async (start) => {
      const before = (await versions()).length;
      const handle = await start(overrides, modelUri);
      await assert.rejects(handle.result(), (error: unknown) => {
        assert.ok(error instanceof WorkflowFailedError);
        assert.match(failureMessage(error), pattern);
        assert.match(error.cause!.message, new RegExp(`release failed at ${expectedStep}`));
        return true;
      });
      const releaseId = (await handle.query(statusQuery)).workflowId;
      const report = JSON.parse(readFileSync(join(process.env.MODELSHIP_ARTIFACTS_DIR!, releaseId, 'workflow_report.json'), 'utf8'));
      assert.equal(report.outcome, 'failed');
      assert.equal(report.steps.find((s: { name: string }) => s.name === expectedStep).status, 'failed');
      assert.equal((await versions()).length, before, 'no model version was created');
    });

  it('fails at the gates, listing every failed check', async () => {
    await failedRelease({ skip_training: true, min_roc_auc: 0.999, min_f1: 0.999 }, 'gates', /failed 2 gate\(s\)[\s\S]*min_roc_auc[\s\S]*min_f1/, `models:/${modelName}/1`);
  });

  it('fails at the local tests, naming the failed case', async () => {
    await failedRelease(
      { skip_training: true, max_latency_ms: 0.000001 },
      'local_tests',
      /local test case\(s\) failed:\n {2}- latency: expected single-record p95/,
      `models:/${modelName}/1`,
    );
  });

  it('fails at data validation on bad data and touches nothing downstream', async () => {
    await failedRelease({ input_data_path: join(projectRoot, 'package.json') }, 'validate_data', /data validation found \d+ problem\(s\)/);
  });
});
