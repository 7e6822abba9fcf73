// The build a worker runs: the package version plus the git commit, or MODELSHIP_BUILD_ID. Worker Deployment
// Versioning routes workflow tasks by it, and test/histories/<build id>/ holds the histories recorded with it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './config/environment';

export const BUILD_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/;

function gitCommit(root: string): string | undefined {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short=7', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return commit || undefined;
  } catch {
    return undefined; // not a checkout (e.g. a container image without .git): MODELSHIP_BUILD_ID is required then
  }
}

/** `0.1.0-31fdae8`: the package version, then the commit. MODELSHIP_BUILD_ID wins when set. */
export function buildId(env: NodeJS.ProcessEnv = process.env, root = projectRoot): string {
  const given = env.MODELSHIP_BUILD_ID?.trim();
  if (given) {
    if (!BUILD_ID_PATTERN.test(given)) {
      throw new Error(
        `MODELSHIP_BUILD_ID "${given}" is not a usable build id. Fix: letters, digits, '.', '_', '+' and '-' only, at most 100 characters, no '/' (e.g. 0.2.0-a1b2c3d).`,
      );
    }
    return given;
  }
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const commit = gitCommit(root);
  if (!commit) {
    throw new Error(`cannot name this worker's build: ${root} is not a git checkout. Fix: set MODELSHIP_BUILD_ID (e.g. ${version}-<commit>) when you build the image.`);
  }
  return `${version}-${commit}`;
}
