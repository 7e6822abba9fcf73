// Signed approvals on the real Temporal server and MLflow: with allowed_signers set, only valid SSH signatures by
// listed keys decide; every bad attempt is refused with its reason (and recorded in history); two distinct principals
// are required; the starter cannot approve; one signed rejection ends a release; audit re-verifies the chain.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { renderStatement, parseStatement } from '../src/approval/statement';
import { auditApprovals, type ApprovalEvidence } from '../src/client/audit';
import { startRelease } from '../src/client/release';
import { signStatement, statementFor } from '../src/client/signing';
import { failureMessage } from '../src/client/temporal';
import { projectRoot } from '../src/config/environment';
import { loadConfig } from '../src/config/load';
import type { ReleaseConfigInput } from '../src/config/schema';
import { generateBankingCsv } from '../src/data/generate';
import { MlflowClient, tagValue } from '../src/registry/mlflow';
import { approveSignal, approveUpdate, rejectUpdate, statusQuery, type ReleaseResult, type ReleaseStatus } from '../src/workflows/release-api';
import { runCli } from './support/cli';
import { TestKeys } from './support/ssh-keys';
import { connectTestEnvironment, mlflowUri, withWorkers } from './support/temporal';

const dir = mkdtempSync(join(tmpdir(), 'modelship-signed-'));
const dataPath = join(dir, 'bank.csv');
const modelName = `signed-test-${Date.now()}`;
process.env.MODELSHIP_ARTIFACTS_DIR = join(dir, 'workflow_artifacts');

const keys = new TestKeys();
const [alice, bob, carol, erin, mallory] = ['alice', 'bob', 'carol', 'erin', 'mallory'].map((name) => keys.make(name)) as [ReturnType<TestKeys['make']>, ...ReturnType<TestKeys['make']>[]];
const allowedSigners = keys.allowedSigners([
  ['alice@example.com', alice],
  ['bob@example.com', bob!],
  ['carol@example.com valid-before="20200101Z"', carol!],
  ['erin@example.com', erin!],
]);

function releaseConfig(overrides: Partial<ReleaseConfigInput> = {}) {
  return loadConfig({
    path: join(projectRoot, 'config/default.yaml'),
    overrides: { input_data_path: dataPath, model_name: modelName, n_iter: 2, cv_folds: 2, test_data_split: 0.25, skip_deployment: true, auto_approve_deployment: true, ...overrides },
  }).config;
}

async function waitForApproval(handle: WorkflowHandle): Promise<ReleaseStatus> {
  for (let i = 0; i < 480; i++) {
    const status = await handle.query(statusQuery).catch(() => undefined);
    if (status?.waitingFor) return status;
    if (status?.outcome === 'failed') assert.fail(`release failed before approval: ${status.error}`);
    await sleep(250);
  }
  assert.fail('the release never waited for approval');
}

const refused = (attempt: Promise<unknown>, pattern: RegExp) =>
  assert.rejects(attempt, (error: unknown) => {
    assert.ok(error instanceof WorkflowUpdateFailedError, `expected a refused Update, got ${String(error)}`);
    assert.match(failureMessage(error), pattern);
    return true;
  });

