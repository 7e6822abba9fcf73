// The modelship worker. It connects through Temporal's standard environment configuration, so the same process
// serves the embedded dev server, a self-hosted cluster or Temporal Cloud with no code change.
//
// Environment: TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_API_KEY / TEMPORAL_TLS* (Temporal's own),
// MLFLOW_TRACKING_URI, MODELSHIP_WORKER_QUEUES (orchestration,training — which queues this process serves),
// MODELSHIP_TRAINING_CONCURRENCY (default 1), MODELSHIP_SHUTDOWN_GRACE (default 30s), MODELSHIP_BUILD_ID and
// MODELSHIP_WORKER_VERSIONING (see worker-deployment.ts), MODELSHIP_WORKER_METRICS (host:port of the Temporal SDK's
// Prometheus metrics; unset: none), MODELSHIP_STICKY_QUEUE_TIMEOUT (how long the server keeps a run's next workflow
// task for this worker before any worker may take it; default the SDK's 10s, which a worker killed mid-run costs).
import { availableParallelism } from 'node:os';
import { NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Duration, WorkerDeploymentVersion } from '@temporalio/common';
import type { TokenCredential } from '@azure/core-auth';
import { createOrchestrationActivities, createTrainingActivities } from './activities';
import { trainerEnvironment } from './activities/training';
import { warmTrainerForkServer } from './activities/trainer-process';
import { endpointUrl, mlflowTrackingUri, stateDir, taskQueues, temporalConnectConfig, type TaskQueues } from './config/environment';
import { makeCurrentVersion, versioningMode, workerVersion } from './worker-deployment';

export type QueueRole = keyof TaskQueues;

/**
 * Every workflow type auto-upgrades: a run moves to the current build at its next workflow task, so each change
 * to the commands a workflow emits goes behind patched() (test/histories is replayed in CI). Releases wait up to
 * approval_timeout and rollouts bake for hours while holding live traffic: pinned, they would need their old
 * build running until they end, which a single `modelship dev` worker cannot do, and a fix could never reach them.
 * Set on the worker, not per type with setWorkflowOptions: the SDK refuses a per-type behaviour on an unversioned
 * worker (tests, MODELSHIP_WORKER_VERSIONING=off).
 */
export const WORKFLOW_VERSIONING_BEHAVIOUR = 'AUTO_UPGRADE' as const;

export interface ModelshipWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  queues: TaskQueues;
  /** Which task queues this process serves; both by default, one each when scaled apart. */
  roles?: QueueRole[];
  mlflowUri: string;
  /** Local state (artifact cache, local endpoint admin token); default MODELSHIP_HOME or .modelship. */
  stateDir?: string;
  /** The local endpoint server; default MODELSHIP_ENDPOINT_URL or http://127.0.0.1:5100. */
  endpointUrl?: string;
  /** Target azure: the credential (DefaultAzureCredential when absent). */
  azureCredential?: TokenCredential;
  /** Training activities run at once on this worker (each is a CPU-heavy subprocess); default 1. The worker
   * process (`modelship worker`) gives one per core: see trainingConcurrencyFrom. */
  trainingConcurrency?: number;
  /** How long running activities may finish after a shutdown request before they are cancelled. */
  shutdownGraceTime?: Duration;
  /** How long a run's next workflow task waits for this worker (its cache) before any worker may take it; the SDK's
   * 10s by default. Tests that kill workers shorten it. */
  stickyQueueTimeout?: Duration;
  /** A prebuilt workflow bundle (tests reuse one); by default the workflows are bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /**
   * Poll as this Worker Deployment Version (both queues). Unset: an unversioned worker (the tests' default, so
   * tests running side by side never move each other's routing).
   */
  version?: WorkerDeploymentVersion;
}

export async function createWorkers(options: ModelshipWorkerOptions): Promise<Worker[]> {
  const roles = options.roles ?? ['orchestration', 'training'];
  const home = options.stateDir ?? stateDir();
  const deps = { mlflowUri: options.mlflowUri, stateDir: home, endpointUrl: options.endpointUrl ?? endpointUrl(), azureCredential: options.azureCredential };
  const common = {
    connection: options.connection,
    namespace: options.namespace,
    shutdownGraceTime: options.shutdownGraceTime ?? '30s',
    // Progress (e.g. "fit 37/180") reaches the server, the Web UI and `modelship start --wait` within seconds.
    defaultHeartbeatThrottleInterval: '2s' as Duration,
    maxHeartbeatThrottleInterval: '2s' as Duration,
    ...(options.stickyQueueTimeout ? { stickyQueueScheduleToStartTimeout: options.stickyQueueTimeout } : {}),
    ...(options.version
      ? { workerDeploymentOptions: { useWorkerVersioning: true as const, version: options.version, defaultVersioningBehavior: WORKFLOW_VERSIONING_BEHAVIOUR } }
      : {}),
  };
  const workers: Promise<Worker>[] = [];
  if (roles.includes('orchestration')) {
    workers.push(
      Worker.create({
        ...common,
        taskQueue: options.queues.orchestration,
        ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: require.resolve('./workflows') }),
        activities: createOrchestrationActivities(deps),
      }),
    );
  }
  if (roles.includes('training')) {
    workers.push(
      Worker.create({
        ...common,
        taskQueue: options.queues.training,
        activities: createTrainingActivities(deps),
        maxConcurrentActivityTaskExecutions: options.trainingConcurrency ?? 1,
      }),
    );
  }
  return Promise.all(workers);
}

