// The endpoint monitor's activities: its state in MLflow (one run "monitor <endpoint>" with a step per window), the
// analysis of one window (idempotent: the window id keys its step and its artifact monitor/windows/<id>.json), the
// alarm (recorded, and POSTed to MODELSHIP_ALERT_WEBHOOK when the worker has it) and monitoring.html. Payloads are
// references; captured records and outcomes stay in files under the state directory.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { DateFormat } from '../data/values';
import type { InputContract } from '../model/input-contract';
import { analyzeWindow } from '../monitoring/window';
import type { MonitorReference } from '../monitoring/statistics';
import { renderMonitoringHtml, type MonitoringWindow } from '../monitoring/report';
import { mlflowAccess, type MlflowDeps } from '../registry/artifact-store';
import { MlflowClient, MlflowError, runArtifactUri, tagValue } from '../registry/mlflow';
import type { DataSketch } from '../review/drift';
import { CAPTURE_DIR, FEEDBACK_DIR, type CaptureRecord } from '../shared/capture';
import type { AnalyzeWindowInput, MonitoredModel, MonitorRunRef, MonitorState, MonitorWindow, RaiseAlarmInput, WindowResult } from '../workflows/monitor-api';
import { SKETCH_ARTIFACT } from './review';

/** The MLflow experiment that holds one monitor run per endpoint. */
export const MONITOR_EXPERIMENT = 'modelship-monitoring';
export const monitorRunName = (endpoint: string) => `monitor ${endpoint}`;
export const windowArtifact = (windowId: string) => `monitor/windows/${windowId}.json`;
export const alarmArtifact = (windowId: string) => `monitor/alarms/${windowId}.json`;
export const REPORT_ARTIFACT = 'monitoring.html';
/** The run's tags that carry the monitor's state between runs. */
export const MONITOR_TAGS = {
  lastWindow: 'monitor.last_window',
  lastVerdict: 'monitor.last_verdict',
  lastAlarm: 'monitor.last_alarm_signature',
  lastAlarmWindow: 'monitor.last_alarm_window',
};
/** The local endpoint server's state dir below the worker's: its capture/ (and feedback/, beside it) live there. */
export const localEndpointStateDir = (stateDir: string) => join(stateDir, 'serving');
/** The webhook an alarm is POSTed to; read on the worker, so the URL never enters workflow history. */
export const ALERT_WEBHOOK_ENV = 'MODELSHIP_ALERT_WEBHOOK';

interface RunRecord {
  info: { run_id: string; experiment_id: string; artifact_uri: string };
  data?: { tags?: { key: string; value: string }[] };
}

/** The parts of MLflow's tracking API the monitor uses (runs, metrics, tags, artifact listings). */
export class MonitorTracking {
  constructor(readonly client: MlflowClient) {}

