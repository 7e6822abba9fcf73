// The one place that knows the Azure ML SDK: settings from the environment, the credential, and a small
// workspace-bound interface over @azure/arm-machinelearning 2.1.1 (API version 2022-10-01). A later SDK major
// (3.x renames the client to AzureMachineLearningServicesManagementClient) slots in by implementing AzureMlWorkspace.
import { readFileSync } from 'node:fs';
import { AzureMachineLearningWorkspaces, type OnlineDeployment, type OnlineEndpoint } from '@azure/arm-machinelearning';
import type { TokenCredential } from '@azure/core-auth';
import { createPipelineRequest, RestError } from '@azure/core-rest-pipeline';
import { DefaultAzureCredential } from '@azure/identity';

export const ARM_SCOPE = 'https://management.azure.com/.default';

export interface AzureSettings {
  subscriptionId: string;
  resourceGroup: string;
  workspace: string;
  /** Azure Resource Manager (https://management.azure.com), or an emulator. */
  armEndpoint: string;
  /** Extra PEM certificates trusted for ARM and scoring calls (an emulator's self-signed certificate). */
  caPem?: string;
  /** The blob service URL of the workspace's datastore, when it is not https://{account}.blob.{endpoint}. */
  blobUrl?: string;
  /** Fallback polling interval of long-running operations (a Retry-After header wins). */
  pollIntervalMs: number;
  /** Share of scored requests each deployment collects for model monitoring, 0..1 (0: none). */
  captureSamplingRate: number;
}

export class AzureConfigError extends Error {
  override name = 'AzureConfigError';
}

/** Settings from the environment; every missing variable is named at once, with the fix. */
export function azureSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): AzureSettings {
  const required = ['AZURE_SUBSCRIPTION_ID', 'AZURE_RESOURCE_GROUP', 'AZURE_WORKSPACE_NAME'] as const;
  const missing = required.filter((name) => !env[name]?.trim());
  if (missing.length > 0) {
    throw new AzureConfigError(
      `target azure needs ${missing.join(', ')} in the worker's environment (the workspace to deploy to). ` +
        'Fix: export AZURE_SUBSCRIPTION_ID=<subscription id> AZURE_RESOURCE_GROUP=<resource group> AZURE_WORKSPACE_NAME=<workspace> before starting the worker.',
    );
  }
  const caFile = env.MODELSHIP_AZURE_CA_FILE?.trim();
  let caPem: string | undefined;
  if (caFile) {
    try {
      caPem = readFileSync(caFile, 'utf8');
    } catch (error) {
      throw new AzureConfigError(`MODELSHIP_AZURE_CA_FILE=${caFile} cannot be read (${(error as Error).message}). Fix: point it at a PEM certificate file, or unset it.`);
    }
  }
  const armEndpoint = (env.MODELSHIP_AZURE_ARM_ENDPOINT?.trim() || 'https://management.azure.com').replace(/\/+$/, '');
  if (!armEndpoint.startsWith('https://')) {
    throw new AzureConfigError(`MODELSHIP_AZURE_ARM_ENDPOINT=${armEndpoint} is not an https:// URL; Azure credentials are only ever sent over HTTPS.`);
  }
  const sampling = env.MODELSHIP_AZURE_CAPTURE_SAMPLING_RATE?.trim();
  const captureSamplingRate = sampling ? Number(sampling) : 1;
  if (!(captureSamplingRate >= 0 && captureSamplingRate <= 1)) {
    throw new AzureConfigError(`MODELSHIP_AZURE_CAPTURE_SAMPLING_RATE=${sampling} is not a rate from 0 to 1 (1.0 collects every request, 0 none).`);
  }
  return {
    subscriptionId: env.AZURE_SUBSCRIPTION_ID!.trim(),
    resourceGroup: env.AZURE_RESOURCE_GROUP!.trim(),
    workspace: env.AZURE_WORKSPACE_NAME!.trim(),
    armEndpoint,
    caPem,
    blobUrl: env.MODELSHIP_AZURE_BLOB_URL?.trim() || undefined,
    pollIntervalMs: Number(env.MODELSHIP_AZURE_POLL_INTERVAL_MS) > 0 ? Number(env.MODELSHIP_AZURE_POLL_INTERVAL_MS) : 5_000,
    captureSamplingRate,
  };
}

/** DefaultAzureCredential: environment (service principal), workload identity, managed identity, Azure CLI. */
export function defaultCredential(): TokenCredential {
  return new DefaultAzureCredential();
}

export interface BlobDatastore {
  accountName: string;
  containerName: string;
  endpoint: string;
  protocol: string;
}

