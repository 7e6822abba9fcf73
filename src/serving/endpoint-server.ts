// The embedded endpoint server: named endpoints with deployments (blue, green, …) that run ONNX models with
// onnxruntime-node, traffic weights summing to 0 or 100 and an optional mirror, as in Azure ML managed online
// endpoints. State is persisted, so a restart brings back the same endpoints, deployments and traffic.
//
//   POST /endpoints/{name}/score          Authorization: Bearer <key>; optional azureml-model-deployment header.
//                                         Body: modelship's records, Azure ML's input_data, or MLflow's
//                                         dataframe_split / dataframe_records / instances / inputs (protocols/)
//   /endpoints/{name}/v2/…                the Open Inference Protocol V2: server and model metadata, health and
//                                         model readiness, infer (same key and header)
//   GET  /metrics                         Prometheus text format, no auth (names and versions, no secrets)
//   /admin/…                              management API for the local deployment target (admin token)
//
// Every served record is captured (a sampled share per endpoint) under <stateDir>/capture, off the request path:
// see capture.ts and docs/capture-and-metrics.md.
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { projectRoot } from '../config/environment';
import { OnnxModel, type InputContract, type RawRows, type RawValue } from '../model/input-contract';
import { ScoringError, scoreRows } from '../model/scoring';
import { CAPTURE_DIR, CAPTURE_FORMAT, INFERENCE_ID_FIELD } from '../shared/capture';
import type { DeploymentMetrics } from '../shared/deployment';
import { adminToken } from './admin-token';
import { CaptureWriter, recordTexts, type CaptureWriterOptions } from './capture';
import { EndpointMetrics } from './metrics';
import { jsonDoor } from './protocols/dataframe';
import { FormatError, WrittenBody, type Door, type ScoredRows } from './protocols/door';
import { BINARY_HEADER, inferRequestOf, modelMetadata, OpenInferenceDoor } from './protocols/open-inference';
import { RequestShapes } from './protocols/request-shapes';

export const MAX_BODY_BYTES = 1_000_000;

/** What the endpoint server loads for a deployment: the model file, its contract and digest. */
export interface ServedModelSpec {
  modelName: string;
  modelVersion: string;
  modelPath: string;
  contractPath: string;
  sha256: string;
}

export interface DeploymentRecord extends ServedModelSpec {
  name: string;
  state: 'Creating' | 'Succeeded' | 'Failed';
  error?: string;
  createdAt: string;
}

export interface EndpointRecord {
  name: string;
  key: string;
  traffic: Record<string, number>;
  mirror?: { deployment: string; percent: number };
  /** Share of scored records captured, 0–100; absent: 100. */
  capture?: { percent: number };
  deployments: Record<string, DeploymentRecord>;
}

interface PersistedState {
  endpoints: Record<string, EndpointRecord>;
}

export interface Faults {
  /** Share of scoring requests answered with HTTP 500. */
  errorRate?: number;
  /** Extra latency per request. */
  latencyMs?: number;
  /** The next load of this deployment fails. */
  crashOnLoad?: boolean;
  /** Answer 1 − p: wrong predictions with a healthy status. */
  flipPredictions?: boolean;
}

interface Sample {
  at: number;
  ms: number;
  ok: boolean;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** For a 4xx: the short reason refusals are counted by. */
    readonly reason?: string,
  ) {
    super(message);
  }
}

/** The longest inference id a caller may send (ids are join keys, not payloads). */
export const MAX_INFERENCE_ID_LENGTH = 128;

const MAX_SAMPLES = 20_000;

/** The package version, as Open Inference server metadata reports it. */
const SERVER_VERSION = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;

/** How a request's body is read: JSON (modelship's records or a tabular door) or an Open Inference request. */
type RequestFormat = { kind: 'json' } | { kind: 'open_inference'; modelName: string };
const JSON_FORMAT: RequestFormat = { kind: 'json' };

/** The error body clients of a format read (the one place it is decided: routing errors have no door yet). */
function errorBody(format: RequestFormat, message: string, field?: string): unknown {
  // The Open Inference Protocol's clients (tritonclient) read "error" as the message itself.
  return format.kind === 'open_inference' ? { error: message, ...(field ? { field } : {}) } : { error: { message, ...(field ? { field } : {}) } };
}