  private async call<T>(method: 'GET' | 'POST', path: string, body: Record<string, unknown>): Promise<T> {
    let url = `${this.client.baseUri}/api/2.0/mlflow/${path}`;
    const init: RequestInit = { method, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(30_000) };
    if (method === 'GET') url += `?${new URLSearchParams(body as Record<string, string>)}`;
    else init.body = JSON.stringify(body);
    let response: Response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      throw new MlflowError(`MLflow at ${this.client.baseUri} is unreachable (${(error as Error).message})`, 0);
    }
    const text = await response.text();
    const parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (!response.ok) throw new MlflowError(`MLflow ${method} ${path}: ${String(parsed.message ?? text)}`, response.status, parsed.error_code as string | undefined);
    return parsed as T;
  }

  async experimentId(name: string): Promise<string> {
    const existing = async () => {
      try {
        return (await this.call<{ experiment: { experiment_id: string } }>('GET', 'experiments/get-by-name', { experiment_name: name })).experiment.experiment_id;
      } catch (error) {
        if (error instanceof MlflowError && error.errorCode === 'RESOURCE_DOES_NOT_EXIST') return undefined;
        throw error;
      }
    };
    const found = await existing();
    if (found) return found;
    try {
      return (await this.call<{ experiment_id: string }>('POST', 'experiments/create', { name })).experiment_id;
    } catch (error) {
      // Another monitor created it meanwhile.
      if (error instanceof MlflowError && error.errorCode === 'RESOURCE_ALREADY_EXISTS') return (await existing())!;
      throw error;
    }
  }

  /** The oldest run of that name in the experiment (so two runs created at once settle on the same one), or a new one. */
  async namedRun(experimentName: string, runName: string, create: false): Promise<RunRecord | undefined>;
  async namedRun(experimentName: string, runName: string, create?: true): Promise<RunRecord>;
  async namedRun(experimentName: string, runName: string, create = true): Promise<RunRecord | undefined> {
    const experimentId = await this.experimentId(experimentName);
    const search = async () =>
      (
        await this.call<{ runs?: RunRecord[] }>('POST', 'runs/search', {
          experiment_ids: [experimentId],
          filter: `tags.mlflow.runName = '${runName.replace(/'/g, "\\'")}'`,
          order_by: ['attributes.start_time ASC'],
          max_results: 1,
        })
      ).runs?.[0];
    const found = await search();
    if (found || !create) return found;
    await this.call('POST', 'runs/create', { experiment_id: experimentId, run_name: runName, start_time: Date.now(), tags: [{ key: 'mlflow.runName', value: runName }] });
    return (await search())!;
  }

  async setTag(runId: string, key: string, value: string): Promise<void> {
    await this.call('POST', 'runs/set-tag', { run_id: runId, key, value });
  }

  /** The steps already logged for a metric. */
  async loggedSteps(runId: string, key: string): Promise<Set<number>> {
    const history = await this.call<{ metrics?: { step?: string | number }[] }>('GET', 'metrics/get-history', { run_id: runId, metric_key: key });
    return new Set((history.metrics ?? []).map((m) => Number(m.step ?? 0)));
  }

  async logMetrics(runId: string, step: number, timestamp: number, metrics: Record<string, number>): Promise<void> {
    const all = Object.entries(metrics)
      .filter(([, value]) => Number.isFinite(value))
      .map(([key, value]) => ({ key, value, timestamp, step }));
    // log-batch takes at most 1,000 metrics per call.
    for (let i = 0; i < all.length; i += 1000) await this.call('POST', 'runs/log-batch', { run_id: runId, metrics: all.slice(i, i + 1000) });
  }

  /** The file names in one artifact folder of a run. */
  async listArtifacts(runId: string, path: string): Promise<string[]> {
    const listed = await this.call<{ files?: { path: string; is_dir?: boolean }[] }>('GET', 'artifacts/list', { run_id: runId, path });
    return (listed.files ?? []).filter((f) => !f.is_dir).map((f) => f.path.split('/').pop()!);
  }
}

const tagsOf = (run: RunRecord) => Object.fromEntries((run.data?.tags ?? []).map((t) => [t.key, t.value]));

/** The MLflow URL of a run's page (and of one of its artifacts). */
export const runPageUrl = (mlflowUri: string, run: Pick<MonitorRunRef, 'experimentId' | 'runId'>, artifact?: string) =>
  `${mlflowUri}/#/experiments/${run.experimentId}/runs/${run.runId}${artifact ? `/artifacts/${artifact}` : ''}`;

/** What `modelship monitor status` and the report read of an endpoint's monitor run; undefined when it has none. */
export async function readMonitorRun(mlflowUri: string, endpoint: string): Promise<{ run: MonitorRunRef; tags: Record<string, string>; url: string } | undefined> {
  const run = await new MonitorTracking(new MlflowClient(mlflowUri)).namedRun(MONITOR_EXPERIMENT, monitorRunName(endpoint), false);
  if (!run) return undefined;
  const ref = { runId: run.info.run_id, experimentId: run.info.experiment_id, artifactUri: run.info.artifact_uri };
  return { run: ref, tags: tagsOf(run), url: runPageUrl(mlflowUri, ref) };
}

/** MLflow metric keys: letters, digits and `_-. /`; a feature named otherwise is written with `_`. */
const metricKey = (text: string) => text.replace(/[^A-Za-z0-9_\-. /]/g, '_');

