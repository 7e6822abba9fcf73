// A small client for MLflow's REST API: registered models, versions, tags, aliases, and artifacts through the
// tracking server's artifact proxy (mlflow server --serve-artifacts), so any worker can fetch any artifact by URI.
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

export class MlflowError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly errorCode?: string,
  ) {
    super(message);
    this.name = 'MlflowError';
  }
}

export interface ModelVersion {
  name: string;
  version: string;
  source: string;
  run_id?: string;
  status?: string;
  tags?: { key: string; value: string }[];
  aliases?: string[];
}

export interface ParsedModelUri {
  name: string;
  alias?: string;
  version?: string;
}

/** models:/NAME@ALIAS or models:/NAME/VERSION. */
export function parseModelUri(uri: string): ParsedModelUri {
  const alias = /^models:\/([^/@]+)@([A-Za-z0-9_-]+)$/.exec(uri);
  if (alias) return { name: alias[1]!, alias: alias[2]! };
  const version = /^models:\/([^/@]+)\/(\d+)$/.exec(uri);
  if (version) return { name: version[1]!, version: version[2]! };
  throw new Error(`"${uri}" is not a model URI. Fix: use models:/NAME@ALIAS (e.g. models:/my-model@production) or models:/NAME/VERSION.`);
}

/** The artifact root of the run a version was registered from (versions point at the run's model/ folder). */
export function runArtifactUri(version: Pick<ModelVersion, 'source'>): string {
  return version.source.replace(/\/model\/?$/, '');
}

export function tagValue(version: ModelVersion, key: string): string | undefined {
  return version.tags?.find((tag) => tag.key === key)?.value;
}

export class MlflowClient {
  constructor(readonly baseUri: string) {}

  /** fetch, with a server that does not answer said as such (status 0: retried, and shown while retrying). */
  private async send(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (error) {
      throw new MlflowError(`MLflow at ${this.baseUri} is unreachable (${(error as Error).message}). Is the server running? (npm run dev)`, 0);
    }
  }

