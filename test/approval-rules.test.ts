// The approval gate's rules as pure functions: no server, no workflow (the gate's wiring is tested with stand-in
// activities in approval-gate.test.ts, and end to end in approval.test.ts and signed-approvals.test.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApprovalVote } from '../src/shared/approval';
import {
  approvalTags,
  gateRules,
  approveRefusal,
  expiredDecision,
  gateStatus,
  keyReuseRefusal,
  rejectRefusal,
  tally,
  verifiedRefusal,
  voteOf,
  waitingLine,
  type GateMoment,
  type GateRules,
} from '../src/workflows/approval-rules';

const rules = (over: Partial<GateRules> = {}): GateRules => ({
  workflowId: 'release-x',
  statementId: 'release-x',
  approvers: [],
  requiredApprovals: 1,
  forbidSelfApproval: false,
  signaturesRequired: false,
  ...over,
});
const open = (votes: ApprovalVote[] = []): GateMoment => ({ waiting: true, stage: 'approval', candidateVersion: '3', votes });
const vote = (by: string, decision: ApprovalVote['decision'] = 'approved', extra: Partial<ApprovalVote> = {}): ApprovalVote => ({
  decision,
  by,
  at: '2026-12-03T10:00:00.000Z',
  ...extra,
});
const candidate = { name: 'm', version: '3' };

