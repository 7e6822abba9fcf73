// A release's environments as pure functions: the order, each one's effective settings (its keys over the
// top-level ones), and what the status shows before the candidate gets there.
import type { EnvironmentConfig, ReleaseConfig } from '../config/schema';
import type { EnvironmentStatus } from './environment-api';

/** The config an environment's gate and rollout use: its own keys where set, the top-level ones elsewhere. */
export function environmentConfig(config: ReleaseConfig, environment: EnvironmentConfig): ReleaseConfig {
  return {
    ...config,
    target: environment.target ?? config.target,
    endpoint_name: environment.endpoint_name ?? config.endpoint_name,
    auto_approve_deployment: environment.auto_approve_deployment ?? config.auto_approve_deployment,
    approvers: environment.approvers ?? config.approvers,
    required_approvals: environment.required_approvals ?? config.required_approvals,
    allowed_signers: environment.allowed_signers ?? config.allowed_signers,
    forbid_self_approval: environment.forbid_self_approval ?? config.forbid_self_approval,
    approval_timeout: environment.approval_timeout ?? config.approval_timeout,
  };
}

/** Each environment, pending, in order (undefined without environments: the top-level keys are the one production). */
export function plannedEnvironments(config: ReleaseConfig): EnvironmentStatus[] | undefined {
  return config.environments?.map((environment) => {
    const effective = environmentConfig(config, environment);
    return { name: environment.name, target: effective.target, endpoint: effective.endpoint_name, stage: 'pending' };
  });
}

/** The targets a release deploys to, each once, in order: checked reachable before any work. */
export function targetsOf(config: ReleaseConfig): ReleaseConfig['target'][] {
  const targets = config.environments?.map((environment) => environment.target ?? config.target) ?? [config.target];
  return targets.filter((target, index) => targets.indexOf(target) === index);
}

/** The endpoint whose captured records with outcomes include_feedback adds: the last environment's (production). */
export function feedbackEndpoint(config: ReleaseConfig): string {
  const last = config.environments?.[config.environments.length - 1];
  return last ? environmentConfig(config, last).endpoint_name : config.endpoint_name;
}
