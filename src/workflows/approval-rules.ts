// The approval gate's rules as pure functions: who may approve or reject, when, how votes add up to a decision,
// and what the gate shows and records. No Temporal calls: the gate (approval-gate.ts) wires these into handlers,
// and test/approval-rules.test.ts checks them directly.
import type { EnvironmentConfig, ReleaseConfig } from '../config/schema';
import type { ApprovalRecord, ApprovalVote } from '../shared/approval';
import type { ApprovalGateStatus, ApproveRequest, CandidateRef, RejectRequest } from './release-api';
import type { ReleaseTrigger } from './trigger-api';

export type DecisionKind = 'approved' | 'rejected';

/** The rules of one release's gate, fixed when the release starts. */
export interface GateRules {
  /** The workflow id approvers address (modelship approve ID). */
  workflowId: string;
  /** What a signed statement's workflow_id names: the release id, or `<release id>@<environment>`. */
  statementId: string;
  /** With environments: the one this gate lets the candidate into. */
  environment?: string;
  /** Empty: anyone may decide. */
  approvers: string[];
  requiredApprovals: number;
  forbidSelfApproval: boolean;
  /** allowed_signers is set: every decision carries a signature the worker verifies. */
  signaturesRequired: boolean;
  allowedSigners?: string;
  /** Who started the release (modelship start --by NAME, default the OS user). */
  startedBy?: string;
}

/** What the gate knows when a message arrives. */
export interface GateMoment {
  waiting: boolean;
  decided?: ApprovalRecord['decision'];
  /** The release's current step, for the refusal of an early message. */
  stage: string;
  candidateVersion: string;
  votes: ApprovalVote[];
}

/** Who the gate's decisions concern: the workflow approvers address, the release, and the environment if any. */
export interface GateSubject {
  workflowId: string;
  releaseId: string;
  environment?: string;
}

export function gateRules(config: ReleaseConfig, subject: GateSubject, startedBy: string | undefined): GateRules {
  return {
    workflowId: subject.workflowId,
    statementId: subject.environment ? `${subject.releaseId}@${subject.environment}` : subject.releaseId,
    ...(subject.environment ? { environment: subject.environment } : {}),
    approvers: config.approvers,
    requiredApprovals: config.required_approvals,
    forbidSelfApproval: config.forbid_self_approval,
    signaturesRequired: Boolean(config.allowed_signers),
    allowedSigners: config.allowed_signers,
    startedBy,
  };
}

/**
 * The config key that approves this gate without a person, or undefined to wait for one. A release started by a
 * schedule or an alarm deploys unattended only when the config says so for that case: unattended_approval:
 * automatic, or auto_approve_deployment set on the environment itself (e.g. staging); the top-level
 * auto_approve_deployment applies to releases a person started.
 */
export function automaticApproval(
  config: Pick<ReleaseConfig, 'auto_approve_deployment' | 'unattended_approval'>,
  trigger: ReleaseTrigger,
  environment?: Pick<EnvironmentConfig, 'name' | 'auto_approve_deployment'>,
): string | undefined {
  if (trigger.kind === 'schedule' || trigger.kind === 'alarm') {
    if (config.unattended_approval === 'automatic') return 'unattended_approval';
    return environment?.auto_approve_deployment ? `environments.${environment.name}.auto_approve_deployment` : undefined;
  }
  if (environment?.auto_approve_deployment !== undefined) return environment.auto_approve_deployment ? `environments.${environment.name}.auto_approve_deployment` : undefined;
  return config.auto_approve_deployment ? 'auto_approve_deployment' : undefined;
}

/** How an approver answers this release (with a key when decisions must be signed). */
export function approvalCommand(workflowId: string, signed: boolean): string {
  const key = signed ? ' --key ~/.ssh/id_ed25519' : '';
  return `modelship approve ${workflowId} --by NAME${key} (or reject${key ? ' --key …' : ''} --reason TEXT)`;
}

const approvedVotes = (votes: ApprovalVote[]) => votes.filter((vote) => vote.decision === 'approved');

