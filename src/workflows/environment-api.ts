// A release's environments (staging, production…): where the candidate stands in each, for the status, the review
// and the report.
import type { ApprovalRecord } from '../shared/approval';
import type { TargetKind } from '../shared/deployment';
import type { RolloutResult } from './rollout-api';

/** Where the candidate stands in one environment (status, review, report). */
export interface EnvironmentStatus {
  name: string;
  target: TargetKind;
  endpoint: string;
  /** deploying covers the rollout with its soak and smoke tests (the deployment's steps say which). */
  stage: 'pending' | 'awaiting_approval' | 'deploying' | 'live' | 'rejected' | 'approval_expired' | 'failed' | 'skipped';
  approval?: ApprovalRecord;
  deployment?: RolloutResult;
  /** Set when it went live: the MLflow alias now on the candidate (@staging, @production). */
  alias?: string;
  summary?: string;
}
