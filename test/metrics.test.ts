// Metrics where operators look: a real Prometheus server (the Debian package's /usr/bin/prometheus) scrapes the
// endpoint server's GET /metrics and a worker's Temporal SDK exporter every second, and is queried through its
// HTTP API for a request counter, the latency histogram, the model version and a Temporal SDK metric.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, type Worker } from '@temporalio/worker';
import { freePort } from '../src/client/embedded-stack';
import { EndpointServer } from '../src/serving/endpoint-server';
import { LocalTarget } from '../src/targets/local';
import { createWorkers, installWorkerMetrics, runWorkers, workerMetricsAddress } from '../src/worker';
import { trainServedModel, type ServedModel } from './support/served-model';
import { mlflowUri, requireEnv, uniqueQueues } from './support/temporal';

const PROMETHEUS = '/usr/bin/prometheus';

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(prometheus: string, promql: string): Promise<Sample[]> {
  const response = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await response.json()) as { status: string; data: { result: Sample[] }; error?: string };
  assert.equal(body.status, 'success', body.error);
  return body.data.result;
}

/** Queries until the result passes `ok` (scrapes land every second), or fails with the last result. */
async function eventually(prometheus: string, promql: string, ok: (samples: Sample[]) => boolean, timeoutMs = 60_000): Promise<Sample[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const samples = await query(prometheus, promql);
    if (ok(samples)) return samples;
    if (Date.now() > deadline) assert.fail(`${promql}: ${JSON.stringify(samples)} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

describe('metrics scraped by Prometheus', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-metrics-'));
  let served: ServedModel;
  let server: EndpointServer;
  let env: TestWorkflowEnvironment;
  let workers: Worker[] = [];
  let running: Promise<void> | undefined;
  let prometheus: ChildProcess | undefined;
  let prometheusUrl: string;
  let workerMetrics: string;

  before(async () => {
    assert.ok(existsSync(PROMETHEUS), `${PROMETHEUS} is missing: install the Debian package prometheus (.ci/run does)`);
    // The worker process's way (MODELSHIP_WORKER_METRICS), before anything else of the SDK runs in this process.
    workerMetrics = workerMetricsAddress({ MODELSHIP_WORKER_METRICS: `127.0.0.1:${await freePort()}` })!;
    installWorkerMetrics(workerMetrics, new DefaultLogger('WARN'));
    env = await TestWorkflowEnvironment.createFromExistingServer({ address: requireEnv('TEMPORAL_ADDRESS'), namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
    workers = await createWorkers({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      queues: uniqueQueues(),
      roles: ['training'],
      mlflowUri: mlflowUri(),
      stateDir: join(dir, 'state'),
      shutdownGraceTime: '1s',
    });
    running = runWorkers(workers);

    served = await trainServedModel(dir);
    server = new EndpointServer({ stateDir: join(dir, 'serving'), port: 0 });
    await server.start();
    const target = new LocalTarget(server.url, join(dir, 'serving'));
    await target.ensureEndpoint('e1');
    await target.createDeployment('e1', 'blue', served.model);
    await target.setTraffic('e1', { blue: 100 });
    const key = await target.endpointKey('e1');
    for (const body of [served.records[0], served.records.slice(0, 3), served.records[1], { Age: 1 }]) {
      await fetch(`${server.url}/endpoints/e1/score`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    }

    const port = await freePort();
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: modelship-endpoint',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${server.port}']`,
        '  - job_name: modelship-worker',
        '    static_configs:',
        `      - targets: ['${workerMetrics}']`,
        '',
      ].join('\n'),
    );
    prometheus = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    prometheus.stderr!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
    prometheusUrl = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      const ready = await fetch(`${prometheusUrl}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      assert.ok(i < 120 && prometheus.exitCode === null, `prometheus did not become ready:\n${log}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  });

  after(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await exited;
    }
    for (const worker of workers) worker.shutdown();
    await running;
    await server?.stop();
    await env?.teardown();
  });

  it('the endpoint server: requests by endpoint, deployment and status, the latency histogram, the model version, refusals', async () => {
    const ok = await eventually(prometheusUrl, 'modelship_endpoint_requests_total{job="modelship-endpoint",endpoint="e1",deployment="blue",status="200"}', (s) => s.length === 1);
    assert.equal(ok[0]!.value[1], '3');
    const scored = await query(prometheusUrl, 'modelship_endpoint_scored_records_total{endpoint="e1",deployment="blue"}');
    assert.equal(scored[0]?.value[1], '5');
    const latency = await query(prometheusUrl, 'modelship_endpoint_request_duration_seconds_count{endpoint="e1",deployment="blue"}');
    assert.equal(latency[0]?.value[1], '3');
    const model = await query(prometheusUrl, 'modelship_endpoint_model_info{endpoint="e1",deployment="blue"}');
    assert.deepEqual(
      model.map((s) => [s.metric.model, s.metric.version, s.metric.sha256, s.value[1]]),
      [['m', '1', served.model.sha256, '1']],
    );
    await eventually(prometheusUrl, 'modelship_capture_written_total{endpoint="e1",deployment="blue",kind="record"}', (s) => s[0]?.value[1] === '5');
    const refused = await query(prometheusUrl, 'modelship_endpoint_refused_requests_total{endpoint="e1"}');
    assert.deepEqual(
      refused.map((s) => [s.metric.status, s.metric.reason, s.value[1]]),
      [['422', 'missing_field', '1']],
    );
  });

  it("the worker: the Temporal SDK's own metrics on MODELSHIP_WORKER_METRICS", async () => {
    await eventually(prometheusUrl, 'up{job="modelship-worker"}', (s) => s[0]?.value[1] === '1');
    const requests = await eventually(prometheusUrl, 'sum(temporal_request{job="modelship-worker"})', (s) => Number(s[0]?.value[1] ?? 0) > 0);
    assert.ok(Number(requests[0]!.value[1]) > 0);
    const slots = await eventually(prometheusUrl, 'temporal_worker_task_slots_available{job="modelship-worker"}', (s) => s.length > 0);
    assert.ok(
      slots.some((s) => s.metric.worker_type === 'ActivityWorker'),
      JSON.stringify(slots.map((s) => s.metric)),
    );
  });
});
