// The approval gate's rules, through the real modelRelease workflow on the test run's Temporal server with stand-in
// activities (no training, no MLflow): who may approve, how many distinct principals, the version, reasons for a
// rejection, expiry, Updates and Signals and the Temporal CLI, and signed decisions (the verifier a stand-in, then
// the real one with ssh-keygen keys: every refusal with its reason). End-to-end tests (release-workflow,
// signed-approvals) keep what needs the real trainer, registry and CLI.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createApprovalActivities } from '../src/activities/approval';
import { startRelease } from '../src/client/release';
import { signStatement, statementFor } from '../src/client/signing';
import { venvDir } from '../src/config/environment';
import type { ReleaseConfigInput } from '../src/config/schema';
import { approveSignal, approveUpdate, rejectUpdate, statusQuery, type ReleaseResult, type ReleaseStatus } from '../src/workflows/release-api';
import { workflowBundle } from './support/bundles';
import { refusedUpdate, releaseConfig, waitForApproval } from './support/release';
import { fails, releaseStandIns, standInCandidate, withStandIns, type StandInActivities } from './support/stand-ins';
import { TestKeys, type TestKey } from './support/ssh-keys';
import { connectTestEnvironment } from './support/temporal';

const dir = mkdtempSync(join(tmpdir(), 'modelship-gate-'));
process.env.MODELSHIP_ARTIFACTS_DIR = join(dir, 'workflow_artifacts');
const modelName = `gate-test-${Date.now()}`;
const version = standInCandidate.version;

/** A release that skips training and deployment and waits for a person (unless the test says otherwise). */
const gateConfig = (overrides: Partial<ReleaseConfigInput> = {}) =>
  releaseConfig({
    input_data_path: join(dir, 'unread.csv'),
    model_name: modelName,
    skip_training: true,
    skip_deployment: true,
    skip_local_testing: true,
    auto_approve_deployment: false,
    ...overrides,
  });