/** Runs workers until all of them stop (SIGINT/SIGTERM start a graceful shutdown of each). */
export async function runWorkers(workers: Worker[]): Promise<void> {
  await Promise.all(workers.map((worker) => worker.run()));
}

function parseRoles(value: string | undefined): QueueRole[] {
  if (!value) return ['orchestration', 'training'];
  const roles = value
    .split(',')
    .map((role) => role.trim())
    .filter(Boolean);
  for (const role of roles) {
    if (role !== 'orchestration' && role !== 'training') {
      throw new Error(`MODELSHIP_WORKER_QUEUES: unknown queue role "${role}". Fix: use orchestration, training, or both (comma-separated).`);
    }
  }
  return roles as QueueRole[];
}

/**
 * Training activities at once in a worker process: MODELSHIP_TRAINING_CONCURRENCY, by default one per core. Each
 * trainer is single-threaded (MODELSHIP_TRAINER_THREADS), so a release's search shards then keep every core busy,
 * and releases beyond that many wait for a free slot instead of slowing each other down.
 */
export function trainingConcurrencyFrom(env: NodeJS.ProcessEnv): number {
  const given = env.MODELSHIP_TRAINING_CONCURRENCY;
  if (!given) return availableParallelism();
  const value = Number(given);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(
      `MODELSHIP_TRAINING_CONCURRENCY=${given}: must be a whole number ≥ 1 (training activities at once on this worker; unset: one per core, ${availableParallelism()} here).`,
    );
  }
  return value;
}

/** MODELSHIP_WORKER_METRICS: the host:port the SDK's Prometheus exporter binds (GET /metrics), or undefined. */
export function workerMetricsAddress(env: NodeJS.ProcessEnv): string | undefined {
  const given = env.MODELSHIP_WORKER_METRICS?.trim();
  if (!given || given === 'off') return undefined;
  const port = /^(?:[\w.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(given)?.[1];
  if (!port || Number(port) > 65_535) {
    throw new Error(`MODELSHIP_WORKER_METRICS=${given}: must be host:port, e.g. 127.0.0.1:9464 (where the worker serves Temporal SDK metrics for Prometheus), or off.`);
  }
  return given;
}

/**
 * Installs the SDK runtime of this process with its Prometheus exporter on `bindAddress`: the SDK's own metrics
 * (temporal_request, temporal_workflow_task_*, temporal_worker_task_slots_available, …) at http://ADDRESS/metrics.
 * Once per process, before the first connection.
 */
export function installWorkerMetrics(bindAddress: string, logger?: RuntimeLogger): void {
  Runtime.install({ ...(logger ? { logger } : {}), telemetryOptions: { metrics: { prometheus: { bindAddress } } } });
}

type RuntimeLogger = NonNullable<Parameters<typeof Runtime.install>[0]['logger']>;

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const metricsAddress = workerMetricsAddress(env);
  if (metricsAddress) installWorkerMetrics(metricsAddress);
  const { connectionOptions, namespace } = temporalConnectConfig(env);
  const roles = parseRoles(env.MODELSHIP_WORKER_QUEUES);
  const queues = taskQueues(env);
  const trainingConcurrency = trainingConcurrencyFrom(env);
  const mode = versioningMode(env);
  const version = workerVersion(env);
  const connection = await NativeConnection.connect(connectionOptions);
  try {
    const workers = await createWorkers({
      connection,
      namespace,
      queues,
      roles,
      mlflowUri: mlflowTrackingUri(env),
      trainingConcurrency,
      shutdownGraceTime: (env.MODELSHIP_SHUTDOWN_GRACE as Duration | undefined) || '30s',
      stickyQueueTimeout: (env.MODELSHIP_STICKY_QUEUE_TIMEOUT as Duration | undefined) || undefined,
      version,
    });
    if (roles.includes('training') && env.MODELSHIP_TRAINER_WARMUP !== 'lazy') {
      // The trainer's imports now, while the release validates its data, not in the first training activity.
      // MODELSHIP_TRAINER_WARMUP=lazy defers them to the first training run (the tests' many short-lived workers).
      try {
        warmTrainerForkServer(trainerEnvironment());
      } catch {
        // no trainer environment: each training activity says so (TrainerEnvironmentMissing)
      }
    }
    const served = roles.map((role) => `${queues[role]} (${role}${role === 'training' ? `, ${trainingConcurrency} at once` : ''})`).join(', ');
    const build = version ? `build ${version.buildId} of worker deployment ${version.deploymentName}` : 'unversioned';
    console.log(`modelship worker ${process.pid} polling ${served} in namespace ${namespace} at ${connectionOptions.address} (${build})`);
    if (metricsAddress) console.log(`modelship worker: Temporal SDK metrics for Prometheus at http://${metricsAddress}/metrics`);
    let stopped = false;
    const running = runWorkers(workers).finally(() => (stopped = true));
    if (version && mode === 'current') {
      // After the pollers start: the server only accepts a version it has seen polling.
      makeCurrentVersion(connection.workflowService, namespace, version).then(
        (made) =>
          console.log(
            made.changed
              ? `modelship worker: build ${made.buildId} is now the current version (was ${made.previous ?? 'unversioned'}); auto-upgrading runs move to it`
              : `modelship worker: build ${made.buildId} is already the current version`,
          ),
        // Stopped while still trying (e.g. Ctrl-C at start-up): nothing to report.
        (error: unknown) => stopped || console.error(`modelship worker: WARNING ${(error as Error).message}`),
      );
    }
    await running;
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`modelship worker failed: ${(error as Error).message ?? String(error)}`);
      process.exit(1);
    },
  );
}
