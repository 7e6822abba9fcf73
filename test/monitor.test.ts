// The endpoint monitor on the test run's dev server (the time-skipping test server has no schedules), MLflow and
// endpoint server, with stand-in data: a model version registered by hand whose run holds a data sketch, a contract
// and held-out scores, and capture files written directly in the capture format. No model is trained.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createOrchestrationActivities } from '../src/activities';
import { ALERT_WEBHOOK_ENV, localEndpointStateDir, MONITOR_EXPERIMENT, MonitorTracking, monitorRunName } from '../src/activities/monitoring';
import { disableMonitor, enableMonitor, runMonitorNow } from '../src/client/commands/monitor';
import { DEFAULT_MONITOR_SETTINGS } from '../src/monitoring/statistics';
import { MlflowClient } from '../src/registry/mlflow';
import type { DataSketch } from '../src/review/drift';
import { capturePartition, CAPTURE_DIR, CAPTURE_FORMAT, type CaptureRecord } from '../src/shared/capture';
import { monitorScheduleId, type MonitorInput, type MonitorResult } from '../src/workflows/monitor-api';
import { withStandIns } from './support/stand-ins';
import { connectTestEnvironment, mlflowUri, requireEnv, withWorkers } from './support/temporal';

const stateDir = () => requireEnv('MODELSHIP_TEST_STATE_DIR');
const HOUR = 3_600_000;
const modelName = `monitor-test-${randomUUID().slice(0, 8)}`;
const settings = { ...DEFAULT_MONITOR_SETTINGS, every: '1h' };
const input = (endpoint: string, windowEnd?: number): MonitorInput => ({
  target: 'local',
  endpoint,
  settings,
  ...(windowEnd ? { windowEnd: new Date(windowEnd).toISOString() } : {}),
});

/** A fixed pseudo-random stream (mulberry32), so every run sees the same data. */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const normal = (next: () => number) => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());

/** Registers a version whose run holds what the monitor compares with: x ~ N(0, 1), c uniform over a, b, c. */
async function registerStandInModel(): Promise<string> {
  const client = new MlflowClient(mlflowUri());
  const run = await new MonitorTracking(client).namedRun('monitor-test-training', `${modelName}-training`);
  const next = random(1);
  const rows = 2000;
  const sketch: DataSketch = {
    sketch_version: 1,
    data_sha256: 'd'.repeat(64),
    rows,
    sample_rows: rows,
    features: [
      { column: 'x', kind: 'numeric' },
      { column: 'c', kind: 'categorical' },
    ],
    values: [Array.from({ length: rows }, () => normal(next)), Array.from({ length: rows }, () => 'abc'[Math.floor(next() * 3)]!)],
  };
  const contract = {
    version: 1,
    target: 'y',
    positive_class: '1',
    threshold: 0.5,
    features: [
      { column: 'x', kind: 'numeric', inputs: [] },
      { column: 'c', kind: 'categorical', inputs: [] },
    ],
  };
  const uri = run.info.artifact_uri;
  await client.uploadArtifact(uri, 'review/data_sketch.json', JSON.stringify(sketch));
  await client.uploadArtifact(uri, 'model/input_contract.json', JSON.stringify(contract));
  await client.uploadArtifact(uri, 'data/test_predictions.json', JSON.stringify({ probabilities: Array.from({ length: 1000 }, () => next()) }));
  await client.ensureRegisteredModel(modelName);
  return (await client.createVersion(modelName, `${uri}/model`, run.info.run_id, { 'metric.roc_auc': '0.8' })).version;
}

/** Writes `count` captured records for `endpoint` in the hour starting at `hourStart`, x shifted by `shift`. */
function capture(endpoint: string, version: string, hourStart: number, count: number, shift: number, seed: number): void {
  const next = random(seed);
  const start = new Date(hourStart);
  const dir = join(localEndpointStateDir(stateDir()), CAPTURE_DIR, capturePartition(endpoint, 'blue', start));
  mkdirSync(dir, { recursive: true });
  const lines = Array.from({ length: count }, (_, i): CaptureRecord => ({
    format: CAPTURE_FORMAT,
    inference_id: `${endpoint}-${hourStart}-${i}`,
    time: new Date(hourStart + Math.floor((i * HOUR) / (count + 1))).toISOString(),
    endpoint,
    deployment: 'blue',
    model: { name: modelName, version, sha256: 'a'.repeat(64) },
    input: { x: normal(next) + shift, c: 'abc'[Math.floor(next() * 3)] },
    prediction: { label: 0, probability: next() },
    latency_ms: 1 + next(),
  }));
  writeFileSync(join(dir, `${randomUUID()}.jsonl`), lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
}

async function recordsSteps(endpoint: string): Promise<{ step: number; value: number }[]> {
  const tracking = new MonitorTracking(new MlflowClient(mlflowUri()));
  const run = await tracking.namedRun(MONITOR_EXPERIMENT, monitorRunName(endpoint));
  const response = await fetch(`${mlflowUri()}/api/2.0/mlflow/metrics/get-history?run_id=${run.info.run_id}&metric_key=records`);
  const history = (await response.json()) as { metrics?: { step?: string; value: number }[] };
  return (history.metrics ?? []).map((m) => ({ step: Number(m.step ?? 0), value: m.value })).sort((a, b) => a.step - b.step);
}

/** A webhook receiver on 127.0.0.1 that keeps what it is sent. */
async function webhookReceiver(): Promise<{ url: string; received: Record<string, unknown>[]; server: Server }> {
  const received: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      received.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, server };
}

