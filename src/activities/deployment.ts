// Deployment activities: thin, idempotent steps over the DeploymentTarget seam, plus the health checks and bake
// analysis that decide whether a colour may take (more) traffic. Failures carry their evidence.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { Context } from '@temporalio/activity';
import type { TokenCredential } from '@azure/core-auth';
import { ApplicationFailure } from '@temporalio/common';
import { readRecords } from '../evaluation/evaluate';
import type { InputContract } from '../model/input-contract';
import type { ArtifactStore } from '../registry/artifact-store';
import { AzureTargetError, azureTargetFromEnv } from '../targets/azure/target';
import { AzureConfigError, defaultCredential } from '../targets/azure/workspace';
import { LocalTarget } from '../targets/local';
import {
  DEFAULT_COMPUTE_SPEC,
  DEFAULT_DEPLOYMENT_TIMEOUT,
  type ComputeSpec,
  type DeploymentMetrics,
  type DeploymentTarget,
  type EndpointState,
  type OperationOptions,
} from '../targets/target';
import type { TargetKind } from '../shared/deployment';
import { durationMs } from '../shared/duration';
import type { ModelFiles } from '../workflows/rollout-api';
import { percentile } from '../shared/percentile';

export interface DeploymentDeps {
  /** Where the deployed model's files come from. */
  artifacts: ArtifactStore;
  /** Local state: the local endpoint server's folder (admin token). */
  stateDir: string;
  endpointUrl: string;
  /** The Azure credential; DefaultAzureCredential when absent (tests pass a static one). */
  azureCredential?: TokenCredential;
}

export interface HealthCheckInput {
  target: TargetKind;
  endpoint: string;
  deployment: string;
  model: ModelFiles;
  maxLatencyMs: number;
  maxErrorRate: number;
  /** Golden rows probed (and compared with the evaluated predictions). */
  goldenRows?: number;
}

export interface HealthCheck {
  name: string;
  passed: boolean;
  detail: string;
}

export interface HealthCheckResult {
  checks: HealthCheck[];
  metrics: { requests: number; errors: number; p95Ms: number };
}

/** The bound of one long target operation: the rollout's deployment_timeout. */
function timeoutOf(input: { timeout?: string }): { ms: number; text: string } {
  const text = input.timeout ?? DEFAULT_DEPLOYMENT_TIMEOUT;
  return { ms: durationMs(text), text };
}

export interface BakeInput {
  target: TargetKind;
  endpoint: string;
  deployment: string;
  sinceMs: number;
  maxErrorRate: number;
  maxLatencyMs: number;
}

/** A target's error as an activity failure: configuration and "will not get better" errors are not retried. */
function asFailure(error: unknown): unknown {
  if (error instanceof ApplicationFailure) return error;
  if (error instanceof AzureConfigError) return ApplicationFailure.nonRetryable(error.message, 'TargetMisconfigured');
  if (error instanceof AzureTargetError) return ApplicationFailure.create({ message: error.message, type: 'AzureTargetError', nonRetryable: !error.retryable });
  return error;
}

/**
 * Options for a long target operation inside an activity: bounded by `timeoutMs` and by cancellation, with a
 * heartbeat every few seconds (carrying the latest progress) so a dead worker is noticed and cancellation arrives.
 */
async function longOperation<T>(what: string, timeout: { ms: number; text: string }, fn: (options: OperationOptions) => Promise<T>): Promise<T> {
  const context = Context.current();
  let latest = what;
  const beat = setInterval(() => context.heartbeat({ message: latest }), 2_000);
  context.heartbeat({ message: latest });
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new Error(`${what} took longer than deployment_timeout (${timeout.text})`)), timeout.ms);
  try {
    const signal = AbortSignal.any([context.cancellationSignal, deadline.signal]);
    return await fn({ signal, progress: (message) => (latest = message) });
  } catch (error) {
    // Cancelled: report it as a cancellation (the wait stopped because of it), not as the target's error.
    if (context.cancellationSignal.aborted) throw context.cancellationSignal.reason ?? error;
    throw asFailure(error);
  } finally {
    clearInterval(beat);
    clearTimeout(timer);
  }
}