  private async request<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: Record<string, unknown>): Promise<T> {
    let url = `${this.baseUri}/api/2.0/mlflow/${path}`;
    const init: RequestInit = { method, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(30_000) };
    if (body && (method === 'GET' || method === 'DELETE')) url += `?${new URLSearchParams(body as Record<string, string>)}`;
    else if (body) init.body = JSON.stringify(body);
    const response = await this.send(url, init);
    const text = await response.text();
    const parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (!response.ok) {
      throw new MlflowError(`MLflow ${method} ${path}: ${String(parsed.message ?? text)}`, response.status, parsed.error_code as string | undefined);
    }
    return parsed as T;
  }

  /** Creates the registered model unless it exists. Returns whether it was created. */
  async ensureRegisteredModel(name: string): Promise<boolean> {
    try {
      await this.request('POST', 'registered-models/create', { name });
      return true;
    } catch (error) {
      if (error instanceof MlflowError && error.errorCode === 'RESOURCE_ALREADY_EXISTS') return false;
      throw error;
    }
  }

  async searchVersions(filter: string): Promise<ModelVersion[]> {
    const result = await this.request<{ model_versions?: ModelVersion[] }>('GET', 'model-versions/search', { filter, max_results: '1000' });
    return result.model_versions ?? [];
  }

  async createVersion(name: string, source: string, runId: string, tags: Record<string, string>): Promise<ModelVersion> {
    const result = await this.request<{ model_version: ModelVersion }>('POST', 'model-versions/create', {
      name,
      source,
      run_id: runId,
      tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
    });
    return result.model_version;
  }

  async getVersion(name: string, version: string): Promise<ModelVersion> {
    return (await this.request<{ model_version: ModelVersion }>('GET', 'model-versions/get', { name, version })).model_version;
  }

  async setVersionTag(name: string, version: string, key: string, value: string): Promise<void> {
    await this.request('POST', 'model-versions/set-tag', { name, version, key, value });
  }

  async setAlias(name: string, alias: string, version: string): Promise<void> {
    await this.request('POST', 'registered-models/alias', { name, alias, version });
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    try {
      await this.request('DELETE', 'registered-models/alias', { name, alias });
    } catch (error) {
      if (!(error instanceof MlflowError && (error.status === 404 || error.errorCode === 'RESOURCE_DOES_NOT_EXIST' || error.errorCode === 'INVALID_PARAMETER_VALUE'))) throw error;
    }
  }

  /** The version an alias points at, or undefined when the model or the alias does not exist. */
  async getVersionByAlias(name: string, alias: string): Promise<ModelVersion | undefined> {
    try {
      return (await this.request<{ model_version: ModelVersion }>('GET', 'registered-models/alias', { name, alias })).model_version;
    } catch (error) {
      if (error instanceof MlflowError && (error.status === 404 || error.errorCode === 'RESOURCE_DOES_NOT_EXIST' || error.errorCode === 'INVALID_PARAMETER_VALUE')) {
        return undefined;
      }
      throw error;
    }
  }

  async resolve(uri: string): Promise<ModelVersion> {
    const parsed = parseModelUri(uri);
    if (parsed.version) return this.getVersion(parsed.name, parsed.version);
    const version = await this.getVersionByAlias(parsed.name, parsed.alias!);
    if (!version) throw new MlflowError(`${uri}: model "${parsed.name}" has no alias "${parsed.alias}"`, 404, 'RESOURCE_DOES_NOT_EXIST');
    return version;
  }

  async getRun(runId: string): Promise<{ info: { run_id: string; experiment_id: string; artifact_uri: string } }> {
    return (await this.request<{ run: { info: { run_id: string; experiment_id: string; artifact_uri: string } } }>('GET', 'runs/get', { run_id: runId })).run;
  }

  async setRunTag(runId: string, key: string, value: string): Promise<void> {
    await this.request('POST', 'runs/set-tag', { run_id: runId, key, value });
  }

  /** HTTP URL of an artifact given its mlflow-artifacts:/ URI (what runs and versions record as their location). */
  artifactUrl(artifactUri: string, path = ''): string {
    const match = /^mlflow-artifacts:\/+(.*)$/.exec(artifactUri);
    if (!match) throw new Error(`artifact URI ${artifactUri} is not served by the tracking server (expected mlflow-artifacts:/…)`);
    const joined = [match[1], path].filter(Boolean).join('/').replace(/\/+/g, '/');
    return `${this.baseUri}/api/2.0/mlflow-artifacts/artifacts/${joined.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** Downloads an artifact to `destination` (written atomically) and returns its sha256. */
  async downloadArtifact(artifactUri: string, path: string, destination: string): Promise<string> {
    const url = this.artifactUrl(artifactUri, path);
    const response = await this.send(url, { signal: AbortSignal.timeout(300_000) });
    if (!response.ok || !response.body) throw new MlflowError(`cannot download ${url}: HTTP ${response.status}`, response.status);
    mkdirSync(dirname(destination), { recursive: true });
    // Unique per download: two activities of one worker may fetch the same artifact at once.
    const partial = `${destination}.partial-${process.pid}-${randomUUID().slice(0, 8)}`;
    const hash = createHash('sha256');
    const source = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
    source.on('data', (chunk: Buffer) => hash.update(chunk));
    await pipeline(source, createWriteStream(partial));
    renameSync(partial, destination);
    return hash.digest('hex');
  }

  /** Uploads a local file as an artifact under a run's (or any) mlflow-artifacts:/ location. */
  async uploadArtifact(artifactUri: string, path: string, body: Buffer | string): Promise<void> {
    const response = await this.send(this.artifactUrl(artifactUri, path), { method: 'PUT', body, signal: AbortSignal.timeout(300_000) });
    if (!response.ok) throw new MlflowError(`cannot upload ${path}: HTTP ${response.status} ${await response.text()}`, response.status);
  }
}