export interface EndpointServerOptions {
  stateDir: string;
  port: number;
  host?: string;
  /** Allow the fault-injection hooks (tests). */
  allowFaults?: boolean;
  /** Capture queue and flush settings (tests); the capture root is always <stateDir>/capture. */
  capture?: Omit<CaptureWriterOptions, 'root' | 'events'>;
}

export class EndpointServer {
  private state: PersistedState = { endpoints: {} };
  private readonly models = new Map<string, OnnxModel>();
  private readonly samples = new Map<string, Sample[]>();
  private readonly faults = new Map<string, Faults>();
  private readonly agreements = new Map<string, { at: number; compared: number; agreed: number }[]>();
  private readonly logs = new Map<string, string[]>();
  /** Each endpoint's recent Open Inference request shapes (protocols/request-shapes.ts). */
  private readonly requestShapes = new Map<string, RequestShapes>();
  private server?: Server;
  readonly adminToken: string;
  readonly prometheus = new EndpointMetrics();
  readonly capture: CaptureWriter;

  constructor(readonly options: EndpointServerOptions) {
    mkdirSync(options.stateDir, { recursive: true });
    this.adminToken = adminToken(options.stateDir);
    this.capture = new CaptureWriter({
      ...options.capture,
      root: join(options.stateDir, CAPTURE_DIR),
      events: {
        written: (endpoint, deployment, kind, count) => this.prometheus.captured(endpoint, deployment, kind, count),
        dropped: (endpoint, deployment, reason, count) => this.prometheus.dropped(endpoint, deployment, reason, count),
      },
    });
  }

  get url(): string {
    return `http://${this.options.host ?? '127.0.0.1'}:${this.port}`;
  }

  get port(): number {
    const address = this.server?.address();
    return typeof address === 'object' && address ? address.port : this.options.port;
  }

  private get stateFile(): string {
    return join(this.options.stateDir, 'endpoints.json');
  }

  private persist(): void {
    const partial = `${this.stateFile}.tmp`;
    writeFileSync(partial, JSON.stringify(this.state, null, 2));
    renameSync(partial, this.stateFile);
  }

