// The approval gate of a release: the approve/reject Updates (and Signals of the same names), the rules (approvers,
// required_approvals distinct principals, forbid_self_approval, signatures when allowed_signers is set), the wait,
// and the record (result, memo, MLflow tags). Deterministic code only.
//
// Validators stay synchronous and cheap (waiting? a named approver? the right version? a signature present?); the
// signature itself is checked by the worker in the activity verifyApprovalSignature, called from the handler, so a
// refused signed attempt is in the history with its reason.
//
// Versioning: releases recorded before this gate existed answered approve/reject with no activity and took one
// approval. `patched('signed-approvals')`, asked when the wait begins, keeps them on that path (legacy) when they are
// replayed; every new wait takes the new one.
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  patched,
  proxyActivities,
  setHandler,
  upsertMemo,
} from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { OrchestrationActivities } from '../activities';
import type { ReleaseConfig } from '../config/schema';
import { innermostFailure } from './failures';
import {
  approveSignal,
  approveUpdate,
  rejectSignal,
  rejectUpdate,
  type ApprovalGateStatus,
  type ApprovalRecord,
  type ApprovalSignature,
  type ApprovalVote,
  type ApproveRequest,
  type CandidateRef,
  type RejectRequest,
  type ReleaseStatus,
  type SignedMessage,
} from './release-api';

/** What approve and reject requests have in common, as the handlers read them. */
type DecisionRequest = SignedMessage & { by: string; modelVersion?: string; comment?: string; reason?: string };

export const SIGNED_APPROVALS_PATCH = 'signed-approvals';

const quick = proxyActivities<OrchestrationActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 5, initialInterval: '1 second' },
});

export interface ApprovalGateOptions {
  config: ReleaseConfig;
  workflowId: string;
  startedBy?: string;
  /** The release's status: the gate writes stage details, waitingFor, gate, approval and refused messages there. */
  state: ReleaseStatus;
  /** Refreshes the workflow's current details (the Web UI) after the status changed. */
  show: () => void;
}

export interface ApprovalGate {
  /**
   * Waits for (or takes automatically) the decision on `candidate`, records it, and returns it. `evidence` (e.g. a
   * link to the review report) is appended to what the release says it waits for.
   */
  decide(candidate: CandidateRef, trainingRunId: string, evidence?: string): Promise<ApprovalRecord>;
}

/** How an approver answers this release (with a key when decisions must be signed). */
export function approvalCommand(workflowId: string, signed: boolean): string {
  const key = signed ? ' --key ~/.ssh/id_ed25519' : '';
  return `modelship approve ${workflowId} --by NAME${key} (or reject${key ? ' --key …' : ''} --reason TEXT)`;
}