describe('approval gate (stand-in activities)', () => {
  let env: TestWorkflowEnvironment;

  before(async () => {
    env = await connectTestEnvironment();
  });
  after(async () => {
    await env?.teardown();
  });

  /** Starts a release on a stand-in worker and runs `fn` with its handle while the worker serves it. */
  const withRelease = <T>(
    overrides: Partial<ReleaseConfigInput>,
    fn: (handle: WorkflowHandle, stands: ReturnType<typeof releaseStandIns>) => Promise<T>,
    options: { startedBy?: string; activities?: StandInActivities } = {},
  ) => {
    const stands = releaseStandIns(modelName, options.activities);
    return withStandIns(env, stands.activities, async (taskQueue) => {
      const handle = await startRelease(env.client, env.namespace ?? 'default', gateConfig(overrides), {
        queues: { orchestration: taskQueue, training: `${taskQueue}-training` },
        modelUri: `models:/${modelName}/${version}`,
        startedBy: options.startedBy ?? 'starter',
      });
      return fn(handle, stands);
    });
  };
  const tagsOf = (stands: ReturnType<typeof releaseStandIns>) => (stands.calls.find((c) => c.name === 'tagApproval')!.input as { tags: Record<string, string> }).tags;

  it('one approver by Update: refuses a non-approver, a wrong version and a rejection without a reason, then takes the approver', async () => {
    await withRelease({ approvers: ['alice'] }, async (handle, stands) => {
      const status = await waitForApproval(handle);
      assert.equal(status.candidate?.version, version);
      assert.match(status.waitingFor!, /modelship approve/);
      await refusedUpdate(handle.executeUpdate(approveUpdate, { args: [{ by: 'mallory', modelVersion: version }] }), /refused: mallory is not an approver/);
      await refusedUpdate(
        handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', modelVersion: '7' }] }),
        /refused: version 7 is not the candidate waiting for approval \(version 3\)/,
      );
      await refusedUpdate(handle.executeUpdate(rejectUpdate, { args: [{ by: 'alice', reason: ' ' }] }), /needs a reason/);
      const verdict = await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', modelVersion: version, comment: 'looks good' }] });
      assert.match(verdict, /approved version 3 of .* by alice/);
      const result = (await handle.result()) as ReleaseResult;
      assert.equal(result.outcome, 'succeeded');
      assert.deepEqual([result.approval?.by, result.approval?.comment, result.approval?.automatic], ['alice', 'looks good', false]);
      assert.equal(tagsOf(stands)['modelship.approval.by'], 'alice', 'the decision is tagged on the version');
      assert.equal((stands.calls.find((c) => c.name === 'tagApproval')!.input as { version: string }).version, version);
    });
  });

  it('takes approval by Signal too, listing refused signals in the status', async () => {
    await withRelease({ approvers: ['alice'] }, async (handle) => {
      await waitForApproval(handle);
      await handle.signal(approveSignal, { by: 'bob', modelVersion: version });
      await handle.signal(approveSignal, { by: 'alice', modelVersion: version });
      const result = (await handle.result()) as ReleaseResult;
      assert.equal(result.approval?.by, 'alice');
      assert.match(result.refused.join('\n'), /signal from bob: refused: bob is not an approver/);
    });
  });

  it('needs required_approvals distinct approvers from the list, never the starter when forbid_self_approval is set', async () => {
    const rules = { approvers: ['alice', 'bob', 'erin'], required_approvals: 2, forbid_self_approval: true };
    await withRelease(
      rules,
      async (handle, stands) => {
        const status = await waitForApproval(handle);
        assert.deepEqual([status.gate?.requiredApprovals, status.gate?.forbidSelfApproval, status.gate?.startedBy, status.gate?.signatures], [2, true, 'erin', 'not required']);
        assert.match(status.gate?.note ?? '', /names only: allowed_signers is not set/);
        assert.match(status.waitingFor!, /\(0 of 2 approvals\): modelship approve \S+ --by NAME \(or reject --reason TEXT\)/);
        await refusedUpdate(
          handle.executeUpdate(approveUpdate, { args: [{ by: 'mallory', modelVersion: version }] }),
          /refused: mallory is not an approver \(approvers: alice, bob, erin\)/,
        );
        await refusedUpdate(handle.executeUpdate(approveUpdate, { args: [{ by: ' ', modelVersion: version }] }), /refused: the approver is required/);
        await refusedUpdate(handle.executeUpdate(approveUpdate, { args: [{ by: 'erin', modelVersion: version }] }), /erin started this release and forbid_self_approval is set/);
        assert.match(await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', modelVersion: version, comment: 'first' }] }), /by alice \(1 of 2 approvals\)/);
        await refusedUpdate(handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', modelVersion: version }] }), /alice has already approved \(1 of 2 approvals\)/);
        const waiting = await handle.query(statusQuery);
        assert.match(waiting.waitingFor!, /\(1 of 2 approvals\)/);
        assert.deepEqual(
          waiting.gate?.approvals.map((v) => v.by),
          ['alice'],
        );
        await handle.signal(approveSignal, { by: 'erin', modelVersion: version });
        await handle.signal(approveSignal, { by: 'bob', modelVersion: version, comment: 'second' });
        const result = (await handle.result()) as ReleaseResult;
        assert.equal(result.outcome, 'succeeded');
        assert.deepEqual([result.approval?.decision, result.approval?.by, result.approval?.comment], ['approved', 'alice, bob', 'second']);
        assert.deepEqual(
          result.approval?.approvals?.map((v) => `${v.decision}:${v.by}`),
          ['approved:alice', 'approved:bob'],
        );
        assert.match(result.refused.join('\n'), /signal from erin: refused: erin started this release/);
        const tags = tagsOf(stands);
        assert.deepEqual(
          [tags['modelship.approval.by'], tags['modelship.approval.1.by'], tags['modelship.approval.2.by'], tags['modelship.approval.signatures']],
          ['alice, bob', 'alice', 'bob', 'not required'],
        );
        const report = stands.reports[0]!;
        assert.equal((report.approval_gate as { requiredApprovals: number }).requiredApprovals, 2);
        assert.equal((report.approval as { approvals: unknown[] }).approvals.length, 2, 'each vote is stored once, in approval.approvals');
        assert.equal(report.approvals, undefined);
      },
      { startedBy: 'erin' },
    );
  });

  it('one rejection ends the release, even after an approval: rejected, not deployed', async () => {
    await withRelease({ required_approvals: 2 }, async (handle) => {
      await waitForApproval(handle);
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', modelVersion: version }] });
      await refusedUpdate(handle.executeUpdate(rejectUpdate, { args: [{ by: 'bob', reason: 'drift', modelVersion: '2' }] }), /refused: version 2 is not the candidate/);
      assert.match(await handle.executeUpdate(rejectUpdate, { args: [{ by: 'bob', reason: 'drift in Age' }] }), /rejected version 3 of .* by bob: drift in Age/);
      const result = (await handle.result()) as ReleaseResult;
      assert.equal(result.outcome, 'rejected');
      assert.deepEqual([result.approval?.decision, result.approval?.by, result.approval?.reason], ['rejected', 'bob', 'drift in Age']);
      assert.equal(result.steps.find((s) => s.name === 'deploy')?.summary, 'not deployed: rejected');
    });
  });

  it('ends as "approval expired" with nothing deployed when nobody answers in time', async () => {
    await withRelease({ approval_timeout: '2s' }, async (handle, stands) => {
      const result = (await handle.result()) as ReleaseResult;
      assert.equal(result.outcome, 'approval_expired');
      assert.equal(result.approval?.decision, 'expired');
      assert.equal(result.steps.find((s) => s.name === 'deploy')?.summary, 'not deployed: approval expired');
      assert.equal((await handle.describe()).searchAttributes.ReleaseOutcome?.[0], 'approval_expired');
      assert.equal(tagsOf(stands)['modelship.approval.decision'], 'expired');
    });
  });

  it('takes approve and reject from the Temporal CLI (update execute, signal)', async () => {
    const temporal = join(venvDir(), 'bin', 'temporal');
    // Asynchronous: the worker runs in this process and must keep working while the CLI waits.
    const cli = async (args: string[]) =>
      (await promisify(execFile)(temporal, [...args, '--address', process.env.TEMPORAL_ADDRESS!, '--namespace', env.namespace ?? 'default'], { encoding: 'utf8' })).stdout;
    await withRelease({}, async (approved) => {
      await waitForApproval(approved);
      const out = await cli([
        'workflow',
        'update',
        'execute',
        '--workflow-id',
        approved.workflowId,
        '--name',
        'approve',
        '--input',
        JSON.stringify({ by: 'cli-user', modelVersion: version }),
      ]);
      assert.match(out, /approved version 3/);
      assert.equal(((await approved.result()) as ReleaseResult).approval?.by, 'cli-user');
    });
    await withRelease({}, async (rejected) => {
      await waitForApproval(rejected);
      await cli(['workflow', 'signal', '--workflow-id', rejected.workflowId, '--name', 'reject', '--input', JSON.stringify({ by: 'cli-user', reason: 'not this week' })]);
      const result = (await rejected.result()) as ReleaseResult;
      assert.equal(result.outcome, 'rejected');
      assert.equal(result.approval?.reason, 'not this week');
      assert.equal(result.steps.find((s) => s.name === 'deploy')?.summary, 'not deployed: rejected');
    });
  });

  describe('signed decisions (allowed_signers set)', () => {
    // The stand-in verifier: a signature "key:FINGERPRINT" is valid for whoever sends it, "bad:REASON" is refused
    // with that reason, "unreadable" fails the activity.
    const verifierAsked: { expected: Record<string, string>; notBefore?: string }[] = [];
    const verifyApprovalSignature: StandInActivities['verifyApprovalSignature'] = async (input) => {
      verifierAsked.push({ expected: { ...input.expected }, notBefore: input.notBefore });
      if (input.signature === 'unreadable') throw fails('allowed signers file /keys/allowed_signers: no such file', 'AllowedSignersUnreadable');
      if (input.signature.startsWith('bad:')) return { valid: false, reason: input.signature.slice(4), allowedSignersSha256: 'f'.repeat(64) };
      return { valid: true, principal: input.expected.principal, keyFingerprint: `SHA256:${input.signature.slice(4)}`, statement: {}, allowedSignersSha256: 'f'.repeat(64) };
    };
    const signedRules = { allowed_signers: join(dir, 'allowed_signers'), required_approvals: 2 };
    const approve = (handle: WorkflowHandle, by: string, signature?: string) =>
      handle.executeUpdate(approveUpdate, { args: [{ by, modelVersion: version, comment: 'ok', statement: signature && `statement by ${by}`, signature }] });

    it('refuses unsigned and invalid decisions with their reason, and one key for two approvers', async () => {
      await withRelease(
        signedRules,
        async (handle) => {
          const status = await waitForApproval(handle);
          assert.equal(status.gate?.signatures, 'required');
          assert.match(status.waitingFor!, /--by NAME --key ~\/\.ssh\/id_ed25519 \(or reject --key … --reason TEXT\)/);
          await refusedUpdate(approve(handle, 'alice'), /requires a signed approval \(allowed_signers is set\)\. Fix: modelship approve .* --key/);
          await refusedUpdate(
            handle.executeUpdate(rejectUpdate, { args: [{ by: 'alice', reason: 'no' }] }),
            /requires a signed rejection .* --key ~\/\.ssh\/id_ed25519 --reason TEXT/,
          );
          await refusedUpdate(approve(handle, 'alice', 'bad:the signature does not match the statement'), /^refused: the signature does not match the statement$/);
          await refusedUpdate(approve(handle, 'alice', 'unreadable'), /refused: the signature could not be checked: allowed signers file \/keys\/allowed_signers: no such file/);
          assert.match(await approve(handle, 'alice', 'key:K1'), /by alice \(1 of 2 approvals\)/);
          await refusedUpdate(approve(handle, 'bob', 'key:K1'), /refused: key SHA256:K1 already signed for alice: distinct approvals need distinct keys/);
          await handle.signal(approveSignal, { by: 'bob', modelVersion: version });
          assert.match(await approve(handle, 'bob', 'key:K2'), /by bob \(2 of 2 approvals\)/);

          const result = (await handle.result()) as ReleaseResult;
          assert.equal(result.outcome, 'succeeded', result.error);
          assert.deepEqual([result.approval?.by, result.approval?.signatures], ['alice, bob', 'required']);
          assert.deepEqual(
            result.approval?.approvals?.map((v) => v.signed?.keyFingerprint),
            ['SHA256:K1', 'SHA256:K2'],
          );
          // Refusals by the verifier or after it are listed; the unsigned ones never reached the workflow's history.
          assert.deepEqual(
            result.refused.filter((line) => line.startsWith('update from')).map((line) => line.replace(/: refused: .*/, '')),
            ['update from alice', 'update from alice', 'update from bob'],
          );
          assert.match(result.refused.join('\n'), /signal from bob: refused: this release requires a signed approval/);
          // What the verifier was asked to check: this release, this candidate, this decision and principal, since the wait began.
          const [first] = verifierAsked.splice(0);
          // Statements name the release (unique), not the workflow id every release of the model shares.
          assert.notEqual(status.workflowId, handle.workflowId);
          assert.deepEqual(first!.expected, {
            workflowId: status.workflowId,
            modelName,
            modelVersion: version,
            modelSha256: standInCandidate.modelSha256,
            dataSha256: standInCandidate.dataSha256,
            decision: 'approved',
            principal: 'alice',
            comment: 'ok',
          });
          assert.equal(first!.notBefore, (await handle.query(statusQuery)).gate?.waitingSince);
        },
        { activities: { verifyApprovalSignature } },
      );
    });

    it('a signed rejection ends the release', async () => {
      await withRelease(
        signedRules,
        async (handle) => {
          await waitForApproval(handle);
          await handle.executeUpdate(rejectUpdate, { args: [{ by: 'bob', reason: 'drift in Age', statement: 'statement by bob', signature: 'key:K2' }] });
          const result = (await handle.result()) as ReleaseResult;
          assert.equal(result.outcome, 'rejected');
          assert.deepEqual(
            verifierAsked.splice(0).map((a) => [a.expected.decision, a.expected.comment]),
            [['rejected', 'drift in Age']],
          );
          assert.equal(result.approval?.approvals?.[0]?.signed?.keyFingerprint, 'SHA256:K2');
        },
        { activities: { verifyApprovalSignature } },
      );
    });
  });

  describe('signed decisions checked by the real verifier (ssh-keygen keys)', () => {
    const keys = new TestKeys();
    const [alice, bob, carol, erin, mallory] = ['alice', 'bob', 'carol', 'erin', 'mallory'].map((name) => keys.make(name)) as [TestKey, TestKey, TestKey, TestKey, TestKey];
    const signedRules = {
      allowed_signers: keys.allowedSigners([
        ['alice@example.com', alice],
        ['bob@example.com', bob],
        ['carol@example.com valid-before="20200101Z"', carol],
        ['erin@example.com', erin],
      ]),
      required_approvals: 2,
      forbid_self_approval: true,
    };
    const options = { startedBy: 'erin@example.com', activities: { verifyApprovalSignature: createApprovalActivities().verifyApprovalSignature } };
    const approve = (handle: WorkflowHandle, by: string, statement?: string, signature?: string, comment = 'ok') =>
      handle.executeUpdate(approveUpdate, { args: [{ by, modelVersion: version, comment, statement, signature }] });
    /** The approval statement `principal` signs for the waiting candidate, or for one with other fields. */
    const approvalBy = (status: ReleaseStatus, principal: string, candidate: { version?: string; modelSha256?: string } = {}) =>
      statementFor({ ...status, candidate: { ...status.candidate!, ...candidate } }, 'approved', principal, 'ok');
    /** A valid signed approval recorded by one release, replayed on another by the next test. */
    let recorded: { workflowId: string; statement: string; signature: string } | undefined;

    it('a valid signed approval counts, and a signed rejection ends the release after it', async () => {
      await withRelease(
        signedRules,
        async (handle) => {
          const status = await waitForApproval(handle);
          const statement = approvalBy(status, 'alice@example.com');
          assert.match(await approve(handle, 'alice@example.com', statement, keys.sign(alice, statement)), /by alice@example.com \(1 of 2 approvals\)/);
          recorded = { workflowId: status.workflowId, ...(await handle.query(statusQuery)).gate!.approvals[0]!.signed! };
          const rejection = statementFor(status, 'rejected', 'bob@example.com', 'drift in Age');
          const signature = await signStatement(bob.privatePath, rejection);
          await handle.executeUpdate(rejectUpdate, { args: [{ by: 'bob@example.com', reason: 'drift in Age', modelVersion: version, statement: rejection, signature }] });
          const result = (await handle.result()) as ReleaseResult;
          assert.equal(result.outcome, 'rejected');
          assert.equal(result.steps.find((s) => s.name === 'deploy')?.summary, 'not deployed: rejected');
          assert.deepEqual(
            result.approval?.approvals?.map((v) => `${v.decision}:${v.by}`),
            ['approved:alice@example.com', 'rejected:bob@example.com'],
          );
        },
        options,
      );
    });

    it('refuses every invalid signature with its reason, needs two distinct signers, refuses the starter, and records each verification', async () => {
      assert.ok(recorded, 'the test before recorded a signed approval to replay here');
      await withRelease(
        signedRules,
        async (handle) => {
          const status = await waitForApproval(handle);
          assert.equal(status.gate?.signatures, 'required');
          assert.match(status.candidate?.modelSha256 ?? '', /^[0-9a-f]{64}$/);
          assert.match(status.waitingFor!, /--key/);

          // Each bad attempt is refused with a clear reason; the release keeps waiting.
          const good = approvalBy(status, 'alice@example.com');
          await refusedUpdate(approve(handle, 'alice@example.com'), /requires a signed approval \(allowed_signers is set\)\. Fix: modelship approve .* --key/);
          await refusedUpdate(approve(handle, 'alice@example.com', good.replace('comment: ok', 'comment: ok!'), keys.sign(alice, good), 'ok!'), /does not match the statement/);
          await refusedUpdate(
            approve(handle, 'alice@example.com', good, keys.sign(mallory, good)),
            /signed with key SHA256:\S+, which the allowed signers file does not list for alice@example.com/,
          );
          const carolSays = approvalBy(status, 'carol@example.com');
          await refusedUpdate(
            approve(handle, 'carol@example.com', carolSays, keys.sign(carol, carolSays)),
            /key SHA256:\S+ of carol@example.com has expired \(valid-before 2020-01-01/,
          );
          await refusedUpdate(approve(handle, 'alice@example.com', good, keys.sign(alice, good, 'git')), /namespace "git", not "modelship-approval"/);
          const otherVersion = approvalBy(status, 'alice@example.com', { version: '2' });
          await refusedUpdate(approve(handle, 'alice@example.com', otherVersion, keys.sign(alice, otherVersion)), /model_version: signed "2", expected "3"/);
          const otherDigest = approvalBy(status, 'alice@example.com', { modelSha256: 'f'.repeat(64) });
          await refusedUpdate(approve(handle, 'alice@example.com', otherDigest, keys.sign(alice, otherDigest)), /model_sha256: signed "f{64}"/);
          await refusedUpdate(
            approve(handle, 'alice@example.com', recorded!.statement, recorded!.signature),
            new RegExp(`workflow_id: signed "${recorded!.workflowId}", expected "${status.workflowId}"`),
          );
          const erinSays = approvalBy(status, 'erin@example.com');
          await refusedUpdate(approve(handle, 'erin@example.com', erinSays, keys.sign(erin, erinSays)), /erin@example.com started this release and forbid_self_approval is set/);
          await handle.signal(approveSignal, { by: 'bob@example.com', modelVersion: version });

          // Two distinct signers: alice (1 of 2; again refused), then bob.
          assert.match(await approve(handle, 'alice@example.com', good, keys.sign(alice, good)), /approved version 3 .* by alice@example.com \(1 of 2 approvals\)/);
          await refusedUpdate(approve(handle, 'alice@example.com', good, keys.sign(alice, good)), /alice@example.com has already approved \(1 of 2 approvals\)/);
          const bobSays = approvalBy(status, 'bob@example.com');
          assert.match(await approve(handle, 'bob@example.com', bobSays, keys.sign(bob, bobSays)), /by bob@example.com \(2 of 2 approvals\)/);

          const result = (await handle.result()) as ReleaseResult;
          assert.equal(result.outcome, 'succeeded', result.error);
          assert.deepEqual([result.approval?.decision, result.approval?.by, result.approval?.signatures], ['approved', 'alice@example.com, bob@example.com', 'required']);
          assert.match(result.refused.join('\n'), /signal from bob@example.com: refused: this release requires a signed approval/);
          assert.equal(result.refused.filter((line) => line.startsWith('update from')).length, 7, result.refused.join('\n'));

          // Recorded: every verification (refused or not) is an activity in history with its verdict.
          const history = await handle.fetchHistory();
          const verdicts = history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'verifyApprovalSignature');
          assert.equal(verdicts.length, 9, 'seven refused and two accepted signatures were checked by the worker');
          assert.ok(
            history.events!.some((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch'),
            'the signed-approvals patch marker is recorded',
          );
          await Worker.runReplayHistory({ workflowBundle: await workflowBundle('current') }, history, handle.workflowId);
        },
        options,
      );
    });
  });
});