export type DatastoreSecret = { kind: 'accountKey'; key: string } | { kind: 'sas'; token: string } | { kind: 'none' };

/** A registered asset version's properties (modelUri, codeUri, image…), to compare with what would be registered. */
export interface AssetVersion {
  properties: Record<string, unknown>;
}

export interface LroOptions {
  abortSignal?: AbortSignal;
}

/** What the azure target needs from a workspace; every method is bound to one subscription/group/workspace. */
export interface AzureMlWorkspace {
  readonly settings: AzureSettings;
  /** An ARM id below the workspace, e.g. assetId('models', name, version). */
  assetId(kind: 'models' | 'codes' | 'environments', name: string, version: string): string;
  endpointId(endpoint: string): string;
  location(): Promise<string>;
  blobDatastore(name: string): Promise<BlobDatastore>;
  datastoreSecret(name: string): Promise<DatastoreSecret>;
  getAssetVersion(kind: 'models' | 'codes' | 'environments', name: string, version: string): Promise<AssetVersion | undefined>;
  putModelVersion(name: string, version: string, properties: { modelUri: string; description: string; tags: Record<string, string> }): Promise<void>;
  putCodeVersion(name: string, version: string, properties: { codeUri: string; description: string }): Promise<void>;
  putEnvironmentVersion(name: string, version: string, properties: { image: string; condaFile: string; description: string }): Promise<void>;
  listEndpoints(): Promise<OnlineEndpoint[]>;
  getEndpoint(endpoint: string): Promise<OnlineEndpoint | undefined>;
  putEndpoint(endpoint: string, body: OnlineEndpoint, options: LroOptions): Promise<OnlineEndpoint>;
  deleteEndpoint(endpoint: string, options: LroOptions): Promise<boolean>;
  primaryKey(endpoint: string): Promise<string>;
  listDeployments(endpoint: string): Promise<OnlineDeployment[]>;
  getDeployment(endpoint: string, deployment: string): Promise<OnlineDeployment | undefined>;
  putDeployment(endpoint: string, deployment: string, body: OnlineDeployment, options: LroOptions): Promise<OnlineDeployment>;
  deleteDeployment(endpoint: string, deployment: string, options: LroOptions): Promise<boolean>;
  deploymentLogs(endpoint: string, deployment: string, container: 'InferenceServer' | 'StorageInitializer', tail: number): Promise<string>;
  /** GET on an ARM URL path (e.g. Azure Monitor metrics of a resource), through the same pipeline. */
  armGet<T>(pathAndQuery: string, options: LroOptions): Promise<T>;
}

export function isNotFound(error: unknown): boolean {
  return error instanceof RestError && error.statusCode === 404;
}

/** 409 "the endpoint is updating": the SDK never retries it, the caller waits and tries again. */
export function isConflict(error: unknown): boolean {
  return error instanceof RestError && error.statusCode === 409;
}