/** Registers the approve/reject handlers at once (messages that arrive early are refused with a reason). */
export function createApprovalGate({ config, workflowId, startedBy, state, show }: ApprovalGateOptions): ApprovalGate {
  // Old inputs lack the newer keys: default as the schema does.
  const required = config.required_approvals ?? 1;
  const forbidSelf = config.forbid_self_approval ?? false;
  let decision: ApprovalRecord | undefined;
  let waiting = false;
  /** Set when the wait begins: false only when replaying a history recorded before signed approvals. */
  let current = false;
  const signaturesRequired = () => current && Boolean(config.allowed_signers);
  const votes: ApprovalVote[] = [];
  const candidate = () => state.candidate!;

  const gateStatus = (): ApprovalGateStatus => ({
    signatures: signaturesRequired() ? 'required' : 'not required',
    allowedSigners: config.allowed_signers,
    requiredApprovals: required,
    forbidSelfApproval: forbidSelf,
    startedBy,
    waitingSince: state.gate?.waitingSince,
    approvals: votes,
    note: signaturesRequired() ? undefined : 'names only: allowed_signers is not set, so who approved is not verified',
  });

  // --- cheap checks, shared by validators and handlers (the same messages as before signed approvals)
  const checkWaiting = () => {
    if (!waiting || decision) {
      throw new Error(decision ? `refused: already ${decision.decision}` : `refused: not waiting for approval (current step: ${state.stage})`);
    }
  };
  const checkApprover = (by: string | undefined) => {
    if (!by || !by.trim()) throw new Error('refused: the approver is required (--by NAME)');
    if (config.approvers.length > 0 && !config.approvers.includes(by)) {
      throw new Error(`refused: ${by} is not an approver (approvers: ${config.approvers.join(', ')})`);
    }
  };
  const checkVersion = (version: string | undefined, needed: boolean) => {
    if ((needed || version !== undefined) && String(version) !== candidate().version) {
      throw new Error(`refused: version ${version} is not the candidate waiting for approval (version ${candidate().version})`);
    }
  };
  const checkNewApprover = (by: string) => {
    if (!current) return;
    if (votes.some((vote) => vote.by === by)) throw new Error(`refused: ${by} has already approved (${votes.length} of ${required} approvals)`);
    if (forbidSelf && startedBy !== undefined && by === startedBy) {
      throw new Error(`refused: ${by} started this release and forbid_self_approval is set: another principal must approve`);
    }
  };
  const checkSigned = (request: DecisionRequest, command: 'approve' | 'reject') => {
    if (signaturesRequired() && (!request.statement || !request.signature)) {
      throw new Error(
        `refused: this release requires a signed ${command === 'approve' ? 'approval' : 'rejection'} (allowed_signers is set). ` +
          `Fix: modelship ${command} ${workflowId} --by NAME --key ~/.ssh/id_ed25519${command === 'reject' ? ' --reason TEXT' : ''}`,
      );
    }
  };

  const validateApprove = (request: ApproveRequest) => {
    checkWaiting();
    checkApprover(request?.by);
    checkVersion(request.modelVersion, true);
    checkNewApprover(request.by);
    checkSigned(request, 'approve');
  };
  const validateReject = (request: RejectRequest) => {
    checkWaiting();
    checkApprover(request?.by);
    if (!request.reason || !request.reason.trim()) throw new Error('refused: a rejection needs a reason (--reason TEXT)');
    checkVersion(request.modelVersion, false);
    checkSigned(request, 'reject');
  };

  // --- applying a decision
  const record = (vote: ApprovalVote): string => {
    const { name, version } = candidate();
    votes.push(vote);
    state.gate = gateStatus();
    if (vote.decision === 'rejected') {
      decision = { decision: 'rejected', automatic: false, by: vote.by, at: vote.at, modelVersion: version, reason: vote.reason, approvals: votes, signatures: state.gate.signatures };
      return `rejected version ${version} of ${name} by ${vote.by}: ${vote.reason}`;
    }
    const approvedBy = votes.filter((v) => v.decision === 'approved');
    const progress = required > 1 ? ` (${approvedBy.length} of ${required} approvals)` : '';
    if (approvedBy.length >= required) {
      decision = {
        decision: 'approved',
        automatic: false,
        by: approvedBy.map((v) => v.by).join(', '),
        at: vote.at,
        modelVersion: version,
        comment: vote.comment,
        approvals: votes,
        signatures: state.gate.signatures,
      };
    } else {
      state.waitingFor = waitingText();
      show();
    }
    return `approved version ${version} of ${name} by ${vote.by}${progress}`;
  };

  /** Legacy path (histories recorded before signed approvals): exactly the old behaviour, one decision, no activity. */
  const applyLegacy = (kind: 'approved' | 'rejected', request: DecisionRequest): string => {
    const at = new Date().toISOString();
    decision = { decision: kind, automatic: false, by: request.by, at, modelVersion: candidate().version, ...(kind === 'approved' ? { comment: request.comment } : { reason: request.reason }) };
    return kind === 'approved'
      ? `approved version ${decision.modelVersion} of ${candidate().name} by ${request.by}`
      : `rejected version ${decision.modelVersion} of ${candidate().name} by ${request.by}: ${request.reason}`;
  };

  /** Refusals already written to state.refused (by the signed path), so the signal wrapper does not list them twice. */
  const listed = new WeakSet<object>();
  const refuse = (via: string, by: string, message: string): never => {
    state.refused.push(`${via} from ${by}: ${message}`);
    const failure = ApplicationFailure.nonRetryable(message, 'ApprovalRefused');
    listed.add(failure);
    throw failure;
  };

  const applySigned = async (kind: 'approved' | 'rejected', request: DecisionRequest, via: string): Promise<string> => {
    const at = new Date().toISOString();
    const { name, version, modelSha256, dataSha256 } = candidate();
    const comment = kind === 'approved' ? (request.comment ?? '') : (request.reason ?? '');
    const allowedSigners = config.allowed_signers!;
    let verdict: Awaited<ReturnType<OrchestrationActivities['verifyApprovalSignature']>>;
    try {
      verdict = await quick.verifyApprovalSignature({
        allowedSigners,
        statement: request.statement!,
        signature: request.signature!,
        expected: { workflowId, modelName: name, modelVersion: version, modelSha256: modelSha256!, dataSha256: dataSha256!, decision: kind, principal: request.by, comment },
        at,
        notBefore: state.gate?.waitingSince,
      });
    } catch (error) {
      return refuse(via, request.by, `refused: the signature could not be checked: ${innermostFailure(error).message}`);
    }
    if (!verdict.valid) return refuse(via, request.by, `refused: ${verdict.reason}`);
    // The world may have moved while the worker verified: check again.
    try {
      checkWaiting();
      if (kind === 'approved') checkNewApprover(request.by);
    } catch (error) {
      return refuse(via, request.by, (error as Error).message);
    }
    const owner = votes.find((vote) => vote.signed?.keyFingerprint === verdict.keyFingerprint);
    if (owner) return refuse(via, request.by, `refused: key ${verdict.keyFingerprint} already signed for ${owner.by}: distinct approvals need distinct keys`);
    const signed: ApprovalSignature = {
      statement: request.statement!,
      signature: request.signature!,
      keyFingerprint: verdict.keyFingerprint,
      allowedSigners,
      allowedSignersSha256: verdict.allowedSignersSha256,
    };
    return record({ decision: kind, by: request.by, at, ...(kind === 'approved' ? { comment: request.comment } : { reason: request.reason }), signed });
  };

  const apply = (kind: 'approved' | 'rejected', via: string) => (request: DecisionRequest): string | Promise<string> => {
    if (!current) return applyLegacy(kind, request);
    if (signaturesRequired()) return applySigned(kind, request, via);
    const at = new Date().toISOString();
    return record({ decision: kind, by: request.by, at, ...(kind === 'approved' ? { comment: request.comment } : { reason: request.reason }) });
  };

  setHandler(approveUpdate, apply('approved', 'update'), { validator: validateApprove });
  setHandler(rejectUpdate, apply('rejected', 'update'), { validator: validateReject });
  // Signals cannot answer: a refused one is listed in the status (and the report).
  const viaSignal = <T extends { by?: string }>(validate: (r: T) => void, handle: (r: T) => string | Promise<string>) => async (request: T) => {
    try {
      validate(request);
      await handle(request);
    } catch (error) {
      if (!listed.has(error as object)) state.refused.push(`signal from ${request?.by ?? 'unknown'}: ${(error as Error).message}`);
    }
  };
  setHandler(approveSignal, viaSignal(validateApprove, apply('approved', 'signal')));
  setHandler(rejectSignal, viaSignal(validateReject, apply('rejected', 'signal')));

  let review: string | undefined;
  const waitingText = () => {
    const { name, version } = candidate();
    const progress = required > 1 ? ` (${votes.filter((v) => v.decision === 'approved').length} of ${required} approvals)` : '';
    return `approval of ${name} version ${version}${progress}: ${approvalCommand(workflowId, signaturesRequired())}${review ? `; ${review}` : ''}`;
  };

  return {
    async decide(candidateRef: CandidateRef, trainingRunId: string, evidence?: string): Promise<ApprovalRecord> {
      review = evidence;
      if (config.auto_approve_deployment) {
        decision = { decision: 'approved', automatic: true, by: 'auto_approve_deployment', at: new Date().toISOString(), modelVersion: candidateRef.version };
      } else {
        current = patched(SIGNED_APPROVALS_PATCH);
        waiting = true;
        if (current) state.gate = { ...gateStatus(), waitingSince: new Date().toISOString() };
        state.waitingFor = waitingText();
        show();
        const answered = await condition(() => decision !== undefined, config.approval_timeout as Duration);
        waiting = false;
        state.waitingFor = undefined;
        if (!answered) {
          decision = { decision: 'expired', automatic: false, at: new Date().toISOString(), modelVersion: candidateRef.version };
          if (current) Object.assign(decision, { approvals: votes, signatures: gateStatus().signatures });
        }
        // Handlers still verifying when the decision fell answer "refused: already …" before the release moves on.
        if (current) await condition(allHandlersFinished);
      }
      if (current) state.gate = gateStatus();
      state.approval = decision;
      // What `modelship audit` needs when the report file is not at hand: the candidate and its digests, the rules.
      upsertMemo(current ? { approval: decision, candidate: candidateRef, approval_gate: state.gate } : { approval: decision });
      await quick.tagApproval({ modelName: config.model_name, version: candidateRef.version, runId: trainingRunId, tags: approvalTags(decision!, workflowId) });
      return decision!;
    },
  };
}

/** MLflow tags of a decision (on the version and its run): who, when, why, and every signed statement. */
export function approvalTags(decision: ApprovalRecord, workflowId: string): Record<string, string> {
  const tags: Record<string, string> = {
    'modelship.approval.decision': decision.decision,
    'modelship.approval.automatic': String(decision.automatic),
    'modelship.approval.at': decision.at,
    'modelship.approval.workflow_id': workflowId,
  };
  if (decision.by) tags['modelship.approval.by'] = decision.by;
  if (decision.comment) tags['modelship.approval.comment'] = decision.comment;
  if (decision.reason) tags['modelship.approval.reason'] = decision.reason;
  if (decision.signatures) tags['modelship.approval.signatures'] = decision.signatures;
  decision.approvals?.forEach((vote, index) => {
    const prefix = `modelship.approval.${index + 1}`;
    tags[`${prefix}.decision`] = vote.decision;
    tags[`${prefix}.by`] = vote.by;
    tags[`${prefix}.at`] = vote.at;
    if (vote.signed) {
      tags[`${prefix}.key`] = vote.signed.keyFingerprint;
      tags[`${prefix}.statement`] = vote.signed.statement;
      tags[`${prefix}.signature`] = vote.signed.signature;
    }
  });
  return tags;
}