describe('signed approvals', () => {
  let env: TestWorkflowEnvironment;

  before(async () => {
    env = await connectTestEnvironment();
    await generateBankingCsv({ rows: 1000, seed: 6, out: dataPath });
  });
  after(async () => {
    await env?.teardown();
  });

  it('refuses every invalid signature with its reason, needs two distinct signers, refuses the starter, and audit re-verifies the chain', async () => {
    await withWorkers(env, async (queues) => {
      // Version 1, trained and approved automatically; then two signed releases of it wait side by side.
      const trained = await startRelease(env.client, env.namespace ?? 'default', releaseConfig(), { queues });
      assert.equal(((await trained.result()) as ReleaseResult).outcome, 'succeeded');
      const signed = releaseConfig({ skip_training: true, auto_approve_deployment: false, allowed_signers: allowedSigners, required_approvals: 2, forbid_self_approval: true });
      const start = () => startRelease(env.client, env.namespace ?? 'default', signed, { queues, modelUri: `models:/${modelName}/1`, startedBy: 'erin@example.com' });
      const [a, b] = [await start(), await start()];
      const [statusA, statusB] = [await waitForApproval(a), await waitForApproval(b)];
      assert.equal(statusA.gate?.signatures, 'required');
      assert.match(statusA.candidate?.modelSha256 ?? '', /^[0-9a-f]{64}$/);
      assert.match(statusA.waitingFor!, /--key/);
      const reviewA = JSON.parse(readFileSync(statusA.review!.path!.replace(/review\.html$/, 'review.json'), 'utf8'));
      assert.match(reviewA.approvals.waiting, /modelship approve \S+ --by NAME --key/, 'the review tells approvers to sign');

      const approve = (handle: WorkflowHandle, by: string, statement?: string, signature?: string, comment = 'ok') =>
        handle.executeUpdate(approveUpdate, { args: [{ by, modelVersion: '1', comment, statement, signature }] });
      const aliceSays = (status: ReleaseStatus, changes: { version?: string; modelSha256?: string } = {}) =>
        statementFor({ ...status, candidate: { ...status.candidate!, ...(changes.version && { version: changes.version }), ...(changes.modelSha256 && { modelSha256: changes.modelSha256 }) } }, 'approved', 'alice@example.com', 'ok');

      // B: alice's valid approval (1 of 2), kept to be replayed on A; then bob's signed rejection ends B.
      const aliceOnB = aliceSays(statusB);
      assert.match(await approve(b, 'alice@example.com', aliceOnB, keys.sign(alice, aliceOnB)), /by alice@example.com \(1 of 2 approvals\)/);
      const replayed = (await b.query(statusQuery)).gate!.approvals[0]!.signed!;
      const rejection = statementFor(statusB, 'rejected', 'bob@example.com', 'drift in Age');
      await b.executeUpdate(rejectUpdate, { args: [{ by: 'bob@example.com', reason: 'drift in Age', modelVersion: '1', statement: rejection, signature: await signStatement(bob!.privatePath, rejection) }] });
      const resultB = (await b.result()) as ReleaseResult;
      assert.equal(resultB.outcome, 'rejected');
      assert.equal(resultB.steps.find((s) => s.name === 'deploy')?.summary, 'not deployed: rejected');
      assert.deepEqual(resultB.approval?.approvals?.map((v) => `${v.decision}:${v.by}`), ['approved:alice@example.com', 'rejected:bob@example.com']);

      // A: each bad attempt is refused with a clear reason; the release keeps waiting.
      const good = aliceSays(statusA);
      await refused(approve(a, 'alice@example.com'), /requires a signed approval \(allowed_signers is set\)\. Fix: modelship approve .* --key/);
      await refused(approve(a, 'alice@example.com', good.replace('comment: ok', 'comment: ok!'), keys.sign(alice, good), 'ok!'), /does not match the statement/);
      await refused(approve(a, 'alice@example.com', good, keys.sign(mallory!, good)), /signed with key SHA256:\S+, which the allowed signers file does not list for alice@example.com/);
      const carolSays = statementFor(statusA, 'approved', 'carol@example.com', 'ok');
      await refused(approve(a, 'carol@example.com', carolSays, keys.sign(carol!, carolSays)), /key SHA256:\S+ of carol@example.com has expired \(valid-before 2020-01-01/);
      await refused(approve(a, 'alice@example.com', good, keys.sign(alice, good, 'git')), /namespace "git", not "modelship-approval"/);
      const v2 = aliceSays(statusA, { version: '2' });
      await refused(approve(a, 'alice@example.com', v2, keys.sign(alice, v2)), /model_version: signed "2", expected "1"/);
      const otherDigest = aliceSays(statusA, { modelSha256: 'f'.repeat(64) });
      await refused(approve(a, 'alice@example.com', otherDigest, keys.sign(alice, otherDigest)), /model_sha256: signed "f{64}"/);
      await refused(approve(a, 'alice@example.com', replayed.statement, replayed.signature), new RegExp(`workflow_id: signed "${b.workflowId}", expected "${a.workflowId}"`));
      const erinSays = statementFor(statusA, 'approved', 'erin@example.com', 'ok');
      await refused(approve(a, 'erin@example.com', erinSays, keys.sign(erin!, erinSays)), /erin@example.com started this release and forbid_self_approval is set/);
      await a.signal(approveSignal, { by: 'bob@example.com', modelVersion: '1' });

      // Two distinct signers: alice (1 of 2; again refused), then bob through the CLI, signing with ssh-keygen.
      assert.match(await approve(a, 'alice@example.com', good, keys.sign(alice, good)), /approved version 1 .* by alice@example.com \(1 of 2 approvals\)/);
      await refused(approve(a, 'alice@example.com', good, keys.sign(alice, good)), /alice@example.com has already approved \(1 of 2 approvals\)/);
      const cliEnv = { MODELSHIP_TASK_QUEUE: queues.orchestration, MODELSHIP_TRAINING_TASK_QUEUE: queues.training };
      const unsignedCli = await runCli(['approve', a.workflowId, '--by', 'bob@example.com'], cliEnv);
      assert.equal(unsignedCli.code, 1);
      assert.match(unsignedCli.stderr, /requires a signed decision .* Fix: add --key/);
      const cli = await runCli(['approve', a.workflowId, '--by', 'bob@example.com', '--key', bob!.privatePath, '--comment', 'reviewed the drift'], cliEnv);
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, /approved version 1 of .* by bob@example.com \(2 of 2 approvals\)/);

      const result = (await a.result()) as ReleaseResult;
      assert.equal(result.outcome, 'succeeded', result.error);
      assert.deepEqual([result.approval?.decision, result.approval?.by, result.approval?.signatures], ['approved', 'alice@example.com, bob@example.com', 'required']);
      const bobVote = result.approval!.approvals![1]!;
      assert.equal(parseStatement(bobVote.signed!.statement).comment, 'reviewed the drift');
      assert.match(result.refused.join('\n'), /signal from bob@example.com: refused: this release requires a signed approval/);
      assert.equal(result.refused.filter((line) => line.startsWith('update from')).length, 7, result.refused.join('\n'));

      // Recorded: every verification (refused or not) is an activity in history with its verdict.
      const history = await a.fetchHistory();
      const verdicts = history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'verifyApprovalSignature');
      assert.equal(verdicts.length, 9, 'seven refused and two accepted signatures were checked by the worker');
      assert.ok(history.events!.some((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch'), 'the signed-approvals patch marker is recorded');
      await Worker.runReplayHistory({ workflowsPath: require.resolve('../src/workflows') }, history, a.workflowId);

      // Into the report, the memo and MLflow.
      const report = JSON.parse(readFileSync(join(result.artifactsDir, 'workflow_report.json'), 'utf8'));
      assert.equal(report.approval.approvals.length, 2);
      assert.equal(report.approvals, undefined, "each vote is stored once, in approval.approvals");
      assert.equal(report.approval_gate.requiredApprovals, 2);
      assert.equal((await a.describe()).memo?.approval && ((await a.describe()).memo!.approval as { approvals: unknown[] }).approvals.length, 2);
      const version = await new MlflowClient(mlflowUri()).getVersion(modelName, '1');
      assert.equal(tagValue(version, 'modelship.approval.2.signature'), bobVote.signed!.signature);
      assert.equal(tagValue(version, 'modelship.approval.signatures'), 'required');

      // audit: passes as recorded; fails when a key is no longer listed, or the record was edited.
      const evidence: ApprovalEvidence = { workflowId: a.workflowId, candidate: report.candidate, approval: report.approval, gate: report.approval_gate, source: 'test' };
      const audit = await auditApprovals(evidence, { mlflowUri: mlflowUri() });
      assert.ok(audit.ok, audit.lines.map((l) => l.text).join('\n'));
      assert.match(audit.lines.map((l) => l.text).join('\n'), /model file .*model\.onnx: sha256 [0-9a-f]{12}… matches/);
      const bobOnly = keys.allowedSigners([['bob@example.com', bob!]]);
      const withoutAlice = await auditApprovals(evidence, { mlflowUri: mlflowUri(), allowedSigners: bobOnly });
      assert.ok(!withoutAlice.ok);
      assert.match(withoutAlice.lines.map((l) => l.text).join('\n'), /1\. .* approved by alice@example.com, key SHA256:\S+: INVALID: alice@example.com is not in the allowed signers file/);
      const edited = structuredClone(evidence);
      edited.approval!.approvals![0]!.signed!.statement = renderStatement({ ...parseStatement(good), comment: 'edited' });
      assert.match((await auditApprovals(edited, { mlflowUri: mlflowUri() })).lines.map((l) => l.text).join('\n'), /INVALID: the signature does not match the statement/);

      // And through the CLI, from the report on disk.
      writeFileSync(join(dir, 'edited_report.json'), JSON.stringify({ ...report, approval: edited.approval }));
      const cliAudit = await runCli(['audit', a.workflowId], cliEnv);
      assert.equal(cliAudit.code, 0, cliAudit.stdout + cliAudit.stderr);
      assert.match(cliAudit.stdout, /✔ 2\. .* approved by bob@example.com, key SHA256:\S+, model sha256 [0-9a-f]{12}…: signature valid/);
      const fromMemo = await runCli(['audit', a.workflowId], { ...cliEnv, MODELSHIP_ARTIFACTS_DIR: mkdtempSync(join(dir, 'elsewhere-')) });
      assert.equal(fromMemo.code, 0, fromMemo.stdout + fromMemo.stderr);
      assert.match(fromMemo.stdout, /from the memo of .* in Temporal[\s\S]*audit passed/);
      const cliEdited = await runCli(['audit', a.workflowId, '--report', join(dir, 'edited_report.json')], cliEnv);
      assert.equal(cliEdited.code, 1);
      assert.match(cliEdited.stdout, /audit FAILED/);
    });
  });
});
