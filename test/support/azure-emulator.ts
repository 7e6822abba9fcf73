// A local emulator of the Azure ML REST API subset modelship uses (api-version 2022-10-01), over HTTPS with a
// self-signed certificate generated at start (IP:127.0.0.1 in its SAN), with Azurite as the workspace's blob
// storage. It behaves as the service does where the code depends on it:
// - real paths, body shapes and status codes; errors as { error: { code, message } };
// - long-running operations: PUT answers 200/201 with Azure-AsyncOperation (polled until Succeeded/Failed), DELETE
//   answers 202 with Location + Retry-After; resources carry provisioningState meanwhile;
// - 409 while an endpoint or deployment is updating; traffic changes become visible a moment after the operation;
// - deployments really start: the "storage initializer" downloads the registered model folder and the code from
//   Azurite; the "inference server" loads the ONNX file with onnxruntime-node and scores with the local endpoint's
//   contract, or (inferenceServer 'score.py') runs the downloaded scoring script with the deployment's environment;
// - data collection: a deployment whose scoring script runs and that enables collection gets a data collector agent
//   (the sidecar Azure ML runs beside a deployment that declares data_collector) which takes the collector SDK's
//   posts and writes them as JSON lines to Azurite at modelDataCollector/{endpoint}/{deployment}/{collection}/
//   yyyy/MM/dd/HH/{instance}.jsonl in the documented format;
// - Azure Monitor metrics (RequestsPerMinute by statusCodeClass, RequestLatency_P50/P95/P99) from the requests served;
// - fault injection: provisioning failure, slow operations, 409 conflicts, 429 throttling, a deployment answering 5xx.
import { randomBytes, randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { generate } from 'selfsigned';
import { freePort } from '../../src/client/embedded-stack';
import { OnnxModel, type InputContract } from '../../src/model/input-contract';
import { ScoringError, scoreRecords } from '../../src/model/scoring';
import { startScoringScript, type ScoringScript } from './scoring-script';

export const API_VERSION = '2022-10-01';
const MONITOR_API_VERSION = '2018-01-01';
// Azurite's well-known development account (public, documented; not a secret).
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface EmulatorFaults {
  /** The next provisioning of this deployment fails (ResourceNotReady) with these container logs. */
  failProvisioning?: { deployment: string; logs: string[] };
  /** Every long-running operation takes this long (default 300 ms). */
  operationMs?: number;
  /** The next N PUTs of an existing endpoint (traffic changes) answer 409 "is in Updating state". */
  conflicts?: number;
  /** The next N management requests answer 429 with Retry-After: 1. */
  throttle?: number;
  /** This deployment answers every scoring request with this 5xx status. */
  scoreErrors?: { deployment: string; status: number };
  /** The data collector agents answer every post with 503 (the collector in the scoring script must shrug it off). */
  collectorDown?: boolean;
}

interface Operation {
  id: string;
  status: 'InProgress' | 'Succeeded' | 'Failed';
  error?: { code: string; message: string };
}

interface Resource {
  id: string;
  name: string;
  type: string;
  location?: string;
  sku?: unknown;
  tags?: Record<string, string>;
  properties: Record<string, unknown>;
  systemData?: unknown;
}

interface DeploymentRuntime {
  model?: OnnxModel;
  /** The scoring script's server, when inferenceServer is 'score.py', and its data collector agent. */
  script?: ScoringScript;
  agent?: HttpServer;
  logs: { StorageInitializer: string[]; InferenceServer: string[] };
}

interface ServedRequest {
  at: number;
  deployment: string;
  status: number;
  latencyMs: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export class AzureMlEmulator {
  readonly subscriptionId = randomUUID();
  readonly resourceGroup = 'modelship-rg';
  readonly workspace = 'modelship-ws';
  readonly location = 'westeurope';
  readonly container = `azureml-blobstore-${randomUUID()}`;
  faults: EmulatorFaults = {};
  /** What serves a deployment provisioned from now on: the local endpoint's code, or the downloaded score.py. */
  inferenceServer: 'onnxruntime-node' | 'score.py' = 'onnxruntime-node';
  /** Every management request: method, path (no query) and the status answered. */
  readonly requests: { method: string; path: string; status: number }[] = [];
  /** Bearer tokens seen on management requests (the tests check none of them reaches workflow history). */
  readonly tokensSeen = new Set<string>();
  caPem = '';
  private server?: Server;
  private azurite?: ChildProcess;
  private port = 0;
  private blobPort = 0;
  private readonly dir = mkdtempSync(join(tmpdir(), 'modelship-azure-emulator-'));
  private readonly assets = new Map<string, Resource>();
  private readonly endpoints = new Map<string, Resource & { keys: { primaryKey: string; secondaryKey: string }; pendingTraffic?: Record<string, number> }>();
  private readonly deployments = new Map<string, Map<string, Resource>>();
  private readonly runtimes = new Map<string, DeploymentRuntime>();
  private readonly operations = new Map<string, Operation>();
  private readonly busy = new Set<string>();
  private readonly served: ServedRequest[] = [];

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  get blobUrl(): string {
    return `http://127.0.0.1:${this.blobPort}/${ACCOUNT}`;
  }

  get workspacePath(): string {
    return `/subscriptions/${this.subscriptionId}/resourceGroups/${this.resourceGroup}/providers/Microsoft.MachineLearningServices/workspaces/${this.workspace}`;
  }

  /** The worker environment that points the azure target at this emulator (the CA file is written at start). */
  env(): Record<string, string> {
    return {
      AZURE_SUBSCRIPTION_ID: this.subscriptionId,
      AZURE_RESOURCE_GROUP: this.resourceGroup,
      AZURE_WORKSPACE_NAME: this.workspace,
      MODELSHIP_AZURE_ARM_ENDPOINT: this.url,
      MODELSHIP_AZURE_CA_FILE: join(this.dir, 'ca.pem'),
      MODELSHIP_AZURE_BLOB_URL: this.blobUrl,
      MODELSHIP_AZURE_POLL_INTERVAL_MS: '200',
    };
  }

  async start(): Promise<void> {
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [
        { name: 'basicConstraints', cA: true },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 7, ip: '127.0.0.1' },
            { type: 2, value: 'localhost' },
          ],
        },
      ],
    });
    this.caPem = pems.cert;
    writeFileSync(join(this.dir, 'ca.pem'), pems.cert);
    await this.startAzurite();
    this.port = await freePort();
    this.server = createServer({ key: pems.private, cert: pems.cert }, (req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    // Azurite waits for idle keep-alive connections on SIGTERM; its data is a temporary folder, so stop it at once.
    this.azurite?.kill('SIGKILL');
    for (const runtime of this.runtimes.values()) await runtime.model?.release().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async startAzurite(): Promise<void> {
    this.blobPort = await freePort();
    const location = join(this.dir, 'azurite');
    mkdirSync(location);
    this.azurite = spawn(
      process.execPath,
      [
        require.resolve('azurite/dist/src/blob/main.js'),
        '--blobHost',
        '127.0.0.1',
        '--blobPort',
        String(this.blobPort),
        '--location',
        location,
        '--skipApiVersionCheck',
        '--silent',
      ],
      { stdio: 'ignore' },
    );
    const service = this.blobService();
    for (let attempt = 0; ; attempt++) {
      try {
        await service.getContainerClient(this.container).createIfNotExists();
        return;
      } catch (error) {
        if (attempt > 100) throw new Error(`Azurite did not start: ${(error as Error).message}`, { cause: error });
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private blobService(): BlobServiceClient {
    return new BlobServiceClient(this.blobUrl, new StorageSharedKeyCredential(ACCOUNT, ACCOUNT_KEY));
  }

  /** Blob names stored under a prefix of the datastore's container. */
  async blobs(prefix: string): Promise<string[]> {
    const names: string[] = [];
    for await (const blob of this.blobService().getContainerClient(this.container).listBlobsFlat({ prefix })) names.push(blob.name);
    return names;
  }

  /** The text of a blob of the datastore's container. */
  async blobText(name: string): Promise<string> {
    return (await this.blobService().getContainerClient(this.container).getBlobClient(name).downloadToBuffer()).toString('utf8');
  }

  /** Where the emulated storage initializer put a deployment's model folder (AZUREML_MODEL_DIR). */
  modelDir(endpoint: string, deployment: string): string {
    return join(this.dir, 'deployments', endpoint, deployment, 'model');
  }

  endpointState(endpoint: string): { traffic: Record<string, number>; deployments: Record<string, string> } | undefined {
    const found = this.endpoints.get(endpoint);
    if (!found) return undefined;
    const deployments = Object.fromEntries([...(this.deployments.get(endpoint)?.values() ?? [])].map((d) => [d.name, String(d.properties.provisioningState)]));
    return { traffic: (found.properties.traffic as Record<string, number>) ?? {}, deployments };
  }

  // --- HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    let status = 500;
    try {
      if (url.pathname.startsWith('/inference/')) return await this.score(req, res, url);
      const auth = req.headers.authorization ?? '';
      if (!auth.startsWith('Bearer ')) throw new HttpError(401, 'AuthenticationFailed', 'Authentication failed. The Authorization header is missing.');
      this.tokensSeen.add(auth.slice('Bearer '.length));
      if (this.faults.throttle && this.faults.throttle > 0) {
        this.faults.throttle--;
        throw new HttpError(429, 'TooManyRequests', 'The request is being throttled as the limit has been reached for operation type - Write.', { 'retry-after': '1' });
      }
      const body = await readBody(req);
      const answer = await this.route(req.method ?? 'GET', url, body);
      status = answer.status;
      send(res, answer.status, answer.body, answer.headers);
    } catch (error) {
      const e = error instanceof HttpError ? error : new HttpError(500, 'InternalServerError', (error as Error).message);
      status = e.status;
      send(res, e.status, { error: { code: e.code, message: e.message } }, e.headers);
    } finally {
      if (!url.pathname.startsWith('/inference/')) this.requests.push({ method: req.method ?? 'GET', path: url.pathname, status });
    }
  }

  private async route(method: string, url: URL, body: unknown): Promise<{ status: number; body?: unknown; headers?: Record<string, string> }> {
    const path = url.pathname;
    const apiVersion = url.searchParams.get('api-version');
    const opMatch = /^\/subscriptions\/[^/]+\/providers\/Microsoft\.MachineLearningServices\/locations\/[^/]+\/(mfeOperationsStatus|mfeOperationResults)\/([^/]+)$/.exec(path);
    if (opMatch) return this.operation(opMatch[1]!, opMatch[2]!);
    const metricsMatch = new RegExp(`^${this.workspacePath}/onlineEndpoints/([^/]+)/providers/Microsoft\\.Insights/metrics$`, 'i').exec(path);
    if (metricsMatch) {
      if (apiVersion !== MONITOR_API_VERSION) throw new HttpError(400, 'InvalidApiVersionParameter', `api-version ${apiVersion} is not supported for metrics`);
      return { status: 200, body: this.metrics(metricsMatch[1]!, url) };
    }
    if (apiVersion !== API_VERSION) {
      throw new HttpError(400, 'InvalidApiVersionParameter', `The api-version '${apiVersion}' is invalid. The supported versions include '${API_VERSION}'.`);
    }
    if (!path.toLowerCase().startsWith(this.workspacePath.toLowerCase())) {
      throw new HttpError(404, 'ResourceNotFound', `The Resource '${path}' was not found.`);
    }
    const rest = path.slice(this.workspacePath.length).split('/').filter(Boolean).map(decodeURIComponent);
    const [collection, name, sub, version, action] = rest;

    if (rest.length === 0 && method === 'GET') {
      return {
        status: 200,
        body: {
          id: this.workspacePath,
          name: this.workspace,
          type: 'Microsoft.MachineLearningServices/workspaces',
          location: this.location,
          properties: { friendlyName: this.workspace },
        },
      };
    }
    if (collection === 'datastores' && name === 'workspaceblobstore') {
      if (method === 'GET' && !sub) {
        return {
          status: 200,
          body: {
            id: `${this.workspacePath}/datastores/workspaceblobstore`,
            name: 'workspaceblobstore',
            type: 'Microsoft.MachineLearningServices/workspaces/datastores',
            properties: {
              datastoreType: 'AzureBlob',
              accountName: ACCOUNT,
              containerName: this.container,
              endpoint: 'core.windows.net',
              protocol: 'https',
              isDefault: true,
              credentials: { credentialsType: 'AccountKey' },
            },
          },
        };
      }
      if (method === 'POST' && sub === 'listSecrets') return { status: 200, body: { secretsType: 'AccountKey', key: ACCOUNT_KEY } };
    }
    if ((collection === 'models' || collection === 'codes' || collection === 'environments') && name && sub === 'versions' && version && !action) {
      return this.asset(method, collection, name, version, body);
    }
    if (collection === 'onlineEndpoints' && !name && method === 'GET') {
      return { status: 200, body: { value: [...this.endpoints.values()].map(publicEndpoint) } };
    }
    if (collection === 'onlineEndpoints' && name) {
      if (!sub) return this.endpoint(method, name, body);
      if (sub === 'listKeys' && method === 'POST') {
        const endpoint = this.endpoints.get(name);
        if (!endpoint) throw notFound('onlineEndpoints', name);
        return { status: 200, body: endpoint.keys };
      }
      if (sub === 'deployments') {
        if (!version && method === 'GET') {
          if (!this.endpoints.has(name)) throw notFound('onlineEndpoints', name);
          return { status: 200, body: { value: [...(this.deployments.get(name)?.values() ?? [])] } };
        }
        if (version && !action) return this.deployment(method, name, version, body);
        if (version && action === 'getLogs' && method === 'POST') return this.getLogs(name, version, body);
      }
    }
    throw new HttpError(404, 'NoRegisteredProviderFound', `No route for ${method} ${path}`);
  }

  private asset(method: string, kind: string, name: string, version: string, body: unknown) {
    const key = `${kind}/${name}/${version}`;
    const id = `${this.workspacePath}/${kind}/${name}/versions/${version}`;
    if (method === 'GET') {
      const found = this.assets.get(key);
      if (!found) throw notFound(kind, `${name}:${version}`);
      return { status: 200, body: found };
    }
    if (method !== 'PUT') throw new HttpError(405, 'MethodNotAllowed', `${method} is not supported on ${kind}`);
    const properties = requireObject(body, 'properties');
    if (kind === 'models') {
      // The CLI and SDK v2 send custom_model; the 2022-10-01 example writes CustomModel.
      if (!['custom_model', 'CustomModel', 'mlflow_model', 'triton_model'].includes(String(properties.modelType)))
        throw badRequest('properties.modelType', 'must be custom_model, mlflow_model or triton_model');
      if (typeof properties.modelUri !== 'string' || !properties.modelUri.startsWith('azureml://')) throw badRequest('properties.modelUri', 'must be an azureml:// datastore URI');
    }
    if (kind === 'codes' && typeof properties.codeUri !== 'string') throw badRequest('properties.codeUri', 'is required');
    if (kind === 'environments' && typeof properties.image !== 'string') throw badRequest('properties.image', 'is required (or build)');
    const existing = this.assets.get(key);
    if (existing) {
      const immutable = kind === 'models' ? 'modelUri' : kind === 'codes' ? 'codeUri' : 'image';
      if (existing.properties[immutable] !== properties[immutable]) {
        throw new HttpError(409, 'UserError', `${kind} ${name}:${version} already exists and ${immutable} cannot be changed.`);
      }
    }
    const resource: Resource = { id, name: version, type: `Microsoft.MachineLearningServices/workspaces/${kind}/versions`, properties: { ...properties } };
    this.assets.set(key, resource);
    return { status: existing ? 200 : 201, body: resource };
  }

  private endpoint(method: string, name: string, body: unknown) {
    const existing = this.endpoints.get(name);
    if (method === 'GET') {
      if (!existing) throw notFound('onlineEndpoints', name);
      return { status: 200, body: publicEndpoint(existing) };
    }
    if (method === 'PUT') {
      if (this.busy.has(name)) throw updating('Endpoint', name);
      if (existing && this.faults.conflicts && this.faults.conflicts > 0) {
        this.faults.conflicts--;
        throw updating('Endpoint', name);
      }
      if (!isObject(body) || typeof body.location !== 'string') throw badRequest('location', 'is required');
      const properties = requireObject(body, 'properties');
      if (properties.authMode !== 'Key' && properties.authMode !== 'AMLToken' && properties.authMode !== 'AADToken')
        throw badRequest('properties.authMode', 'must be Key, AMLToken or AADToken');
      const traffic = (properties.traffic ?? {}) as Record<string, number>;
      const sum = Object.values(traffic).reduce((a, b) => a + b, 0);
      if (sum !== 0 && sum !== 100) throw badRequest('properties.traffic', `Traffic values need to sum to 0 or 100, got ${sum}.`);
      for (const [deployment, percent] of Object.entries(traffic)) {
        const d = this.deployments.get(name)?.get(deployment);
        if (!d) throw badRequest('properties.traffic', `Deployment ${deployment} does not exist on endpoint ${name}.`);
        if (percent > 0 && d.properties.provisioningState !== 'Succeeded') throw badRequest('properties.traffic', `Deployment ${deployment} is not in a Succeeded state.`);
      }
      const resource = existing ?? {
        id: `${this.workspacePath}/onlineEndpoints/${name}`,
        name,
        type: 'Microsoft.MachineLearningServices/workspaces/onlineEndpoints',
        location: body.location,
        tags: {},
        keys: { primaryKey: randomBytes(24).toString('base64url'), secondaryKey: randomBytes(24).toString('base64url') },
        properties: { authMode: properties.authMode, traffic: {}, scoringUri: `${this.url}/inference/${name}/score`, swaggerUri: `${this.url}/inference/${name}/swagger.json` },
      };
      resource.properties = { ...resource.properties, description: properties.description, provisioningState: existing ? 'Updating' : 'Creating' };
      this.endpoints.set(name, resource);
      return this.longRunning(name, existing ? 200 : 201, publicEndpoint(resource), async () => {
        resource.properties.provisioningState = 'Succeeded';
        // A new traffic split shows a moment after the operation completes, as users report of the service.
        resource.pendingTraffic = traffic;
        setTimeout(() => {
          if (resource.pendingTraffic === traffic) resource.properties.traffic = traffic;
        }, 300);
      });
    }
    if (method === 'DELETE') {
      if (!existing) return { status: 204 };
      if (this.busy.has(name)) throw updating('Endpoint', name);
      existing.properties.provisioningState = 'Deleting';
      return this.longRunningDelete(name, async () => {
        this.endpoints.delete(name);
        for (const deployment of this.deployments.get(name)?.keys() ?? []) await this.stopRuntime(name, deployment);
        this.deployments.delete(name);
      });
    }
    throw new HttpError(405, 'MethodNotAllowed', `${method} is not supported on onlineEndpoints`);
  }

  private deployment(method: string, endpoint: string, name: string, body: unknown) {
    const parent = this.endpoints.get(endpoint);
    if (!parent) throw notFound('onlineEndpoints', endpoint);
    const deployments = this.deployments.get(endpoint) ?? new Map<string, Resource>();
    this.deployments.set(endpoint, deployments);
    const existing = deployments.get(name);
    const busyKey = `${endpoint}/${name}`;
    if (method === 'GET') {
      if (!existing) throw notFound('deployments', name);
      return { status: 200, body: existing };
    }
    if (method === 'PUT') {
      if (this.busy.has(busyKey)) throw updating('Deployment', name);
      if (!isObject(body) || typeof body.location !== 'string') throw badRequest('location', 'is required');
      const properties = requireObject(body, 'properties');
      if (properties.endpointComputeType !== 'Managed') throw badRequest('properties.endpointComputeType', 'must be Managed for a managed online endpoint');
      if (typeof properties.instanceType !== 'string') throw badRequest('properties.instanceType', 'is required');
      const capacity = (body.sku as { capacity?: number } | undefined)?.capacity;
      if (!Number.isInteger(capacity) || capacity! < 1) throw badRequest('sku.capacity', 'must be a whole number from 1');
      const model = this.assetById(properties.model, 'properties.model');
      const code = this.assetById((properties.codeConfiguration as { codeId?: string } | undefined)?.codeId, 'properties.codeConfiguration.codeId');
      this.assetById(properties.environmentId, 'properties.environmentId');
      const scoringScript = (properties.codeConfiguration as { scoringScript?: string }).scoringScript;
      const resource: Resource = {
        id: `${parent.id}/deployments/${name}`,
        name,
        type: 'Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments',
        location: body.location,
        sku: body.sku,
        tags: {},
        properties: { ...properties, provisioningState: existing ? 'Updating' : 'Creating' },
      };
      deployments.set(name, resource);
      const failure = this.faults.failProvisioning?.deployment === name ? this.faults.failProvisioning : undefined;
      if (failure) this.faults.failProvisioning = undefined;
      return this.longRunning(busyKey, existing ? 200 : 201, resource, async () => {
        const logs: DeploymentRuntime['logs'] = { StorageInitializer: [], InferenceServer: [] };
        this.runtimes.set(busyKey, { logs });
        try {
          const modelDir = await this.download(String(model.properties.modelUri), this.modelDir(endpoint, name), logs.StorageInitializer);
          const codeDir = await this.download(String(code.properties.codeUri), join(this.dir, 'deployments', endpoint, name, 'code'), logs.StorageInitializer);
          logs.InferenceServer.push(`Azure ML Inferencing HTTP server (emulated); entry script ${scoringScript}; AZUREML_MODEL_DIR=${modelDir}`);
          if (failure) {
            logs.InferenceServer.push(...failure.logs);
            throw new HttpError(
              400,
              'ResourceNotReady',
              'User container has crashed or terminated. Please see troubleshooting guide, available here: https://aka.ms/oe-tsg#error-resourcenotready',
            );
          }
          await this.stopRuntime(endpoint, name);
          if (this.inferenceServer === 'score.py') {
            this.runtimes.set(busyKey, { ...(await this.startScoringScript(endpoint, name, resource, modelDir, codeDir, logs)), logs });
          } else {
            const { readFileSync } = await import('node:fs');
            const contract = JSON.parse(readFileSync(join(modelDir, 'input_contract.json'), 'utf8')) as InputContract;
            this.runtimes.set(busyKey, { model: await OnnxModel.load(join(modelDir, 'model.onnx'), contract), logs });
          }
          logs.InferenceServer.push("Users's init has completed successfully", 'Listening on 0.0.0.0:31311');
          resource.properties.provisioningState = 'Succeeded';
        } catch (error) {
          resource.properties.provisioningState = 'Failed';
          logs.InferenceServer.push(`init() failed: ${(error as Error).message}`);
          throw error;
        }
      });
    }
    if (method === 'DELETE') {
      if (!existing) return { status: 204 };
      if (this.busy.has(busyKey)) throw updating('Deployment', name);
      const traffic = (parent.properties.traffic as Record<string, number>)[name] ?? 0;
      if (traffic > 0) throw new HttpError(400, 'BadArgument', `Deployment ${name} has ${traffic}% traffic; set its traffic to 0 before deleting it.`);
      existing.properties.provisioningState = 'Deleting';
      return this.longRunningDelete(busyKey, async () => {
        deployments.delete(name);
        await this.stopRuntime(endpoint, name);
        const t = parent.properties.traffic as Record<string, number>;
        delete t[name];
      });
    }
    throw new HttpError(405, 'MethodNotAllowed', `${method} is not supported on deployments`);
  }

  private getLogs(endpoint: string, name: string, body: unknown) {
    if (!this.deployments.get(endpoint)?.has(name)) throw notFound('deployments', name);
    const request = (isObject(body) ? body : {}) as { containerType?: string; tail?: number };
    const container = request.containerType === 'StorageInitializer' ? 'StorageInitializer' : 'InferenceServer';
    const lines = this.runtimes.get(`${endpoint}/${name}`)?.logs[container] ?? [];
    return { status: 200, body: { content: lines.slice(-(request.tail ?? 100)).join('\n') } };
  }

  private assetById(id: unknown, field: string): Resource {
    const match = typeof id === 'string' ? /\/(models|codes|environments)\/([^/]+)\/versions\/([^/]+)$/i.exec(id) : null;
    const found = match ? this.assets.get(`${match[1]}/${match[2]}/${match[3]}`) : undefined;
    if (!found) throw badRequest(field, `${String(id)} does not exist in workspace ${this.workspace}`);
    return found;
  }

  /** The storage initializer: downloads a datastore folder (azureml:// or blob URL) from Azurite. */
  private async download(uri: string, into: string, log: string[]): Promise<string> {
    const prefix = uri.startsWith('azureml://') ? uri.split('/paths/')[1]! : uri.split(`/${this.container}/`)[1]!;
    const container = this.blobService().getContainerClient(this.container);
    mkdirSync(into, { recursive: true });
    let count = 0;
    for await (const blob of container.listBlobsFlat({ prefix: `${prefix.replace(/\/$/, '')}/` })) {
      await container.getBlobClient(blob.name).downloadToFile(join(into, blob.name.slice(prefix.replace(/\/$/, '').length + 1)));
      count++;
    }
    if (count === 0) throw new HttpError(400, 'UserError', `no files at ${uri}`);
    log.push(`downloaded ${count} files from ${uri}`);
    return into;
  }

  private async stopRuntime(endpoint: string, name: string): Promise<void> {
    const runtime = this.runtimes.get(`${endpoint}/${name}`);
    await runtime?.model?.release().catch(() => undefined);
    runtime?.script?.stop();
    runtime?.agent?.close();
  }

  /**
   * The inference server running the deployment's downloaded score.py with its environment variables. When the
   * deployment enables collection (dataCollector, in API versions that have it, or the collector's own switch
   * AZUREML_MDC_ENABLED in its environment), a data collector agent starts beside it, as Azure ML's sidecar does,
   * and the script's collector is pointed at it (AZUREML_MDC_HOST/PORT).
   */
  private async startScoringScript(endpoint: string, name: string, resource: Resource, modelDir: string, codeDir: string, logs: DeploymentRuntime['logs']) {
    const env = (resource.properties.environmentVariables ?? {}) as Record<string, string>;
    const collects = resource.properties.dataCollector !== undefined || env.AZUREML_MDC_ENABLED?.toLowerCase() === 'true';
    const agent = collects ? await this.startCollectorAgent(endpoint, name, logs) : undefined;
    try {
      const script = await startScoringScript(
        modelDir,
        { name: env.MODELSHIP_MODEL_NAME ?? '', version: env.MODELSHIP_MODEL_VERSION ?? '', deployment: env.MODELSHIP_DEPLOYMENT ?? name },
        {
          appRoot: codeDir,
          env: { ...env, ...(agent ? { AZUREML_MDC_HOST: '127.0.0.1', AZUREML_MDC_PORT: String((agent.address() as { port: number }).port) } : {}) },
          log: (line) => logs.InferenceServer.push(line),
        },
      );
      return { script, agent };
    } catch (error) {
      agent?.close();
      throw error;
    }
  }

  /**
   * The data collector agent of one deployment: takes the posts of azureml-ai-monitoring's sender
   * (POST /modeldata/log, CloudEvents attributes in ce-* headers, the DataFrame as JSON records in the body) and
   * appends each as one JSON line, in the format Azure ML documents, to the hour's blob of its collection.
   */
  private async startCollectorAgent(endpoint: string, deployment: string, logs: DeploymentRuntime['logs']): Promise<HttpServer> {
    const instance = randomBytes(8).toString('hex');
    const source = `${this.workspacePath}/onlineEndpoints/${endpoint}/deployments/${deployment}`;
    const container = this.blobService().getContainerClient(this.container);
    const agent = createHttpServer((req, res) => {
      void (async () => {
        const body = (await readBody(req, true)) as string;
        if (this.faults.collectorDown) return send(res, 503, { error: { code: 'ServiceUnavailable', message: 'data collector agent unavailable' } });
        if (req.method !== 'POST' || req.url !== '/modeldata/log') return send(res, 404, { error: { code: 'NotFound', message: 'no such route' } });
        const header = (name: string) => (typeof req.headers[name] === 'string' ? (req.headers[name] as string) : undefined);
        const type = header('ce-type') ?? '';
        const collection = type.replace(/^azureml\.inference\./, '');
        const seconds = Number(header('ce-time'));
        const time = new Date(Number.isFinite(seconds) ? seconds * 1000 : Date.now());
        const correlation = header('ce-x-request-id');
        const size = Buffer.byteLength(body);
        const line = {
          specversion: '1.0',
          id: header('trace-id') ?? randomUUID(),
          source,
          type,
          datacontenttype: header('content-type') ?? 'application/json',
          time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
          data: JSON.parse(body) as unknown,
          ...(correlation ? { correlationid: correlation, xrequestid: correlation } : {}),
          modelversion: header('ce-model-version'),
          collectdatatype: header('ce-collect-data-type'),
          agent: header('ce-agent'),
          contentrange: `bytes 0-${size - 1}/${size}`,
        };
        const pad = (n: number) => String(n).padStart(2, '0');
        const hour = [time.getUTCFullYear(), pad(time.getUTCMonth() + 1), pad(time.getUTCDate()), pad(time.getUTCHours())].join('/');
        const blob = container.getAppendBlobClient(`modelDataCollector/${endpoint}/${deployment}/${collection}/${hour}/${instance}.jsonl`);
        const text = `${JSON.stringify(line)}\n`;
        await blob.createIfNotExists();
        await blob.appendBlock(text, Buffer.byteLength(text));
        send(res, 200, { status: 'accepted' });
      })().catch((error: Error) => {
        logs.InferenceServer.push(`data collector agent: ${error.message}`);
        if (!res.headersSent) send(res, 500, { error: { code: 'InternalServerError', message: error.message } });
      });
    });
    await new Promise<void>((resolve) => agent.listen(0, '127.0.0.1', resolve));
    logs.InferenceServer.push(`data collector agent listening on 127.0.0.1:${(agent.address() as { port: number }).port} (instance ${instance})`);
    return agent;
  }

  /**
   * A PUT as a long-running operation, the work done after a delay. As in the 2022-10-01 specification: 201
   * (created) carries Azure-AsyncOperation to poll; 200 (updated) carries no header, and the client polls the
   * resource's provisioningState instead.
   */
  private longRunning(busyKey: string, status: 200 | 201, resource: unknown, work: () => Promise<void>) {
    const operation = this.startOperation(busyKey, work);
    if (status === 200) return { status, body: resource };
    return { status, body: resource, headers: { 'azure-asyncoperation': this.operationUrl('mfeOperationsStatus', operation.id), 'x-ms-async-operation-timeout': 'PT1H' } };
  }

  private longRunningDelete(busyKey: string, work: () => Promise<void>) {
    const operation = this.startOperation(busyKey, work);
    // The service asks for Retry-After of 10 s or more; 1 s keeps the tests quick and exercises the same header.
    return { status: 202, headers: { location: this.operationUrl('mfeOperationResults', operation.id), 'retry-after': '1', 'x-ms-async-operation-timeout': 'PT1H' } };
  }

  private startOperation(busyKey: string, work: () => Promise<void>): Operation {
    const operation: Operation = { id: randomUUID(), status: 'InProgress' };
    this.operations.set(operation.id, operation);
    this.busy.add(busyKey);
    setTimeout(() => {
      work()
        .then(
          () => (operation.status = 'Succeeded'),
          (error: Error) => {
            operation.status = 'Failed';
            operation.error = { code: error instanceof HttpError ? error.code : 'InternalServerError', message: error.message };
          },
        )
        .finally(() => this.busy.delete(busyKey));
    }, this.faults.operationMs ?? 300);
    return operation;
  }

  private operationUrl(kind: string, id: string): string {
    return `${this.url}/subscriptions/${this.subscriptionId}/providers/Microsoft.MachineLearningServices/locations/${this.location}/${kind}/${id}?api-version=${API_VERSION}`;
  }

  private operation(kind: string, id: string) {
    const operation = this.operations.get(id);
    if (!operation) throw new HttpError(404, 'NotFound', `operation ${id} not found`);
    if (kind === 'mfeOperationResults') {
      if (operation.status === 'InProgress') return { status: 202, headers: { location: this.operationUrl(kind, id), 'retry-after': '1' } };
      if (operation.status === 'Failed') throw new HttpError(400, operation.error!.code, operation.error!.message);
      return { status: 200 };
    }
    return { status: 200, body: { id, name: id, status: operation.status, ...(operation.error ? { error: operation.error } : {}) } };
  }

  // --- scoring and metrics

  private async score(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const started = performance.now();
    const name = decodeURIComponent(url.pathname.split('/')[2] ?? '');
    const endpoint = this.endpoints.get(name);
    let deployment = '';
    let status = 200;
    let answer: unknown;
    try {
      if (!endpoint || req.method !== 'POST' || !url.pathname.endsWith('/score')) throw new HttpError(404, 'NotFound', 'no such scoring route');
      if ((req.headers.authorization ?? '') !== `Bearer ${endpoint.keys.primaryKey}` && (req.headers.authorization ?? '') !== `Bearer ${endpoint.keys.secondaryKey}`) {
        throw new HttpError(401, 'Unauthorized', 'key auth failed');
      }
      const requested = req.headers['azureml-model-deployment'];
      deployment = typeof requested === 'string' && requested ? requested : pick(endpoint.properties.traffic as Record<string, number>);
      if (!deployment)
        throw new HttpError(
          503,
          'NoTraffic',
          'No valid deployments to route to. Please check that the endpoint has at least one deployment with positive weight values or use a deployment specific header to route.',
        );
      const runtime = this.runtimes.get(`${name}/${deployment}`);
      if (!this.deployments.get(name)?.has(deployment)) throw new HttpError(404, 'DeploymentNotFound', `deployment ${deployment} not found`);
      if (!runtime?.model && !runtime?.script) throw new HttpError(424, 'ModelNotReady', `deployment ${deployment} is not ready`);
      if (this.faults.scoreErrors?.deployment === deployment)
        throw new HttpError(this.faults.scoreErrors.status, 'InternalServerError', 'An unexpected error occurred in scoring script. Check the logs for more info.');
      if (runtime.script) {
        // The inference server gets the request as sent, with the request id the service adds.
        const requestId = randomUUID();
        const response = await fetch(`http://127.0.0.1:${runtime.script.port}/score`, {
          method: 'POST',
          body: (await readBody(req, true)) as string,
          headers: { 'x-request-id': requestId },
        });
        status = response.status;
        answer = JSON.parse(await response.text()) as unknown;
        res.setHeader('x-request-id', requestId);
      } else {
        const body = JSON.parse((await readBody(req, true)) as string) as unknown;
        const scores = await scoreRecords(runtime.model!, body);
        const parameters = (this.deployments.get(name)!.get(deployment)!.properties.environmentVariables ?? {}) as Record<string, string>;
        answer = {
          predictions: scores.labels,
          probabilities: scores.probabilities,
          model: { name: parameters.MODELSHIP_MODEL_NAME, version: parameters.MODELSHIP_MODEL_VERSION },
          deployment,
        };
      }
    } catch (error) {
      status = error instanceof ScoringError ? error.status : error instanceof HttpError ? error.status : error instanceof SyntaxError ? 400 : 500;
      answer = { error: { message: (error as Error).message, ...(error instanceof ScoringError && error.field ? { field: error.field } : {}) } };
      if (status >= 500) this.runtimes.get(`${name}/${deployment}`)?.logs.InferenceServer.push(`POST /score ${status}: ${(error as Error).message}`);
    }
    if (deployment) this.served.push({ at: Date.now(), deployment: `${name}/${deployment}`, status, latencyMs: performance.now() - started });
    res.setHeader('azureml-model-deployment', deployment);
    send(res, status, answer);
  }

  private metrics(endpoint: string, url: URL) {
    const [from, to] = (url.searchParams.get('timespan') ?? '').split('/').map((t) => Date.parse(t));
    const names = (url.searchParams.get('metricnames') ?? '').split(',');
    const deployment = /deployment eq '([^']+)'/.exec(url.searchParams.get('$filter') ?? '')?.[1];
    const rows = this.served.filter((r) => r.deployment === `${endpoint}/${deployment}` && r.at >= from! && r.at <= to!);
    const minute = (at: number) => new Date(Math.floor(at / 60_000) * 60_000).toISOString();
    const byMinute = (list: ServedRequest[]) => {
      const groups = new Map<string, ServedRequest[]>();
      for (const r of list) groups.set(minute(r.at), [...(groups.get(minute(r.at)) ?? []), r]);
      return groups;
    };
    const value = names.map((name) => {
      if (name === 'RequestsPerMinute') {
        const classes = new Map<string, ServedRequest[]>();
        for (const r of rows) classes.set(`${String(r.status)[0]}xx`, [...(classes.get(`${String(r.status)[0]}xx`) ?? []), r]);
        return {
          name: { value: name },
          unit: 'Count',
          timeseries: [...classes].map(([statusClass, list]) => ({
            metadatavalues: [
              { name: { value: 'deployment' }, value: deployment },
              { name: { value: 'statusCodeClass' }, value: statusClass },
            ],
            data: [...byMinute(list)].map(([timeStamp, group]) => ({ timeStamp, total: group.length })),
          })),
        };
      }
      const q = Number(/_P(\d+)$/.exec(name)?.[1] ?? 50) / 100;
      return {
        name: { value: name },
        unit: 'MilliSeconds',
        timeseries: [
          {
            metadatavalues: [{ name: { value: 'deployment' }, value: deployment }],
            data: [...byMinute(rows)].map(([timeStamp, group]) => {
              const sorted = group.map((r) => r.latencyMs).sort((a, b) => a - b);
              return { timeStamp, average: sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] };
            }),
          },
        ],
      };
    });
    return { timespan: url.searchParams.get('timespan'), interval: 'PT1M', value };
  }
}

function publicEndpoint(endpoint: Resource & { keys?: unknown; pendingTraffic?: unknown }): Resource {
  const { keys: _keys, pendingTraffic: _pending, ...resource } = endpoint;
  return resource;
}

function pick(traffic: Record<string, number>): string {
  let roll = Math.random() * 100;
  for (const [deployment, percent] of Object.entries(traffic)) {
    if (percent <= 0) continue;
    if ((roll -= percent) < 0) return deployment;
  }
  return '';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requireObject(body: unknown, field: string): Record<string, unknown> {
  const value = isObject(body) ? body[field] : undefined;
  if (!isObject(value)) throw badRequest(field, 'is required');
  return value;
}

const badRequest = (field: string, message: string) => new HttpError(400, 'UserError', `${field}: ${message}`);
const notFound = (kind: string, name: string) => new HttpError(404, 'UserError', `${kind} ${name} was not found in the workspace.`);
const updating = (kind: string, name: string) =>
  new HttpError(409, 'Conflict', `${kind} ${name} is in Updating state. Please wait for the current operation to complete before starting another.`);

async function readBody(req: IncomingMessage, raw = false): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (raw) return text;
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'UserError', 'the request body is not valid JSON');
  }
}

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload) }).end(payload);
}