/** One step's numbers: volume, latency, quality and drift per feature, prediction drift and performance. */
export function windowMetrics(result: WindowResult): Record<string, number> {
  const metrics: Record<string, number> = { records: result.records, refused: result.refused, alarms: result.alarms.length };
  if (result.latencyMs) Object.assign(metrics, { latency_p50_ms: result.latencyMs.p50, latency_p95_ms: result.latencyMs.p95, latency_p99_ms: result.latencyMs.p99 });
  for (const q of result.quality) {
    metrics[metricKey(`missing.${q.feature}`)] = q.missing;
    if (q.unseen !== undefined) metrics[metricKey(`unseen.${q.feature}`)] = q.unseen;
    if (q.outOfRange !== undefined) metrics[metricKey(`out_of_range.${q.feature}`)] = q.outOfRange;
  }
  for (const d of result.drift) {
    metrics[metricKey(`psi.${d.feature}`)] = d.psi;
    metrics[metricKey(`psi_threshold.${d.feature}`)] = d.threshold;
  }
  if (result.prediction) Object.assign(metrics, { prediction_psi: result.prediction.psi, positive_rate: result.prediction.positiveRate });
  const perf = result.performance;
  metrics.labelled = perf.labelled;
  if (perf.reported) {
    for (const [name, interval] of Object.entries({ roc_auc: perf.rocAuc, precision: perf.precision, recall: perf.recall, f1: perf.f1 })) {
      Object.assign(metrics, { [name]: interval.value, [`${name}_low`]: interval.low, [`${name}_high`]: interval.high });
    }
  }
  return metrics;
}

/** A window with nothing to compare with (nothing served, nothing captured): empty, not an error. */
function emptyWindow(endpoint: string, window: MonitorWindow, settings: AnalyzeWindowInput['settings']): WindowResult {
  return {
    endpoint,
    window,
    records: 0,
    refused: 0,
    refusedByReason: {},
    quality: [],
    drift: [],
    performance: { reported: false, labelled: 0, minimum: settings.minLabelled, why: 'no records in the window' },
    alarms: [],
    verdict: 'empty',
  };
}

export interface MonitoringDeps {
  stateDir: string;
}