  async start(): Promise<void> {
    if (existsSync(this.stateFile)) {
      this.state = JSON.parse(readFileSync(this.stateFile, 'utf8')) as PersistedState;
      for (const endpoint of Object.values(this.state.endpoints)) {
        for (const deployment of Object.values(endpoint.deployments)) {
          if (deployment.state !== 'Failed') await this.load(endpoint.name, deployment);
        }
        this.prometheus.trafficOf(endpoint.name, endpoint.traffic, Object.keys(endpoint.deployments));
      }
    }
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.options.port, this.options.host ?? '127.0.0.1', resolve);
    });
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections(); // kept-alive clients would otherwise hold close() open
    await closed;
    await this.capture.close();
    for (const model of this.models.values()) await model.release();
    this.models.clear();
  }

  private log(endpoint: string, deployment: string, line: string): void {
    const key = `${endpoint}/${deployment}`;
    const lines = this.logs.get(key) ?? [];
    lines.push(`${new Date().toISOString()} ${line}`);
    if (lines.length > 500) lines.shift();
    this.logs.set(key, lines);
  }

  private async load(endpoint: string, deployment: DeploymentRecord): Promise<void> {
    const key = `${endpoint}/${deployment.name}`;
    try {
      const faults = this.faults.get(key);
      if (faults?.crashOnLoad) {
        faults.crashOnLoad = false;
        throw new Error('injected fault: the inference server crashed while loading the model');
      }
      const contract = JSON.parse(readFileSync(deployment.contractPath, 'utf8')) as InputContract;
      const model = await OnnxModel.load(deployment.modelPath, contract);
      const old = this.models.get(key);
      this.models.set(key, model);
      await old?.release();
      deployment.state = 'Succeeded';
      delete deployment.error;
      this.prometheus.model(endpoint, deployment.name, { name: deployment.modelName, version: deployment.modelVersion, sha256: deployment.sha256 });
      this.log(endpoint, deployment.name, `loaded ${deployment.modelName} version ${deployment.modelVersion} (${deployment.sha256.slice(0, 12)}…)`);
    } catch (error) {
      deployment.state = 'Failed';
      deployment.error = (error as Error).message;
      this.prometheus.model(endpoint, deployment.name);
      this.log(endpoint, deployment.name, `FAILED to load: ${(error as Error).message}`);
    }
  }

  metrics(endpoint: string, deployment: string, since = 0): DeploymentMetrics {
    const window = (this.samples.get(`${endpoint}/${deployment}`) ?? []).filter((s) => s.at >= since);
    const times = window.map((s) => s.ms).sort((a, b) => a - b);
    const at = (q: number) => (times.length ? times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)]! : 0);
    const errors = window.filter((s) => !s.ok).length;
    const shadow = (this.agreements.get(`${endpoint}/${deployment}`) ?? []).filter((a) => a.at >= since);
    return {
      requests: window.length,
      errors,
      errorRate: window.length ? errors / window.length : 0,
      p50Ms: at(0.5),
      p95Ms: at(0.95),
      p99Ms: at(0.99),
      shadowCompared: shadow.reduce((sum, a) => sum + a.compared, 0),
      shadowAgreed: shadow.reduce((sum, a) => sum + a.agreed, 0),
    };
  }

  private record(endpoint: string, deployment: string, ms: number, ok: boolean): void {
    const key = `${endpoint}/${deployment}`;
    const list = this.samples.get(key) ?? [];
    list.push({ at: Date.now(), ms, ok });
    // Trimmed in batches: shifting the whole window on every request would cost more than the scoring.
    if (list.length > MAX_SAMPLES * 1.5) list.splice(0, list.length - MAX_SAMPLES);
    this.samples.set(key, list);
  }

  private endpoint(name: string): EndpointRecord {
    const endpoint = this.state.endpoints[name];
    if (!endpoint) throw new HttpError(404, `endpoint "${name}" does not exist`);
    return endpoint;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const parts = url.pathname.split('/').filter(Boolean).map(decodePathPart);
      if (req.method === 'GET' && url.pathname === '/health') return send(res, 200, { status: 'ok' });
      if (req.method === 'GET' && url.pathname === '/metrics') {
        this.prometheus.captureQueue.set(this.capture.queued);
        const text = await this.prometheus.text();
        res.writeHead(200, { 'content-type': this.prometheus.registry.contentType, 'content-length': Buffer.byteLength(text) });
        return void res.end(text);
      }
      if (parts[0] === 'endpoints' && parts.length === 3 && parts[2] === 'score' && req.method === 'POST') {
        return await this.score(parts[1]!, req, res);
      }
      if (parts[0] === 'endpoints' && parts.length >= 3 && parts[2] === 'v2') return await this.openInference(parts[1]!, parts.slice(3), req, res);
      if (parts[0] === 'admin') {
        if (!sameSecret(bearer(req), this.adminToken)) throw new HttpError(401, 'admin token missing or wrong');
        return await this.admin(req, res, parts.slice(1), url);
      }
      throw new HttpError(404, `no route for ${req.method} ${url.pathname}`);
    } catch (error) {
      if (error instanceof HttpError) return send(res, error.status, { error: { message: error.message } });
      return send(res, 500, { error: { message: (error as Error).message } });
    }
  }

  private async score(name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    // An unknown endpoint's name is the caller's: it is answered, not counted (no label of the caller's choosing).
    const endpoint = this.endpoint(name);
    this.authorize(endpoint, req);
    const requested = req.headers['azureml-model-deployment'];
    const deployment = this.route(endpoint, typeof requested === 'string' ? requested : undefined);
    let text: string;
    let body: unknown;
    try {
      text = await readText(req);
      body = parseJson(text);
    } catch (error) {
      if (error instanceof HttpError) this.refuse(name, deployment.name, error.status, error.reason ?? 'bad_request');
      throw error;
    }
    await this.serve(endpoint, deployment, Boolean(requested), body, JSON_FORMAT, text, res);
  }

  /** The endpoint's key, or a 401 counted as a refusal. */
  private authorize(endpoint: EndpointRecord, req: IncomingMessage): void {
    if (!sameSecret(bearer(req), endpoint.key)) {
      this.refuse(endpoint.name, '', 401, 'unauthorized');
      throw new HttpError(401, 'missing or wrong endpoint key (Authorization: Bearer <key>)');
    }
  }

  /**
   * The deployment that answers: the one the azureml-model-deployment header names, else one serving the version
   * asked for (Open Inference paths may name one), else one picked by the traffic weights.
   */
  private route(endpoint: EndpointRecord, requested: string | undefined, version?: string): DeploymentRecord {
    const name = endpoint.name;
    if (!requested && version !== undefined) {
      const serving = Object.values(endpoint.deployments).filter((d) => d.modelVersion === version);
      const chosen = serving.find((d) => (endpoint.traffic[d.name] ?? 0) > 0) ?? serving[0];
      if (!chosen) {
        const versions = Object.values(endpoint.deployments).map((d) => d.modelVersion);
        throw new HttpError(
          404,
          `no deployment of endpoint "${name}" serves version ${version} (serving: ${versions.join(', ') || 'none'}); leave the version out of the path to follow the traffic`,
        );
      }
      return chosen;
    }
    const deployment = requested || pickByWeight(endpoint.traffic);
    if (!deployment) throw new HttpError(503, `endpoint "${name}" has no traffic set and no azureml-model-deployment header`);
    const record = endpoint.deployments[deployment];
    if (!record) {
      this.refuse(name, '', 404, 'unknown_deployment');
      throw new HttpError(404, `deployment "${deployment}" does not exist on endpoint "${name}"`);
    }
    return record;
  }

  /** Scores a request on its deployment, mirrors it when the endpoint says so, answers, then captures. */
  private async serve(
    endpoint: EndpointRecord,
    deployment: DeploymentRecord,
    requested: boolean,
    body: unknown,
    format: RequestFormat,
    text: string | undefined,
    res: ServerResponse,
  ): Promise<void> {
    const name = endpoint.name;
    const response = await this.scoreOn(name, deployment, body, format, { percent: endpoint.capture?.percent ?? 100, text });
    const mirror = endpoint.mirror;
    if (!requested && mirror && Math.random() * 100 < mirror.percent && endpoint.deployments[mirror.deployment]) {
      // Shadow traffic: the mirror's answer is never returned (nor captured), only compared with the live one.
      void this.scoreOn(name, endpoint.deployments[mirror.deployment]!, body, format).then(
        (shadow) => {
          const live = response.scored?.predictions;
          const mirrored = shadow.scored?.predictions;
          if (live && mirrored) {
            const list = this.agreements.get(`${name}/${mirror.deployment}`) ?? [];
            list.push({ at: Date.now(), compared: live.length, agreed: live.filter((label, i) => label === mirrored[i]).length });
            if (list.length > MAX_SAMPLES * 1.5) list.splice(0, list.length - MAX_SAMPLES);
            this.agreements.set(`${name}/${mirror.deployment}`, list);
          }
        },
        () => undefined,
      );
    }
    res.setHeader('azureml-model-deployment', deployment.name);
    send(res, response.status, response.body);
    // After the answer is on its way: serializing the capture lines adds nothing to this request's latency.
    response.capture?.();
  }

  /**
   * The Open Inference Protocol V2 below /endpoints/{name}/v2: server metadata, health, model metadata and readiness,
   * and infer. The key, the azureml-model-deployment header, traffic, mirror and capture work as for /score.
   */
  private async openInference(name: string, path: string[], req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const endpoint = this.endpoint(name);
      this.authorize(endpoint, req);
      const requested = req.headers['azureml-model-deployment'];
      const header = typeof requested === 'string' && requested ? requested : undefined;
      const [collection, modelName] = path;
      if (req.method === 'GET' && path.length === 0) {
        return send(res, 200, { name: 'modelship', version: SERVER_VERSION, extensions: ['binary_tensor_data'] });
      }
      if (req.method === 'GET' && collection === 'health' && path.length === 2 && (path[1] === 'live' || path[1] === 'ready')) {
        if (path[1] === 'live') return send(res, 200, {});
        const serving = Object.keys(endpoint.traffic).some((d) => endpoint.deployments[d]?.state === 'Succeeded');
        return serving ? send(res, 200, {}) : send(res, 400, { error: `endpoint "${name}" has no ready deployment taking traffic` });
      }
      if (collection !== 'models' || !modelName)
        throw new HttpError(404, `no Open Inference route ${req.method} /v2/${path.join('/')}: see /v2, /v2/health/ready, /v2/models/{model}[/versions/{version}][/ready|/infer]`);
      const versioned = path[2] === 'versions';
      const version = versioned ? path[3] : undefined;
      const action = path[versioned ? 4 : 2];
      if (path.length > (versioned ? 5 : 3) || (versioned && !version)) throw new HttpError(404, `no Open Inference route ${req.method} /v2/${path.join('/')}`);
      const deployment = this.route(endpoint, header, version);
      if (modelName !== deployment.modelName && modelName !== name) {
        throw new HttpError(404, `model "${modelName}" is not served by endpoint "${name}": use /v2/models/${deployment.modelName}`);
      }
      res.setHeader('azureml-model-deployment', deployment.name);
      if (req.method === 'GET' && (action === 'ready' || action === undefined)) {
        const model = this.models.get(`${name}/${deployment.name}`);
        const ready = deployment.state === 'Succeeded' && model !== undefined;
        if (action === 'ready') return ready ? send(res, 200, {}) : send(res, 400, { error: `deployment "${deployment.name}" is ${deployment.state}` });
        if (!ready) throw new HttpError(400, `deployment "${deployment.name}" is not ready (${deployment.state})`);
        return send(res, 200, modelMetadata(modelName, deployment.modelVersion, model.contract));
      }
      if (req.method !== 'POST' || action !== 'infer') throw new HttpError(404, `no Open Inference route ${req.method} /v2/${path.join('/')}`);
      let body: unknown;
      try {
        const lengthHeader = req.headers[BINARY_HEADER];
        let shapes = this.requestShapes.get(name);
        if (!shapes) this.requestShapes.set(name, (shapes = new RequestShapes()));
        body = inferRequestOf(await readBody(req), typeof lengthHeader === 'string' ? lengthHeader : undefined, shapes);
      } catch (error) {
        if (error instanceof HttpError || error instanceof FormatError)
          this.refuse(name, deployment.name, error.status, error.reason ?? 'bad_request', error instanceof FormatError ? error.field : undefined);
        throw error;
      }
      await this.serve(endpoint, deployment, Boolean(header || version), body, { kind: 'open_inference', modelName }, undefined, res);
    } catch (error) {
      const status = error instanceof HttpError || error instanceof FormatError ? error.status : 500;
      send(res, status, errorBody({ kind: 'open_inference', modelName: '' }, (error as Error).message, error instanceof FormatError ? error.field : undefined));
    }
  }

  /** Counts a 4xx by reason, and writes it as a refusal line once it is routed to a deployment. */
  private refuse(endpoint: string, deployment: string, status: number, reason: string, field?: string): void {
    this.prometheus.refused(endpoint, deployment, status, reason);
    if (!deployment) return;
    const at = new Date();
    this.capture.refused({ format: CAPTURE_FORMAT, time: at.toISOString(), endpoint, deployment, status, reason, ...(field ? { field } : {}) }, at);
  }

  /**
   * Scores a body on one deployment. `capture` given (its share, and the body's text): live traffic, answered with
   * inference ids, counted and captured; absent: a mirrored request, counted apart and never captured.
   */
  private async scoreOn(
    endpoint: string,
    deployment: DeploymentRecord,
    body: unknown,
    format: RequestFormat,
    capture?: { percent: number; text?: string },
  ): Promise<{ status: number; body: unknown; scored?: ScoredRows; capture?: () => void }> {
    const key = `${endpoint}/${deployment.name}`;
    const live = capture !== undefined;
    const started = performance.now();
    const faults = this.faults.get(key);
    let status = 200;
    let answer: unknown;
    let scored = 0;
    let rows: ScoredRows | undefined;
    let captureServed: (() => void) | undefined;
    try {
      const model = this.models.get(key);
      if (deployment.state !== 'Succeeded' || !model) {
        throw new HttpError(424, `deployment "${deployment.name}" is not ready (${deployment.state}${deployment.error ? `: ${deployment.error}` : ''})`, 'deployment_not_ready');
      }
      if (faults?.latencyMs) await new Promise((r) => setTimeout(r, faults.latencyMs));
      if (faults?.errorRate && Math.random() < faults.errorRate) throw new HttpError(500, 'injected fault: internal error');
      const door: Door = format.kind === 'open_inference' ? new OpenInferenceDoor(model.contract, format.modelName) : jsonDoor(body, model.contract);
      const sent = door.rows(body);
      const { rows: inputs, ids } = takeInferenceIds(sent, model.contract, live);
      const scores = await scoreRows(model, inputs);
      const probabilities = faults?.flipPredictions ? scores.probabilities.map((p) => 1 - p) : scores.probabilities;
      const predictions = probabilities.map((p) => model.prediction(p));
      scored = scores.probabilities.length;
      rows = { predictions, probabilities, ids, model: { name: deployment.modelName, version: deployment.modelVersion }, deployment: deployment.name };
      answer = door.answer(rows);
      if (capture && capture.percent > 0) {
        const latencyMs = performance.now() - started;
        // Where the body holds each record's text as the caller wrote it, capture writes that text.
        const text = capture.text !== undefined ? door.recordsText?.(capture.text) : undefined;
        captureServed = () => this.captureServed(endpoint, deployment, { percent: capture.percent, text }, sent, inputs, ids, predictions, probabilities, latencyMs);
      }
    } catch (error) {
      const refused = error instanceof ScoringError || error instanceof FormatError;
      status = refused ? error.status : error instanceof HttpError ? error.status : 500;
      const field = refused ? error.field || undefined : undefined;
      answer = errorBody(format, (error as Error).message, field);
      if (status >= 500) this.log(endpoint, deployment.name, `HTTP ${status}: ${(error as Error).message}`);
      if (live && status < 500) this.refuse(endpoint, deployment.name, status, refusalReason(error as Error), field);
    }
    const elapsed = performance.now() - started;
    // Client errors (bad requests) say nothing about the deployment's health; server errors do.
    this.record(endpoint, deployment.name, elapsed, status < 500);
    if (live) this.prometheus.request(endpoint, deployment.name, status, elapsed / 1000, scored);
    else this.prometheus.mirror(endpoint, deployment.name, status);
    return { status, body: answer, scored: rows, capture: captureServed };
  }

  /** `sent`: the rows as read from the body; `inputs`: the same without the inference ids taken out. */
  private captureServed(
    endpoint: string,
    deployment: DeploymentRecord,
    { percent, text }: { percent: number; text?: string },
    sent: RawRows,
    inputs: RawRows,
    ids: string[],
    labels: (string | number)[],
    probabilities: number[],
    latencyMs: number,
  ): void {
    // The caller's text of a record is its input, unless an inference id was taken out of it. Scanning the body
    // costs about a third of serializing all its records: it pays when at least that share is captured.
    // Columns have no record text: capture writes their rows from the values.
    let inputTexts: (string | undefined)[] | undefined;
    if (percent >= 35 && text !== undefined && Array.isArray(sent) && Array.isArray(inputs)) {
      const texts = recordTexts(text);
      if (texts?.length === inputs.length) inputTexts = texts.map((recordText, i) => (inputs[i] === sent[i] ? recordText : undefined));
    }
    const model = { name: deployment.modelName, version: deployment.modelVersion, sha256: deployment.sha256 };
    this.capture.served({ endpoint, deployment: deployment.name, model, at: new Date(), latencyMs, inputs, inputTexts, ids, labels, probabilities, percent });
  }

  private async admin(req: IncomingMessage, res: ServerResponse, parts: string[], url: URL): Promise<void> {
    const [collection, name, sub, deploymentName, action] = parts;
    if (collection !== 'endpoints') throw new HttpError(404, 'unknown admin route');
    if (!name && req.method === 'GET')
      return send(
        res,
        200,
        Object.values(this.state.endpoints).map((e) => this.describe(e)),
      );
    if (!name) throw new HttpError(405, 'method not allowed');
    if (!sub) {
      if (req.method === 'GET') return send(res, 200, this.describe(this.endpoint(name)));
      if (req.method === 'PUT') {
        const created = !this.state.endpoints[name];
        this.state.endpoints[name] ??= { name, key: randomBytes(24).toString('hex'), traffic: {}, deployments: {} };
        this.persist();
        return send(res, created ? 201 : 200, this.describe(this.state.endpoints[name]!));
      }
      if (req.method === 'DELETE') {
        const endpoint = this.state.endpoints[name];
        if (endpoint) for (const d of Object.keys(endpoint.deployments)) await this.dropDeployment(endpoint, d);
        delete this.state.endpoints[name];
        this.requestShapes.delete(name);
        this.persist();
        return send(res, 200, { deleted: Boolean(endpoint) });
      }
    }
    const endpoint = this.endpoint(name);
    if (sub === 'keys' && req.method === 'GET') return send(res, 200, { primaryKey: endpoint.key });
    if (sub === 'capture' && req.method === 'GET') return send(res, 200, this.captureState(endpoint));
    if (sub === 'capture' && req.method === 'PUT') {
      const { percent } = (await readJson(req)) as { percent?: unknown };
      if (typeof percent !== 'number' || !(percent >= 0 && percent <= 100)) {
        throw new HttpError(400, `capture percent must be a number from 0 to 100 (got ${JSON.stringify(percent)})`);
      }
      endpoint.capture = { percent };
      this.persist();
      return send(res, 200, this.captureState(endpoint));
    }
    if (sub === 'traffic' && req.method === 'PUT') {
      const body = (await readJson(req)) as { traffic: Record<string, number>; mirror?: { deployment: string; percent: number } | null };
      const traffic = Object.fromEntries(Object.entries(body.traffic ?? {}).filter(([, v]) => v > 0));
      const sum = Object.values(traffic).reduce((a, b) => a + b, 0);
      if (sum !== 0 && sum !== 100) throw new HttpError(400, `traffic weights must sum to 0 or 100 (got ${sum})`);
      for (const d of Object.keys(traffic)) {
        if (endpoint.deployments[d]?.state !== 'Succeeded') throw new HttpError(400, `deployment "${d}" is not ready for traffic`);
      }
      if (body.mirror && (body.mirror.percent > 50 || !endpoint.deployments[body.mirror.deployment] || traffic[body.mirror.deployment])) {
        throw new HttpError(400, 'mirror traffic goes to one existing deployment without live traffic, at most 50 %');
      }
      endpoint.traffic = traffic;
      endpoint.mirror = body.mirror ?? undefined;
      this.persist();
      this.prometheus.trafficOf(name, traffic, Object.keys(endpoint.deployments));
      return send(res, 200, this.describe(endpoint));
    }
    if (sub === 'deployments' && deploymentName) {
      const key = `${name}/${deploymentName}`;
      if (!action && req.method === 'PUT') {
        const spec = (await readJson(req)) as ServedModelSpec;
        const existing = endpoint.deployments[deploymentName];
        if (existing && existing.sha256 === spec.sha256 && existing.state === 'Succeeded') return send(res, 200, existing);
        const record: DeploymentRecord = { ...spec, name: deploymentName, state: 'Creating', createdAt: new Date().toISOString() };
        endpoint.deployments[deploymentName] = record;
        await this.load(name, record);
        this.persist();
        return send(res, existing ? 200 : 201, record);
      }
      if (!action && req.method === 'DELETE') {
        if ((endpoint.traffic[deploymentName] ?? 0) > 0) {
          throw new HttpError(409, `deployment "${deploymentName}" still takes ${endpoint.traffic[deploymentName]} % of the traffic: move it first`);
        }
        const deleted = await this.dropDeployment(endpoint, deploymentName);
        this.persist();
        return send(res, 200, { deleted });
      }
      if (action === 'metrics' && req.method === 'GET') return send(res, 200, this.metrics(name, deploymentName, Number(url.searchParams.get('since') ?? 0)));
      if (action === 'logs' && req.method === 'GET') return send(res, 200, { lines: this.logs.get(key) ?? [] });
      if (action === 'faults' && req.method === 'PUT') {
        if (!this.options.allowFaults) throw new HttpError(403, 'fault injection is off (start the server with allowFaults)');
        this.faults.set(key, (await readJson(req)) as Faults);
        return send(res, 200, this.faults.get(key));
      }
    }
    throw new HttpError(404, 'unknown admin route');
  }

  private async dropDeployment(endpoint: EndpointRecord, deployment: string): Promise<boolean> {
    const existed = Boolean(endpoint.deployments[deployment]);
    delete endpoint.deployments[deployment];
    if (endpoint.mirror?.deployment === deployment) endpoint.mirror = undefined;
    const key = `${endpoint.name}/${deployment}`;
    await this.models.get(key)?.release();
    this.models.delete(key);
    this.prometheus.forget(endpoint.name, deployment);
    if (existed) this.log(endpoint.name, deployment, 'deleted');
    return existed;
  }

  private captureState(endpoint: EndpointRecord) {
    return { percent: endpoint.capture?.percent ?? 100, queued: this.capture.queued, written: this.capture.totals.written, dropped: this.capture.totals.dropped };
  }

  private describe(endpoint: EndpointRecord) {
    return {
      name: endpoint.name,
      scoringUri: `${this.url}/endpoints/${encodeURIComponent(endpoint.name)}/score`,
      traffic: endpoint.traffic,
      mirror: endpoint.mirror,
      capture: { percent: endpoint.capture?.percent ?? 100 },
      deployments: Object.values(endpoint.deployments).map(({ name, modelName, modelVersion, state, error, sha256, createdAt }) => ({
        name,
        modelName,
        modelVersion,
        state,
        error,
        sha256,
        createdAt,
      })),
    };
  }
}