describe('endpoint monitor', () => {
  let env: TestWorkflowEnvironment;
  let version: string;
  let hook: Awaited<ReturnType<typeof webhookReceiver>>;
  // Whole past hours, so the windows are fixed whatever the time of day.
  const base = Math.floor(Date.now() / HOUR) * HOUR - 6 * HOUR;

  before(async () => {
    env = await connectTestEnvironment();
    version = await registerStandInModel();
    hook = await webhookReceiver();
    process.env[ALERT_WEBHOOK_ENV] = hook.url;
  });
  after(async () => {
    hook.server.close();
    await env.teardown();
  });

  it('enable twice gives one schedule with the policies set; disable is idempotent', async () => {
    const endpoint = `sched-${randomUUID().slice(0, 8)}`;
    const client = env.client;
    assert.equal(await enableMonitor(client, input(endpoint), 'monitor-test-queue'), 'created');
    assert.equal(await enableMonitor(client, { ...input(endpoint), settings: { ...settings, every: '30m' } }, 'monitor-test-queue'), 'updated');
    const ids: string[] = [];
    for await (const schedule of client.schedule.list()) if (schedule.scheduleId === monitorScheduleId(endpoint)) ids.push(schedule.scheduleId);
    assert.deepEqual(ids, [monitorScheduleId(endpoint)]);
    const described = await client.schedule.getHandle(monitorScheduleId(endpoint)).describe();
    assert.equal(described.policies.catchupWindow, 30 * 60_000);
    assert.equal(described.policies.pauseOnFailure, true);
    assert.equal(described.policies.overlap, ScheduleOverlapPolicy.SKIP);
    assert.equal(Number(described.spec.intervals?.[0]?.every), 30 * 60_000);
    assert.match(described.state.note ?? '', /every 30m/);
    assert.equal(await disableMonitor(client, endpoint), true);
    assert.equal(await disableMonitor(client, endpoint), false);
    await assert.rejects(client.schedule.getHandle(monitorScheduleId(endpoint)).describe(), ScheduleNotFoundError);
  });

  it('judges captured windows, raises an alarm once, and a retried analysis logs no second step', async () => {
    const endpoint = `mon-${randomUUID().slice(0, 8)}`;
    capture(endpoint, version, base, 400, 0, 11);
    capture(endpoint, version, base + HOUR, 400, 2, 12);
    capture(endpoint, version, base + 2 * HOUR, 400, 2, 13);
    const real = createOrchestrationActivities({ mlflowUri: mlflowUri(), stateDir: stateDir(), endpointUrl: requireEnv('MODELSHIP_ENDPOINT_URL') });
    let analyses = 0;
    await withStandIns(
      env,
      {
        ...real,
        // The first attempt dies after its work (step logged, artifact written), as a worker killed at the end would.
        analyzeMonitorWindow: async (window) => {
          const result = await real.analyzeMonitorWindow(window);
          if (analyses++ === 0) throw new Error('worker lost after analysing');
          return result;
        },
      },
      async (taskQueue) => {
        const run = async (end: number) => (await runMonitorNow(env.client, input(endpoint, end), taskQueue)).result() as Promise<MonitorResult>;

        const first = await run(base + HOUR);
        assert.equal(first.verdict, 'ok', JSON.stringify(first.alarms));
        assert.equal(first.records, 400);
        assert.equal(first.window.start, new Date(base).toISOString());
        assert.equal(first.model?.version, version);
        assert.equal(first.performance.reported, false);
        assert.equal(analyses, 2, 'the analysis was retried');
        assert.deepEqual(await recordsSteps(endpoint), [{ step: 0, value: 400 }], 'one step for the window, not two');
        assert.ok(first.report && existsSync(first.report.path));

        const drifted = await run(base + 2 * HOUR);
        assert.equal(drifted.window.start, first.window.end, 'windows follow each other');
        assert.equal(drifted.verdict, 'alarm');
        // x moved by two standard deviations: its distribution, and values beyond training's range.
        assert.deepEqual(
          drifted.alarms.map((a) => [a.kind, a.features]),
          [
            ['drift', ['x']],
            ['data_quality', ['x']],
          ],
        );
        assert.equal(drifted.alarmRaised, true);
        assert.equal(drifted.notified, 'webhook answered 204');

        const again = await run(base + 3 * HOUR);
        assert.equal(again.verdict, 'alarm');
        assert.equal(again.alarmRaised, false, 'the same alarm is not raised twice');

        assert.equal(hook.received.length, 1);
        const sent = hook.received[0] as { endpoint: string; alarms: { kind: string; features: string[]; detail: string }[]; window: { id: string } };
        assert.equal(sent.endpoint, endpoint);
        assert.equal(sent.window.id, drifted.window.id);
        assert.match(sent.alarms[0]!.detail, /x PSI/);

        assert.deepEqual(
          (await recordsSteps(endpoint)).map((s) => s.step),
          [0, 1, 2],
        );
        const page = readFileSync(again.report!.path, 'utf8');
        assert.match(page, /data-windows="3"/);
        for (const chart of ['drift', 'prediction', 'quality', 'volume', 'latency']) assert.match(page, new RegExp(`data-chart="${chart}"><svg`), chart);
        assert.doesNotMatch(page, /<script|https?:\/\/(?!127\.0\.0\.1)[^"]*\.(js|css)/);
      },
    );
  });

  it('an endpoint with no traffic gives an empty window, not an error', async () => {
    const endpoint = `quiet-${randomUUID().slice(0, 8)}`;
    await withWorkers(
      env,
      async (queues) => {
        const result = (await (await runMonitorNow(env.client, input(endpoint, base + HOUR), queues.orchestration)).result()) as MonitorResult;
        assert.equal(result.verdict, 'empty');
        assert.equal(result.records, 0);
        assert.deepEqual(await recordsSteps(endpoint), [{ step: 0, value: 0 }]);
      },
      ['orchestration'],
    );
  });
});
