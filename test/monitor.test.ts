// The endpoint monitor on the test run's dev server (the time-skipping test server has no schedules), MLflow and
// endpoint server, with stand-in data: a model version registered by hand whose run holds a data sketch, a contract
// and held-out scores, and capture files written directly in the capture format. No model is trained.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createOrchestrationActivities } from '../src/activities';
import { ALERT_WEBHOOK_ENV, MONITOR_EXPERIMENT, MonitorTracking, monitorRunName } from '../src/activities/monitoring';
import { disableMonitor, enableMonitor, runMonitorNow } from '../src/client/commands/monitor';
import { DEFAULT_MONITOR_SETTINGS } from '../src/monitoring/defaults';
import { MlflowClient } from '../src/registry/mlflow';
import { monitorScheduleId, type MonitorInput, type MonitorResult } from '../src/workflows/monitor-api';
import { captureWindow, registerMonitoredModel } from './support/monitor-fixture';
import { withStandIns } from './support/stand-ins';
import { connectTestEnvironment, mlflowUri, requireEnv, withWorkers } from './support/temporal';

const stateDir = () => requireEnv('MODELSHIP_TEST_STATE_DIR');
const HOUR = 3_600_000;
const modelName = `monitor-test-${randomUUID().slice(0, 8)}`;
const registerStandInModel = () => registerMonitoredModel(modelName);
const capture = (endpoint: string, version: string, hourStart: number, count: number, shift: number, seed: number) =>
  captureWindow({ stateDir: stateDir(), endpoint, modelName, version, hourStart, count, shift, seed });
const settings = { ...DEFAULT_MONITOR_SETTINGS, every: '1h' };
const input = (endpoint: string, windowEnd?: number): MonitorInput => ({
  target: 'local',
  endpoint,
  settings,
  ...(windowEnd ? { windowEnd: new Date(windowEnd).toISOString() } : {}),
});

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
