// Worker Deployment Versioning: every modelship worker polls as one version (deployment `modelship`, build id from
// build-id.ts) and, as it starts, makes that version the deployment's current one, so new releases and
// auto-upgrading releases in flight move to it. See docs/upgrading.md.
//
// MODELSHIP_WORKER_VERSIONING: current (default) · manual (poll as this version; an operator moves traffic with
// `temporal worker deployment set-current-version`/`set-ramping-version`) · off (an unversioned worker).
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { buildId } from './build-id';

export const DEPLOYMENT_NAME = 'modelship';

export type VersioningMode = 'current' | 'manual' | 'off';

type WorkflowService = temporal.api.workflowservice.v1.WorkflowService;

export function versioningMode(env: NodeJS.ProcessEnv = process.env): VersioningMode {
  const value = (env.MODELSHIP_WORKER_VERSIONING || 'current').trim();
  if (value === 'current' || value === 'manual' || value === 'off') return value;
  throw new Error(`MODELSHIP_WORKER_VERSIONING: unknown value "${value}". Fix: current (default), manual or off.`);
}

/** The version this worker polls as, or undefined when versioning is off. */
export function workerVersion(env: NodeJS.ProcessEnv = process.env): WorkerDeploymentVersion | undefined {
  if (versioningMode(env) === 'off') return undefined;
  return { deploymentName: env.MODELSHIP_DEPLOYMENT_NAME?.trim() || DEPLOYMENT_NAME, buildId: buildId(env) };
}

export interface DeploymentState {
  /** Build id of the current version; undefined: unversioned workers get new work. */
  current?: string;
  ramping?: { buildId: string; percentage: number };
  versions: { buildId: string; status: string; drainage?: string }[];
}

const grpcCode = (error: unknown) => (error as { code?: number }).code;
const NOT_FOUND = 5;
const FAILED_PRECONDITION = 9;

const { VersionDrainageStatus, WorkerDeploymentVersionStatus } = temporal.api.enums.v1;
/** An enum value as its short name (DRAINING, not 3 or VERSION_DRAINAGE_STATUS_DRAINING). */
const enumName = (names: Record<number, string>, value: number | null | undefined, prefix: string) => (names[value ?? 0] ?? String(value)).replace(prefix, '');

/** The deployment's routing and versions as the server sees them; undefined before any versioned worker polled. */
export async function describeDeployment(service: WorkflowService, namespace: string, deploymentName = DEPLOYMENT_NAME): Promise<DeploymentState | undefined> {
  try {
    const { workerDeploymentInfo: info } = await service.describeWorkerDeployment({ namespace, deploymentName });
    const routing = info?.routingConfig;
    return {
      current: routing?.currentDeploymentVersion?.buildId || undefined,
      ramping: routing?.rampingDeploymentVersion?.buildId ? { buildId: routing.rampingDeploymentVersion.buildId, percentage: routing.rampingVersionPercentage ?? 0 } : undefined,
      versions: (info?.versionSummaries ?? []).map((summary) => ({
        buildId: summary.deploymentVersion?.buildId ?? '',
        status: enumName(WorkerDeploymentVersionStatus, summary.status, 'WORKER_DEPLOYMENT_VERSION_STATUS_'),
        drainage: summary.drainageInfo?.status ? enumName(VersionDrainageStatus, summary.drainageInfo.status, 'VERSION_DRAINAGE_STATUS_') : undefined,
      })),
    };
  } catch (error) {
    if (grpcCode(error) === NOT_FOUND) return undefined;
    throw error;
  }
}

export interface MadeCurrent {
  buildId: string;
  /** The build that was current before (undefined: unversioned workers). */
  previous?: string;
  changed: boolean;
}

/**
 * Makes `version` the current version of its deployment, waiting (up to timeoutMs) until the server has seen this
 * worker's pollers. The server refuses while this version does not poll a task queue the current one serves (e.g.
 * the training worker of the new build is not up yet): that is retried until the deadline, then reported.
 */
export async function makeCurrentVersion(
  service: WorkflowService,
  namespace: string,
  version: WorkerDeploymentVersion,
  options: { timeoutMs?: number; identity?: string } = {},
): Promise<MadeCurrent> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const identity = options.identity ?? `modelship worker ${process.pid}@${hostname()}`;
  let lastError: unknown;
  for (;;) {
    const before = await describeDeployment(service, namespace, version.deploymentName).catch(() => undefined);
    if (before?.current === version.buildId) return { buildId: version.buildId, previous: before.current, changed: false };
    try {
      await service.setWorkerDeploymentCurrentVersion({ namespace, deploymentName: version.deploymentName, buildId: version.buildId, identity });
      return { buildId: version.buildId, previous: before?.current, changed: true };
    } catch (error) {
      // NOT_FOUND / FAILED_PRECONDITION: the server has not seen this version's pollers (or all its task queues) yet.
      if (grpcCode(error) !== NOT_FOUND && grpcCode(error) !== FAILED_PRECONDITION) throw error;
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `could not make build ${version.buildId} the current version of worker deployment ${version.deploymentName}: ${(lastError as Error).message}. ` +
          'If this build runs its task queues in separate processes, start them all (the last one to start makes the build current), ' +
          `or set it by hand: temporal worker deployment set-current-version --deployment-name ${version.deploymentName} --build-id ${version.buildId}`,
      );
    }
    await sleep(500);
  }
}
