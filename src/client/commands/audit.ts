import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mlflowTrackingUri } from '../../config/environment';
import type { ApprovalGateStatus, ApprovalRecord, CandidateRef, ReleaseReport } from '../../workflows/release-api';
import { auditApprovals, type ApprovalEvidence } from '../audit';
import { artifactsRoot } from '../release';
import { withClient } from '../temporal';

/** The approval record of a release: its workflow_report.json when here, else the memo kept by Temporal. */
async function evidenceOf(workflowId: string, reportPath?: string): Promise<ApprovalEvidence> {
  const path = reportPath ?? join(artifactsRoot(), workflowId, 'workflow_report.json');
  if (existsSync(path)) {
    const report = JSON.parse(readFileSync(path, 'utf8')) as Pick<ReleaseReport, 'workflow_id' | 'temporal' | 'candidate' | 'approval'> & { approval_gate?: ApprovalGateStatus };
    // Either id names it: the release's own, or the workflow id every release of its model shares.
    if (report.workflow_id && report.workflow_id !== workflowId && report.temporal?.workflow_id !== workflowId) {
      throw new Error(`${path} is the report of ${report.workflow_id}, not ${workflowId}`);
    }
    return { workflowId, candidate: report.candidate, approval: report.approval, gate: report.approval_gate, source: path };
  }
  if (reportPath) throw new Error(`${reportPath} does not exist`);
  const memo = await withClient(
    async (client) =>
      ((await client.workflow.getHandle(workflowId).describe()).memo ?? {}) as { approval?: ApprovalRecord; candidate?: CandidateRef; approval_gate?: ApprovalGateStatus },
  );
  return { workflowId, candidate: memo.candidate, approval: memo.approval, gate: memo.approval_gate, source: `the memo of ${workflowId} in Temporal` };
}

export function registerAuditCommand(program: Command): void {
  program
    .command('audit <workflowId>')
    .description("re-verify a release's signed approvals against the allowed signers file and the model file in MLflow; exit 1 on any failure")
    .option('--report <file>', 'the release report to read (default workflow_artifacts/<id>/workflow_report.json; else the workflow memo in Temporal)')
    .option('--allowed-signers <file>', 'check against this allowed signers file instead of the one recorded with each signature')
    .option('--json', 'print the result as JSON')
    .action(async (workflowId: string, options: { report?: string; allowedSigners?: string; json?: boolean }) => {
      const evidence = await evidenceOf(workflowId, options.report);
      const result = await auditApprovals(evidence, { mlflowUri: mlflowTrackingUri(), allowedSigners: options.allowedSigners });
      if (options.json) console.log(JSON.stringify(result, null, 2));
      else for (const line of result.lines) console.log(`${line.info ? ' ' : line.ok ? '✔' : '✖'} ${line.text}`);
      if (!result.ok) process.exitCode = 1;
    });
}
