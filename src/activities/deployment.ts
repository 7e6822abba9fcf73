// Deployment activities: thin, idempotent steps over the DeploymentTarget seam, plus the health checks and bake
// analysis that decide whether a colour may take (more) traffic. Failures carry their evidence.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { readRecords } from '../evaluation/evaluate';
import type { InputContract } from '../model/input-contract';
import { localArtifact, MlflowClient } from '../registry/mlflow';
import { LocalTarget } from '../targets/local';
import type { DeploymentMetrics, DeploymentTarget, EndpointState } from '../targets/target';
import type { TrainResult } from './training';

export type TargetKind = 'local' | 'azure';

export interface DeploymentDeps {
  mlflowUri: string;
  /** Local state: artifact cache and the local endpoint server's folder (admin token). */
  stateDir: string;
  endpointUrl: string;
}

export interface ModelFiles {
  name: string;
  version: string;
  train: Pick<TrainResult, 'files' | 'mlflow'>;
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

export interface BakeInput {
  target: TargetKind;
  endpoint: string;
  deployment: string;
  sinceMs: number;
  maxErrorRate: number;
  maxLatencyMs: number;
}

export function createDeploymentActivities(deps: DeploymentDeps) {
  const client = new MlflowClient(deps.mlflowUri);
  const cacheDir = join(deps.stateDir, 'cache', 'artifacts');
  const targets = new Map<TargetKind, DeploymentTarget>();
  const target = (kind: TargetKind): DeploymentTarget => {
    if (kind === 'azure') {
      throw ApplicationFailure.nonRetryable('the azure target is not available in this build; use target: local', 'TargetUnavailable');
    }
    if (!targets.has(kind)) targets.set(kind, new LocalTarget(deps.endpointUrl, join(deps.stateDir, 'serving')));
    return targets.get(kind)!;
  };
  const fetchFile = (model: ModelFiles, name: string) =>
    localArtifact(client, model.train.files[name]!, { artifactUri: model.train.mlflow.artifactUri, path: name }, cacheDir);
  const tail = async (kind: TargetKind, endpoint: string, deployment: string) =>
    (await target(kind).logs(endpoint, deployment).catch((error: Error) => [`(logs unavailable: ${error.message})`])).slice(-20);

  return {
    async describeEndpoint(input: { target: TargetKind; endpoint: string }): Promise<EndpointState> {
      return target(input.target).describeEndpoint(input.endpoint);
    },

    async ensureEndpoint(input: { target: TargetKind; endpoint: string }): Promise<{ created: boolean }> {
      return target(input.target).ensureEndpoint(input.endpoint);
    },

    async deleteEndpoint(input: { target: TargetKind; endpoint: string }): Promise<{ deleted: boolean }> {
      return target(input.target).deleteEndpoint(input.endpoint);
    },

    /** Deploys a model version to one colour (0 % traffic). A deployment that fails to start fails with its logs. */
    async deployModel(input: { target: TargetKind; endpoint: string; deployment: string; model: ModelFiles }) {
      const [modelPath, contractPath] = await Promise.all([fetchFile(input.model, 'model/model.onnx'), fetchFile(input.model, 'model/input_contract.json')]);
      const state = await target(input.target).createDeployment(input.endpoint, input.deployment, {
        name: input.model.name,
        version: input.model.version,
        modelPath: modelPath!,
        contractPath: contractPath!,
        sha256: input.model.train.files['model/model.onnx']!.sha256,
      });
      if (state.state !== 'Succeeded') {
        const logs = await tail(input.target, input.endpoint, input.deployment);
        throw ApplicationFailure.nonRetryable(`deployment ${input.deployment} did not start (${state.state}: ${state.error ?? 'no reason given'})`, 'DeploymentFailed', { logs });
      }
      return state;
    },

    async setTraffic(input: { target: TargetKind; endpoint: string; traffic: Record<string, number>; mirror?: { deployment: string; percent: number } }): Promise<void> {
      await target(input.target).setTraffic(input.endpoint, input.traffic, input.mirror);
    },

    async deleteDeployment(input: { target: TargetKind; endpoint: string; deployment: string }): Promise<{ deleted: boolean }> {
      return target(input.target).deleteDeployment(input.endpoint, input.deployment);
    },

    /**
     * Health checks against one deployment directly (azureml-model-deployment header), before it takes traffic:
     * readiness, golden predictions equal the evaluated ones, error rate, latency p95 within the SLO.
     */
    async healthCheck(input: HealthCheckInput): Promise<HealthCheckResult> {
      const t = target(input.target);
      const checks: HealthCheck[] = [];
      const state = await t.describeEndpoint(input.endpoint);
      const deployment = state.deployments.find((d) => d.name === input.deployment);
      checks.push({ name: 'readiness', passed: deployment?.state === 'Succeeded', detail: `state ${deployment?.state ?? 'absent'}` });

      const contract = JSON.parse(readFileSync(await fetchFile(input.model, 'model/input_contract.json'), 'utf8')) as InputContract;
      const golden = (JSON.parse(readFileSync(await fetchFile(input.model, 'data/test_predictions.json'), 'utf8')) as { probabilities: number[] }).probabilities;
      const rows = await readRecords(await fetchFile(input.model, 'data/test_rows.csv'), contract, input.goldenRows ?? 50);
      let worst = 0;
      let errors = 0;
      const latencies: number[] = [];
      for (let i = 0; i < rows.length; i++) {
        const probe = await t.probe(input.endpoint, input.deployment, rows[i]);
        latencies.push(probe.latencyMs);
        if (probe.status !== 200) {
          errors++;
          continue;
        }
        const p = (probe.body as { probabilities?: number[] }).probabilities?.[0];
        worst = Math.max(worst, p === undefined ? Infinity : Math.abs(p - golden[i]!));
      }
      latencies.sort((a, b) => a - b);
      const p95 = latencies[Math.max(0, Math.ceil(0.95 * latencies.length) - 1)] ?? 0;
      const errorRate = rows.length ? errors / rows.length : 1;
      checks.push({ name: 'golden_predictions', passed: errors < rows.length && worst <= 1e-4, detail: `${rows.length - errors} answers, max |Δp| ${Number.isFinite(worst) ? worst.toExponential(2) : 'missing'}` });
      checks.push({ name: 'error_rate', passed: errorRate <= input.maxErrorRate, detail: `${errors}/${rows.length} failed (limit ${input.maxErrorRate})` });
      checks.push({ name: 'latency_p95', passed: p95 <= input.maxLatencyMs, detail: `p95 ${p95.toFixed(2)} ms over HTTP (limit ${input.maxLatencyMs} ms)` });
      const failed = checks.filter((c) => !c.passed);
      if (failed.length > 0) {
        const logs = await tail(input.target, input.endpoint, input.deployment);
        throw ApplicationFailure.nonRetryable(
          `health checks failed on ${input.deployment}: ${failed.map((c) => `${c.name} (${c.detail})`).join('; ')}`,
          'HealthCheckFailed',
          { checks, logs },
        );
      }
      return { checks, metrics: { requests: rows.length, errors, p95Ms: p95 } };
    },

    /** Error rate and latency of a deployment while it took traffic; a breach fails with the evidence. */
    async analyzeBake(input: BakeInput): Promise<DeploymentMetrics> {
      const metrics = await target(input.target).metrics(input.endpoint, input.deployment, input.sinceMs);
      const breaches: string[] = [];
      if (metrics.errorRate > input.maxErrorRate) breaches.push(`error rate ${(100 * metrics.errorRate).toFixed(2)} % > ${(100 * input.maxErrorRate).toFixed(2)} %`);
      if (metrics.p95Ms > input.maxLatencyMs) breaches.push(`p95 ${metrics.p95Ms.toFixed(2)} ms > ${input.maxLatencyMs} ms`);
      if (breaches.length > 0) {
        const logs = await tail(input.target, input.endpoint, input.deployment);
        throw ApplicationFailure.nonRetryable(`bake analysis of ${input.deployment} failed: ${breaches.join(', ')} over ${metrics.requests} requests`, 'BakeAnalysisFailed', { metrics, logs });
      }
      return metrics;
    },
  };
}
