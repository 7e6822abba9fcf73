// The endpoint server's Prometheus metrics (GET /metrics, text exposition format), one registry per server so two
// servers in one process (tests) keep their own counts. Label children are cached: a request pays a map lookup,
// not a label hash per metric.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DropReason } from './capture';

/** Seconds: from 0.5 ms (one record on a warm model) to 2.5 s (a full batch under load or an injected delay). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class EndpointMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'modelship_endpoint_requests_total',
    help: 'Scoring requests answered, by endpoint, deployment and HTTP status (mirrored requests are counted apart)',
    labelNames: ['endpoint', 'deployment', 'status'] as const,
    registers: [this.registry],
  });
  private readonly mirrored = new Counter({
    name: 'modelship_endpoint_mirrored_requests_total',
    help: 'Shadow (mirrored) scoring requests, whose answers are compared, never served',
    labelNames: ['endpoint', 'deployment', 'status'] as const,
    registers: [this.registry],
  });
  private readonly scored = new Counter({
    name: 'modelship_endpoint_scored_records_total',
    help: 'Records scored and served (a request carries 1 to 1000)',
    labelNames: ['endpoint', 'deployment'] as const,
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'modelship_endpoint_request_duration_seconds',
    help: 'Time to score a served request, from routing to the answer',
    labelNames: ['endpoint', 'deployment'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly refusedRequests = new Counter({
    name: 'modelship_endpoint_refused_requests_total',
    help: 'Requests refused with a 4xx, by reason (missing_field, bad_number, bad_json, too_large, unauthorized, …)',
    labelNames: ['endpoint', 'deployment', 'status', 'reason'] as const,
    registers: [this.registry],
  });
  private readonly modelInfo = new Gauge({
    name: 'modelship_endpoint_model_info',
    help: 'The model version a deployment serves (1 while loaded)',
    labelNames: ['endpoint', 'deployment', 'model', 'version', 'sha256'] as const,
    registers: [this.registry],
  });
  private readonly traffic = new Gauge({
    name: 'modelship_endpoint_traffic_percent',
    help: "A deployment's share of the endpoint's live traffic",
    labelNames: ['endpoint', 'deployment'] as const,
    registers: [this.registry],
  });
  private readonly captureWritten = new Counter({
    name: 'modelship_capture_written_total',
    help: 'Capture lines written to disk: scored records (kind="record") and refusals (kind="refused")',
    labelNames: ['endpoint', 'deployment', 'kind'] as const,
    registers: [this.registry],
  });
  private readonly captureDropped = new Counter({
    name: 'modelship_capture_dropped_total',
    help: 'Capture lines dropped instead of slowing or failing a request: reason queue_full or write_error',
    labelNames: ['endpoint', 'deployment', 'reason'] as const,
    registers: [this.registry],
  });
  readonly captureQueue = new Gauge({
    name: 'modelship_capture_queue_lines',
    help: 'Capture lines waiting in memory for the next write',
    registers: [this.registry],
  });
  private readonly counterChildren = new Map<string, { inc(n?: number): void }>();
  private readonly latencyChildren = new Map<string, { observe(v: number): void }>();
  /** The model-info labels each deployment shows now, so a new version replaces its series. */
  private readonly modelLabels = new Map<string, Record<string, string>>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  private counter(key: string, make: () => { inc(n?: number): void }) {
    let child = this.counterChildren.get(key);
    if (!child) this.counterChildren.set(key, (child = make()));
    return child;
  }

  request(endpoint: string, deployment: string, status: number, seconds: number, records: number): void {
    this.counter(`r\n${endpoint}\n${deployment}\n${status}`, () => this.requests.labels(endpoint, deployment, String(status))).inc();
    if (status !== 200) return;
    this.counter(`s\n${endpoint}\n${deployment}`, () => this.scored.labels(endpoint, deployment)).inc(records);
    const key = `${endpoint}\n${deployment}`;
    let latency = this.latencyChildren.get(key);
    if (!latency) this.latencyChildren.set(key, (latency = this.latency.labels(endpoint, deployment)));
    latency.observe(seconds);
  }

  mirror(endpoint: string, deployment: string, status: number): void {
    this.counter(`m\n${endpoint}\n${deployment}\n${status}`, () => this.mirrored.labels(endpoint, deployment, String(status))).inc();
  }

  refused(endpoint: string, deployment: string, status: number, reason: string): void {
    this.refusedRequests.labels(endpoint, deployment, String(status), reason).inc();
  }

  captured(endpoint: string, deployment: string, kind: 'record' | 'refused', count: number): void {
    this.captureWritten.labels(endpoint, deployment, kind).inc(count);
  }

  dropped(endpoint: string, deployment: string, reason: DropReason, count: number): void {
    this.captureDropped.labels(endpoint, deployment, reason).inc(count);
  }

  /** The model a deployment serves now (undefined: it serves none, e.g. deleted or failed to load). */
  model(endpoint: string, deployment: string, model?: { name: string; version: string; sha256: string }): void {
    const key = `${endpoint}\n${deployment}`;
    const shown = this.modelLabels.get(key);
    if (shown) this.modelInfo.remove(shown);
    this.modelLabels.delete(key);
    if (!model) return;
    const labels = { endpoint, deployment, model: model.name, version: model.version, sha256: model.sha256 };
    this.modelInfo.set(labels, 1);
    this.modelLabels.set(key, labels);
  }

  trafficOf(endpoint: string, traffic: Record<string, number>, deployments: string[]): void {
    for (const deployment of deployments) this.traffic.labels(endpoint, deployment).set(traffic[deployment] ?? 0);
  }

  forget(endpoint: string, deployment: string): void {
    this.model(endpoint, deployment);
    this.traffic.remove({ endpoint, deployment });
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