export function createDeploymentActivities(deps: DeploymentDeps) {
  const targets = new Map<TargetKind, DeploymentTarget>();
  const target = (kind: TargetKind): DeploymentTarget => {
    if (!targets.has(kind)) {
      if (kind === 'azure') {
        // Settings are read when the target is first used: a worker without Azure settings still serves local.
        try {
          targets.set(kind, azureTargetFromEnv(deps.azureCredential ?? defaultCredential()));
        } catch (error) {
          throw asFailure(error);
        }
      } else {
        targets.set(kind, new LocalTarget(deps.endpointUrl, join(deps.stateDir, 'serving')));
      }
    }
    return targets.get(kind)!;
  };
  /** A short target call: its errors become activity failures (retried or not as they deserve). */
  const quick = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw asFailure(error);
    }
  };
  const fetchFile = (model: ModelFiles, name: string) => deps.artifacts.fetchFile(model.train.mlflow.artifactUri, name, model.train.files[name]!);
  const tail = async (kind: TargetKind, endpoint: string, deployment: string) =>
    (
      await target(kind)
        .logs(endpoint, deployment)
        .catch((error: Error) => [`(logs unavailable: ${error.message})`])
    ).slice(-20);

  return {
    /** Proves a target usable before a release does any work: settings, credentials, the workspace. Changes nothing. */
    async checkDeploymentTarget(input: { target: TargetKind }): Promise<{ target: TargetKind; reached: string }> {
      return { target: input.target, reached: await quick(() => target(input.target).checkAccess()) };
    },

    async describeEndpoint(input: { target: TargetKind; endpoint: string }): Promise<EndpointState> {
      return quick(() => target(input.target).describeEndpoint(input.endpoint));
    },

    async ensureEndpoint(input: { target: TargetKind; endpoint: string; timeout?: string }): Promise<{ created: boolean }> {
      return longOperation(`creating endpoint ${input.endpoint}`, timeoutOf(input), (options) => target(input.target).ensureEndpoint(input.endpoint, options));
    },

    async deleteEndpoint(input: { target: TargetKind; endpoint: string; timeout?: string }): Promise<{ deleted: boolean }> {
      return longOperation(`deleting endpoint ${input.endpoint}`, timeoutOf(input), (options) => target(input.target).deleteEndpoint(input.endpoint, options));
    },

    /** Deploys a model version to one colour (0 % traffic). A deployment that fails to start fails with its logs. */
    async deployModel(input: { target: TargetKind; endpoint: string; deployment: string; model: ModelFiles; spec?: ComputeSpec; timeout?: string }) {
      const [modelPath, contractPath] = await Promise.all([fetchFile(input.model, 'model/model.onnx'), fetchFile(input.model, 'model/input_contract.json')]);
      const spec = input.spec ?? DEFAULT_COMPUTE_SPEC;
      const state = await longOperation(`deploying ${input.model.name} v${input.model.version} to ${input.deployment}`, timeoutOf(input), (options) =>
        target(input.target).createDeployment(
          input.endpoint,
          input.deployment,
          {
            name: input.model.name,
            version: input.model.version,
            modelPath: modelPath!,
            contractPath: contractPath!,
            sha256: input.model.train.files['model/model.onnx']!.sha256,
          },
          spec,
          options,
        ),
      );
      if (state.state !== 'Succeeded') {
        const logs = await tail(input.target, input.endpoint, input.deployment);
        throw ApplicationFailure.nonRetryable(`deployment ${input.deployment} did not start (${state.state}: ${state.error ?? 'no reason given'})`, 'DeploymentFailed', { logs });
      }
      return state;
    },

    async setTraffic(input: {
      target: TargetKind;
      endpoint: string;
      traffic: Record<string, number>;
      mirror?: { deployment: string; percent: number };
      timeout?: string;
    }): Promise<void> {
      await longOperation(`setting traffic of ${input.endpoint}`, timeoutOf(input), (options) =>
        target(input.target).setTraffic(input.endpoint, input.traffic, input.mirror, options),
      );
    },

    async deleteDeployment(input: { target: TargetKind; endpoint: string; deployment: string; timeout?: string }): Promise<{ deleted: boolean }> {
      return longOperation(`deleting deployment ${input.deployment}`, timeoutOf(input), (options) =>
        target(input.target).deleteDeployment(input.endpoint, input.deployment, options),
      );
    },

    /**
     * Health checks against one deployment directly (azureml-model-deployment header), before it takes traffic:
     * readiness, golden predictions equal the evaluated ones, error rate, latency p95 within the SLO.
     */
    async healthCheck(input: HealthCheckInput): Promise<HealthCheckResult> {
      const t = target(input.target);
      const checks: HealthCheck[] = [];
      const state = await quick(() => t.describeEndpoint(input.endpoint));
      const deployment = state.deployments.find((d) => d.name === input.deployment);
      checks.push({ name: 'readiness', passed: deployment?.state === 'Succeeded', detail: `state ${deployment?.state ?? 'absent'}` });

      const contract = JSON.parse(readFileSync(await fetchFile(input.model, 'model/input_contract.json'), 'utf8')) as InputContract;
      const golden = (JSON.parse(readFileSync(await fetchFile(input.model, 'data/test_predictions.json'), 'utf8')) as { probabilities: number[] }).probabilities;
      const rows = await readRecords(await fetchFile(input.model, 'data/test_rows.csv'), contract, input.goldenRows ?? 50);
      let worst = 0;
      let errors = 0;
      const latencies: number[] = [];
      for (let i = 0; i < rows.length; i++) {
        const probe = await quick(() => t.probe(input.endpoint, input.deployment, rows[i]));
        if (i % 10 === 0) Context.current().heartbeat({ message: `probed ${i + 1}/${rows.length} golden rows` });
        latencies.push(probe.latencyMs);
        if (probe.status !== 200) {
          errors++;
          continue;
        }
        const p = (probe.body as { probabilities?: number[] }).probabilities?.[0];
        worst = Math.max(worst, p === undefined ? Infinity : Math.abs(p - golden[i]!));
      }
      latencies.sort((a, b) => a - b);
      const p95 = latencies.length ? percentile(latencies, 0.95) : 0;
      const errorRate = rows.length ? errors / rows.length : 1;
      checks.push({
        name: 'golden_predictions',
        passed: errors < rows.length && worst <= 1e-4,
        detail: `${rows.length - errors} answers, max |Δp| ${Number.isFinite(worst) ? worst.toExponential(2) : 'missing'}`,
      });
      checks.push({ name: 'error_rate', passed: errorRate <= input.maxErrorRate, detail: `${errors}/${rows.length} failed (limit ${input.maxErrorRate})` });
      checks.push({ name: 'latency_p95', passed: p95 <= input.maxLatencyMs, detail: `p95 ${p95.toFixed(2)} ms over HTTP (limit ${input.maxLatencyMs} ms)` });
      const failed = checks.filter((c) => !c.passed);
      if (failed.length > 0) {
        const logs = await tail(input.target, input.endpoint, input.deployment);
        throw ApplicationFailure.nonRetryable(`health checks failed on ${input.deployment}: ${failed.map((c) => `${c.name} (${c.detail})`).join('; ')}`, 'HealthCheckFailed', {
          checks,
          logs,
        });
      }
      return { checks, metrics: { requests: rows.length, errors, p95Ms: p95 } };
    },

    /** Error rate and latency of a deployment while it took traffic; a breach fails with the evidence. */
    async analyzeBake(input: BakeInput): Promise<DeploymentMetrics> {
      const metrics = await quick(() => target(input.target).metrics(input.endpoint, input.deployment, input.sinceMs));
      const breaches: string[] = [];
      if (metrics.errorRate > input.maxErrorRate) breaches.push(`error rate ${(100 * metrics.errorRate).toFixed(2)} % > ${(100 * input.maxErrorRate).toFixed(2)} %`);
      if (metrics.p95Ms > input.maxLatencyMs) breaches.push(`p95 ${metrics.p95Ms.toFixed(2)} ms > ${input.maxLatencyMs} ms`);
      if (breaches.length > 0) {
        const logs = await tail(input.target, input.endpoint, input.deployment);
        throw ApplicationFailure.nonRetryable(`bake analysis of ${input.deployment} failed: ${breaches.join(', ')} over ${metrics.requests} requests`, 'BakeAnalysisFailed', {
          metrics,
          logs,
        });
      }
      return metrics;
    },
  };
}
