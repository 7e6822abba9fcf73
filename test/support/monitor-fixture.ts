// Stand-in data for the endpoint monitor: a model version registered by hand whose run holds a data sketch, a
// contract and held-out scores (x ~ N(0, 1), c uniform over a, b, c), and capture files written directly in the
// capture format. No model is trained.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { localEndpointStateDir, MonitorTracking } from '../../src/activities/monitoring';
import { MlflowClient } from '../../src/registry/mlflow';
import type { DataSketch } from '../../src/review/drift';
import { capturePartition, CAPTURE_DIR, CAPTURE_FORMAT, type CaptureRecord } from '../../src/shared/capture';
import { mlflowUri } from './temporal';

export const HOUR = 3_600_000;

/** A fixed pseudo-random stream (mulberry32), so every run sees the same data. */
export function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
export const normal = (next: () => number) => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());

/** Registers a version whose run holds what the monitor compares with: x ~ N(0, 1), c uniform over a, b, c. */
export async function registerMonitoredModel(modelName: string): Promise<string> {
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
export function captureWindow(o: { stateDir: string; endpoint: string; modelName: string; version: string; hourStart: number; count: number; shift: number; seed: number }): void {
  const { endpoint, modelName, version, hourStart, count, shift, seed } = o;
  const next = random(seed);
  const start = new Date(hourStart);
  const dir = join(localEndpointStateDir(o.stateDir), CAPTURE_DIR, capturePartition(endpoint, 'blue', start));
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
