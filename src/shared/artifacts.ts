// References to files: what payloads carry instead of data. A leaf module: it imports nothing of ours.

/** A file on the machine that wrote it (reused when it is this machine and the digest matches). */
export interface FileRef {
  path: string;
  sha256: string;
}

/** A file in an MLflow run as well: any machine can fetch it by artifact URI and path, and check its digest. */
export interface ArtifactRef extends FileRef {
  artifactUri: string;
  artifactPath: string;
}
