// The azure deployment target: Azure ML managed online endpoints through the workspace interface.
// - model and scoring code go to the workspace's default datastore, content-addressed by sha256 (a retry uploads nothing twice);
// - model, code and environment versions are named from their content, so a retry finds instead of duplicating;
// - traffic changes are GET + full PUT of the endpoint (PATCH drops traffic), then polled until visible;
// - 409 "endpoint is updating" is waited out; every wait is bounded by the caller's signal and reports progress.
// Credentials and keys stay in this process: nothing returned or thrown here contains them.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { OnlineDeployment, OnlineEndpoint } from '@azure/arm-machinelearning';
import type { TokenCredential } from '@azure/core-auth';
import { RestError } from '@azure/core-rest-pipeline';
import { AnonymousCredential, BlobServiceClient, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';
import { projectRoot } from '../../config/environment';
import type { ComputeSpec, DeploymentMetrics, DeploymentState, DeploymentTarget, EndpointState, ModelToDeploy, OperationOptions, ProbeResult } from '../target';
import { captureEnvironment } from './capture';
import { ARM_SCOPE, azureSettingsFromEnv, createAzureMlWorkspace, defaultCredential, isConflict, type AzureMlWorkspace } from './workspace';

export const DATASTORE = 'workspaceblobstore';
export const SCORING_FILES = ['score.py', 'records.py', 'capture.py'] as const;
const SCORING_DIR = join(projectRoot, 'python', 'modelship_scoring');
const CODE_NAME = 'modelship-scoring';
const ENVIRONMENT_NAME = 'modelship-onnxruntime';
const BASE_IMAGE = 'mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest';
const TERMINAL = new Set(['Succeeded', 'Failed', 'Canceled']);

/** A failure of the azure target, with what the user can do about it. `retryable` false: waiting will not help. */
export class AzureTargetError extends Error {
  override name = 'AzureTargetError';
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
/** A wait cut short by its bound. Retryable by default: a later attempt may find the blocking operation done. */
const abortError = (signal: AbortSignal, retryable = true) =>
  new AzureTargetError(`gave up waiting: ${signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'cancelled')}`, retryable);

/** An SDK error as one line without request details (URLs may carry SAS tokens; headers carry tokens). */
export function describeAzureError(error: unknown): string {
  if (error instanceof RestError) return `HTTP ${error.statusCode ?? '?'}${error.code ? ` ${error.code}` : ''}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

export class AzureTarget implements DeploymentTarget {
  readonly kind = 'azure' as const;
  private tokenChecked = false;
  private readonly scoring = new Map<string, { uri: string; key: string; at: number }>();

  constructor(
    private readonly workspace: AzureMlWorkspace,
    private readonly credential: TokenCredential,
  ) {}

  /** Proves the credential and the workspace before anything is changed: a missing login fails here, clearly. */
  async checkAccess(): Promise<string> {
    const location = await this.call('reading the workspace', () => this.workspace.location());
    return `Azure ML workspace ${this.workspace.settings.workspace} (${location})`;
  }

  /** A token, once per target: without it every call would fail with the SDK's long credential-chain message. */
  private async ensureToken(): Promise<void> {
    if (this.tokenChecked) return;
    try {
      const token = await this.credential.getToken(ARM_SCOPE);
      if (!token) throw new Error('the credential returned no token');
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      const tried = [...new Set(message.match(/\b[A-Za-z]+Credential\b(?= is unavailable|: )/g) ?? [])];
      throw new AzureTargetError(
        `no Azure credentials for workspace ${this.workspace.settings.workspace}: ${message.split('\n')[0]}${tried.length ? ` (tried ${tried.join(', ')})` : ''}. ` +
          'Fix: sign in with `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (a service principal), or run on a managed or workload identity.',
        false,
      );
    }
    this.tokenChecked = true;
  }

  /** One SDK call with a readable failure; 4xx other than 408/409/429 are not worth retrying. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    await this.ensureToken();
    try {
      return await fn();
    } catch (error) {
      if (error instanceof AzureTargetError) throw error;
      const status = error instanceof RestError ? error.statusCode : undefined;
      const retryable = status === undefined || status >= 500 || status === 408 || status === 409 || status === 429;
      throw new AzureTargetError(`${what}: ${describeAzureError(error)}`, retryable);
    }
  }

  /** Runs a write, waiting out 409 "is updating" until the signal gives up. */
  private async whenNotUpdating<T>(what: string, fn: () => Promise<T>, options: OperationOptions = {}): Promise<T> {
    await this.ensureToken();
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (options.signal?.aborted) throw abortError(options.signal);
        if (error instanceof AzureTargetError) throw error;
        if (!isConflict(error)) throw new AzureTargetError(`${what}: ${describeAzureError(error)}`, !(error instanceof RestError) || (error.statusCode ?? 500) >= 500);
        options.progress?.(`${what}: ${describeAzureError(error)}; waiting (attempt ${attempt})`);
        await sleep(Math.min(this.workspace.settings.pollIntervalMs * attempt, 30_000), options.signal);
      }
    }
  }

  private async waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, options: OperationOptions = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const value = await this.call(what, read);
      if (done(value)) return value;
      options.progress?.(`${what}: waiting (check ${attempt})`);
      await sleep(this.workspace.settings.pollIntervalMs, options.signal);
    }
  }

  async describeEndpoint(endpoint: string): Promise<EndpointState> {
    const found = await this.call(`reading endpoint ${endpoint}`, () => this.workspace.getEndpoint(endpoint));
    if (!found) return { endpoint, exists: false, traffic: {}, deployments: [] };
    return this.stateOf(endpoint, found);
  }

  async listEndpoints(): Promise<EndpointState[]> {
    const endpoints = await this.call('listing endpoints', () => this.workspace.listEndpoints());
    return Promise.all(endpoints.map((found) => this.stateOf(found.name ?? '', found)));
  }

  private async stateOf(endpoint: string, found: OnlineEndpoint): Promise<EndpointState> {
    const deployments = await this.call(`listing deployments of ${endpoint}`, () => this.workspace.listDeployments(endpoint));
    return {
      endpoint,
      exists: true,
      scoringUri: found.properties.scoringUri,
      traffic: liveTraffic(found.properties.traffic),
      deployments: deployments.map((d) => deploymentState(d)),
    };
  }

  async ensureEndpoint(endpoint: string, options: OperationOptions = {}): Promise<{ created: boolean }> {
    const found = await this.call(`reading endpoint ${endpoint}`, () => this.workspace.getEndpoint(endpoint));
    if (found) {
      if (!TERMINAL.has(found.properties.provisioningState ?? 'Succeeded')) {
        await this.waitFor(
          `endpoint ${endpoint} is ${found.properties.provisioningState}`,
          () => this.workspace.getEndpoint(endpoint),
          (e) => TERMINAL.has(e?.properties.provisioningState ?? 'Succeeded'),
          options,
        );
      }
      return { created: false };
    }
    await this.checkAccess();
    const location = await this.workspace.location();
    options.progress?.(`creating endpoint ${endpoint} in ${location}`);
    const created = await this.whenNotUpdating(
      `creating endpoint ${endpoint}`,
      () => this.workspace.putEndpoint(endpoint, { location, properties: { authMode: 'Key', description: 'modelship blue-green endpoint' } }, { abortSignal: options.signal }),
      options,
    ).catch(async (error) => {
      throw new AzureTargetError(`${(error as Error).message}${await this.endpointStateNote(endpoint)}`, false);
    });
    if (created.properties.provisioningState && created.properties.provisioningState !== 'Succeeded') {
      throw new AzureTargetError(`endpoint ${endpoint} ended ${created.properties.provisioningState}`, false);
    }
    return { created: true };
  }

  private async endpointStateNote(endpoint: string): Promise<string> {
    const state = await this.workspace.getEndpoint(endpoint).catch(() => undefined);
    return state ? ` (endpoint state ${state.properties.provisioningState})` : '';
  }

  async deleteEndpoint(endpoint: string, options: OperationOptions = {}): Promise<{ deleted: boolean }> {
    const deleted = await this.whenNotUpdating(`deleting endpoint ${endpoint}`, () => this.workspace.deleteEndpoint(endpoint, { abortSignal: options.signal }), options);
    return { deleted };
  }

  // --- assets: the ONNX model, the scoring code and its environment, all content-addressed

  private async container(): Promise<ContainerClient> {
    const datastore = await this.call(`reading datastore ${DATASTORE}`, () => this.workspace.blobDatastore(DATASTORE));
    const secret = await this.call(`reading the secrets of datastore ${DATASTORE}`, () => this.workspace.datastoreSecret(DATASTORE));
    const serviceUrl = this.workspace.settings.blobUrl ?? `${datastore.protocol}://${datastore.accountName}.blob.${datastore.endpoint}`;
    const service =
      secret.kind === 'accountKey'
        ? new BlobServiceClient(serviceUrl, new StorageSharedKeyCredential(datastore.accountName, secret.key))
        : secret.kind === 'sas'
          ? new BlobServiceClient(`${serviceUrl}?${secret.token.replace(/^\?/, '')}`, new AnonymousCredential())
          : new BlobServiceClient(serviceUrl, this.credential); // identity-based datastore: the signed-in identity needs Storage Blob Data Contributor
    return service.getContainerClient(datastore.containerName);
  }

  /** Uploads files under `prefix/` unless each is already there; returns the folder's blob URL. */
  private async upload(container: ContainerClient, prefix: string, files: { name: string; path: string }[], options: OperationOptions): Promise<{ url: string; uploaded: number }> {
    let uploaded = 0;
    for (const file of files) {
      const blob = container.getBlockBlobClient(`${prefix}/${file.name}`);
      const exists = await this.call(`checking ${prefix}/${file.name}`, () => blob.exists({ abortSignal: options.signal }));
      if (exists) continue;
      options.progress?.(`uploading ${file.name} to ${DATASTORE}/${prefix}`);
      await this.call(`uploading ${prefix}/${file.name}`, () =>
        blob.uploadData(readFileSync(file.path), { abortSignal: options.signal, conditions: { ifNoneMatch: '*' } }).catch((error: unknown) => {
          if (error instanceof RestError && error.statusCode === 409) return undefined; // uploaded meanwhile by a retry
          throw error;
        }),
      );
      uploaded++;
    }
    return { url: `${container.url.split('?')[0]}/${prefix}`, uploaded };
  }

  private async ensureAsset(
    kind: 'models' | 'codes' | 'environments',
    name: string,
    version: string,
    put: () => Promise<void>,
    same: (properties: Record<string, unknown>) => boolean,
  ): Promise<string> {
    const existing = await this.call(`reading ${kind} ${name}:${version}`, () => this.workspace.getAssetVersion(kind, name, version));
    if (existing) {
      if (!same(existing.properties)) {
        throw new AzureTargetError(
          `${kind} ${name}:${version} already exists in workspace ${this.workspace.settings.workspace} with other content; versions are immutable. Fix: archive it, or use another model name.`,
          false,
        );
      }
    } else {
      await this.call(`registering ${kind} ${name}:${version}`, put);
    }
    return this.workspace.assetId(kind, name, version);
  }

  private async prepareAssets(model: ModelToDeploy, options: OperationOptions) {
    const container = await this.container();
    const contractSha = sha256(readFileSync(model.contractPath));
    const modelFolder = await this.upload(
      container,
      `LocalUpload/modelship/models/${sha256(model.sha256 + contractSha)}`,
      [
        { name: 'model.onnx', path: model.modelPath },
        { name: 'input_contract.json', path: model.contractPath },
      ],
      options,
    );
    const s = this.workspace.settings;
    const modelUri = `azureml://subscriptions/${s.subscriptionId}/resourcegroups/${s.resourceGroup}/workspaces/${s.workspace}/datastores/${DATASTORE}/paths/${modelFolder.url.split(`/${container.containerName}/`)[1]}`;
    const modelId = await this.ensureAsset(
      'models',
      model.name,
      model.version,
      () =>
        this.workspace.putModelVersion(model.name, model.version, {
          modelUri,
          description: `modelship: ${model.name} v${model.version}`,
          tags: { 'modelship.sha256': model.sha256 },
        }),
      (p) => p.modelUri === modelUri,
    );

    const codeFiles = SCORING_FILES.map((name) => ({ name, path: join(SCORING_DIR, name) }));
    const codeVersion = sha256(codeFiles.map((f) => `${f.name}\n${sha256(readFileSync(f.path))}`).join('\n')).slice(0, 16);
    const codeFolder = await this.upload(container, `LocalUpload/modelship/code/${codeVersion}`, codeFiles, options);
    const codeId = await this.ensureAsset(
      'codes',
      CODE_NAME,
      codeVersion,
      () => this.workspace.putCodeVersion(CODE_NAME, codeVersion, { codeUri: codeFolder.url, description: 'modelship scoring script (score.py)' }),
      (p) => p.codeUri === codeFolder.url,
    );

    const condaFile = readFileSync(join(SCORING_DIR, 'conda.yaml'), 'utf8');
    const environmentVersion = sha256(`${BASE_IMAGE}\n${condaFile}`).slice(0, 16);
    const environmentId = await this.ensureAsset(
      'environments',
      ENVIRONMENT_NAME,
      environmentVersion,
      () =>
        this.workspace.putEnvironmentVersion(ENVIRONMENT_NAME, environmentVersion, {
          image: BASE_IMAGE,
          condaFile,
          description: 'onnxruntime, the Azure ML inference server and data collector',
        }),
      (p) => p.image === BASE_IMAGE,
    );
    return { modelId, codeId, environmentId, uploaded: modelFolder.uploaded + codeFolder.uploaded };
  }

  async createDeployment(endpoint: string, deployment: string, model: ModelToDeploy, spec: ComputeSpec, options: OperationOptions = {}): Promise<DeploymentState> {
    await this.checkAccess();
    const assets = await this.prepareAssets(model, options);
    let existing = await this.call(`reading deployment ${deployment}`, () => this.workspace.getDeployment(endpoint, deployment));
    if (existing && !TERMINAL.has(existing.properties.provisioningState ?? 'Succeeded')) {
      // A retry after a crash: the earlier PUT is still provisioning; wait for it instead of racing it.
      existing = await this.waitFor(
        `deployment ${deployment} is ${existing.properties.provisioningState}`,
        () => this.workspace.getDeployment(endpoint, deployment),
        (d) => !d || TERMINAL.has(d.properties.provisioningState ?? 'Succeeded'),
        options,
      );
    }
    if (existing?.properties.provisioningState === 'Succeeded' && sameAsset(existing.properties.model, assets.modelId)) {
      return deploymentState(existing);
    }
    const location = await this.workspace.location();
    const body: OnlineDeployment = {
      location,
      sku: { name: 'Default', capacity: spec.instanceCount },
      properties: {
        endpointComputeType: 'Managed',
        instanceType: spec.instanceType,
        model: assets.modelId,
        environmentId: assets.environmentId,
        codeConfiguration: { codeId: assets.codeId, scoringScript: 'score.py' },
        environmentVariables: {
          MODELSHIP_MODEL_NAME: model.name,
          MODELSHIP_MODEL_VERSION: model.version,
          MODELSHIP_DEPLOYMENT: deployment,
          ...captureEnvironment(this.workspace.settings.captureSamplingRate),
        },
        scaleSettings: { scaleType: 'Default' },
        requestSettings: { requestTimeout: 'PT5S', maxConcurrentRequestsPerInstance: 1, maxQueueWait: 'PT0.5S' },
        livenessProbe: { initialDelay: 'PT10S', period: 'PT10S', timeout: 'PT2S', failureThreshold: 30, successThreshold: 1 },
        readinessProbe: { initialDelay: 'PT10S', period: 'PT10S', timeout: 'PT2S', failureThreshold: 30, successThreshold: 1 },
        appInsightsEnabled: false,
      },
    };
    options.progress?.(`provisioning ${deployment} (${spec.instanceCount} × ${spec.instanceType})`);
    try {
      await this.whenNotUpdating(`creating deployment ${deployment}`, () => this.workspace.putDeployment(endpoint, deployment, body, { abortSignal: options.signal }), options);
    } catch (error) {
      // Provisioning slower than deployment_timeout is final: the rollout rolls back rather than wait on.
      if (options.signal?.aborted) throw abortError(options.signal, false);
      // A failed provisioning: report it as a Failed deployment (the caller fetches its logs), unless it is gone.
      const after = await this.workspace.getDeployment(endpoint, deployment).catch(() => undefined);
      if (!after) throw error instanceof AzureTargetError ? error : new AzureTargetError(`creating deployment ${deployment}: ${describeAzureError(error)}`, true);
      return {
        ...deploymentState(after),
        state: after.properties.provisioningState === 'Succeeded' ? 'Failed' : (after.properties.provisioningState ?? 'Failed'),
        error: describeAzureError(error),
      };
    }
    const created = await this.call(`reading deployment ${deployment}`, () => this.workspace.getDeployment(endpoint, deployment));
    if (!created) throw new AzureTargetError(`deployment ${deployment} vanished after it was created`, true);
    return deploymentState(created);
  }

  async setTraffic(endpoint: string, traffic: Record<string, number>, mirror?: { deployment: string; percent: number }, options: OperationOptions = {}): Promise<void> {
    if (mirror && mirror.percent > 0) {
      throw new AzureTargetError(
        'mirror traffic needs Azure ML API 2023-04-01 or later; @azure/arm-machinelearning 2.1.1 speaks 2022-10-01. Fix: shadow_percent: 0 for target azure.',
        false,
      );
    }
    const wanted = liveTraffic(traffic);
    await this.whenNotUpdating(
      `setting traffic of ${endpoint} to ${JSON.stringify(wanted)}`,
      async () => {
        // The full resource, read now: a PUT without the current properties would reset them.
        const current = await this.workspace.getEndpoint(endpoint);
        if (!current) throw new AzureTargetError(`endpoint ${endpoint} does not exist`, false);
        if (sameTraffic(liveTraffic(current.properties.traffic), wanted)) return;
        const body: OnlineEndpoint = { ...current, properties: { ...current.properties, traffic: { ...zeroed(current.properties.traffic), ...traffic } } };
        await this.workspace.putEndpoint(endpoint, body, { abortSignal: options.signal });
      },
      options,
    );
    // Traffic changes show after a delay: return only once the endpoint says what was asked.
    await this.waitFor(
      `traffic of ${endpoint} to become ${JSON.stringify(wanted)}`,
      () => this.workspace.getEndpoint(endpoint),
      (e) => sameTraffic(liveTraffic(e?.properties.traffic), wanted),
      options,
    );
  }

  async probe(endpoint: string, deployment: string, body: unknown): Promise<ProbeResult> {
    // A health check probes many rows: the scoring URI and key are read once a minute, not per row.
    let scoring = this.scoring.get(endpoint);
    if (!scoring || Date.now() - scoring.at > 60_000) {
      const found = await this.call(`reading endpoint ${endpoint}`, () => this.workspace.getEndpoint(endpoint));
      if (!found?.properties.scoringUri) throw new AzureTargetError(`endpoint ${endpoint} has no scoring URI yet`, true);
      scoring = { uri: found.properties.scoringUri, key: await this.endpointKey(endpoint), at: Date.now() };
      this.scoring.set(endpoint, scoring);
    }
    return postJson(scoring.uri, body, { authorization: `Bearer ${scoring.key}`, 'azureml-model-deployment': deployment }, this.workspace.settings.caPem);
  }

  /**
   * Azure Monitor metrics of the endpoint for one deployment, over the whole minutes since `sinceMs`. Metrics
   * have a one-minute grain and are keyed by deployment name: the minute in which the bake started also holds
   * the health-check probes and any earlier deployment of the same colour, so it is left out.
   */
  async metrics(endpoint: string, deployment: string, sinceMs: number): Promise<DeploymentMetrics> {
    const fromMs = Math.ceil(sinceMs / 60_000) * 60_000;
    const nowMs = Date.now();
    const from = new Date(fromMs).toISOString();
    const to = new Date(Math.max(nowMs, fromMs) + 60_000).toISOString();
    const filter = encodeURIComponent(`deployment eq '${deployment}' and statusCodeClass eq '*'`);
    const base = `${this.workspace.endpointId(endpoint)}/providers/Microsoft.Insights/metrics?api-version=2018-01-01&timespan=${from}/${to}&interval=PT1M`;
    const requests = await this.call('reading request metrics', () =>
      this.workspace.armGet<MetricsResponse>(`${base}&metricnames=RequestsPerMinute&aggregation=Total&$filter=${filter}`, {}),
    );
    const latency = await this.call('reading latency metrics', () =>
      this.workspace.armGet<MetricsResponse>(
        `${base}&metricnames=RequestLatency_P50,RequestLatency_P95,RequestLatency_P99&aggregation=Average&$filter=${encodeURIComponent(`deployment eq '${deployment}'`)}`,
        {},
      ),
    );
    let total = 0;
    let errors = 0;
    for (const series of requests.value.find((m) => m.name.value === 'RequestsPerMinute')?.timeseries ?? []) {
      const statusClass = series.metadatavalues?.find((m) => m.name.value.toLowerCase() === 'statuscodeclass')?.value ?? '';
      const sum = series.data.reduce((acc, point) => acc + (point.total ?? 0), 0);
      total += sum;
      if (statusClass.startsWith('5')) errors += sum;
    }
    const worst = (name: string) => Math.max(0, ...(latency.value.find((m) => m.name.value === name)?.timeseries ?? []).flatMap((s) => s.data.map((p) => p.average ?? 0)));
    const wholeMinutes = Math.max(0, Math.floor((nowMs - fromMs) / 60_000));
    const note =
      wholeMinutes === 0
        ? 'Azure Monitor reports whole minutes and none has passed since the bake started: use bake_time of 2m or more on Azure'
        : `Azure Monitor, ${wholeMinutes} whole minute${wholeMinutes === 1 ? '' : 's'}`;
    return {
      requests: total,
      errors,
      errorRate: total ? errors / total : 0,
      p50Ms: worst('RequestLatency_P50'),
      p95Ms: worst('RequestLatency_P95'),
      p99Ms: worst('RequestLatency_P99'),
      note,
    };
  }

  async logs(endpoint: string, deployment: string): Promise<string[]> {
    const lines: string[] = [];
    for (const container of ['StorageInitializer', 'InferenceServer'] as const) {
      const content = await this.call(`reading ${container} logs of ${deployment}`, () => this.workspace.deploymentLogs(endpoint, deployment, container, 100)).catch(
        (error: Error) => `(unavailable: ${error.message})`,
      );
      lines.push(
        ...content
          .split('\n')
          .filter((line) => line.trim())
          .map((line) => `[${container}] ${line}`),
      );
    }
    return lines;
  }

  async deleteDeployment(endpoint: string, deployment: string, options: OperationOptions = {}): Promise<{ deleted: boolean }> {
    const deleted = await this.whenNotUpdating(
      `deleting deployment ${deployment}`,
      () => this.workspace.deleteDeployment(endpoint, deployment, { abortSignal: options.signal }),
      options,
    );
    return { deleted };
  }

  async endpointKey(endpoint: string): Promise<string> {
    return this.call(`reading the keys of ${endpoint}`, () => this.workspace.primaryKey(endpoint));
  }
}

