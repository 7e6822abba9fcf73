// The local deployment target: the embedded endpoint server's management API.
import { adminToken } from '../serving/admin-token';
import type { ComputeSpec, DeploymentMetrics, DeploymentState, DeploymentTarget, EndpointState, ModelToDeploy, ProbeResult } from './target';

/** What a release may ask of the local endpoint beside the compute spec: the share of records it captures. */
export type LocalDeploymentSpec = Partial<ComputeSpec>;

export class LocalTargetError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'LocalTargetError';
  }
}

export class LocalTarget implements DeploymentTarget {
  readonly kind = 'local' as const;
  private readonly token: string;

  constructor(
    readonly baseUrl: string,
    servingStateDir: string,
  ) {
    this.token = process.env.MODELSHIP_ENDPOINT_ADMIN_TOKEN || adminToken(servingStateDir);
  }

  private async call<T>(method: string, path: string, body?: unknown, okStatuses: number[] = []): Promise<{ status: number; body: T }> {
    let response: Response | undefined;
    // One quick retry: a kept-alive connection to a server that restarted fails once, then reconnects.
    for (let attempt = 1; !response; attempt++) {
      try {
        response = await fetch(`${this.baseUrl}/admin/endpoints${path}`, {
          method,
          headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(120_000),
        });
      } catch (error) {
        if (attempt < 2) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          continue;
        }
        throw new LocalTargetError(`the local endpoint server at ${this.baseUrl} is unreachable (${(error as Error).message}): is 'modelship dev' running?`, 0);
      }
    }
    const parsed = (await response.json().catch(() => ({}))) as T & { error?: { message?: string } };
    if (!response.ok && !okStatuses.includes(response.status)) {
      throw new LocalTargetError(`local endpoint ${method} ${path}: HTTP ${response.status} ${parsed.error?.message ?? ''}`.trim(), response.status);
    }
    return { status: response.status, body: parsed };
  }

  async describeEndpoint(endpoint: string): Promise<EndpointState> {
    const { status, body } = await this.call<Omit<EndpointState, 'exists' | 'endpoint'> & { name: string }>('GET', `/${encodeURIComponent(endpoint)}`, undefined, [404]);
    if (status === 404) return { endpoint, exists: false, traffic: {}, deployments: [] };
    return { endpoint, exists: true, scoringUri: body.scoringUri, traffic: body.traffic, mirror: body.mirror, deployments: body.deployments };
  }

  async checkAccess(): Promise<string> {
    const endpoints = await this.listEndpoints();
    return `local endpoint server at ${this.baseUrl} (${endpoints.length} endpoint${endpoints.length === 1 ? '' : 's'})`;
  }

  async listEndpoints(): Promise<EndpointState[]> {
    const { body } = await this.call<(Omit<EndpointState, 'exists' | 'endpoint'> & { name: string })[]>('GET', '');
    return body.map(({ name, ...state }) => ({ endpoint: name, exists: true, ...state }));
  }

  async ensureEndpoint(endpoint: string): Promise<{ created: boolean }> {
    const { status } = await this.call('PUT', `/${encodeURIComponent(endpoint)}`);
    return { created: status === 201 };
  }

  async deleteEndpoint(endpoint: string): Promise<{ deleted: boolean }> {
    return (await this.call<{ deleted: boolean }>('DELETE', `/${encodeURIComponent(endpoint)}`)).body;
  }

  /** Deploys a model version; `spec.capturePercent` (config capture_percent) sets the endpoint's capture sampling. */
  async createDeployment(endpoint: string, deployment: string, model: ModelToDeploy, spec?: LocalDeploymentSpec): Promise<DeploymentState> {
    if (spec?.capturePercent !== undefined) await this.setCapture(endpoint, spec.capturePercent);
    const { body } = await this.call<DeploymentState>('PUT', `/${encodeURIComponent(endpoint)}/deployments/${encodeURIComponent(deployment)}`, {
      modelName: model.name,
      modelVersion: model.version,
      modelPath: model.modelPath,
      contractPath: model.contractPath,
      sha256: model.sha256,
    });
    return body;
  }

  /** The share of scored records (0–100) the endpoint captures from now on. */
  async setCapture(endpoint: string, percent: number): Promise<{ percent: number }> {
    return (await this.call<{ percent: number }>('PUT', `/${encodeURIComponent(endpoint)}/capture`, { percent })).body;
  }

  async setTraffic(endpoint: string, traffic: Record<string, number>, mirror?: { deployment: string; percent: number }): Promise<void> {
    await this.call('PUT', `/${encodeURIComponent(endpoint)}/traffic`, { traffic, mirror: mirror ?? null });
  }

  async probe(endpoint: string, deployment: string, body: unknown): Promise<ProbeResult> {
    const key = await this.endpointKey(endpoint);
    const started = performance.now();
    const response = await fetch(`${this.baseUrl}/endpoints/${encodeURIComponent(endpoint)}/score`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'azureml-model-deployment': deployment },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const parsed = await response.json().catch(() => undefined);
    return { status: response.status, latencyMs: performance.now() - started, body: parsed };
  }

  async metrics(endpoint: string, deployment: string, sinceMs: number): Promise<DeploymentMetrics> {
    return (await this.call<DeploymentMetrics>('GET', `/${encodeURIComponent(endpoint)}/deployments/${encodeURIComponent(deployment)}/metrics?since=${sinceMs}`)).body;
  }

  async logs(endpoint: string, deployment: string): Promise<string[]> {
    return (await this.call<{ lines: string[] }>('GET', `/${encodeURIComponent(endpoint)}/deployments/${encodeURIComponent(deployment)}/logs`)).body.lines;
  }

  async deleteDeployment(endpoint: string, deployment: string): Promise<{ deleted: boolean }> {
    const { status, body } = await this.call<{ deleted: boolean }>('DELETE', `/${encodeURIComponent(endpoint)}/deployments/${encodeURIComponent(deployment)}`, undefined, [404]);
    return status === 404 ? { deleted: false } : body;
  }

  async endpointKey(endpoint: string): Promise<string> {
    return (await this.call<{ primaryKey: string }>('GET', `/${encodeURIComponent(endpoint)}/keys`)).body.primaryKey;
  }
}
