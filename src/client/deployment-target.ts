// The deployment target a CLI command talks to directly. Each target's module is loaded when it is asked for: the local
// one brings the endpoint server's code (ONNX Runtime, metrics), the Azure one the Azure SDKs, and most commands need neither.
import { join } from 'node:path';
import { endpointUrl, stateDir } from '../config/environment';
import type { LocalTarget } from '../targets/local';
import type { DeploymentTarget } from '../targets/target';

/** The endpoint server of this machine's stack (MODELSHIP_ENDPOINT_URL, state in <state-dir>/serving). */
export async function localTarget(): Promise<LocalTarget> {
  const { LocalTarget } = await import('../targets/local');
  return new LocalTarget(endpointUrl(), join(stateDir(), 'serving'));
}

/** local: the endpoint server; azure: the workspace in AZURE_SUBSCRIPTION_ID/AZURE_RESOURCE_GROUP/AZURE_WORKSPACE_NAME. */
export async function deploymentTarget(kind: string | undefined): Promise<DeploymentTarget> {
  if (kind === undefined || kind === 'local') return localTarget();
  if (kind === 'azure') return (await import('../targets/azure/target')).azureTargetFromEnv();
  throw new Error(`--target ${kind}: use local or azure`);
}