/** The azure target for the workspace named in the environment; DefaultAzureCredential unless one is given. */
export function azureTargetFromEnv(credential: TokenCredential = defaultCredential(), env: NodeJS.ProcessEnv = process.env): AzureTarget {
  return new AzureTarget(createAzureMlWorkspace(azureSettingsFromEnv(env), credential), credential);
}

interface MetricsResponse {
  value: {
    name: { value: string };
    timeseries: { metadatavalues?: { name: { value: string }; value: string }[]; data: { timeStamp: string; total?: number; average?: number }[] }[];
  }[];
}

/** Traffic without its zero entries: Azure lists every deployment, at 0 when it takes none. */
function liveTraffic(traffic: Record<string, number> | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(traffic ?? {}).filter(([, percent]) => percent > 0));
}

function zeroed(traffic: Record<string, number> | undefined): Record<string, number> {
  return Object.fromEntries(Object.keys(traffic ?? {}).map((name) => [name, 0]));
}

function sameTraffic(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => (a[k] ?? 0) === (b[k] ?? 0));
}

function sameAsset(a: string | undefined, b: string): boolean {
  return (a ?? '').toLowerCase() === b.toLowerCase();
}

/** A deployment as the rollout sees it; the model name and version come from its model's ARM id. */
function deploymentState(deployment: OnlineDeployment): DeploymentState {
  const match = /\/models\/([^/]+)\/versions\/([^/]+)$/i.exec(deployment.properties.model ?? '');
  return { name: deployment.name ?? '', modelName: match?.[1], modelVersion: match?.[2], state: deployment.properties.provisioningState ?? 'Unknown' };
}

/** POSTs JSON to a scoring URI (https with an optional extra CA, or http), with a 30 s bound. */
function postJson(url: string, body: unknown, headers: Record<string, string>, caPem?: string): Promise<ProbeResult> {
  const payload = JSON.stringify(body);
  const started = performance.now();
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        ...(caPem && target.protocol === 'https:' ? { ca: caPem } : {}),
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // a non-JSON answer (a gateway error page) stays text
          }
          resolve({ status: res.statusCode ?? 0, latencyMs: performance.now() - started, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('scoring request timed out after 30 s')));
    req.on('error', (error) => reject(new AzureTargetError(`scoring ${target.host}: ${error.message}`, true)));
    req.end(payload);
  });
}