describe('approval rules', () => {
  it('refuses messages while not waiting, and after the decision', () => {
    assert.equal(approveRefusal(rules(), { ...open(), waiting: false, stage: 'train' }, { by: 'a', modelVersion: '3' }), 'refused: not waiting for approval (current step: train)');
    assert.equal(approveRefusal(rules(), { ...open(), decided: 'rejected' }, { by: 'a', modelVersion: '3' }), 'refused: already rejected');
    assert.equal(rejectRefusal(rules(), { ...open(), decided: 'approved' }, { by: 'a', reason: 'no' }), 'refused: already approved');
  });

  it('needs a named approver from the list, the waiting version, and a reason to reject', () => {
    assert.equal(approveRefusal(rules(), open(), { by: ' ', modelVersion: '3' }), 'refused: the approver is required (--by NAME)');
    assert.equal(approveRefusal(rules({ approvers: ['alice', 'bob'] }), open(), { by: 'eve', modelVersion: '3' }), 'refused: eve is not an approver (approvers: alice, bob)');
    assert.equal(approveRefusal(rules(), open(), { by: 'alice', modelVersion: '2' }), 'refused: version 2 is not the candidate waiting for approval (version 3)');
    assert.equal(approveRefusal(rules({ approvers: ['alice'] }), open(), { by: 'alice', modelVersion: '3' }), undefined);
    assert.equal(rejectRefusal(rules(), open(), { by: 'alice', reason: '  ' }), 'refused: a rejection needs a reason (--reason TEXT)');
    // A rejection may omit the version; a wrong one is refused.
    assert.equal(rejectRefusal(rules(), open(), { by: 'alice', reason: 'drift' }), undefined);
    assert.match(rejectRefusal(rules(), open(), { by: 'alice', reason: 'drift', modelVersion: '9' })!, /version 9 is not the candidate/);
  });

  it('counts each principal once and never the starter under forbid_self_approval', () => {
    const two = rules({ requiredApprovals: 2, forbidSelfApproval: true, startedBy: 'carol' });
    assert.equal(approveRefusal(two, open([vote('alice')]), { by: 'alice', modelVersion: '3' }), 'refused: alice has already approved (1 of 2 approvals)');
    assert.equal(
      approveRefusal(two, open(), { by: 'carol', modelVersion: '3' }),
      'refused: carol started this release and forbid_self_approval is set: another principal must approve',
    );
    // Without forbid_self_approval the starter may approve.
    assert.equal(approveRefusal(rules({ startedBy: 'carol' }), open(), { by: 'carol', modelVersion: '3' }), undefined);
    // After the worker verified a signature, the world may have moved.
    assert.equal(verifiedRefusal(two, open([vote('alice')]), 'approved', 'alice'), 'refused: alice has already approved (1 of 2 approvals)');
    assert.equal(verifiedRefusal(two, open([vote('alice')]), 'rejected', 'alice'), undefined);
    assert.equal(verifiedRefusal(two, { ...open(), decided: 'approved' }, 'rejected', 'bob'), 'refused: already approved');
  });

  it('asks for a signature when allowed_signers is set, naming the command that gives one', () => {
    const signed = rules({ signaturesRequired: true, allowedSigners: '/etc/signers' });
    assert.equal(
      approveRefusal(signed, open(), { by: 'alice', modelVersion: '3' }),
      'refused: this release requires a signed approval (allowed_signers is set). Fix: modelship approve release-x --by NAME --key ~/.ssh/id_ed25519',
    );
    assert.match(
      rejectRefusal(signed, open(), { by: 'alice', reason: 'no' })!,
      /signed rejection .* modelship reject release-x --by NAME --key ~\/\.ssh\/id_ed25519 --reason TEXT$/,
    );
    assert.equal(approveRefusal(signed, open(), { by: 'alice', modelVersion: '3', statement: 's', signature: 'sig' }), undefined);
  });

  it('one key per signer', () => {
    const signedBy = (by: string, key: string) =>
      vote(by, 'approved', { signed: { statement: '', signature: '', keyFingerprint: key, allowedSigners: '', allowedSignersSha256: '' } });
    assert.equal(keyReuseRefusal([signedBy('alice', 'SHA256:K1')], 'SHA256:K1'), 'refused: key SHA256:K1 already signed for alice: distinct approvals need distinct keys');
    assert.equal(keyReuseRefusal([signedBy('alice', 'SHA256:K1')], 'SHA256:K2'), undefined);
  });

  it('tallies votes: N distinct approvals decide, one rejection decides at once', () => {
    const two = rules({ requiredApprovals: 2 });
    const first = tally(two, [vote('alice', 'approved', { comment: 'ok' })], candidate);
    assert.equal(first.decision, undefined);
    assert.equal(first.message, 'approved version 3 of m by alice (1 of 2 approvals)');
    const second = tally(two, [vote('alice'), vote('bob', 'approved', { comment: 'lgtm' })], candidate);
    assert.equal(second.message, 'approved version 3 of m by bob (2 of 2 approvals)');
    assert.deepEqual(
      { ...second.decision, approvals: second.decision?.approvals?.length },
      {
        decision: 'approved',
        automatic: false,
        by: 'alice, bob',
        at: '2026-12-03T10:00:00.000Z',
        modelVersion: '3',
        comment: 'lgtm',
        approvals: 2,
        signatures: 'not required',
      },
    );
    const rejected = tally(two, [vote('alice'), vote('bob', 'rejected', { reason: 'drift' })], candidate);
    assert.equal(rejected.decision?.decision, 'rejected');
    assert.equal(rejected.decision?.by, 'bob');
    assert.equal(rejected.message, 'rejected version 3 of m by bob: drift');
    assert.equal(tally(rules(), [vote('alice')], candidate).message, 'approved version 3 of m by alice', 'no progress note for one approval');
  });

  it('records a vote with its comment or reason, and an expired decision with the votes so far', () => {
    const at = '2026-12-03T10:00:00.000Z';
    assert.deepEqual(voteOf('approved', { by: 'a', comment: 'ok', reason: 'ignored' }, at), { decision: 'approved', by: 'a', at, comment: 'ok' });
    assert.deepEqual(voteOf('rejected', { by: 'b', comment: 'ignored', reason: 'drift' }, at), { decision: 'rejected', by: 'b', at, reason: 'drift' });
    const votes = [vote('a')];
    assert.deepEqual(expiredDecision(rules({ requiredApprovals: 2, signaturesRequired: true }), votes, '3', at), {
      decision: 'expired',
      automatic: false,
      at,
      modelVersion: '3',
      approvals: votes,
      signatures: 'required',
    });
    assert.equal(expiredDecision(rules(), [], '3', at).signatures, 'not required');
  });

  it('shows the rules, what the release waits for, and the MLflow tags of a decision', () => {
    const signed = rules({ signaturesRequired: true, allowedSigners: '/etc/signers', requiredApprovals: 2 });
    assert.equal(gateStatus(rules(), [], undefined).note, 'names only: allowed_signers is not set, so who approved is not verified');
    assert.equal(gateStatus(signed, [], 't0').signatures, 'required');
    assert.equal(
      waitingLine(signed, [vote('alice')], candidate, 'review: r.html'),
      'approval of m version 3 (1 of 2 approvals): modelship approve release-x --by NAME --key ~/.ssh/id_ed25519 (or reject --key … --reason TEXT); review: r.html',
    );
    const decided = tally(rules(), [vote('alice', 'approved', { comment: 'ok' })], candidate).decision!;
    const tags = approvalTags(decided, 'release-x');
    assert.equal(tags['modelship.approval.by'], 'alice');
    assert.equal(tags['modelship.approval.1.by'], 'alice');
    assert.equal(tags['modelship.approval.comment'], 'ok');
    assert.equal(tags['modelship.approval.signatures'], 'not required');
    const staging = approvalTags(decided, 'release-x-1@staging', 'staging');
    assert.equal(staging['modelship.approval.staging.by'], 'alice');
    assert.equal(staging['modelship.approval.staging.workflow_id'], 'release-x-1@staging');
    assert.equal(staging['modelship.approval.by'], undefined);
  });

  it('names the release in statements and the workflow in commands, with the environment when there is one', () => {
    const subject = { workflowId: 'release-m', releaseId: 'release-m-20261203-101500-ab12' };
    const config = { approvers: [], required_approvals: 1, forbid_self_approval: false } as unknown as Parameters<typeof gateRules>[0];
    assert.equal(gateRules(config, subject, 'bob').statementId, 'release-m-20261203-101500-ab12');
    const staging = gateRules(config, { ...subject, environment: 'staging' }, 'bob');
    assert.equal(staging.statementId, 'release-m-20261203-101500-ab12@staging');
    assert.equal(gateStatus(staging, [], undefined).environment, 'staging');
    assert.match(waitingLine(staging, [], candidate, undefined), /modelship approve release-m --by NAME/);
  });
});