const orUndefined = async <T>(call: Promise<T>): Promise<T | undefined> => {
  try {
    return await call;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
};

const notFoundIsFalse = async (call: Promise<unknown>): Promise<boolean> => {
  try {
    await call;
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
};

export function createAzureMlWorkspace(settings: AzureSettings, credential: TokenCredential): AzureMlWorkspace {
  const client = new AzureMachineLearningWorkspaces(credential, settings.subscriptionId, {
    endpoint: settings.armEndpoint,
    credentialScopes: [ARM_SCOPE],
    tlsOptions: settings.caPem ? { ca: settings.caPem } : undefined,
    // 429 and 503 honour Retry-After in the SDK; other 5xx back off exponentially.
    retryOptions: { maxRetries: 4, retryDelayInMs: 1_000, maxRetryDelayInMs: 30_000 },
  });
  const rg = settings.resourceGroup;
  const ws = settings.workspace;
  const workspaceId = `/subscriptions/${settings.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.MachineLearningServices/workspaces/${ws}`;
  const lro = (options: LroOptions) => ({ abortSignal: options.abortSignal, updateIntervalInMs: settings.pollIntervalMs });
  let location: string | undefined;

  return {
    settings,
    assetId: (kind, name, version) => `${workspaceId}/${kind}/${name}/versions/${version}`,
    endpointId: (endpoint) => `${workspaceId}/onlineEndpoints/${endpoint}`,
    async location() {
      location ??= (await client.workspaces.get(rg, ws)).location;
      if (!location) throw new Error(`workspace ${ws} has no location`);
      return location;
    },
    async blobDatastore(name) {
      const datastore = await client.datastores.get(rg, ws, name);
      const properties = datastore.properties as { datastoreType: string; accountName?: string; containerName?: string; endpoint?: string; protocol?: string };
      if (properties.datastoreType !== 'AzureBlob' || !properties.accountName || !properties.containerName) {
        throw new Error(`datastore ${name} of workspace ${ws} is a ${properties.datastoreType}, not an Azure Blob container`);
      }
      return {
        accountName: properties.accountName,
        containerName: properties.containerName,
        endpoint: properties.endpoint ?? 'core.windows.net',
        protocol: properties.protocol ?? 'https',
      };
    },
    async datastoreSecret(name) {
      const secrets = (await client.datastores.listSecrets(rg, ws, name)) as { secretsType: string; key?: string; sasToken?: string };
      if (secrets.secretsType === 'AccountKey' && secrets.key) return { kind: 'accountKey', key: secrets.key };
      if (secrets.secretsType === 'Sas' && secrets.sasToken) return { kind: 'sas', token: secrets.sasToken };
      return { kind: 'none' };
    },
    async getAssetVersion(kind, name, version) {
      const found =
        kind === 'models'
          ? await orUndefined(client.modelVersions.get(rg, ws, name, version))
          : kind === 'codes'
            ? await orUndefined(client.codeVersions.get(rg, ws, name, version))
            : await orUndefined(client.environmentVersions.get(rg, ws, name, version));
      return found ? { properties: found.properties as unknown as Record<string, unknown> } : undefined;
    },
    async putModelVersion(name, version, properties) {
      await client.modelVersions.createOrUpdate(rg, ws, name, version, {
        properties: { modelType: 'custom_model', modelUri: properties.modelUri, description: properties.description, tags: properties.tags },
      });
    },
    async putCodeVersion(name, version, properties) {
      await client.codeVersions.createOrUpdate(rg, ws, name, version, { properties: { codeUri: properties.codeUri, description: properties.description } });
    },
    async putEnvironmentVersion(name, version, properties) {
      await client.environmentVersions.createOrUpdate(rg, ws, name, version, {
        properties: { image: properties.image, condaFile: properties.condaFile, description: properties.description, osType: 'Linux' },
      });
    },
    async listEndpoints() {
      const endpoints: OnlineEndpoint[] = [];
      for await (const endpoint of client.onlineEndpoints.list(rg, ws)) endpoints.push(endpoint);
      return endpoints;
    },
    getEndpoint: (endpoint) => orUndefined(client.onlineEndpoints.get(rg, ws, endpoint)),
    putEndpoint: (endpoint, body, options) => client.onlineEndpoints.beginCreateOrUpdateAndWait(rg, ws, endpoint, body, lro(options)),
    deleteEndpoint: (endpoint, options) => notFoundIsFalse(client.onlineEndpoints.beginDeleteAndWait(rg, ws, endpoint, lro(options))),
    async primaryKey(endpoint) {
      const keys = await client.onlineEndpoints.listKeys(rg, ws, endpoint);
      if (!keys.primaryKey) throw new Error(`endpoint ${endpoint} returned no primary key (is its auth mode Key?)`);
      return keys.primaryKey;
    },
    async listDeployments(endpoint) {
      const deployments: OnlineDeployment[] = [];
      for await (const deployment of client.onlineDeployments.list(rg, ws, endpoint)) deployments.push(deployment);
      return deployments;
    },
    getDeployment: (endpoint, deployment) => orUndefined(client.onlineDeployments.get(rg, ws, endpoint, deployment)),
    putDeployment: (endpoint, deployment, body, options) => client.onlineDeployments.beginCreateOrUpdateAndWait(rg, ws, endpoint, deployment, body, lro(options)),
    deleteDeployment: (endpoint, deployment, options) => notFoundIsFalse(client.onlineDeployments.beginDeleteAndWait(rg, ws, endpoint, deployment, lro(options))),
    async deploymentLogs(endpoint, deployment, container, tail) {
      return (await client.onlineDeployments.getLogs(rg, ws, endpoint, deployment, { containerType: container, tail })).content ?? '';
    },
    async armGet<T>(pathAndQuery: string, options: LroOptions) {
      const response = await client.sendRequest(createPipelineRequest({ url: `${settings.armEndpoint}${pathAndQuery}`, method: 'GET', abortSignal: options.abortSignal }));
      const body = response.bodyAsText ? JSON.parse(response.bodyAsText) : undefined;
      if (response.status >= 400) {
        const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
        throw new RestError(error?.message ?? `HTTP ${response.status}`, { statusCode: response.status, code: error?.code });
      }
      return body as T;
    },
  };
}
