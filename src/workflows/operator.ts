// Operator workflows: deploy a registered model on its own, and roll an endpoint back. Each holds the endpoint
// (one rollout per endpoint, see endpoint-lock.ts) from before it reads the endpoint until it has ended.
import { ApplicationFailure, executeChild, proxyActivities, setHandler } from '@temporalio/workflow';
import type { OrchestrationActivities } from '../activities';
import { QUICK } from './activity-profiles';
import { blueGreenRollout } from './blue-green-rollout';
import { holdEndpoint, type EndpointClaim } from './endpoint-lock';
import type { HoldProgress } from './endpoint-lock-api';
import { operatorProgressQuery, type DeployInput, type RollbackInput, type RollbackResult } from './operator-api';
import type { RolloutResult } from './rollout-api';

const act = proxyActivities<OrchestrationActivities>(QUICK);

/** Runs `work` holding the endpoint. */
async function asSoleRollout<T>(claim: EndpointClaim, work: () => Promise<T>): Promise<T> {
  let progress: HoldProgress | undefined;
  setHandler(operatorProgressQuery, () => progress);
  return holdEndpoint(claim, (p) => (progress = p), work);
}

/** The blue-green rollout of an already registered model (modelship deploy). */
export async function deployRegisteredModel(input: DeployInput): Promise<RolloutResult> {
  const claim: EndpointClaim = { target: input.target, endpoint: input.endpoint, kind: 'deploy', description: `deploy ${input.modelUri}` };
  return asSoleRollout(claim, async () => (await deployUnheld(input)).rollout);
}

async function deployUnheld(input: DeployInput): Promise<{ version: string; rollout: RolloutResult }> {
  const model = await act.resolveRegisteredModel(input.modelUri);
  const rollout = await executeChild(blueGreenRollout, {
    workflowId: `${workflowIdOf(input.endpoint)}-deploy-v${model.version}-${Date.now()}`,
    args: [{ ...input.settings, target: input.target, endpoint: input.endpoint, model: { name: model.name, version: model.version, train: model.train }, modelName: model.name }],
  });
  return { version: model.version, rollout };
}

function workflowIdOf(endpoint: string): string {
  return `endpoint-${endpoint}`;
}

/**
 * Puts the previous model back: traffic to the previous colour if it is still deployed (no_cleanup kept it),
 * otherwise a blue-green rollout of @previous. Either way @production and @previous are swapped; in an environment
 * (settings.alias) its own aliases, @<environment> and @<environment>-previous, so another environment's stay.
 */
export async function rollbackEndpoint(input: RollbackInput): Promise<RollbackResult> {
  const claim: EndpointClaim = { target: input.target, endpoint: input.endpoint, kind: 'rollback', description: `rollback of ${input.endpoint}` };
  return asSoleRollout(claim, () => rollbackUnheld(input));
}

async function rollbackUnheld(input: RollbackInput): Promise<RollbackResult> {
  const { target, endpoint } = input;
  const alias = input.settings.alias ?? 'production';
  const previousAlias = alias === 'production' ? 'previous' : `${alias}-previous`;
  const state = await act.describeEndpoint({ target, endpoint });
  const liveColour = Object.entries(state.traffic).sort((a, b) => b[1] - a[1])[0]?.[0];
  const live = state.deployments.find((d) => d.name === liveColour);
  if (!live || !live.modelName) {
    throw ApplicationFailure.nonRetryable(`endpoint ${endpoint} has no live deployment to roll back from`, 'NothingToRollBack');
  }
  const standby = state.deployments.find((d) => d.name !== live.name && d.state === 'Succeeded');
  if (standby) {
    await act.setTraffic({ target, endpoint, traffic: { [standby.name]: 100 } });
    if (standby.modelVersion) {
      await act.setModelAlias({ modelName: live.modelName, alias, version: standby.modelVersion });
      if (live.modelVersion) await act.setModelAlias({ modelName: live.modelName, alias: previousAlias, version: live.modelVersion });
    }
    return {
      how: 'traffic',
      from: { colour: live.name, version: live.modelVersion },
      to: { colour: standby.name, version: standby.modelVersion },
      detail: `traffic moved back to ${standby.name} (v${standby.modelVersion}); ${live.name} kept at 0 %`,
    };
  }
  // Already holding the endpoint: the redeploy runs inside this hold.
  const { version, rollout } = await deployUnheld({ target, endpoint, modelUri: `models:/${live.modelName}@${previousAlias}`, settings: input.settings });
  return {
    how: 'redeploy',
    from: { colour: live.name, version: live.modelVersion },
    to: { colour: rollout.colour, version },
    detail: `@${previousAlias} redeployed to ${rollout.colour} by a blue-green rollout; ${rollout.cleanup}`,
  };
}