function bearer(req: IncomingMessage): string {
  const header = req.headers.authorization ?? '';
  return header.startsWith('Bearer ') ? header.slice(7).trim() : '';
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function pickByWeight(traffic: Record<string, number>): string | undefined {
  let roll = Math.random() * 100;
  for (const [name, weight] of Object.entries(traffic)) {
    roll -= weight;
    if (roll < 0) return name;
  }
  return Object.keys(traffic).find((name) => traffic[name]! > 0);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  return parseJson(await readText(req));
}

async function readText(req: IncomingMessage): Promise<string> {
  return (await readBody(req)).toString('utf8');
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`, 'too_large');
    chunks.push(chunk as Buffer);
  }
  // Most bodies come in one chunk: it is the body (concat would copy it).
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'the request body is not valid JSON', 'bad_json');
  }
}

/**
 * Takes each row's `inference_id` (the caller's join key, a field of a record or a column) out before scoring, so
 * the contract never sees it, and makes a UUID for rows without one. A contract with a feature of that name keeps it
 * as data.
 */
export function takeInferenceIds(rows: RawRows, contract: InputContract, makeIds = true): { rows: RawRows; ids: string[] } {
  const isFeature = contract.features.some((feature) => feature.column === INFERENCE_ID_FIELD);
  const ids: string[] = [];
  if (!Array.isArray(rows)) {
    const given = isFeature ? undefined : rows.columns.get(INFERENCE_ID_FIELD);
    for (let i = 0; i < rows.count; i++) takeId(given?.[i], i, ids, makeIds);
    if (!given) return { rows, ids };
    const columns = new Map(rows.columns);
    columns.delete(INFERENCE_ID_FIELD);
    return { rows: { count: rows.count, columns }, ids };
  }
  const stripped = rows.map((record, index) => {
    const given = !isFeature && record !== null && typeof record === 'object' && !Array.isArray(record) ? record[INFERENCE_ID_FIELD] : undefined;
    if (!takeId(given, index, ids, makeIds)) return record;
    const { [INFERENCE_ID_FIELD]: _id, ...rest } = record;
    return rest;
  });
  return { rows: stripped, ids };
}

/** Row `index`'s id onto `ids`: the caller's (checked), else a new UUID when `makeIds`; true when the caller sent one. */
function takeId(given: RawValue, index: number, ids: string[], makeIds: boolean): boolean {
  if (given === undefined || given === null) {
    if (makeIds) ids.push(randomUUID());
    return false;
  }
  const id = typeof given === 'number' && Number.isFinite(given) ? String(given) : given;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_INFERENCE_ID_LENGTH) {
    throw new ScoringError(
      `record ${index}: field "${INFERENCE_ID_FIELD}" must be a string of 1 to ${MAX_INFERENCE_ID_LENGTH} characters or a number`,
      422,
      'bad_inference_id',
      INFERENCE_ID_FIELD,
    );
  }
  ids.push(id);
  return true;
}

/**
 * The short reason a refused request is counted by. The scoring errors carry a field, not a reason, so their
 * messages (written in input-contract.ts and scoring.ts) are matched here, one place.
 */
export function refusalReason(error: Error): string {
  if (error instanceof HttpError) return error.reason ?? `http_${error.status}`;
  if (error instanceof ScoringError || error instanceof FormatError) return error.reason;
  return 'bad_request';
}

/** A path segment, percent-decoded (most have nothing to decode, and skip the call). */
function decodePathPart(part: string): string {
  return part.includes('%') ? decodeURIComponent(part) : part;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (body instanceof WrittenBody) {
    res.writeHead(status, { 'content-type': body.contentType, 'content-length': Buffer.byteLength(body.body), ...body.headers });
    return void res.end(body.body);
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
