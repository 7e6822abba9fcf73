// `modelship audit <id>`: re-verifies every recorded signed decision of a release, later and without its worker.
// The record comes from workflow_report.json (or, when that file is not here, from the workflow's memo in Temporal);
// each signature is checked again against the allowed-signers file (as it is now, at the time the decision was
// taken), and the approved digest against the model file in MLflow (its tag and the file's own sha256).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { statementFields } from '../approval/statement';
import { readAllowedSignersFile, verifySignedApproval } from '../approval/verify';
import { MlflowClient, tagValue } from '../registry/mlflow';
import type { ApprovalGateStatus, ApprovalRecord, CandidateRef } from '../workflows/release-api';

/** What a release recorded about its approval (the report's fields, or the memo's). */
export interface ApprovalEvidence {
  workflowId: string;
  candidate?: CandidateRef;
  approval?: ApprovalRecord;
  gate?: ApprovalGateStatus;
  /** Where it was read from, for the printout. */
  source: string;
}

export interface AuditLine {
  ok: boolean;
  text: string;
  /** A heading or a fact, not a check. */
  info?: boolean;
}

export interface AuditResult {
  ok: boolean;
  lines: AuditLine[];
}

export interface AuditOptions {
  mlflowUri: string;
  /** Check against this file instead of the one each signature was checked against. */
  allowedSigners?: string;
}

const short = (sha?: string) => (sha ? `${sha.slice(0, 12)}…` : '(none)');

export async function auditApprovals(evidence: ApprovalEvidence, options: AuditOptions): Promise<AuditResult> {
  const lines: AuditLine[] = [];
  const say = (ok: boolean, text: string) => lines.push({ ok, text });
  const tell = (text: string) => lines.push({ ok: true, text, info: true });
  const { candidate, approval, gate } = evidence;
  tell(`audit of ${evidence.workflowId} (from ${evidence.source})`);
  if (!candidate || !approval) {
    say(false, 'no approval recorded: the release never reached its approval step');
    return { ok: false, lines };
  }
  tell(`candidate: ${candidate.name} version ${candidate.version}, model sha256 ${short(candidate.modelSha256)}, data sha256 ${short(candidate.dataSha256)}`);
  if (approval.automatic) say(false, `approved automatically (auto_approve_deployment): no person signed`);
  if (approval.decision === 'expired') tell('no decision: the approval expired');
  const votes = approval.approvals ?? [];
  if (approval.signatures !== 'required')
    say(false, `names only: allowed_signers was not set, so ${votes.length ? votes.map((v) => v.by).join(', ') : (approval.by ?? 'nobody')} is not verified`);

  // The model file in MLflow today must be the one the statements name.
  if (candidate.modelSha256) {
    try {
      const client = new MlflowClient(options.mlflowUri);
      const version = await client.getVersion(candidate.name, candidate.version);
      const tagged = tagValue(version, 'modelship.model_sha256');
      say(
        tagged === candidate.modelSha256,
        `MLflow ${candidate.name} v${candidate.version}: tag modelship.model_sha256 ${short(tagged)}${tagged === candidate.modelSha256 ? ' matches' : ' differs from the approved digest'}`,
      );
      const dir = mkdtempSync(join(tmpdir(), 'modelship-audit-'));
      try {
        const actual = await client.downloadArtifact(version.source, 'model.onnx', join(dir, 'model.onnx'));
        say(
          actual === candidate.modelSha256,
          `MLflow model file ${version.source}/model.onnx: sha256 ${short(actual)}${actual === candidate.modelSha256 ? ' matches' : ' differs from the approved digest: the model changed after approval'}`,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      votes.forEach((vote, index) => {
        if (!vote.signed) return;
        const recorded = tagValue(version, `modelship.approval.${index + 1}.signature`);
        if (recorded !== undefined && recorded !== vote.signed.signature) say(false, `MLflow tag modelship.approval.${index + 1}.signature differs from the record`);
      });
    } catch (error) {
      say(false, `cannot check the model in MLflow: ${(error as Error).message}`);
    }
  }

  const files = new Map<string, { text: string; sha256: string } | Error>();
  const fileFor = (path: string) => {
    if (!files.has(path)) {
      try {
        files.set(path, readAllowedSignersFile(path));
      } catch (error) {
        files.set(path, error as Error);
      }
    }
    return files.get(path)!;
  };

  votes.forEach((vote, index) => {
    const head = `${index + 1}. ${vote.at} ${vote.decision} by ${vote.by}`;
    if (!vote.signed) return say(approval.signatures !== 'required', `${head}: not signed`);
    const path = options.allowedSigners ?? vote.signed.allowedSigners;
    const file = fileFor(path);
    if (file instanceof Error) return say(false, `${head}: ${file.message}`);
    const verdict = verifySignedApproval(
      {
        statement: vote.signed.statement,
        signature: vote.signed.signature,
        expected: statementFields(gate?.statementId ?? evidence.workflowId, candidate, vote.decision, vote.by, vote.decision === 'approved' ? vote.comment : vote.reason),
        at: vote.at,
        notBefore: gate?.waitingSince,
      },
      file.text,
      path,
    );
    const changed =
      file.sha256 !== vote.signed.allowedSignersSha256
        ? ` (allowed signers ${path} changed since: sha256 ${short(vote.signed.allowedSignersSha256)} then, ${short(file.sha256)} now)`
        : '';
    if (verdict.valid) say(true, `${head}, key ${verdict.keyFingerprint}, model sha256 ${short(candidate.modelSha256)}: signature valid${changed}`);
    else say(false, `${head}, key ${verdict.keyFingerprint ?? '?'}: INVALID: ${verdict.reason}${changed}`);
  });

  if (approval.decision === 'approved' && !approval.automatic) {
    const approvers = new Set(votes.filter((v) => v.decision === 'approved').map((v) => v.by));
    const required = gate?.requiredApprovals ?? 1;
    if (votes.length > 0) say(approvers.size >= required, `${approvers.size} distinct approver(s), ${required} required`);
  }
  const ok = lines.every((line) => line.ok);
  say(ok, ok ? 'audit passed' : `audit FAILED: ${lines.filter((line) => !line.ok).length} problem(s)`);
  return { ok, lines };
}
