// Workflows on the test run's Temporal server with stand-in activities: the workflow code is the real bundle, each
// activity a plain function the test gives. Rules of the workflows (approval gate, rollout undo, endpoint lock) are
// tested this way in seconds, without training a model or deploying one; end-to-end tests keep what needs the
// real parts.
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { OrchestrationActivities } from '../../src/activities';
import { workflowBundle } from './bundles';

/** Any subset of the orchestration activities, each a plain async function with the real one's parameters. */
export type StandInActivities = {
  [K in keyof OrchestrationActivities]?: (...args: Parameters<OrchestrationActivities[K]>) => Promise<unknown>;
};

/** Runs one worker with `activities` on a fresh task queue (the workflows bundled once per test file) while `fn` runs. */
export async function withStandIns<T>(env: TestWorkflowEnvironment, activities: StandInActivities, fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `stand-in-${randomUUID().slice(0, 8)}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: await workflowBundle('current'),
    activities,
    shutdownGraceTime: '1s',
  });
  return worker.runUntil(fn(taskQueue));
}

/** A failure the workflow's retry policy does not retry: the stand-in fails once, as a business failure would. */
export const fails = (message: string, type = 'StandInFailure', details?: unknown) => ApplicationFailure.nonRetryable(message, type, details);

const sha = (c: string) => c.repeat(64);

/** The candidate the release stand-ins resolve for skip_training: version 3, digests 'a…' (model) and 'd…' (data). */
export const standInCandidate = { version: '3', modelSha256: sha('a'), dataSha256: sha('d') };

/**
 * Stand-ins for every activity a release calls before and after its approval (skip_training, skip_deployment):
 * data validation, the registered model, evaluation, gates, the alias, local tests, the review and the report.
 * `calls` lists each call by name with its input; `reports` holds what writeReport was given.
 */
export function releaseStandIns(modelName: string, overrides: StandInActivities = {}) {
  const calls: { name: string; input: unknown }[] = [];
  const reports: Record<string, unknown>[] = [];
  const metrics = {
    rows: 100,
    positives: 10,
    threshold: 0.5,
    accuracy: 0.9,
    balanced_accuracy: 0.8,
    precision: 0.7,
    recall: 0.6,
    f1: 0.65,
    roc_auc: 0.85,
    average_precision: 0.6,
    log_loss: 0.3,
    confusion_matrix: { tn: 85, fp: 5, fn: 5, tp: 5 },
    majority_baseline_accuracy: 0.9,
  };
  const latency = { p50_ms: 1, p95_ms: 2, p99_ms: 3 };
  const stands: StandInActivities = {
    validateData: async () => ({ profilePath: '', sha256: standInCandidate.dataSha256, rows: 100, positives: 10, positiveRate: 0.1 }),
    resolveRegisteredModel: async () => ({
      name: modelName,
      version: standInCandidate.version,
      modelUri: `models:/${modelName}/${standInCandidate.version}`,
      train: {
        files: { 'model/model.onnx': { path: '', sha256: standInCandidate.modelSha256 } },
        mlflow: { runId: 'stand-in-run', experimentId: '', artifactUri: '' },
        bestFamily: 'logistic_regression',
      },
    }),
    evaluateCandidate: async () => ({ metrics, metricsPath: '', parityMaxAbsDiff: 0, rowsPerSecond: 1000 }),
    evaluateChampion: async () => undefined,
    checkGates: async () => ({ passed: true, checks: [], failed: [] }),
    setModelAlias: async (input) => ({ alias: input.alias, previousVersion: undefined, version: input.version }),
    runLocalTests: async () => ({ cases: [], latency: { single: latency, batch100: latency } }),
    writeReview: async (input) => ({ htmlPath: `${input.artifactsDir}/review.html`, jsonPath: `${input.artifactsDir}/review.json` }),
    tagApproval: async () => undefined,
    writeReport: async (input) => {
      reports.push(input.report as unknown as Record<string, unknown>);
      return { reportPath: `${input.artifactsDir}/workflow_report.json`, logPath: `${input.artifactsDir}/workflow.log` };
    },
    ...overrides,
  };
  const activities = Object.fromEntries(
    Object.entries(stands).map(([name, fn]) => [
      name,
      async (input: unknown) => {
        calls.push({ name, input });
        return (fn as (input: unknown) => Promise<unknown>)(input);
      },
    ]),
  ) as StandInActivities;
  return { activities, calls, reports };
}

interface StandInDeployment {
  name: string;
  modelName?: string;
  modelVersion?: string;
  state: string;
}

/**
 * One endpoint of a stand-in target, in memory, with the model aliases: the rollout's activities act on it and log
 * each call ("deployModel green", "setTraffic {"green":50,"blue":50}", "setModelAlias production=2", …).
 * `failWhen(call)` makes the first matching call fail (not retried) with "injected failure at CALL".
 */
export function standInEndpoint(options: {
  live?: { colour: string; version: string };
  modelName: string;
  failWhen?: (call: string) => boolean;
  failUndo?: (call: string) => boolean;
}) {
  const state = {
    exists: options.live !== undefined,
    traffic: options.live ? { [options.live.colour]: 100 } : ({} as Record<string, number>),
    mirror: undefined as { deployment: string; percent: number } | undefined,
    deployments: options.live ? [{ name: options.live.colour, modelName: options.modelName, modelVersion: options.live.version, state: 'Succeeded' }] : ([] as StandInDeployment[]),
  };
  const aliases: Record<string, string | undefined> = { production: options.live?.version };
  const calls: string[] = [];
  let failed = false;
  /** Logs a call; the first call that `failWhen` picks fails (later ones, e.g. undos of the same kind, go through unless `failUndo` picks them). */
  const log = (call: string) => {
    calls.push(call);
    if (failed ? options.failUndo?.(call) : options.failWhen?.(call)) {
      failed = true;
      throw fails(`injected failure at ${call}`, 'InjectedFailure', { evidence: call });
    }
  };
  /** A bake that waits while `hold` is set (for tests that need a rollout in progress). */
  let hold: Promise<void> | undefined;
  const activities: StandInActivities = {
    describeEndpoint: async (input) => {
      calls.push('describeEndpoint');
      return {
        endpoint: input.endpoint,
        exists: state.exists,
        traffic: { ...state.traffic },
        mirror: state.mirror,
        deployments: state.deployments.map((d) => ({ ...d })),
        scoringUri: state.exists ? `https://stand-in/${input.endpoint}/score` : undefined,
      };
    },
    ensureEndpoint: async () => {
      log('ensureEndpoint');
      const created = !state.exists;
      state.exists = true;
      return { created };
    },
    deleteEndpoint: async () => {
      log('deleteEndpoint');
      Object.assign(state, { exists: false, traffic: {}, mirror: undefined, deployments: [] });
      return { deleted: true };
    },
    deployModel: async (input) => {
      log(`deployModel ${input.deployment}`);
      const deployment = { name: input.deployment, modelName: input.model.name, modelVersion: input.model.version, state: 'Succeeded' };
      state.deployments = [...state.deployments.filter((d) => d.name !== input.deployment), deployment];
      return deployment;
    },
    healthCheck: async (input) => {
      log(`healthCheck ${input.deployment}`);
      return { checks: [{ name: 'readiness', passed: true, detail: 'state Succeeded' }], metrics: { requests: 50, errors: 0, p95Ms: 1 } };
    },
    setTraffic: async (input) => {
      log(`setTraffic ${JSON.stringify(input.traffic)}`);
      state.traffic = { ...input.traffic };
      state.mirror = input.mirror;
    },
    analyzeBake: async (input) => {
      await hold;
      log(`analyzeBake ${input.deployment}`);
      return { requests: 10, errors: 0, errorRate: 0, p95Ms: 1 };
    },
    deleteDeployment: async (input) => {
      log(`deleteDeployment ${input.deployment}`);
      state.deployments = state.deployments.filter((d) => d.name !== input.deployment);
      delete state.traffic[input.deployment];
      return { deleted: true };
    },
    setModelAlias: async (input) => {
      log(`setModelAlias ${input.alias}=${input.version ?? '(none)'}`);
      const previousVersion = aliases[input.alias];
      aliases[input.alias] = input.version;
      return { alias: input.alias, previousVersion, version: input.version };
    },
  };
  return {
    activities,
    state,
    aliases,
    calls,
    /** Bakes wait until the returned function is called. */
    holdBakes: () => {
      let release = () => {};
      hold = new Promise<void>((resolve) => (release = resolve));
      return () => {
        hold = undefined;
        release();
      };
    },
  };
}