function notWaiting(moment: GateMoment): string | undefined {
  if (moment.decided) return `refused: already ${moment.decided}`;
  if (!moment.waiting) return `refused: not waiting for approval (current step: ${moment.stage})`;
  return undefined;
}

function notAnApprover(rules: GateRules, by: string | undefined): string | undefined {
  if (!by || !by.trim()) return 'refused: the approver is required (--by NAME)';
  if (rules.approvers.length > 0 && !rules.approvers.includes(by)) return `refused: ${by} is not an approver (approvers: ${rules.approvers.join(', ')})`;
  return undefined;
}

function wrongVersion(moment: GateMoment, version: string | undefined, needed: boolean): string | undefined {
  if ((needed || version !== undefined) && String(version) !== moment.candidateVersion) {
    return `refused: version ${version} is not the candidate waiting for approval (version ${moment.candidateVersion})`;
  }
  return undefined;
}

/** An approver counts once, and forbid_self_approval keeps the one who started the release from approving it. */
function notANewApprover(rules: GateRules, moment: GateMoment, by: string): string | undefined {
  if (moment.votes.some((vote) => vote.by === by)) return `refused: ${by} has already approved (${moment.votes.length} of ${rules.requiredApprovals} approvals)`;
  if (rules.forbidSelfApproval && rules.startedBy !== undefined && by === rules.startedBy) {
    return `refused: ${by} started this release and forbid_self_approval is set: another principal must approve`;
  }
  return undefined;
}

function unsigned(rules: GateRules, request: { statement?: string; signature?: string }, kind: DecisionKind): string | undefined {
  if (!rules.signaturesRequired || (request.statement && request.signature)) return undefined;
  return (
    `refused: this release requires a signed ${kind === 'approved' ? 'approval' : 'rejection'} (allowed_signers is set). ` +
    `Fix: modelship ${kind === 'approved' ? 'approve' : 'reject'} ${rules.workflowId} --by NAME --key ~/.ssh/id_ed25519${kind === 'rejected' ? ' --reason TEXT' : ''}`
  );
}

/** Why an approve request is refused before any signature is checked, or undefined when it may proceed. */
export function approveRefusal(rules: GateRules, moment: GateMoment, request: ApproveRequest): string | undefined {
  return (
    notWaiting(moment) ??
    notAnApprover(rules, request?.by) ??
    wrongVersion(moment, request.modelVersion, true) ??
    notANewApprover(rules, moment, request.by) ??
    unsigned(rules, request, 'approved')
  );
}

/** Why a reject request is refused before any signature is checked, or undefined when it may proceed. */
export function rejectRefusal(rules: GateRules, moment: GateMoment, request: RejectRequest): string | undefined {
  return (
    notWaiting(moment) ??
    notAnApprover(rules, request?.by) ??
    (!request.reason || !request.reason.trim() ? 'refused: a rejection needs a reason (--reason TEXT)' : undefined) ??
    wrongVersion(moment, request.modelVersion, false) ??
    unsigned(rules, request, 'rejected')
  );
}

/** After a signature was verified the world may have moved: refused when the decision fell or the approver counted meanwhile. */
export function verifiedRefusal(rules: GateRules, moment: GateMoment, kind: DecisionKind, by: string): string | undefined {
  return notWaiting(moment) ?? (kind === 'approved' ? notANewApprover(rules, moment, by) : undefined);
}

/** Distinct approvals need distinct keys: refused when another vote was signed with this key. */
export function keyReuseRefusal(votes: ApprovalVote[], keyFingerprint: string): string | undefined {
  const owner = votes.find((vote) => vote.signed?.keyFingerprint === keyFingerprint);
  return owner ? `refused: key ${keyFingerprint} already signed for ${owner.by}: distinct approvals need distinct keys` : undefined;
}

/**
 * What the votes so far decide: a rejection at once, an approval once required_approvals distinct principals approved,
 * else nothing yet. `message` answers the vote just counted (the last one).
 */
