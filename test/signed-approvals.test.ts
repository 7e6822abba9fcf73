// Signed approvals end to end, on the real Temporal server, trainer and MLflow: a trained release with
// allowed_signers set is approved by two signers (one through the Update, one through `modelship approve --key`);
// the votes reach the report, the memo and the model version's tags, and audit re-verifies the chain from the report,
// from the memo, and refuses an edited record. Every refusal and its reason: test/approval-gate.test.ts, with the
// real verifier and ssh-keygen keys.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { parseStatement, renderStatement } from '../src/approval/statement';
import { auditApprovals, type ApprovalEvidence } from '../src/client/audit';
import { startRelease } from '../src/client/release';
import { statementFor } from '../src/client/signing';
import { generateBankingCsv } from '../src/data/generate';
import { MlflowClient, tagValue } from '../src/registry/mlflow';
import { approveUpdate, type ReleaseResult } from '../src/workflows/release-api';
import { runCli } from './support/cli';
import { quickTraining, releaseConfig, waitForApproval } from './support/release';
import { TestKeys } from './support/ssh-keys';
import { connectTestEnvironment, mlflowUri, withWorkers } from './support/temporal';

const dir = mkdtempSync(join(tmpdir(), 'modelship-signed-'));
const dataPath = join(dir, 'bank.csv');
const modelName = `signed-test-${Date.now()}`;
process.env.MODELSHIP_ARTIFACTS_DIR = join(dir, 'workflow_artifacts');

const keys = new TestKeys();
const [alice, bob] = [keys.make('alice'), keys.make('bob')];
const allowedSigners = keys.allowedSigners([
  ['alice@example.com', alice],
  ['bob@example.com', bob],
]);