export function createMonitoringActivities(deps: MlflowDeps & MonitoringDeps) {
  const { mlflow: client, artifacts } = mlflowAccess(deps);
  const tracking = new MonitorTracking(client);
  const captureRoot = join(localEndpointStateDir(deps.stateDir), CAPTURE_DIR);
  const feedbackRoot = join(localEndpointStateDir(deps.stateDir), FEEDBACK_DIR);
  /** Window and alarm files never change once written: cached by run and name, downloaded once. */
  const cacheDir = (run: MonitorRunRef) => join(deps.stateDir, 'cache', 'monitor', run.runId);

  const readText = async (artifactUri: string, path: string) => {
    const fetched = await artifacts.fetchLatest(artifactUri, path);
    return fetched && readFileSync(fetched.path, 'utf8');
  };

  const cachedJson = async <T>(run: MonitorRunRef, path: string): Promise<T | undefined> => {
    const local = join(cacheDir(run), path);
    if (!existsSync(local)) {
      const text = await readText(run.artifactUri, path);
      if (text === undefined) return undefined;
      mkdirSync(dirname(local), { recursive: true });
      // Unique per write: the monitors of several endpoints may cache the same reference at once.
      const partial = `${local}.partial-${randomUUID().slice(0, 8)}`;
      writeFileSync(partial, text);
      renameSync(partial, local);
    }
    return JSON.parse(readFileSync(local, 'utf8')) as T;
  };

  /** The model the newest captured record names, when the endpoint itself names none (deleted, or another target). */
  function newestCapturedModel(endpoint: string): MonitoredModel | undefined {
    const newestDir = (path: string): string | undefined => {
      const names = existsSync(path)
        ? readdirSync(path)
            .filter((n) => /^\d+$/.test(n))
            .sort()
        : [];
      return names.length ? join(path, names[names.length - 1]!) : undefined;
    };
    let newest: { hour: string; model: CaptureRecord['model'] } | undefined;
    const endpointDir = join(captureRoot, endpoint);
    for (const deployment of existsSync(endpointDir) ? readdirSync(endpointDir) : []) {
      let dir: string | undefined = join(endpointDir, deployment);
      for (let level = 0; level < 4 && dir; level++) dir = newestDir(dir);
      if (!dir) continue;
      const hour = dir.slice(join(endpointDir, deployment).length);
      if (newest && hour <= newest.hour) continue;
      const file = readdirSync(dir)
        .filter((n) => n.endsWith('.jsonl') && !n.startsWith('refused-'))
        .sort()
        .pop();
      const first = file && readFileSync(join(dir, file), 'utf8').split('\n', 1)[0];
      if (!first) continue;
      try {
        newest = { hour, model: (JSON.parse(first) as CaptureRecord).model };
      } catch {
        continue;
      }
    }
    return newest && { name: newest.model.name, version: newest.model.version };
  }

  /** The version's sketch, contract and held-out scores, as analyzeWindow compares with them. */
  async function reference(ref: NonNullable<AnalyzeWindowInput['reference']>): Promise<MonitorReference> {
    const what = `${ref.model.name} v${ref.model.version}`;
    const sketchText = await readText(ref.artifactUri, SKETCH_ARTIFACT);
    if (!sketchText) {
      throw ApplicationFailure.nonRetryable(
        `${what}'s training run has no ${SKETCH_ARTIFACT} (trained before modelship kept data sketches): release it again to monitor it`,
        'NoReferenceSketch',
      );
    }
    const contractText = await readText(ref.artifactUri, 'model/input_contract.json');
    if (!contractText) throw ApplicationFailure.nonRetryable(`${what}'s training run has no model/input_contract.json`, 'NoReferenceContract');
    const contract = JSON.parse(contractText) as InputContract;
    const scoresText = await readText(ref.artifactUri, 'data/test_predictions.json');
    const scores = scoresText ? (JSON.parse(scoresText) as { probabilities: number[] }).probabilities : [];
    // The contract names a format only when the data has dates; any value will do without them.
    const dateFormat: DateFormat = contract.features.find((f) => f.kind === 'date')?.format ?? 'M/D/YYYY';
    return { sketch: JSON.parse(sketchText) as DataSketch, dateFormat, scores, threshold: contract.threshold, positiveClass: contract.positive_class, rocAuc: ref.rocAuc };
  }

  return {
    /** The monitor's run (created on first use), its last window and alarm, and what the endpoint's windows are compared with. */
    async readMonitorState(input: { endpoint: string; deployed?: MonitoredModel }): Promise<MonitorState> {
      const run = await tracking.namedRun(MONITOR_EXPERIMENT, monitorRunName(input.endpoint));
      const tags = tagsOf(run);
      const model = input.deployed ?? newestCapturedModel(input.endpoint);
      let referenceRef: MonitorState['reference'];
      if (model) {
        let version;
        try {
          version = await client.getVersion(model.name, model.version);
        } catch (error) {
          if (error instanceof MlflowError && error.status > 0 && error.status < 500) {
            throw ApplicationFailure.nonRetryable(`${input.endpoint} serves ${model.name} v${model.version}, which MLflow does not have: ${error.message}`, 'UnknownModelVersion');
          }
          throw error;
        }
        referenceRef = { model, artifactUri: runArtifactUri(version), rocAuc: Number(tagValue(version, 'metric.roc_auc') ?? Number.NaN) };
      }
      const lastWindow = tags[MONITOR_TAGS.lastWindow];
      return {
        run: { runId: run.info.run_id, experimentId: run.info.experiment_id, artifactUri: run.info.artifact_uri },
        ...(lastWindow ? { lastWindow: JSON.parse(lastWindow) as MonitorWindow } : {}),
        lastAlarmSignature: tags[MONITOR_TAGS.lastAlarm] ?? '',
        ...(referenceRef ? { reference: referenceRef } : {}),
      };
    },

    /**
     * One window, analysed once: a retry (or a later run of the same window) finds monitor/windows/<id>.json and
     * returns it; the step is logged only when the run has none for this window's index.
     */
    async analyzeMonitorWindow(input: AnalyzeWindowInput): Promise<WindowResult> {
      const context = Context.current();
      const { run, window } = input;
      const stored = await cachedJson<WindowResult>(run, windowArtifact(window.id));
      if (stored) return stored;
      context.heartbeat({ message: `analysing ${window.id}` });
      const beat = setInterval(() => context.heartbeat({ message: `analysing ${window.id}` }), 5_000);
      let result: WindowResult;
      try {
        result = input.reference
          ? await analyzeWindow(captureRoot, feedbackRoot, input.endpoint, window, await reference(input.reference), input.settings)
          : emptyWindow(input.endpoint, window, input.settings);
      } finally {
        clearInterval(beat);
      }
      if (!(await tracking.loggedSteps(run.runId, 'records')).has(window.index)) {
        await tracking.logMetrics(run.runId, window.index, Date.parse(window.end), windowMetrics(result));
      }
      await artifacts.put(run.artifactUri, windowArtifact(window.id), JSON.stringify(result, null, 2));
      await tracking.setTag(run.runId, MONITOR_TAGS.lastWindow, JSON.stringify(window));
      await tracking.setTag(run.runId, MONITOR_TAGS.lastVerdict, result.verdict);
      return result;
    },

    /**
     * Records a new alarm (monitor/alarms/<window id>.json, the run's last-alarm tags) and POSTs it to the webhook
     * when the worker has one. The POST carries an idempotency key (endpoint, window, signature): a retried call may
     * send it again, and a receiver can tell.
     */
    async raiseMonitorAlarm(input: RaiseAlarmInput): Promise<{ notified?: string }> {
      const { result, run } = input;
      const alarm = {
        endpoint: input.endpoint,
        window: result.window,
        verdict: result.verdict,
        model: result.model,
        records: result.records,
        alarms: result.alarms,
        signature: input.signature,
      };
      await artifacts.put(run.artifactUri, alarmArtifact(result.window.id), JSON.stringify(alarm, null, 2));
      const webhook = process.env[ALERT_WEBHOOK_ENV];
      let notified: string | undefined;
      if (webhook) {
        const body = JSON.stringify({ ...alarm, id: `${input.endpoint}/${result.window.id}/${input.signature}`, mlflowRun: runPageUrl(client.baseUri, run) });
        try {
          const response = await fetch(webhook, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': `${input.endpoint}/${result.window.id}` },
            body,
            signal: AbortSignal.timeout(10_000),
          });
          notified = `webhook answered ${response.status}`;
          // A receiver that is down or failing is retried by the activity; one that refuses the alarm (4xx) is not.
          if (response.status >= 500) throw new Error(`the alert webhook answered ${response.status}`);
        } catch (error) {
          if (Context.current().info.attempt < 5) throw error;
          // The alarm stays recorded (status, the report) even when nobody could be told.
          notified = `webhook failed: ${(error as Error).message}`;
        }
      }
      await tracking.setTag(run.runId, MONITOR_TAGS.lastAlarmWindow, result.window.id);
      await tracking.setTag(run.runId, MONITOR_TAGS.lastAlarm, input.signature);
      return notified ? { notified } : {};
    },

    /** monitoring.html of every window so far, in <stateDir>/monitoring/<endpoint>/ and in the monitor's run. */
    async writeMonitorReport(input: { endpoint: string; run: MonitorRunRef; qualityRate: number }): Promise<{ path: string; mlflowUrl?: string }> {
      const { run } = input;
      const ids = (await tracking.listArtifacts(run.runId, 'monitor/windows')).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length));
      const raised = new Set((await tracking.listArtifacts(run.runId, 'monitor/alarms')).map((n) => n.replace(/\.json$/, '')));
      const windows: MonitoringWindow[] = [];
      for (const id of ids.sort()) {
        const result = await cachedJson<WindowResult>(run, windowArtifact(id));
        if (result) windows.push({ ...result, alarmRaised: raised.has(id) });
      }
      windows.sort((a, b) => a.window.start.localeCompare(b.window.start));
      const html = await renderMonitoringHtml({
        endpoint: input.endpoint,
        generatedAt: new Date().toISOString(),
        mlflowRun: runPageUrl(client.baseUri, run),
        qualityRate: input.qualityRate,
        windows,
      });
      const path = join(deps.stateDir, 'monitoring', input.endpoint, REPORT_ARTIFACT);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(`${path}.partial`, html);
      renameSync(`${path}.partial`, path);
      try {
        await artifacts.put(run.artifactUri, REPORT_ARTIFACT, html);
        return { path, mlflowUrl: runPageUrl(client.baseUri, run, REPORT_ARTIFACT) };
      } catch (error) {
        if (!(error instanceof MlflowError) || error.status === 0 || error.status >= 500) throw error; // retried
        return { path };
      }
    },
  };
}
