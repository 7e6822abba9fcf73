// The operator workflows' contract (modelship deploy and rollback): inputs, results, the query the CLI reads, and
// the rollout settings a release configuration gives.
import { defineQuery } from '@temporalio/workflow';
import type { ReleaseConfig } from '../config/schema';
import type { TargetKind } from '../shared/deployment';
import type { HoldProgress } from './endpoint-lock-api';
import type { RolloutInput } from './rollout-api';

export type RolloutSettings = Omit<RolloutInput, 'model' | 'modelName' | 'endpoint' | 'target'>;

/** The rollout's settings from a release configuration: one mapping for releases, deploys and rollbacks. */
export function rolloutSettingsOf(config: ReleaseConfig): RolloutSettings {
  return {
    firstColour: config.deployment_name,
    trafficPlan: config.traffic_plan,
    shadowPercent: config.shadow_percent,
    shadowTime: config.shadow_time,
    bakeTime: config.bake_time,
    maxErrorRate: config.max_error_rate,
    maxLatencyMs: config.max_latency_ms,
    noCleanup: config.no_cleanup,
    terminationWait: config.termination_wait,
    spec: { instanceType: config.instance_type, instanceCount: config.instance_count, capturePercent: config.capture_percent },
    deploymentTimeout: config.deployment_timeout,
  };
}

export interface DeployInput {
  target: TargetKind;
  endpoint: string;
  /** models:/NAME@ALIAS or models:/NAME/VERSION */
  modelUri: string;
  settings: RolloutSettings;
}

/** What an operator workflow is doing about its endpoint: waiting for it or holding it (for the CLI). */
export const operatorProgressQuery = defineQuery<HoldProgress | undefined>('endpointHold');

export interface RollbackInput {
  target: TargetKind;
  endpoint: string;
  settings: RolloutSettings;
}

export interface RollbackResult {
  how: 'traffic' | 'redeploy';
  from: { colour: string; version?: string };
  to: { colour: string; version?: string };
  detail: string;
}