export function tally(rules: GateRules, votes: ApprovalVote[], candidate: Pick<CandidateRef, 'name' | 'version'>): { decision?: ApprovalRecord; message: string } {
  const vote = votes[votes.length - 1]!;
  const { name, version } = candidate;
  const signatures = signaturesOf(rules);
  if (vote.decision === 'rejected') {
    return {
      decision: { decision: 'rejected', automatic: false, by: vote.by, at: vote.at, modelVersion: version, reason: vote.reason, approvals: votes, signatures },
      message: `rejected version ${version} of ${name} by ${vote.by}: ${vote.reason}`,
    };
  }
  const approved = approvedVotes(votes);
  const message = `approved version ${version} of ${name} by ${vote.by}${progressOf(rules, votes)}`;
  if (approved.length < rules.requiredApprovals) return { message };
  return {
    decision: {
      decision: 'approved',
      automatic: false,
      by: approved.map((v) => v.by).join(', '),
      at: vote.at,
      modelVersion: version,
      comment: vote.comment,
      approvals: votes,
      signatures,
    },
    message,
  };
}

/** The decision when approval_timeout passes before the votes decide: the votes so far kept with it. */
export function expiredDecision(rules: GateRules, votes: ApprovalVote[], version: string, at: string): ApprovalRecord {
  return { decision: 'expired', automatic: false, at, modelVersion: version, approvals: votes, signatures: signaturesOf(rules) };
}

/** A vote as the gate records it: a comment with an approval, a reason with a rejection. */
export function voteOf(kind: DecisionKind, request: { by: string; comment?: string; reason?: string }, at: string): ApprovalVote {
  return { decision: kind, by: request.by, at, ...(kind === 'approved' ? { comment: request.comment } : { reason: request.reason }) };
}

const signaturesOf = (rules: GateRules): ApprovalGateStatus['signatures'] => (rules.signaturesRequired ? 'required' : 'not required');

/** " (1 of 2 approvals)" when more than one approval is required. */
function progressOf(rules: GateRules, votes: ApprovalVote[]): string {
  return rules.requiredApprovals > 1 ? ` (${approvedVotes(votes).length} of ${rules.requiredApprovals} approvals)` : '';
}

/** The gate's rules and votes, as the status and the report show them. */
export function gateStatus(rules: GateRules, votes: ApprovalVote[], waitingSince: string | undefined): ApprovalGateStatus {
  return {
    ...(rules.environment ? { environment: rules.environment } : {}),
    statementId: rules.statementId,
    signatures: signaturesOf(rules),
    allowedSigners: rules.allowedSigners,
    requiredApprovals: rules.requiredApprovals,
    forbidSelfApproval: rules.forbidSelfApproval,
    startedBy: rules.startedBy,
    waitingSince,
    approvals: votes,
    note: rules.signaturesRequired ? undefined : 'names only: allowed_signers is not set, so who approved is not verified',
  };
}

/** What the release says it waits for while the gate is open. */
export function waitingLine(rules: GateRules, votes: ApprovalVote[], candidate: Pick<CandidateRef, 'name' | 'version'>, evidence: string | undefined): string {
  return `approval of ${candidate.name} version ${candidate.version}${progressOf(rules, votes)}: ${approvalCommand(rules.workflowId, rules.signaturesRequired)}${evidence ? `; ${evidence}` : ''}`;
}

/** MLflow tags of a decision (on the version and its run): who, when, why, and every signed statement. */
/** With environments, each environment's decision has its own keys (modelship.approval.<environment>.…). */
export function approvalTags(decision: ApprovalRecord, workflowId: string, environment?: string): Record<string, string> {
  const at = environment ? `modelship.approval.${environment}` : 'modelship.approval';
  const tags: Record<string, string> = {
    [`${at}.decision`]: decision.decision,
    [`${at}.automatic`]: String(decision.automatic),
    [`${at}.at`]: decision.at,
    [`${at}.workflow_id`]: workflowId,
  };
  if (decision.by) tags[`${at}.by`] = decision.by;
  if (decision.comment) tags[`${at}.comment`] = decision.comment;
  if (decision.reason) tags[`${at}.reason`] = decision.reason;
  if (decision.signatures) tags[`${at}.signatures`] = decision.signatures;
  decision.approvals?.forEach((vote, index) => {
    const prefix = `${at}.${index + 1}`;
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