describe('signed approvals', () => {
  let env: TestWorkflowEnvironment;

  before(async () => {
    env = await connectTestEnvironment();
    await generateBankingCsv({ rows: 1000, seed: 6, out: dataPath });
  });
  after(async () => {
    await env?.teardown();
  });

  it('a trained release approved by two signers (Update, then the CLI with --key); the votes in the report, memo and MLflow; audit re-verifies the chain', async () => {
    await withWorkers(env, async (queues) => {
      const config = releaseConfig({
        input_data_path: dataPath,
        model_name: modelName,
        ...quickTraining,
        skip_deployment: true,
        auto_approve_deployment: false,
        allowed_signers: allowedSigners,
        required_approvals: 2,
      });
      const handle = await startRelease(env.client, env.namespace ?? 'default', config, { queues });
      const status = await waitForApproval(handle, 480_000);
      assert.equal(status.candidate?.version, '1');
      const review = JSON.parse(readFileSync(status.review!.path!.replace(/review\.html$/, 'review.json'), 'utf8'));
      assert.match(review.approvals.waiting, /modelship approve \S+ --by NAME --key/, 'the review tells approvers to sign');

      // Two distinct signers: alice by the Update (1 of 2), then bob through the CLI, signing with ssh-keygen.
      const good = statementFor(status, 'approved', 'alice@example.com', 'ok');
      const signature = keys.sign(alice, good);
      const verdict = await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice@example.com', modelVersion: '1', comment: 'ok', statement: good, signature }] });
      assert.match(verdict, /approved version 1 .* by alice@example.com \(1 of 2 approvals\)/);
      const cliEnv = { MODELSHIP_TASK_QUEUE: queues.orchestration, MODELSHIP_TRAINING_TASK_QUEUE: queues.training };
      const unsignedCli = await runCli(['approve', handle.workflowId, '--by', 'bob@example.com'], cliEnv);
      assert.equal(unsignedCli.code, 1);
      assert.match(unsignedCli.stderr, /requires a signed decision .* Fix: add --key/);
      const cli = await runCli(['approve', handle.workflowId, '--by', 'bob@example.com', '--key', bob.privatePath, '--comment', 'reviewed the drift'], cliEnv);
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, /approved version 1 of .* by bob@example.com \(2 of 2 approvals\)/);

      const result = (await handle.result()) as ReleaseResult;
      assert.equal(result.outcome, 'succeeded', result.error);
      assert.deepEqual([result.approval?.decision, result.approval?.by, result.approval?.signatures], ['approved', 'alice@example.com, bob@example.com', 'required']);
      const bobVote = result.approval!.approvals![1]!;
      assert.equal(parseStatement(bobVote.signed!.statement).comment, 'reviewed the drift');

      // Into the report, the memo and MLflow.
      const report = JSON.parse(readFileSync(join(result.artifactsDir, 'workflow_report.json'), 'utf8'));
      assert.equal(report.approval.approvals.length, 2);
      assert.equal(report.approvals, undefined, 'each vote is stored once, in approval.approvals');
      assert.equal(report.approval_gate.requiredApprovals, 2);
      const memo = (await handle.describe()).memo;
      assert.equal((memo?.approval as { approvals: unknown[] } | undefined)?.approvals.length, 2);
      const version = await new MlflowClient(mlflowUri()).getVersion(modelName, '1');
      assert.equal(tagValue(version, 'modelship.approval.2.signature'), bobVote.signed!.signature);
      assert.equal(tagValue(version, 'modelship.approval.signatures'), 'required');

      // audit: passes as recorded; fails when a key is no longer listed, or the record was edited.
      const evidence: ApprovalEvidence = { workflowId: handle.workflowId, candidate: report.candidate, approval: report.approval, gate: report.approval_gate, source: 'test' };
      const audit = await auditApprovals(evidence, { mlflowUri: mlflowUri() });
      assert.ok(audit.ok, audit.lines.map((l) => l.text).join('\n'));
      assert.match(audit.lines.map((l) => l.text).join('\n'), /model file .*model\.onnx: sha256 [0-9a-f]{12}… matches/);
      const bobOnly = keys.allowedSigners([['bob@example.com', bob]]);
      const withoutAlice = await auditApprovals(evidence, { mlflowUri: mlflowUri(), allowedSigners: bobOnly });
      assert.ok(!withoutAlice.ok);
      assert.match(
        withoutAlice.lines.map((l) => l.text).join('\n'),
        /1\. .* approved by alice@example.com, key SHA256:\S+: INVALID: alice@example.com is not in the allowed signers file/,
      );
      const edited = structuredClone(evidence);
      edited.approval!.approvals![0]!.signed!.statement = renderStatement({ ...parseStatement(good), comment: 'edited' });
      assert.match((await auditApprovals(edited, { mlflowUri: mlflowUri() })).lines.map((l) => l.text).join('\n'), /INVALID: the signature does not match the statement/);

      // And through the CLI, from the report on disk, from the memo, and from an edited report.
      writeFileSync(join(dir, 'edited_report.json'), JSON.stringify({ ...report, approval: edited.approval }));
      const cliAudit = await runCli(['audit', handle.workflowId], cliEnv);
      assert.equal(cliAudit.code, 0, cliAudit.stdout + cliAudit.stderr);
      assert.match(cliAudit.stdout, /✔ 2\. .* approved by bob@example.com, key SHA256:\S+, model sha256 [0-9a-f]{12}…: signature valid/);
      const fromMemo = await runCli(['audit', handle.workflowId], { ...cliEnv, MODELSHIP_ARTIFACTS_DIR: mkdtempSync(join(dir, 'elsewhere-')) });
      assert.equal(fromMemo.code, 0, fromMemo.stdout + fromMemo.stderr);
      assert.match(fromMemo.stdout, /from the memo of .* in Temporal[\s\S]*audit passed/);
      const cliEdited = await runCli(['audit', handle.workflowId, '--report', join(dir, 'edited_report.json')], cliEnv);
      assert.equal(cliEdited.code, 1);
      assert.match(cliEdited.stdout, /audit FAILED/);
    });
  });
});
