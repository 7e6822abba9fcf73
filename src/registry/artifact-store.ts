// Files that travel between workers as artifacts of MLflow runs: uploaded once, named by artifact URI, path and
// sha256, and fetched into a cache keyed by digest. A file is reused where it lies when it is on this machine and
// intact, so a one-machine set-up downloads nothing. MLflow's errors (e.g. "MLflow at … is unreachable") pass
// through as the client says them.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { stateDir } from '../config/environment';
import { sha256File } from '../data/csv';
import type { ArtifactRef, FileRef } from '../shared/artifacts';
import { MlflowClient, MlflowError } from './mlflow';

export class ArtifactStore {
  constructor(
    readonly client: MlflowClient,
    /** Fetched artifacts live in <cacheDir>/<sha256>/<file name>. */
    readonly cacheDir: string,
  ) {}

  /** Uploads a local file to a run's artifact location; the reference carries the digest of the bytes sent. */
  async upload(artifactUri: string, artifactPath: string, path: string): Promise<ArtifactRef> {
    const bytes = readFileSync(path);
    await this.client.uploadArtifact(artifactUri, artifactPath, bytes);
    return { path, sha256: createHash('sha256').update(bytes).digest('hex'), artifactUri, artifactPath };
  }

  /** Writes content no later step fetches by digest (a review, a report): the run keeps the latest. */
  async put(artifactUri: string, artifactPath: string, body: string | Buffer): Promise<void> {
    await this.client.uploadArtifact(artifactUri, artifactPath, body);
  }

  /** A local copy of an artifact, checked against its digest. */
  fetch(ref: ArtifactRef): Promise<string> {
    return this.fetchFile(ref.artifactUri, ref.artifactPath, ref);
  }

  /**
   * A local copy of `artifactPath` in a run whose digest is known: `expected.path` when it is on this machine and
   * intact (empty when the file was never here), else the cached or downloaded copy, checked against the digest.
   */
  async fetchFile(artifactUri: string, artifactPath: string, expected: FileRef): Promise<string> {
    if (existsSync(expected.path) && (await sha256File(expected.path)) === expected.sha256) return expected.path;
    const cached = join(this.cacheDir, expected.sha256, basename(artifactPath));
    if (existsSync(cached) && (await sha256File(cached)) === expected.sha256) return cached;
    const digest = await this.client.downloadArtifact(artifactUri, artifactPath, cached);
    if (digest !== expected.sha256) {
      throw new Error(`${artifactUri}/${artifactPath} has sha256 ${digest}, expected ${expected.sha256}: the artifact changed or is corrupt`);
    }
    return cached;
  }

  /** The run's current copy of an artifact whose digest is not known beforehand; undefined when the run has none. */
  async fetchLatest(artifactUri: string, artifactPath: string): Promise<FileRef | undefined> {
    const path = join(this.cacheDir, 'by-path', encodeURIComponent(`${artifactUri}/${artifactPath}`));
    try {
      return { path, sha256: await this.client.downloadArtifact(artifactUri, artifactPath, path) };
    } catch (error) {
      if (error instanceof MlflowError && error.status === 404) return undefined;
      throw error;
    }
  }
}

/** The MLflow access activities share: one client and one artifact store per worker. */
export interface MlflowAccess {
  mlflow: MlflowClient;
  artifacts: ArtifactStore;
}

/**
 * The worker's client and store as given, or a client and store of their own for an activity group built alone
 * from a URI (as tests do), caching in `cacheDir` (default below the state directory).
 */
export type MlflowDeps = MlflowAccess | { mlflowUri: string; cacheDir?: string };

export function mlflowAccess(from: MlflowDeps): MlflowAccess {
  if ('mlflow' in from) return from;
  const mlflow = new MlflowClient(from.mlflowUri);
  return { mlflow, artifacts: new ArtifactStore(mlflow, from.cacheDir ?? join(stateDir(), 'cache', 'artifacts')) };
}
