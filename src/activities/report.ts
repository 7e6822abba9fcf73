// The release report: workflow_report.json and a readable workflow.log in workflow_artifacts/<workflow id>/, and
// the same report in the MLflow run. Written from whatever the workflow knows, on success and on failure.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ArtifactStore } from '../registry/artifact-store';
import type { ReleaseReport } from '../workflows/release-api';

export interface WriteReportInput {
  artifactsDir: string;
  report: ReleaseReport;
  /** The training run's artifact location; the report is uploaded there as report/workflow_report.json. */
  mlflowArtifactUri?: string;
}

export interface WriteReportResult {
  reportPath: string;
  logPath: string;
  mlflowArtifact?: string;
}

export function createReportActivities(deps: { artifacts: ArtifactStore }) {
  return {
    async writeReport(input: WriteReportInput): Promise<WriteReportResult> {
      mkdirSync(input.artifactsDir, { recursive: true });
      const text = JSON.stringify(input.report, null, 2);
      const reportPath = join(input.artifactsDir, 'workflow_report.json');
      writeFileSync(reportPath, text);
      const logPath = join(input.artifactsDir, 'workflow.log');
      // Rewritten whole each time, so a retried activity leaves one copy of each line.
      writeFileSync(logPath, '');
      for (const step of input.report.steps) {
        const time = step.endedAt ?? step.startedAt ?? '';
        const seconds = step.seconds !== undefined ? ` (${step.seconds.toFixed(1)} s)` : '';
        appendFileSync(logPath, `${time} ${step.name.padEnd(12)} ${step.status.padEnd(9)}${seconds} ${step.summary ?? ''}\n`);
      }
      appendFileSync(logPath, `outcome: ${String(input.report.outcome)}\n`);
      let mlflowArtifact: string | undefined;
      if (input.mlflowArtifactUri) {
        await deps.artifacts.put(input.mlflowArtifactUri, 'report/workflow_report.json', text);
        mlflowArtifact = `${input.mlflowArtifactUri}/report/workflow_report.json`;
      }
      return { reportPath, logPath, mlflowArtifact };
    },
  };
}
