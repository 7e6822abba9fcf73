// The approval gate of a release: the approve/reject Updates (and Signals of the same names) wired to the rules in
// approval-rules.ts, the wait, and the record (result, memo, MLflow tags). Deterministic code only.
//
// Validators stay synchronous and cheap (the rules' refusals); a signature is checked by the worker in the activity
// verifyApprovalSignature, called from the handler, so a refused signed attempt is in the history with its reason.
import { allHandlersFinished, ApplicationFailure, condition, deprecatePatch, proxyActivities, setHandler, upsertMemo } from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { OrchestrationActivities } from '../activities';
import { statementFields } from '../approval/statement';
import type { ReleaseConfig } from '../config/schema';
import type { ApprovalVote } from '../shared/approval';
import { QUICK } from './activity-profiles';
import {
  approvalTags,
  approveRefusal,
  expiredDecision,
  gateRules,
  gateStatus,
  keyReuseRefusal,
  rejectRefusal,
  tally,
  verifiedRefusal,
  voteOf,
  type GateSubject,
  waitingLine,
  type DecisionKind,
  type GateMoment,
} from './approval-rules';
import { innermostFailure } from './failures';
import { RETIRED_PATCHES } from './patches';
import {
  approveSignal,
  approveUpdate,
  rejectSignal,
  rejectUpdate,
  type ApprovalRecord,
  type ApproveRequest,
  type CandidateRef,
  type RejectRequest,
  type ReleaseStatus,
  type SignedMessage,
} from './release-api';

/** What approve and reject requests have in common, as the handlers read them. */
type DecisionRequest = SignedMessage & { by: string; modelVersion?: string; comment?: string; reason?: string };

const quick = proxyActivities<OrchestrationActivities>(QUICK);

export interface ApprovalGateOptions {
  config: ReleaseConfig;
  subject: GateSubject;
  startedBy?: string;
  /** The config key that approves without a person (recorded as the decision's `by`), or undefined to wait for one. */
  automatic?: string;
  /** The release's status: the gate writes waitingFor, gate, approval and refused messages there. */
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

/** Registers the approve/reject handlers at once (messages that arrive early are refused with a reason). */
export function createApprovalGate({ config, subject, startedBy, automatic, state, show }: ApprovalGateOptions): ApprovalGate {
  const rules = gateRules(config, subject, startedBy);
  const votes: ApprovalVote[] = [];
  let decision: ApprovalRecord | undefined;
  let waiting = false;
  let evidence: string | undefined;
  const candidate = () => state.candidate!;
  const moment = (): GateMoment => ({ waiting, decided: decision?.decision, stage: state.stage, candidateVersion: candidate().version, votes });
  const refuseIf = (refusal: string | undefined) => {
    if (refusal) throw new Error(refusal);
  };
  const validateApprove = (request: ApproveRequest) => refuseIf(approveRefusal(rules, moment(), request));
  const validateReject = (request: RejectRequest) => refuseIf(rejectRefusal(rules, moment(), request));

  const count = (vote: ApprovalVote): string => {
    votes.push(vote);
    state.gate = gateStatus(rules, votes, state.gate?.waitingSince);
    const result = tally(rules, votes, candidate());
    decision = result.decision;
    if (!decision) {
      state.waitingFor = waitingLine(rules, votes, candidate(), evidence);
      show();
    }
    return result.message;
  };

  /** Refusals already written to state.refused (by the signed path), so the signal wrapper does not list them twice. */
  const listed = new WeakSet<object>();
  const refuse = (via: string, by: string, message: string): never => {
    state.refused.push(`${via} from ${by}: ${message}`);
    const failure = ApplicationFailure.nonRetryable(message, 'ApprovalRefused');
    listed.add(failure);
    throw failure;
  };

  const countSigned = async (kind: DecisionKind, request: DecisionRequest, via: string): Promise<string> => {
    const at = new Date().toISOString();
    const allowedSigners = rules.allowedSigners!;
    let verdict: Awaited<ReturnType<OrchestrationActivities['verifyApprovalSignature']>>;
    try {
      verdict = await quick.verifyApprovalSignature({
        allowedSigners,
        statement: request.statement!,
        signature: request.signature!,
        expected: statementFields(rules.statementId, candidate(), kind, request.by, kind === 'approved' ? request.comment : request.reason),
        at,
        notBefore: state.gate?.waitingSince,
      });
    } catch (error) {
      return refuse(via, request.by, `refused: the signature could not be checked: ${innermostFailure(error).message}`);
    }
    if (!verdict.valid) return refuse(via, request.by, `refused: ${verdict.reason}`);
    const refusal = verifiedRefusal(rules, moment(), kind, request.by) ?? keyReuseRefusal(votes, verdict.keyFingerprint);
    if (refusal) return refuse(via, request.by, refusal);
    const { statement, signature } = request as Required<SignedMessage>;
    return count({
      ...voteOf(kind, request, at),
      signed: { statement, signature, keyFingerprint: verdict.keyFingerprint, allowedSigners, allowedSignersSha256: verdict.allowedSignersSha256 },
    });
  };

  const apply =
    (kind: DecisionKind, via: string) =>
    (request: DecisionRequest): string | Promise<string> =>
      rules.signaturesRequired ? countSigned(kind, request, via) : count(voteOf(kind, request, new Date().toISOString()));

  setHandler(approveUpdate, apply('approved', 'update'), { validator: validateApprove });
  setHandler(rejectUpdate, apply('rejected', 'update'), { validator: validateReject });
  // Signals cannot answer: a refused one is listed in the status (and the report).
  const viaSignal =
    <T extends { by?: string }>(validate: (r: T) => void, handle: (r: T) => string | Promise<string>) =>
    async (request: T) => {
      try {
        validate(request);
        await handle(request);
      } catch (error) {
        if (!listed.has(error as object)) state.refused.push(`signal from ${request?.by ?? 'unknown'}: ${(error as Error).message}`);
      }
    };
  setHandler(approveSignal, viaSignal(validateApprove, apply('approved', 'signal')));
  setHandler(rejectSignal, viaSignal(validateReject, apply('rejected', 'signal')));

  return {
    async decide(candidateRef: CandidateRef, trainingRunId: string, reviewLink?: string): Promise<ApprovalRecord> {
      evidence = reviewLink;
      if (automatic) {
        decision = { decision: 'approved', automatic: true, by: automatic, at: new Date().toISOString(), modelVersion: candidateRef.version };
      } else {
        deprecatePatch(RETIRED_PATCHES.signedApprovals);
        waiting = true;
        state.gate = gateStatus(rules, votes, new Date().toISOString());
        state.waitingFor = waitingLine(rules, votes, candidateRef, evidence);
        show();
        const answered = await condition(() => decision !== undefined, config.approval_timeout as Duration);
        waiting = false;
        state.waitingFor = undefined;
        if (!answered) decision = expiredDecision(rules, votes, candidateRef.version, new Date().toISOString());
        // Handlers still verifying when the decision fell answer "refused: already …" before the release moves on.
        await condition(allHandlersFinished);
        state.gate = gateStatus(rules, votes, state.gate.waitingSince);
      }
      const decided = decision!;
      state.approval = decided;
      // What `modelship audit` needs when the report file is not at hand: the candidate and its digests, the rules.
      upsertMemo(automatic ? { approval: decided } : { approval: decided, candidate: candidateRef, approval_gate: state.gate });
      await quick.tagApproval({
        modelName: config.model_name,
        version: candidateRef.version,
        runId: trainingRunId,
        tags: approvalTags(decided, rules.statementId, rules.environment),
      });
      return decided;
    },
  };
}
